package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// recorder is a testing.TB that records Skipf/Fatalf instead of acting on them.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestRequireSkipsOutsideCIAndFailsInCI(t *testing.T) {
	var missing = fmt.Errorf("%w on PATH", ErrNoBinaries)
	for _, tc := range []struct {
		name, ci   string
		err        error
		skip, fail bool
	}{
		{name: "no binaries, local", ci: "", err: missing, skip: true},
		{name: "no binaries, CI", ci: "true", err: missing, fail: true},
		{name: "other error, local", ci: "", err: errors.New("initdb: boom"), fail: true},
		{name: "no error", ci: "true", err: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			var r = &recorder{TB: t}
			Require(r, tc.err)
			if got := r.skipped != ""; got != tc.skip {
				t.Errorf("skipped = %q, want skip=%v", r.skipped, tc.skip)
			}
			if got := r.failed != ""; got != tc.fail {
				t.Errorf("failed = %q, want fail=%v", r.failed, tc.fail)
			}
			if tc.skip && !strings.Contains(r.skipped, "not found") {
				t.Errorf("skip message %q doesn't say what is missing", r.skipped)
			}
		})
	}
}

func TestClusterParentIsReachableByTheClusterUser(t *testing.T) {
	var private = t.TempDir() // 0700
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", private)
	var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}
	if got := clusterParent(nobody); got != "/tmp" {
		t.Errorf("clusterParent with TMPDIR=%s (mode 0700) = %q, want /tmp", private, got)
	}
	if got := clusterParent(nil); got != private {
		t.Errorf("clusterParent when not switching users = %q, want TMPDIR %q", got, private)
	}
}

func TestFindBinDirHonoursPGTEST_BIN(t *testing.T) {
	t.Setenv("PGTEST_BIN", t.TempDir())
	if _, err := FindBinDir(); !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("FindBinDir with an empty PGTEST_BIN: err = %v, want ErrNoBinaries", err)
	}
}

func TestClusterServesAndIsRemoved(t *testing.T) {
	var srv = New(t)
	var ctx = context.Background()

	// No NewDatabase here: its cleanup would run after the Stop below.
	var db = "postgres"
	var conn = srv.Conn(t, db)

	var got string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&got); err != nil {
		t.Fatalf("querying the new database: %v", err)
	}
	if got != db {
		t.Errorf("current_database() = %q, want %q", got, db)
	}

	// The data directory belongs to an unprivileged user when we are root.
	var fi, err = os.Stat(srv.data)
	if err != nil {
		t.Fatalf("stat data directory: %v", err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; os.Geteuid() == 0 && uid == 0 {
		t.Errorf("data directory is owned by root; the cluster must run unprivileged")
	}

	// A wrong password is refused: the cluster really authenticates.
	var bad = &Server{Host: srv.Host, Port: srv.Port, User: srv.User, Password: "wrong"}
	if c, err := bad.Connect(ctx, db); err == nil {
		c.Close(ctx)
		t.Errorf("connecting with a wrong password succeeded")
	}

	conn.Close(ctx)
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(srv.dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s still exists after Stop (err=%v)", srv.dir, err)
	}
	if c, err := srv.Connect(ctx, "postgres"); err == nil {
		c.Close(ctx)
		t.Errorf("server still accepts connections after Stop")
	}
}

func TestSharedIsReused(t *testing.T) {
	var a, b = Shared(t), Shared(t)
	if a != b {
		t.Fatalf("Shared returned two clusters")
	}
	var db1, db2 = a.NewDatabase(t), a.NewDatabase(t)
	if db1 == db2 {
		t.Fatalf("NewDatabase returned %q twice", db1)
	}
}

// TestHelperCrashWithoutStop is run by TestClusterDiesWithTheTestBinary in a child
// process: it starts a cluster, reports it, and exits without stopping it.
func TestHelperCrashWithoutStop(t *testing.T) {
	if os.Getenv("PGTEST_HELPER_CRASH") != "1" {
		t.Skip("helper of TestClusterDiesWithTheTestBinary")
	}
	var s, err = Start(context.Background())
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	fmt.Println("cluster", s.proc.Process.Pid, s.dir)
	os.Exit(0) // no Stop: as if the test binary had crashed
}

func TestClusterDiesWithTheTestBinary(t *testing.T) {
	skipShort(t)
	if _, err := FindBinDir(); err != nil {
		Require(t, err)
	}
	var cmd = exec.Command(os.Args[0], "-test.run=^TestHelperCrashWithoutStop$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PGTEST_HELPER_CRASH=1")
	var out, err = cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var pid int
	var dir string
	var sc = bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "cluster" {
			pid, _ = strconv.Atoi(f[1])
			dir = f[2]
		}
	}
	if pid == 0 {
		t.Fatalf("helper didn't report a cluster:\n%s", out)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	// Wait for the orphaned postmaster to exit: a pidfd becomes readable then.
	var fd, perr = unix.PidfdOpen(pid, 0)
	if errors.Is(perr, unix.ESRCH) {
		return // already gone
	} else if perr != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, perr)
	}
	defer unix.Close(fd)
	var fds = []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 30_000)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	if n == 0 {
		syscall.Kill(pid, syscall.SIGQUIT)
		t.Fatalf("postgres (pid %d) outlived the test binary that started it by 30s", pid)
	}
}
