// Package pgtest starts throwaway PostgreSQL clusters for tests: initdb into a
// temporary directory, postgres on a free 127.0.0.1 port with its unix socket in
// that directory, stopped and removed afterwards. postgres runs as a child of the
// test binary with a parent-death signal, so a crashed test leaves no server behind.
//
// The binaries are looked up on PATH and under /usr/lib/postgresql/*/bin (Debian's
// layout), or in the directory named by PGTEST_BIN. initdb and postgres refuse to run
// as root, so when the test runs as root the cluster runs as the "postgres" user (or
// "nobody" when there is none).
//
// Outside CI (CI != "true") a test that needs a server is skipped, with a message
// saying why, when no binaries are found or when the tests run with -short; with
// CI=true it fails instead.
//
// One cluster per test package:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		srv := pgtest.Shared(t)     // started on first use, stopped by Main
//		db := srv.NewDatabase(t)    // a fresh database, dropped when t ends
//		...
//	}
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries is returned (wrapped) by Start when no PostgreSQL installation is found.
var ErrNoBinaries = errors.New("PostgreSQL binaries (initdb, postgres) not found")

// SuperUser is the name of the cluster's superuser.
const SuperUser = "flowsim"

// Server is a running throwaway cluster. Connect over TCP to Host:Port as User with
// Password (scram-sha-256), or over the unix socket in SocketDir.
type Server struct {
	Host      string
	Port      int
	User      string
	Password  string
	SocketDir string
	// BinDir holds the initdb and postgres that run this cluster.
	BinDir string

	dir     string
	data    string
	logFile string
	cred    *syscall.Credential
	opts    Options
	dbSeq   atomic.Int64

	proc   *exec.Cmd
	exited chan struct{} // closed when proc has exited
	logOut *os.File

	stopOnce sync.Once
	stopErr  error
}

// Address is "host:port" of the TCP listener.
func (s *Server) Address() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// ConnString is a postgres:// URL for database as the superuser. It holds the
// password: don't log it.
func (s *Server) ConnString(database string) string {
	var u = url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(s.User, s.Password),
		Host:     s.Address(),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Connect opens a connection to database as the superuser.
func (s *Server) Connect(ctx context.Context, database string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, s.ConnString(database))
}

