package junit

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

func TestWriteRoundTripsAndSumsCounts(t *testing.T) {
	var d = Suites{Name: "n", Time: Seconds(1.5)}
	d.Add(Suite{Name: "a", Tests: 2, Failures: 1, Time: Seconds(1), Cases: []Case{
		{Name: "basic", Classname: "a", Time: Seconds(0.25)},
		{Name: "fence", Classname: "a", Time: Seconds(0.75), Failure: &Message{Message: "m", Type: "load.missing", Text: "<&>"}},
	}})
	d.Add(Suite{Name: "b", Tests: 2, Errors: 1, Skipped: 1, Cases: []Case{
		{Name: "x", Error: &Message{Message: "e"}}, {Name: "y", Skipped: &Message{Message: "s"}},
	}})
	if d.Tests != 4 || d.Failures != 1 || d.Errors != 1 || d.Skipped != 1 || len(d.Suites) != 2 {
		t.Fatalf("counts: %+v", d)
	}
	var b bytes.Buffer
	if err := Write(&b, &d); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), xml.Header) || !strings.HasSuffix(b.String(), "\n") || !strings.Contains(b.String(), `time="0.250"`) {
		t.Errorf("document:\n%s", b.String())
	}
	var back Suites
	if err := xml.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Suites[0].Cases[1].Failure.Text != "<&>" || back.Tests != 4 {
		t.Errorf("round trip: %+v", back)
	}
}
