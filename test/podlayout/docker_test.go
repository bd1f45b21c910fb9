package podlayout

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// requireDocker skips when the Docker engine is unreachable, except in CI (CI=true),
// where that is a failure.
func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("Skipping the Docker build in -short mode (make unit)")
	}
	var out, err = exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the Docker engine is required in CI: docker info: %v\n%s", err, out)
	}
	t.Skipf("Skipping: the Docker engine is unreachable (docker info: %v)", err)
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	var cmd = exec.Command(name, args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// images are the flowsim and manager images built once for this package's tests, from
// the binaries in bin.
type images struct {
	bin, flowsim, manager string
}

var (
	built     images
	buildOnce sync.Once
	buildErr  error
)

// TestMain removes the images the tests built.
func TestMain(m *testing.M) {
	flag.Parse()
	var code = m.Run()
	if built.flowsim != "" {
		_ = exec.Command("docker", "rmi", "--force", built.flowsim, built.manager).Run()
		_ = os.RemoveAll(built.bin)
	}
	os.Exit(code)
}

// buildImages builds the images as `make docker-build` does: static binaries, then
// hack/docker-build.sh.
func buildImages(t *testing.T) images {
	t.Helper()
	requireDocker(t)
	buildOnce.Do(func() {
		var bin, err = os.MkdirTemp("", "flowsim-docker-test-")
		if err != nil {
			buildErr = err
			return
		}
		var tag, prefix = fmt.Sprintf("test-%d", os.Getpid()), "flowsim-test"
		built = images{bin: bin, flowsim: prefix + "/flowsim:" + tag, manager: prefix + "/manager:" + tag}
		for _, step := range []struct {
			env  []string
			args []string
		}{
			{[]string{"CGO_ENABLED=0"}, []string{"go", "build", "-tags", "nozstd", "-trimpath", "-ldflags", "-s -w", "-o", bin + "/", "./cmd/flowsim", "./cmd/manager"}},
			{[]string{"BIN=" + bin, "TAG=" + tag, "IMAGE_PREFIX=" + prefix}, []string{"bash", "hack/docker-build.sh"}},
		} {
			var cmd = exec.Command(step.args[0], step.args[1:]...)
			cmd.Dir = filepath.Join("..", "..")
			cmd.Env = append(os.Environ(), step.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("%s: %w\n%s", strings.Join(step.args, " "), err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("building the images: %v", buildErr)
	}
	return built
}

// TestDockerBuild checks that the images `make docker-build` builds run.
func TestDockerBuild(t *testing.T) {
	var img = buildImages(t)
	var bin, flowsim, manager = img.bin, img.flowsim, img.manager
	for _, img := range []string{flowsim, manager} {
		if user := strings.TrimSpace(run(t, nil, "docker", "image", "inspect", "--format", "{{.Config.User}}", img)); user != "65532:65532" {
			t.Errorf("%s runs as %q, want the non-root 65532:65532", img, user)
		}
	}
	if out := run(t, nil, "docker", "run", "--rm", flowsim, "--help"); !strings.Contains(out, "matsim") {
		t.Errorf("flowsim --help in the image does not list matsim:\n%s", out)
	}
	if out := run(t, nil, "docker", "run", "--rm", manager, "--help"); !strings.Contains(out, "--flowsim-image") {
		t.Errorf("manager --help in the image does not document --flowsim-image:\n%s", out)
	}

	// What the operator's init container does: copy flowsim into a shared volume.
	var shared = t.TempDir()
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	run(t, nil, "docker", "run", "--rm", "-v", shared+":/flowsim-install", flowsim, "install", "--to", "/flowsim-install")
	var want, _ = os.ReadFile(filepath.Join(bin, "flowsim"))
	var got, err = os.ReadFile(filepath.Join(shared, "flowsim"))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("flowsim install in the image did not copy the binary (read error %v, %d of %d bytes)", err, len(got), len(want))
	}
}

func TestDockerBuildWithoutBinaries(t *testing.T) {
	var cmd = exec.Command("bash", "hack/docker-build.sh")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "BIN="+t.TempDir(), "DOCKER=false")
	var out, err = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 2 || !strings.Contains(string(out), "make build") {
		t.Errorf("docker-build.sh without binaries: exit %d, output %q; want exit 2 telling to run make build", code, out)
	}
}
