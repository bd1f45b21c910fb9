package stdio

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	w "github.com/flowsim/flowsim/protocol/wire2023"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
)

// Docker says how to run a connector image. flowsim drives the docker CLI rather
// than the Engine API: `docker run --interactive` already implements attaching
// stdin/stdout/stderr as plain pipes (the API's attach stream multiplexes them with
// its own 8-byte headers), the CLI honours the user's contexts, DOCKER_HOST and TLS
// settings, extra options are passed through verbatim, and no large client module
// joins flowsim's pinned dependency graph.
type Docker struct {
	// Image to run; it must be present locally (nothing is pulled).
	Image string
	// Network for --network; "" means host.
	Network string
	// Args are extra `docker run` options placed before the image, for example
	// ["-v", "/data:/data", "-e", "TOKEN=x"].
	Args []string
	// CLI is the docker binary ("docker" when empty).
	CLI string
}

// NewImage returns a Client that runs, for each call,
//
//	docker run --interactive --rm --pull=never --name flowsim-… --network NETWORK [ARGS…] IMAGE <subcommand>
//
// It checks now that the docker CLI exists, that the Docker engine answers, and that
// the image is present locally.
func NewImage(ctx context.Context, d Docker, opts Options) (*Client, error) {
	if d.Image == "" {
		return nil, errors.New("connector image is empty")
	}
	if d.CLI == "" {
		d.CLI = "docker"
	}
	if d.Network == "" {
		d.Network = "host"
	}
	var cli, err = exec.LookPath(d.CLI)
	if err != nil {
		return nil, fmt.Errorf("running connector image %q needs the docker CLI, and %q is not in $PATH", d.Image, d.CLI)
	}
	if err = inspectImage(ctx, cli, d.Image); err != nil {
		return nil, err
	}
	var prefix = "flowsim-" + randomHex(4)
	var seq atomic.Int64
	var c = newClient("image", d.Image, func(sub string) ([]string, func() error) {
		var call = sub
		if call == "" {
			call = "stream"
		}
		var name = fmt.Sprintf("%s-%s-%d", prefix, call, seq.Add(1))
		var argv = []string{cli, "run", "--interactive", "--rm", "--pull=never", "--name", name, "--network", d.Network}
		argv = append(argv, d.Args...)
		if sub == "" {
			// Today's era: no subcommand, the codec in the environment.
			argv = append(argv, "-e", w.CodecEnv+"="+string(codecOf(opts)), d.Image)
		} else {
			argv = append(argv, d.Image, sub)
		}
		return argv, func() error { return removeContainer(cli, name) }
	}, opts)
	// docker run --rm removes the container before it exits: a slow removal is a
	// slow exit of this process.
	c.what = "the docker run process (it removes the container before it exits)"
	return c, nil
}

func randomHex(n int) string {
	var b = make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// inspectImage checks that image is present locally, explaining why not.
func inspectImage(ctx context.Context, cli, image string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	var cmd = exec.CommandContext(ctx, cli, "image", "inspect", "--format", "{{.Id}}", image)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		var msg = strings.TrimSpace(stderr.String())
		var lower = strings.ToLower(msg)
		switch {
		case strings.Contains(lower, "no such image"):
			return fmt.Errorf("connector image %q is not present locally, and flowsim never pulls: build it (docker build -t %s .) or load it (docker load) first", image, image)
		case strings.Contains(lower, "cannot connect") || strings.Contains(lower, "daemon") || strings.Contains(lower, "permission denied"):
			return fmt.Errorf("running connector image %q: cannot reach the Docker engine: %s", image, msg)
		case msg == "":
			return fmt.Errorf("running connector image %q: docker image inspect: %w", image, err)
		}
		return fmt.Errorf("running connector image %q: docker image inspect: %w: %s", image, err, msg)
	}
	return nil
}

// removeTimeout bounds `docker rm --force` of a killed call's container.
const removeTimeout = 30 * time.Second

// removeContainer removes a container whose docker CLI was killed: killing the CLI
// does not stop the container. It is bounded by removeTimeout, and says why the
// container may still be there. A container already gone (--rm removed it, or it
// was never created) is not an error.
func removeContainer(cli, name string) error {
	var ctx, cancel = context.WithTimeout(context.Background(), removeTimeout)
	defer cancel()
	var stderr bytes.Buffer
	var cmd = exec.CommandContext(ctx, cli, "rm", "--force", name)
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	var err = cmd.Run()
	var msg = strings.TrimSpace(stderr.String())
	switch {
	case err == nil || strings.Contains(strings.ToLower(msg), "no such container"):
		return nil
	case strings.Contains(strings.ToLower(msg), "already in progress"):
		return nil // docker run --rm is removing it
	case ctx.Err() != nil:
		return fmt.Errorf("removing its container %s: docker rm --force did not finish within %s; it may still be running", name, removeTimeout)
	case msg != "":
		return fmt.Errorf("removing its container %s: %v: %s", name, err, msg)
	}
	return fmt.Errorf("removing its container %s: %w", name, err)
}
