package controllers

import (
	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/lib/redact"
)

// redactOutcome removes the secrets of an inline config from what the status will
// say. The driver and the connector proxy redact what they report already (they know
// the config, also from a Secret); this is the second lock for the config the
// manager itself can see.
func redactOutcome(run *flowsimv1.MatSimRun, o *outcome) {
	var inline = run.Spec.Config.Inline
	if inline == nil || len(inline.Raw) == 0 {
		return
	}
	var compact, err = compactJSON(inline.Raw)
	if err != nil {
		compact = inline.Raw
	}
	var red = redact.New(compact)
	red.Learn(inline.Raw)
	if !red.Any() {
		return
	}
	o.message = red.String(o.message)
	if o.result != nil {
		o.result.Message = red.String(o.result.Message)
	}
}
