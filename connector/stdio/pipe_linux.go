package stdio

import (
	"os"
	"syscall"
)

// pipeSize is what growPipe asks for: Linux's default limit for unprivileged
// processes (/proc/sys/fs/pipe-max-size).
const pipeSize = 1 << 20

// growPipe enlarges a pipe's kernel buffer from its default 64 KiB, so that a
// stream of large frames costs fewer wake-ups on both sides. Best effort.
func growPipe(f *os.File) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, pipeSize)
		})
	}
}
