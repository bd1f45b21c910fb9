package build

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	cmd.Dir = filepath.Join("..")
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestDockerBuild builds the images as `make docker-build` does (static binaries, then
// hack/docker-build.sh) and checks that each runs.
func TestDockerBuild(t *testing.T) {
	requireDocker(t)
	var bin = t.TempDir()
	run(t, []string{"CGO_ENABLED=0"}, "go", "build", "-tags", "nozstd", "-trimpath", "-ldflags", "-s -w", "-o", bin+"/",
		"./cmd/flowsim", "./cmd/manager")

	var tag = fmt.Sprintf("test-%d", os.Getpid())
	var prefix = "flowsim-test"
	t.Cleanup(func() {
		for _, img := range []string{"flowsim", "manager"} {
			_ = exec.Command("docker", "rmi", "--force", prefix+"/"+img+":"+tag).Run()
		}
	})
	run(t, []string{"BIN=" + bin, "TAG=" + tag, "IMAGE_PREFIX=" + prefix}, "bash", "hack/docker-build.sh")

	var flowsim, manager = prefix + "/flowsim:" + tag, prefix + "/manager:" + tag
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
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "BIN="+t.TempDir(), "DOCKER=false")
	var out, err = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 2 || !strings.Contains(string(out), "make build") {
		t.Errorf("docker-build.sh without binaries: exit %d, output %q; want exit 2 telling to run make build", code, out)
	}
}
