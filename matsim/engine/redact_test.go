package engine

import (
	"strings"
	"testing"

	"github.com/flowsim/flowsim/lib/redact"
)

// A message the engine cut before the report was redacted (a Loaded document quoted
// to 160 bytes) shows no fragment of a secret the cut split (issue 21, item 10).
func TestReportHidesSecretsSplitByTheEnginesCuts(t *testing.T) {
	const secret = "s3cr3t-Pa55word!"
	var red = redact.New([]byte(`{"password":"` + secret + `"}`))
	var doc = `{"id":1,"note":"` + strings.Repeat("x", 125) + `","password":"` + secret + `"}`
	var rep = &Report{Failures: []*Failure{{Check: CheckLoadUnrequested, Message: "a Loaded document matches no requested key: " + clip(doc, 160)}}}
	rep.Redact(red)
	var msg = rep.Failures[0].Message
	for n := 5; n <= len(secret); n++ {
		if strings.Contains(msg, secret[:n]) {
			t.Fatalf("the report shows %q of the secret: %s", secret[:n], msg)
		}
	}
	if !strings.HasSuffix(msg, `"password":"[REDACTED]…`) {
		t.Fatalf("want the cut secret hidden: %s", msg)
	}
}
