package stdiotest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RequireDocker skips t when the Docker engine is unreachable, unless CI is "true":
// then it fails, since CI machines have an engine and its tests must run there.
// With -short (make unit) it skips unless CI is "true".
func RequireDocker(t testing.TB) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("skipping a Docker test in -short mode (it runs without -short, and always with CI=true)")
	}
	var ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, err = exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err == nil {
		return
	}
	var why = strings.TrimSpace(string(out))
	if why == "" {
		why = err.Error()
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but the Docker engine is unreachable: %s", why)
	}
	t.Skipf("skipping: the Docker engine is unreachable (%s); with CI=true this test fails instead", why)
}

// BuildStatic builds a Go main package as a static binary into dir.
func BuildStatic(t testing.TB, pkg, dir string) string {
	t.Helper()
	var out = filepath.Join(dir, filepath.Base(pkg))
	var cmd = exec.Command("go", "build", "-tags", "nozstd", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// BuildImage builds an image FROM scratch holding binary as /connector/connector,
// its entrypoint, tags it and removes it when the test ends.
func BuildImage(t testing.TB, binary, tag string) {
	t.Helper()
	var dir = t.TempDir()
	var data, err = os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if err = os.WriteFile(filepath.Join(dir, "connector"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	const dockerfile = "FROM scratch\nCOPY connector /connector/connector\nENTRYPOINT [\"/connector/connector\"]\n"
	if err = os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, err2 = exec.Command("docker", "build", "--quiet", "--tag", tag, dir).Output()
	if err2 != nil {
		t.Fatalf("docker build: %v", err2)
	}
	var id = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		_ = exec.Command("docker", "image", "rm", "--force", tag).Run()
		_ = exec.Command("docker", "image", "rm", "--force", id).Run() // if a container still held it
	})
}
