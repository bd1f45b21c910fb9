// Package interrupt turns SIGINT and SIGTERM into the cancellation of a context whose
// cause names the signal, so that whatever stops because of it can tell an interrupted
// run (exit code 130 or 143, nobody's fault) from a connector that failed.
package interrupt

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Error is the cause of a context cancelled by a signal.
type Error struct{ Signal syscall.Signal }

func (e *Error) Error() string { return "interrupted by " + e.Name() }

// Name is the signal's conventional name: SIGINT, SIGTERM (or "signal N").
func (e *Error) Name() string {
	switch e.Signal {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return "signal " + e.Signal.String()
}

// ExitCode is the shell's code for a process ended by the signal: 128 + its number
// (130 for SIGINT, 143 for SIGTERM).
func (e *Error) ExitCode() int { return 128 + int(e.Signal) }

// Of returns the signal that cancelled ctx, or nil when ctx was not cancelled by one.
func Of(ctx context.Context) *Error {
	if ctx.Err() == nil {
		return nil
	}
	var e *Error
	if errors.As(context.Cause(ctx), &e) {
		return e
	}
	return nil
}

// Notify returns a context that is cancelled, with an *Error as its cause, on the
// first SIGINT or SIGTERM. After that first signal the default handling comes back:
// a second one ends the process at once. stop releases the handler.
func Notify(parent context.Context) (ctx context.Context, stop func()) {
	var cctx, cancel = context.WithCancelCause(parent)
	var ch = make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	var done = make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			var sig, _ = s.(syscall.Signal)
			cancel(&Error{Signal: sig})
		case <-done:
		}
	}()
	var once sync.Once
	return cctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(context.Canceled)
		})
	}
}

// Cancel cancels a context made with context.WithCancelCause as signal sig would:
// for tests, and for callers that receive signals their own way.
func Cancel(cancel context.CancelCauseFunc, sig syscall.Signal) { cancel(&Error{Signal: sig}) }
