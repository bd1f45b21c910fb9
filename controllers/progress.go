package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// LogReader reads the tail of a container's log (progress lines of the driver).
type LogReader interface {
	TailLog(ctx context.Context, namespace, pod, container string, lines int64) (string, error)
}

// PodLogReader reads logs through the API server (pods/log).
type PodLogReader struct {
	Clientset kubernetes.Interface
}

// TailLog returns at most the last lines lines (and 64 KiB) of a container's log.
func (r PodLogReader) TailLog(ctx context.Context, namespace, pod, container string, lines int64) (string, error) {
	var b, err = r.Clientset.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container:  container,
		TailLines:  ptr.To(lines),
		LimitBytes: ptr.To[int64](64 << 10),
	}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("reading log of %s/%s container %s: %w", namespace, pod, container, err)
	}
	return string(b), nil
}