// Conn opens a connection to database that is closed when t ends.
func (s *Server) Conn(t testing.TB, database string) *pgx.Conn {
	t.Helper()
	var conn, err = s.Connect(context.Background(), database)
	if err != nil {
		t.Fatalf("connecting to test database %q: %v", database, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// NewDatabase creates an empty database for t, dropped (with its connections
// terminated) when t ends, and returns its name.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	var base = strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	var name = fmt.Sprintf("t%d_%s", s.dbSeq.Add(1), base)

	var ctx = context.Background()
	var admin, err = s.Connect(ctx, "postgres")
	if err != nil {
		t.Fatalf("connecting to the test cluster: %v", err)
	}
	defer admin.Close(ctx)
	if _, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("creating test database %q: %v", name, err)
	}
	t.Cleanup(func() {
		var admin, err = s.Connect(ctx, "postgres")
		if err != nil {
			t.Errorf("connecting to the test cluster to drop %q: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err = admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database %q: %v", name, err)
		}
	})
	return name
}

// Options widen who may connect to a cluster; the zero value is loopback only.
type Options struct {
	// Listen lists addresses to listen on besides 127.0.0.1 (e.g. a Kubernetes node IP,
	// so that pods reach the server through a selector-less Service).
	Listen []string
	// AllowHosts lists client networks (CIDRs, e.g. a pod network) allowed to log in
	// with the password, besides loopback.
	AllowHosts []string
}

// Start initialises and starts a new cluster. The caller must Stop it.
func Start(ctx context.Context) (*Server, error) { return StartWith(ctx, Options{}) }

// StartWith is Start with Options.
func StartWith(ctx context.Context, opts Options) (*Server, error) {
	var binDir, err = FindBinDir()
	if err != nil {
		return nil, err
	}
	var s = &Server{Host: "127.0.0.1", User: SuperUser, BinDir: binDir, opts: opts}

	if s.cred, err = unprivilegedCredential(); err != nil {
		return nil, err
	}
	if s.Password, err = randomHex(16); err != nil {
		return nil, err
	}
	if s.dir, err = os.MkdirTemp(clusterParent(s.cred), "pgtest-"); err != nil {
		return nil, fmt.Errorf("creating cluster directory: %w", err)
	}
	var ok bool
	defer func() {
		if !ok {
			os.RemoveAll(s.dir)
		}
	}()
	// The cluster's user must be able to traverse and own its directory.
	if err = os.Chmod(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("making cluster directory accessible: %w", err)
	}
	if s.cred != nil {
		if err = os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, fmt.Errorf("giving the cluster directory to uid %d: %w", s.cred.Uid, err)
		}
	}
	s.data = filepath.Join(s.dir, "data")
	s.logFile = filepath.Join(s.dir, "postgres.log")
	s.SocketDir = s.dir

	var pwFile = filepath.Join(s.dir, "pwfile")
	if err = os.WriteFile(pwFile, []byte(s.Password+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing password file: %w", err)
	}
	if s.cred != nil {
		if err = os.Chown(pwFile, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, fmt.Errorf("giving the password file to uid %d: %w", s.cred.Uid, err)
		}
	}

	if _, err = s.run(ctx, "initdb",
		"--pgdata", s.data,
		"--username", s.User,
		"--pwfile", pwFile,
		"--auth-host", "scram-sha-256",
		"--auth-local", "trust",
		"--encoding", "UTF8",
		"--locale", "C",
		"--no-sync",
	); err != nil {
		return nil, err
	}
	os.Remove(pwFile)
	if err = s.allowHosts(); err != nil {
		return nil, err
	}

	// A free port can be taken between our probe and the server's bind: retry.
	for attempt := 1; ; attempt++ {
		if s.Port, err = freePort(); err != nil {
			return nil, err
		}
		if err = s.configure(); err != nil {
			return nil, err
		}
		if err = s.startPostgres(ctx); err == nil {
			break
		} else if attempt == 3 {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// startPostgres runs postgres as our child. Its parent-death signal is SIGQUIT
// (immediate shutdown): if the test binary dies without calling Stop (a panic, a
// timeout, a kill), the cluster goes with it instead of lingering.
func (s *Server) startPostgres(ctx context.Context) error {
	var logOut, err = os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening server log: %w", err)
	}
	var cmd = exec.Command(filepath.Join(s.BinDir, "postgres"), "-D", s.data)
	cmd.Dir = s.dir
	cmd.Env = s.env()
	cmd.Stdout, cmd.Stderr = logOut, logOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	if err = cmd.Start(); err != nil {
		logOut.Close()
		return fmt.Errorf("starting postgres: %w", err)
	}
	var exited = make(chan struct{})
	go func() {
		cmd.Wait()
		logOut.Close()
		close(exited)
	}()
	s.proc, s.exited, s.logOut = cmd, exited, logOut

	// Ready is when it accepts our connection; an exit before that is a failure.
	for {
		var cctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		var conn, err = s.Connect(cctx, "postgres")
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("postgres exited before accepting connections (%s); server log:\n%s", cmd.ProcessState, tail(s.logFile, 4096))
		case <-ctx.Done():
			s.signal(syscall.SIGQUIT)
			<-exited
			return fmt.Errorf("postgres did not accept connections: %w; last error: %v; server log:\n%s", ctx.Err(), err, tail(s.logFile, 4096))
		case <-time.After(50 * time.Millisecond): // poll readiness, as pg_ctl -w does
		}
	}
}

func (s *Server) signal(sig syscall.Signal) {
	if s.proc != nil && s.proc.Process != nil {
		s.proc.Process.Signal(sig)
	}
}

// configure writes the settings of this run into postgresql.auto.conf (later
// settings win). fsync is off: the cluster is thrown away.
func (s *Server) configure() error {
	var conf = fmt.Sprintf(`
port = %d
listen_addresses = '%s'
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
`, s.Port, strings.Join(append([]string{"127.0.0.1"}, s.opts.Listen...), ","), strings.ReplaceAll(s.SocketDir, "'", "''"))
	var path = filepath.Join(s.data, "postgresql.auto.conf")
	var f, err = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("configuring cluster: %w", err)
	}
	defer f.Close()
	if _, err = f.WriteString(conf); err != nil {
		return fmt.Errorf("configuring cluster: %w", err)
	}
	return nil
}

// allowHosts lets opts.AllowHosts log in with the password (pg_hba.conf).
func (s *Server) allowHosts() error {
	if len(s.opts.AllowHosts) == 0 {
		return nil
	}
	var lines strings.Builder
	for _, cidr := range s.opts.AllowHosts {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			return fmt.Errorf("pgtest: AllowHosts: %w", err)
		}
		fmt.Fprintf(&lines, "host all all %s scram-sha-256\n", cidr)
	}
	var f, err = os.OpenFile(filepath.Join(s.data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("allowing hosts: %w", err)
	}
	defer f.Close()
	if _, err = f.WriteString(lines.String()); err != nil {
		return fmt.Errorf("allowing hosts: %w", err)
	}
	return nil
}

// Stop stops the cluster (fast shutdown: connections are closed) and removes its
// directory. It is safe to call twice.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.proc != nil {
			s.signal(syscall.SIGINT)
			select {
			case <-s.exited:
			case <-time.After(time.Minute):
				s.signal(syscall.SIGQUIT)
				<-s.exited
				s.stopErr = errors.New("postgres ignored a fast shutdown for a minute; stopped it with SIGQUIT")
			}
		}
		if err := os.RemoveAll(s.dir); err != nil {
			s.stopErr = errors.Join(s.stopErr, fmt.Errorf("removing cluster directory: %w", err))
		}
	})
	return s.stopErr
}

