package grpcconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// PermanentDialWindow is how long Dial keeps trying an address that refuses
// connections (a connector still starting gets this long) before it fails with the
// dial error; an unknown host fails at once. gRPC alone would retry either until the
// dial timeout (--call-timeout, 5 minutes by default).
const PermanentDialWindow = 3 * time.Second

// probe dials addr over TCP, as gRPC will, to tell a permanent error from a slow
// server: no such host, or connections refused for PermanentDialWindow (at most
// limit), is an error naming the address and the dial error. Any other outcome (a
// connection, a timeout, an unclassified error) is left to gRPC's own dial. Behind an
// HTTP(S) proxy (gRPC honours the proxy variables) there is nothing to probe.
func probe(ctx context.Context, addr string, limit time.Duration) error {
	for _, v := range []string{"HTTPS_PROXY", "https_proxy", "GRPC_PROXY", "grpc_proxy"} {
		if os.Getenv(v) != "" {
			return nil
		}
	}
	var window = min(PermanentDialWindow, limit)
	var pctx, cancel = context.WithTimeout(ctx, window)
	defer cancel()
	var d net.Dialer
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		var conn, err = d.DialContext(pctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return nil
		}
		var dns *net.DNSError
		switch {
		case errors.As(err, &dns) && dns.IsNotFound:
			return fmt.Errorf("cannot reach connector endpoint %q: %w", addr, err)
		case !errors.Is(err, syscall.ECONNREFUSED):
			return nil // not known to be permanent: gRPC's dial decides
		}
		var t = time.NewTimer(backoff)
		select {
		case <-pctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return nil // the caller's own deadline or cancellation: gRPC's dial says so
			}
			return fmt.Errorf("cannot reach connector endpoint %q within %s: %w (is a connector or `flowsim connector-proxy` listening there?)", addr, window, err)
		case <-t.C:
		}
	}
}
