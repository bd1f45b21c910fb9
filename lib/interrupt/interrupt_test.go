package interrupt

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

func TestNotifyCancelsWithTheSignal(t *testing.T) {
	var ctx, stop = Notify(context.Background())
	defer stop()
	if Of(ctx) != nil {
		t.Fatal("Of is set before any signal")
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	var ie = Of(ctx)
	if ie == nil || ie.Name() != "SIGTERM" || ie.ExitCode() != 143 || ie.Error() != "interrupted by SIGTERM" {
		t.Fatalf("Of(ctx) = %v, want SIGTERM, exit code 143", ie)
	}
}

func TestOfIgnoresOtherCancellations(t *testing.T) {
	var ctx, stop = Notify(context.Background())
	stop() // released: cancelled, by no signal
	if ctx.Err() == nil || Of(ctx) != nil {
		t.Fatalf("after stop: err %v, Of %v; want cancelled by no signal", ctx.Err(), Of(ctx))
	}
	var c2, cancel = context.WithCancelCause(context.Background())
	Cancel(cancel, syscall.SIGINT)
	if ie := Of(c2); ie == nil || ie.ExitCode() != 130 || !errors.Is(context.Cause(c2), ie) {
		t.Fatalf("Cancel(SIGINT): Of = %v, want exit code 130", ie)
	}
}
