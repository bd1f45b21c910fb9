package proxy

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/lib/redact"
)

// WithRedactor makes a server from NewServer learn the endpoint config of every
// request it forwards (Spec, Validate, ApplyUpsert, ApplyDelete, a transactions
// stream's Open) into red, so that what the proxy relays of the connector's output can be
// redacted with red. Other servers are returned unchanged.
func WithRedactor(ds materialize.DriverServer, red *redact.Redactor) materialize.DriverServer {
	if s, ok := ds.(*server); ok {
		s.red = red
	}
	return ds
}

func (s *server) learnApply(req *materialize.ApplyRequest) {
	if req != nil && req.Materialization != nil {
		s.red.Learn(req.Materialization.EndpointSpecJson)
	}
}

func (s *server) learnOpen(req *materialize.TransactionRequest) {
	if req != nil && req.Open != nil && req.Open.Materialization != nil {
		s.red.Learn(req.Open.Materialization.EndpointSpecJson)
	}
}

// learnRaw learns from an encoded transactions request (the first of a stream).
func (s *server) learnRaw(b []byte) {
	if s.red == nil {
		return
	}
	var req materialize.TransactionRequest
	if req.Unmarshal(b) == nil {
		s.learnOpen(&req)
	}
}

// TerminationTail is how much of the end of the (redacted) log the termination
// message keeps: status.message quotes it within its own 2 KiB.
const TerminationTail = 1536

// terminationLog keeps the end of what is written to it (the proxy's and the
// connector's stderr, redacted) in a file, the container's termination message, so
// that the kubelet never needs to fall back to the raw container log. The file is
// rewritten shortly after every write (and by Flush), so it is current even when the
// container is killed.
type terminationLog struct {
	path    string
	mu      sync.Mutex
	tail    []byte
	cut     bool
	timer   *time.Timer
	flushed bool
}

// flushDelay batches the rewrites of the file.
const flushDelay = 100 * time.Millisecond

func newTerminationLog(path string) *terminationLog { return &terminationLog{path: path} }

func (t *terminationLog) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tail = append(t.tail, p...)
	if over := len(t.tail) - TerminationTail; over > 0 {
		t.tail = append(t.tail[:0], t.tail[over:]...)
		t.cut = true
	}
	if t.timer == nil {
		t.timer = time.AfterFunc(flushDelay, func() { _ = t.Flush() })
	}
	return len(p), nil
}

// Message is the termination message: the kept tail, from a line start when its
// beginning was dropped.
func (t *terminationLog) Message() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.message()
}

func (t *terminationLog) message() []byte {
	var b = t.tail
	if t.cut {
		for i, c := range b {
			if c == '\n' && i < len(b)-1 {
				b = b[i+1:]
				break
			}
		}
	}
	return append([]byte(nil), b...)
}

// Flush rewrites the file with the current message.
func (t *terminationLog) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	var f, err = os.OpenFile(t.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(t.message())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// lenient writes to every writer, ignoring their errors (a log sink that fails must
// not stop the connector).
type lenient []io.Writer

func (l lenient) Write(p []byte) (int, error) {
	for _, w := range l {
		_, _ = w.Write(p)
	}
	return len(p), nil
}
