package redact

import (
	"regexp"
	"strings"
)

// What looks secret: the one definition, used by the redactor (values under such a key
// are secret), by the manager's admission check (an inline config may not hold such a
// key) and, generated from it, by the CEL ValidatingAdmissionPolicy in
// config/crd/inline_secrets_policy.yaml (go run -tags nozstd ./hack/gentables -policy).

// SecretKeyPattern is an RE2 expression, for Go's regexp and CEL's matches() alike,
// matched against a config key once normalised by NormalizeKey: apiKey, api_key and
// API-KEY all become apikey. It errs on the side of secrecy (auth also matches author,
// pass also passthrough): a key it names must come from a Secret and has its values
// redacted.
const SecretKeyPattern = `pass|pwd|secret|token|credential|private|apikey|accesskey|auth|sas|signature`

// KeySeparators are the characters NormalizeKey removes.
const KeySeparators = "-_."

// SecretKey matches a normalised config key whose values are secret.
var SecretKey = regexp.MustCompile(SecretKeyPattern)

// NormalizeKey lower-cases the ASCII letters of a config key and removes KeySeparators,
// as CEL's lowerAscii() and replace() do in the generated admission policy.
func NormalizeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		var c = key[i]
		switch {
		case strings.IndexByte(KeySeparators, c) >= 0:
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// LooksSecret reports whether a config key names a secret.
func LooksSecret(key string) bool {
	return SecretKey.MatchString(NormalizeKey(key))
}

// CELNormalizeKey returns the CEL expression that normalises the string expression v as
// NormalizeKey does.
func CELNormalizeKey(v string) string {
	var s = v + ".lowerAscii()"
	for _, c := range KeySeparators {
		s += ".replace('" + string(c) + "', '')"
	}
	return s
}
