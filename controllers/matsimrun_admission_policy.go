package controllers

import (
	"strings"

	"github.com/flowsim/flowsim/lib/redact"
)

// InlineSecretsPolicyFile is where InlineSecretsPolicy is written, relative to the
// repository root (go run -tags nozstd ./hack/gentables -policy; make manifests does it).
const InlineSecretsPolicyFile = "config/crd/inline_secrets_policy.yaml"

// InlineSecretsPolicy renders the ValidatingAdmissionPolicy that refuses an inline
// connector config with a top-level key that looks secret. Its rule is generated from
// the one definition (redact.SecretKeyPattern and redact.NormalizeKey), the rule the
// manager's own check (InlineSecretKeys) and the redactor use.
func InlineSecretsPolicy() string {
	return strings.NewReplacer(
		"NORMALIZED_KEY", redact.CELNormalizeKey("k"),
		"PATTERN", redact.SecretKeyPattern,
		"WORDS", strings.ReplaceAll(redact.SecretKeyPattern, "|", ", "),
		"SEPARATORS", strings.Join(strings.Split(redact.KeySeparators, ""), " "),
	).Replace(inlineSecretsPolicyTemplate)
}

const inlineSecretsPolicyTemplate = `# Generated from lib/redact (SecretKeyPattern) by go run -tags nozstd ./hack/gentables
# -policy: do not edit.
#
# The API server refuses a MatSimRun (or a MatSimTarget, whose sweep runs would all be
# refused) whose inline connector config has a top-level key that looks like it holds a
# secret: lower-cased (ASCII) and without SEPARATORS, the key contains one of
# WORDS.
# An inline config is readable by anyone who can read the run or its Job, so such a
# config belongs in a Secret (config.secretRef). The CRDs' own CEL rules cannot see into
# inline (it keeps unknown fields, which CEL in a CRD does not reach), hence this policy.
# It looks at the top level only; the manager refuses nested keys (auth.password) before
# it creates anything (reason NotAllowed), with the same rule (controllers.InlineSecretKeys),
# and the redactor hides the values of such keys at any depth. An update that leaves the
# inline config as it was (e.g. of an object created before this policy) is not judged
# again.
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: flowsim-inline-config-secrets
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["flowsim.dev"]
      apiVersions: ["*"]
      operations: ["CREATE", "UPDATE"]
      resources: ["matsimruns", "matsimtargets"]
  matchConditions:
  - name: inline-config-set-or-changed
    expression: >-
      (request.resource.resource == 'matsimtargets' ?
      has(object.spec.run) && has(object.spec.run.config) && has(object.spec.run.config.inline) &&
      (request.operation == 'CREATE' || !has(oldObject.spec.run.config.inline) ||
      oldObject.spec.run.config.inline != object.spec.run.config.inline) :
      has(object.spec.config) && has(object.spec.config.inline) &&
      (request.operation == 'CREATE' || !has(oldObject.spec.config.inline) ||
      oldObject.spec.config.inline != object.spec.config.inline))
  variables:
  - name: path
    expression: >-
      request.resource.resource == 'matsimtargets' ? 'spec.run.config.inline.' : 'spec.config.inline.'
  - name: inline
    expression: >-
      request.resource.resource == 'matsimtargets' ? object.spec.run.config.inline : object.spec.config.inline
  - name: secretKeys
    expression: >-
      variables.inline.filter(k, NORMALIZED_KEY
      .matches('PATTERN'))
  validations:
  - expression: size(variables.secretKeys) == 0
    messageExpression: >-
      variables.path + variables.secretKeys.join(', ' + variables.path) +
      ' look(s) like a secret, and an inline config is readable by anyone who can read the run or its Job:' +
      ' put the config in a Secret and reference it with config.secretRef'
    reason: Invalid
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: flowsim-inline-config-secrets
spec:
  policyName: flowsim-inline-config-secrets
  validationActions: ["Deny"]
`
