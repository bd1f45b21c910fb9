package controllers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
	"github.com/flowsim/flowsim/lib/redact"
)

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

// InlineSecretKeys lists, in order, the paths of the keys of an inline config that look
// like they hold secrets, at any depth (spec.config.inline.auth.password).
func InlineSecretKeys(raw []byte) []string {
	var d = json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil // the CRD's schema admits only a mapping; nothing to name
	}
	var found []string
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch t := v.(type) {
		case map[string]any:
			var keys = make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				var p = at + "." + k
				if redact.LooksSecret(k) {
					found = append(found, p)
				}
				walk(p, t[k])
			}
		case []any:
			for i, e := range t {
				walk(fmt.Sprintf("%s[%d]", at, i), e)
			}
		}
	}
	walk("spec.config.inline", v)
	return found
}

// inlineSecretViolation says why run's inline config is not allowed, or "". An inline
// config is readable by anyone who can read the run or its Job, so a key that looks
// secret is refused whatever the admission policy, at any depth, before anything is
// created.
func inlineSecretViolation(run *flowsimv1.MatSimRun) string {
	var inline = run.Spec.Config.Inline
	if inline == nil {
		return ""
	}
	var keys = InlineSecretKeys(inline.Raw)
	if len(keys) == 0 {
		return ""
	}
	return fmt.Sprintf("%s look(s) like a secret, and an inline config is readable by anyone who can read the run or its Job: "+
		"put the config in a Secret and reference it with spec.config.secretRef", strings.Join(keys, ", "))
}