func (s *Server) env() []string {
	return []string{
		"PATH=" + s.BinDir + ":/usr/bin:/bin",
		"LC_ALL=C",
		"TZ=UTC",
		"HOME=" + s.dir,
	}
}

// run runs one of the cluster's binaries as the cluster's user.
func (s *Server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	var cmd = exec.CommandContext(ctx, filepath.Join(s.BinDir, name), args...)
	cmd.Dir = s.dir
	cmd.Env = s.env()
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	var out, err = cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return out, nil
}

// FindBinDir returns a directory holding initdb and postgres: PGTEST_BIN if set,
// else the resolved directory of initdb, pg_ctl or postgres on PATH, else the
// newest /usr/lib/postgresql/<version>/bin.
func FindBinDir() (string, error) {
	if dir := os.Getenv("PGTEST_BIN"); dir != "" {
		if hasBinaries(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w in PGTEST_BIN=%s", ErrNoBinaries, dir)
	}
	var candidates []string
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if p, err := exec.LookPath(name); err == nil {
			// Resolve symlinks: /usr/local/bin/pg_ctl may point into the real
			// installation, and Debian's /usr/bin/pg_ctl is a wrapper script.
			if real, err := filepath.EvalSymlinks(p); err == nil {
				candidates = append(candidates, filepath.Dir(real))
			}
			candidates = append(candidates, filepath.Dir(p))
		}
	}
	var versioned, _ = filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versioned, func(i, j int) bool { return pgVersion(versioned[i]) > pgVersion(versioned[j]) })
	candidates = append(candidates, versioned...)

	for _, dir := range candidates {
		if hasBinaries(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w on PATH or under /usr/lib/postgresql/*/bin (set PGTEST_BIN, or apt-get install postgresql)", ErrNoBinaries)
}

func hasBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// pgVersion extracts the major version from /usr/lib/postgresql/<v>/bin.
func pgVersion(binDir string) float64 {
	var v, _ = strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// unprivilegedCredential returns nil when not root, else the credential of the
// "postgres" user, or of "nobody".
func unprivilegedCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		var u, err = user.Lookup(name)
		if err != nil {
			continue
		}
		var uid, err1 = strconv.ParseUint(u.Uid, 10, 32)
		var gid, err2 = strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody user exists to run the cluster as")
}

// clusterParent is where cluster directories go: the temporary directory, unless
// the cluster's user couldn't reach it (TMPDIR under /root, say), then /tmp.
func clusterParent(cred *syscall.Credential) string {
	var dir = os.TempDir()
	if cred == nil {
		return dir
	}
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp" // not traversable by others
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

func freePort() (int, error) {
	var l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) (string, error) {
	var b = make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func tail(path string, n int) string {
	var b, err = os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// InCI reports whether CI=true, where a missing server is a failure, not a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips t (or fails it, in CI) when err says a server could not be had.
func Require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNoBinaries) && !InCI() {
		t.Skipf("skipping: %v (with CI=true this fails)", err)
		return
	}
	t.Fatalf("starting a throwaway PostgreSQL cluster: %v", err)
}

// New starts a cluster for t alone, stopped when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	skipShort(t)
	var ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var s, err = Start(ctx)
	Require(t, err)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the throwaway cluster: %v", err)
		}
	})
	return s
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns the package's cluster, started on first use and stopped by Main.
func Shared(t testing.TB) *Server {
	t.Helper()
	skipShort(t)
	shared.once.Do(func() {
		var ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		shared.srv, shared.err = Start(ctx)
	})
	Require(t, shared.err)
	return shared.srv
}

// Main runs the package's tests and then stops the shared cluster, if one was
// started. Use it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	var code = m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the shared cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() && !InCI() {
		t.Skip("skipping: needs a PostgreSQL server, and -short is set (with CI=true this runs)")
	}
}
