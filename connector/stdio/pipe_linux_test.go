package stdio

import (
	"os"
	"syscall"
	"testing"
)

func TestGrowPipe(t *testing.T) {
	var r, w, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	growPipe(w)
	const fGetPipeSz = 1032 // F_GETPIPE_SZ
	size, _, errno := syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), fGetPipeSz, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	if size != pipeSize {
		t.Fatalf("pipe size = %d, want %d", size, pipeSize)
	}
}
