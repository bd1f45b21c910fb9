package verifier

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// MaxLine is the longest row (NDJSON line) a command may print.
const MaxLine = 64 << 20

// Command runs Argv (no shell; see SplitCommand) with the resource path variables
// expanded in every argument and set in its environment. It must print the rows as
// NDJSON documents on stdout, one per line, and exit 0.
type Command struct {
	Argv []string
}

// NewCommand parses a --verify-command value.
func NewCommand(line string) (*Command, error) {
	var argv, err = SplitCommand(line)
	if err != nil {
		return nil, fmt.Errorf("--verify-command: %w", err)
	}
	for _, a := range argv {
		if _, err := expand(a, Variables(nil)); err != nil {
			return nil, fmt.Errorf("--verify-command: %w", err)
		}
	}
	return &Command{Argv: argv}, nil
}

func (c *Command) String() string { return "--verify-command " + strings.Join(c.Argv, " ") }

// Rows implements matsim.Verifier.
func (c *Command) Rows(ctx context.Context, resourcePath []string, fn func(doc []byte) error) error {
	var vars = Variables(resourcePath)
	var argv = make([]string, len(c.Argv))
	for k, a := range c.Argv {
		var err error
		if argv[k], err = expand(a, vars); err != nil {
			return err
		}
	}
	var cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr = &tailBuffer{max: 4096}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	var stdout, err = cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", argv[0], err)
	}
	var sc = bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	var fnErr error
	var line int
	for sc.Scan() {
		line++
		if fnErr = fn(sc.Bytes()); fnErr != nil {
			break
		}
	}
	var scanErr = sc.Err()
	if fnErr != nil || scanErr != nil {
		_ = cmd.Process.Kill()
		_, _ = io.Copy(io.Discard, stdout)
	}
	var waitErr = cmd.Wait()
	switch {
	case fnErr != nil:
		return fnErr
	case errors.Is(scanErr, bufio.ErrTooLong):
		return fmt.Errorf("%s: line %d of its output is longer than %d bytes", argv[0], line+1, MaxLine)
	case scanErr != nil:
		return fmt.Errorf("reading the output of %s: %w", argv[0], scanErr)
	case ctx.Err() != nil:
		return ctx.Err()
	case waitErr != nil:
		var tail = strings.TrimSpace(stderr.String())
		if tail != "" {
			return fmt.Errorf("%s failed: %v; its stderr ends: %s", argv[0], waitErr, tail)
		}
		return fmt.Errorf("%s failed: %v", argv[0], waitErr)
	}
	return nil
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.ToValidUTF8(t.b, nil))
}
