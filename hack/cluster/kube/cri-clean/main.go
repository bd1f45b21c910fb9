// Command cri-clean stops and removes every pod sandbox (and its containers) of a container
// runtime through the CRI, as the kubelet would when pods are deleted: the runtime tears down
// each pod's network with the CNI plugins and its shims exit. hack/cluster/down runs it
// before stopping the local test cluster's containerd, so no pod outlives the cluster.
//
//	cri-clean unix:///tmp/flowsim-cluster/run/containerd.sock
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	if len(os.Args) != 2 || !strings.HasPrefix(os.Args[1], "unix://") {
		fmt.Fprintln(os.Stderr, "usage: cri-clean unix:///path/to/runtime.sock")
		os.Exit(2)
	}
	if err := clean(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "cri-clean:", err)
		os.Exit(1)
	}
}

func clean(endpoint string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", endpoint, err)
	}
	defer conn.Close()
	var rt = runtime.NewRuntimeServiceClient(conn)
	list, err := rt.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("listing pod sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range list.Items {
		var name = sb.GetMetadata().GetNamespace() + "/" + sb.GetMetadata().GetName()
		if _, err := rt.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stopping pod %s: %w", name, err))
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("removing pod %s: %w", name, err))
			continue
		}
	}
	fmt.Fprintf(os.Stderr, "cri-clean: removed %d pod sandboxes\n", len(list.Items)-len(errs))
	return errors.Join(errs...)
}
