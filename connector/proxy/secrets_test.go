package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector/grpcconn"
	"github.com/flowsim/flowsim/connector/proxy"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest/echo"
)

// The issue's config, as the driver sends it.
const issueConfig = `{"api_key":"p\"q\\r","auth":{"password":"x"},"dsn":"postgres://u:hunter3@h/db","password":"hunter2","token":"abc"}`

// secretForms are the issue's secrets as the echo shows them (raw, quoted, escaped).
var secretForms = []string{"hunter2", "hunter3", `"abc"`, `"x"`, ": x\n", `p"q\r`, `p\"q\\r`, "p%22q%5Cr", "eyJhcGlfa2V5"}

// TestProxyRedactsLogAndTerminationMessage: a connector that echoes its config to
// stderr, behind `connector-proxy --termination-log`. Neither the proxy's log (the
// container log) nor the termination message shows a secret; both show the echo,
// redacted; the termination message is kept current while the proxy runs.
func TestProxyRedactsLogAndTerminationMessage(t *testing.T) {
	var termination = filepath.Join(t.TempDir(), "termination-log")
	var self, _ = os.Executable()
	var cmd = exec.Command(self, append([]string{cliArg, "--listen", "127.0.0.1:0", "--termination-log", termination, "--"}, echo.Command()...)...)
	var pipe, err = cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err = cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var log syncBuf
	var addr = make(chan string, 1)
	var readDone = make(chan struct{})
	go func() {
		defer close(readDone)
		var r = bufio.NewReader(pipe)
		for {
			var line, err = r.ReadString('\n')
			log.WriteString(line)
			if _, rest, ok := strings.Cut(line, "serving materialize.Driver on "); ok {
				var a, _, _ = strings.Cut(rest, " ")
				addr <- a
			}
			if err != nil {
				return
			}
		}
	}()
	var gc *grpcconn.Client
	select {
	case a := <-addr:
		if gc, err = grpcconn.Dial(context.Background(), a, grpcconn.Options{}); err != nil {
			t.Fatal(err)
		}
		defer gc.Close()
	case <-readDone:
		t.Fatalf("the proxy never said where it serves:\n%s", log.String())
	}

	if _, err = gc.Validate(context.Background(), &materialize.ValidateRequest{EndpointSpecJson: []byte(issueConfig)}); err == nil {
		t.Fatal("the echo connector's Validate must fail")
	}
	// The termination message follows the log while the proxy runs (a killed
	// container leaves it current).
	var deadline = time.Now().Add(10 * time.Second)
	for {
		var b, _ = os.ReadFile(termination)
		if bytes.Contains(b, []byte("error: validate: cannot connect")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the termination message never showed the connector's error:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}

	cmd.Process.Signal(syscall.SIGTERM)
	<-readDone
	if err = cmd.Wait(); err != nil {
		t.Fatalf("proxy exit: %v\n%s", err, log.String())
	}
	var msg, _ = os.ReadFile(termination)
	for name, out := range map[string]string{"container log": log.String(), "termination message": string(msg)} {
		for _, s := range secretForms {
			if strings.Contains(out, s) {
				t.Errorf("%s shows %q:\n%s", name, s, out)
			}
		}
		if !strings.Contains(out, `"password":"[REDACTED]"`) || !strings.Contains(out, "base64: [REDACTED]") {
			t.Errorf("%s lacks the redacted echo:\n%s", name, out)
		}
	}
	if len(msg) > proxy.TerminationTail || !strings.HasSuffix(string(msg), "flowsim connector-proxy: stopped\n") {
		t.Errorf("termination message of %d bytes (max %d) must end with the proxy's last line:\n%s", len(msg), proxy.TerminationTail, msg)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) WriteString(x string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(x)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProxyRedactsBeforeCutting: a connector behind the proxy writes a secret where
// the proxy's stdio client cuts what its errors quote (the 64-byte excerpt of
// stdout, the 4096-byte tail of stderr). The error the driver receives over gRPC
// shows no fragment of it: the proxy redacts with the config of the request (here
// Spec's) before it cuts (issue 21, item 10, endpoint transport).
func TestProxyRedactsBeforeCutting(t *testing.T) {
	const secret = "s3cr3t-Pa55word!"
	var script = filepath.Join(t.TempDir(), "connector.sh")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
head -c 5000 /dev/zero | tr '\0' '.' >&2
printf '%s' '`+secret+`' >&2
head -c 4089 /dev/zero | tr '\0' '=' >&2
printf 'connecting to postgres as flow with the password %s now\n' '`+secret+`'
exit 3
`), 0o755); err != nil {
		t.Fatal(err)
	}
	var self, _ = os.Executable()
	var cmd = exec.Command(self, cliArg, "--listen", "127.0.0.1:0", "--", script)
	var pipe, err = cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err = cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var addr = make(chan string, 1)
	go func() {
		var r = bufio.NewReader(pipe)
		for {
			var line, err = r.ReadString('\n')
			if _, rest, ok := strings.Cut(line, "serving materialize.Driver on "); ok {
				var a, _, _ = strings.Cut(rest, " ")
				addr <- a
			}
			if err != nil {
				close(addr)
				return
			}
		}
	}()
	var a, ok = <-addr
	if !ok {
		t.Fatal("the proxy never said where it serves")
	}
	gc, err := grpcconn.Dial(context.Background(), a, grpcconn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	_, err = gc.Spec(context.Background(), &materialize.SpecRequest{EndpointSpecJson: []byte(`{"password":"` + secret + `"}`)})
	if err == nil {
		t.Fatal("Spec must fail")
	}
	var msg = err.Error()
	for n := len(secret); n >= 5; n-- {
		for i := 0; i+n <= len(secret); i++ {
			if strings.Contains(msg, secret[i:i+n]) {
				t.Fatalf("the error shows %q of the secret:\n%s", secret[i:i+n], msg)
			}
		}
	}
	if !strings.Contains(msg, "password [REDACTED]") || !strings.Contains(msg, "[REDACTED]====") {
		t.Fatalf("the error must quote stdout and stderr, redacted:\n%s", msg)
	}
}
