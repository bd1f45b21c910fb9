package cli

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsim/flowsim/lib/redact"
	"github.com/flowsim/flowsim/lib/redact/echo"
)

// issueConfig is the config of issue 11 as a user writes it for --config.
const issueConfig = `{password: hunter2, token: abc, auth: {password: x}, dsn: "postgres://u:hunter3@h/db", api_key: "p\"q\\r"}`

var issueSecrets = []string{"hunter2", "abc", "x", "hunter3", `p"q\r`}

func jsonEscaped(s string) string {
	var b, _ = json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// shown returns the forms of secret v that out shows: raw, JSON-escaped (once or
// twice) and URL-encoded; a short value only where it stands quoted or alone after
// "key: ", as the echo prints it.
func shown(out, v string) []string {
	out = strings.ReplaceAll(out, redact.Marker, "\x00")
	var forms []string
	if len(v) >= redact.ShortLen {
		forms = []string{v, jsonEscaped(v), jsonEscaped(jsonEscaped(v)), url.QueryEscape(v), url.QueryEscape(jsonEscaped(v))}
	} else {
		var q = `"` + jsonEscaped(v) + `"`
		forms = []string{q, jsonEscaped(q), url.QueryEscape(q), ": " + v + "\n", ":" + v + "]", "&#34;" + v + "&#34;"}
	}
	var found []string
	for _, f := range forms {
		if strings.Contains(out, f) {
			found = append(found, f)
		}
	}
	return found
}

// TestSecretsNeverShownEndToEnd runs the issue's config against a connector process
// that echoes it to stderr (in pieces, raw, JSON-escaped, URL-encoded, base64) and
// fails Validate quoting it: no output shows a secret.
func TestSecretsNeverShownEndToEnd(t *testing.T) {
	var command = strings.Join(echo.Command(), " ")
	for _, report := range []string{"text", "json"} {
		t.Run(report, func(t *testing.T) {
			var dir = t.TempDir()
			var junit, res = filepath.Join(dir, "junit.xml"), filepath.Join(dir, "result.json")
			var out, errOut, code = cli(t, CommandOptions{}, "basic", "--command", command, "--config", issueConfig,
				"--report", report, "--junit", junit, "--result-file", res, "--log.level", "trace")
			if code != 2 {
				t.Fatalf("exit %d, want 2 (Validate fails):\n%s\n%s", code, out, errOut)
			}
			var junitXML, _ = os.ReadFile(junit)
			var resultJSON, _ = os.ReadFile(res)
			var outputs = map[string]string{"stdout": out, "stderr": errOut, "junit": string(junitXML), "result file": string(resultJSON)}
			for name, o := range outputs {
				for _, s := range issueSecrets {
					if f := shown(o, s); len(f) != 0 {
						t.Errorf("%s shows secret %q as %q:\n%s", name, s, f, o)
					}
				}
			}
			// The echo did reach every output, redacted.
			if !strings.Contains(errOut, "config: {") || !strings.Contains(errOut, "base64: [REDACTED]") ||
				!strings.Contains(errOut, `"password":"[REDACTED]"`) {
				t.Errorf("stderr does not show the relayed, redacted echo:\n%s", errOut)
			}
			for name, o := range outputs {
				if !strings.Contains(o, "setup.validate") || !strings.Contains(o, "[REDACTED]") {
					t.Errorf("%s lacks the redacted Validate error:\n%s", name, o)
				}
			}
			if !strings.Contains(out+errOut, "auth.password, token") {
				t.Errorf("the report must note the short values:\n%s", out)
			}
		})
	}
}
