package controllers

import (
	"fmt"
	"path"
	"strings"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// ReasonNotAllowed: the run asks for what the manager's admission flags forbid (an image
// outside the allowed patterns, env from a Secret); nothing was created.
const ReasonNotAllowed = "NotAllowed"

// AdmissionPolicy is what an admin allows MatSimRuns to put into pods. Creating a
// MatSimRun creates pods, so without it the right to edit MatSimRuns in a namespace
// equals the right to create pods there (any image, env from any Secret).
type AdmissionPolicy struct {
	// ConnectorImages are patterns (path.Match: * does not cross a /) that
	// spec.connector.image must match; empty allows any image.
	ConnectorImages []string
	// DriverImages are patterns that spec.driver.image must match when it is set (the
	// manager's own --flowsim-image is always allowed); empty allows any image.
	DriverImages []string
	// ForbidSecretEnv rejects connector env with valueFrom.secretKeyRef.
	ForbidSecretEnv bool
}

// Validate checks the patterns (for the manager's flags).
func (p AdmissionPolicy) Validate() error {
	for _, pat := range append(append([]string(nil), p.ConnectorImages...), p.DriverImages...) {
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf("image pattern %q: %w", pat, err)
		}
	}
	return nil
}

// Violation says what of run the policy forbids, or "" when it is allowed.
func (p AdmissionPolicy) Violation(run *flowsimv1.MatSimRun) string {
	var problems []string
	if !matchAny(p.ConnectorImages, run.Spec.Connector.Image) {
		problems = append(problems, fmt.Sprintf("spec.connector.image %q matches none of the allowed patterns (%s)",
			run.Spec.Connector.Image, strings.Join(p.ConnectorImages, ", ")))
	}
	if img := run.Spec.Driver.Image; img != "" && !matchAny(p.DriverImages, img) {
		problems = append(problems, fmt.Sprintf("spec.driver.image %q matches none of the allowed patterns (%s)",
			img, strings.Join(p.DriverImages, ", ")))
	}
	if p.ForbidSecretEnv {
		for i, e := range run.Spec.Connector.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				problems = append(problems, fmt.Sprintf("spec.connector.env[%d] (%s) takes its value from Secret %q, which this operator does not allow (use spec.config.secretRef)",
					i, e.Name, e.ValueFrom.SecretKeyRef.Name))
			}
		}
	}
	if len(problems) == 0 {
		return ""
	}
	return "not allowed by the operator's admission policy: " + strings.Join(problems, "; ")
}

func matchAny(patterns []string, s string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}
