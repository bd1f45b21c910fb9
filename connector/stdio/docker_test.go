package stdio_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/stdio"
	"github.com/flowsim/flowsim/connector/stdio/stdiotest"
)

func TestImageNotPresent(t *testing.T) {
	stdiotest.RequireDocker(t)
	var _, err = stdio.NewImage(context.Background(), stdio.Docker{Image: "flowsim/no-such-connector:never"}, stdio.Options{})
	var want = `connector image "flowsim/no-such-connector:never" is not present locally, and flowsim never pulls`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestImageEngineUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	var _, err = stdio.NewImage(context.Background(), stdio.Docker{Image: "any:1"}, stdio.Options{})
	if err == nil || !strings.Contains(err.Error(), `running connector image "any:1": cannot reach the Docker engine`) {
		t.Fatalf("got %v", err)
	}
}

func TestImage(t *testing.T) {
	stdiotest.RequireDocker(t)
	var bin = stdiotest.BuildStatic(t, "github.com/flowsim/flowsim/connector/stdio/stdiotest/fakeconnector", t.TempDir())
	var tag = fmt.Sprintf("flowsim-stdiotest:%d", os.Getpid())
	stdiotest.BuildImage(t, bin, tag)

	for _, tc := range []struct {
		mode string
		want connector.Revision
	}{{stdiotest.ModeOK, connector.Compat}, {stdiotest.ModeOct, connector.Oct2021}} {
		t.Run(tc.mode, func(t *testing.T) {
			var c, err = stdio.NewImage(context.Background(), stdio.Docker{
				Image: tag, Args: []string{"-e", stdiotest.ModeEnv + "=" + tc.mode},
			}, stdio.Options{CallTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var ctx = context.Background()
			if resp, err := c.ApplyUpsert(ctx, &materialize.ApplyRequest{Version: "v2"}); err != nil || resp.ActionDescription != "upsert v2" {
				t.Fatalf("ApplyUpsert: %v, %v", resp, err)
			}
			if got := c.Info(); got.Protocol != tc.want || got.Transport != "image" || got.Target != tag {
				t.Fatalf("Info() = %v", got)
			}
			if err = stdiotest.Exercise(ctx, c, 2000); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("exit non-zero", func(t *testing.T) {
		var c, err = stdio.NewImage(context.Background(), stdio.Docker{
			Image: tag, Args: []string{"-e", stdiotest.ModeEnv + "=" + stdiotest.ModeExit3},
		}, stdio.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Spec(context.Background(), &materialize.SpecRequest{})
		var ce *stdio.CallError
		if !errors.As(err, &ce) || ce.ExitCode != 3 || !strings.Contains(ce.Stderr, "missing host") {
			t.Fatalf("got %v, want exit code 3 with the connector's stderr", err)
		}
	})
	t.Run("hang", func(t *testing.T) {
		var c, err = stdio.NewImage(context.Background(), stdio.Docker{
			Image: tag, Args: []string{"-e", stdiotest.ModeEnv + "=" + stdiotest.ModeHang},
		}, stdio.Options{CallTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Spec(context.Background(), &materialize.SpecRequest{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want a deadline error", err)
		}
		if n := c.Running(); n != 0 {
			t.Fatalf("%d processes still running", n)
		}
	})
}
