package inproc

import (
	"context"
	"time"

	pm "github.com/estuary/flow/go/protocols/materialize"
	"github.com/flowsim/flowsim/connector/era2023"
	w "github.com/flowsim/flowsim/protocol/wire2023"
)

// KillTimeout bounds Session.Kill's wait for the connector to return.
const KillTimeout = 30 * time.Second

// NewClient drives an in-process current-era connector in the neutral model: each
// request is translated (era2023), crosses as bytes, and each response is checked
// as today's runtime checks it (era2023.CheckResponse) before it is translated
// back — the client every transport of today's era uses, over an in-process stream.
func NewClient(srv pm.ConnectorServer) *era2023.Client {
	return era2023.NewClient(func(ctx context.Context) (era2023.Stream, error) {
		return stream{Open(ctx, srv)}, nil
	})
}

// stream is a Stream as era2023.Client drives it: Kill waits at most KillTimeout.
type stream struct{ *Stream }

func (s stream) Send(r *w.Request) error    { return s.Stream.Send(r) }
func (s stream) Recv() (*w.Response, error) { return s.Stream.Recv() }
func (s stream) CloseSend() error           { return s.Stream.CloseSend() }
func (s stream) Kill() error {
	var ctx, cancel = context.WithTimeout(context.Background(), KillTimeout)
	defer cancel()
	return s.Stream.Kill(ctx)
}
