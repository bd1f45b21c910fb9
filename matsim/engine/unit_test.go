package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"time"

	"github.com/estuary/protocols/fdb/tuple"
	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector"
	"github.com/flowsim/flowsim/connector/reference"
)

func TestJSONDiff(t *testing.T) {
	for _, c := range []struct{ want, got, diff string }{
		{`{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, ""},
		{`{"a":1}`, `{"a":1.0}`, ""},
		{`{"a":100}`, `{"a":1e2}`, ""},
		{`{"a":0.1}`, `{"a":0.1000000000000000055511151231257827}`, ""},
		{`{"a":9007199254740993}`, `{"a":9007199254740992}`, "/a: expected 9007199254740993, got 9007199254740992"},
		{`{"a":1.5}`, `{"a":1.5000001}`, "/a: expected 1.5, got 1.5000001"},
		{`{"a":"x"}`, `{"a":"X"}`, `/a: expected "x", got "X"`},
		{`{"a":null}`, `{}`, "/a: missing member (expected null)"},
		{`{}`, `{"a":null}`, "/a: unexpected member (got null)"},
		{`{"a":{"b":[1,{"c":true}]}}`, `{"a":{"b":[1,{"c":false}]}}`, "/a/b/1/c: expected true, got false"},
		{`{"a":[1]}`, `{"a":[1,2]}`, "/a: expected an array of 1 items, got 2"},
		{`{"a/b":{"x":1}}`, `{"a/b":"{\"x\":1}"}`, `/a~1b: expected an object, got "{\"x\":1}"`},
		{`{"a":1}`, `not json`, "document is not valid JSON"},
	} {
		var d = jsonDiff([]byte(c.want), []byte(c.got))
		if c.diff == "" && d != "" || c.diff != "" && !strings.Contains(d, c.diff) {
			t.Errorf("jsonDiff(%s, %s) = %q, want %q", c.want, c.got, d, c.diff)
		}
	}
}

func TestRichKeysAreABijection(t *testing.T) {
	for _, seed := range []uint64{1, 2, 1 << 60} {
		var seen = map[string]bool{}
		var d Rich
		for i := uint64(0); i < 20000; i++ {
			d.Generate(seed, i, 1)
			var k = string(d.Keys().Pack())
			if seen[k] {
				t.Fatalf("seed %d: index %d repeats a key", seed, i)
			}
			seen[k] = true
			if got, ok := d.KeyIndex(seed); !ok || got != i {
				t.Fatalf("seed %d: KeyIndex of %d = %d, %v", seed, i, got, ok)
			}
			var doc = d.AppendJSON(nil)
			if got, ok := d.SniffIndex(doc, seed); !ok || got != i {
				t.Fatalf("seed %d: SniffIndex of %d = %d, %v", seed, i, got, ok)
			}
			if !json.Valid(doc) {
				t.Fatalf("not JSON: %s", doc)
			}
			if d.ID > MaxSafeInteger || d.ID < -MaxSafeInteger {
				t.Fatalf("key %d beyond ±2^53", d.ID)
			}
			// The canonical encoding equals what encoding/json makes of it.
			var back Rich
			if err := json.Unmarshal(doc, &back); err != nil {
				t.Fatal(err)
			}
			if !d.Equal(&back) {
				t.Fatalf("round trip changed %s", doc)
			}
		}
		// A key of another seed is not ours.
		d.Generate(seed+1, 5, 1)
		if _, ok := d.KeyIndex(seed); ok {
			if _, ok2 := d.KeyIndex(seed + 1); !ok2 {
				t.Fatal("KeyIndex rejects its own seed")
			}
		}
	}
}

func TestRichIsNasty(t *testing.T) {
	var seen = map[string]bool{}
	var d Rich
	for i := uint64(0); i < 5000; i++ {
		d.Generate(7, i, uint32(i%4)+1)
		var doc = string(d.AppendJSON(nil))
		var flags = map[string]bool{
			"empty key":      d.Name == "",
			"emoji":          strings.Contains(d.Name+d.Text, "🚀"),
			"newline":        strings.Contains(d.Text+d.Name, "\n"),
			"backslash":      strings.Contains(d.Text+d.Name, `\`),
			"quote":          strings.Contains(d.Text+d.Name, `"`),
			"absent note":    !d.Note.Present,
			"null note":      d.Note.Present && d.Note.Null,
			"string note":    d.Note.Present && !d.Note.Null,
			"near 2^53":      d.Count >= MaxSafeInteger-2,
			"near -2^53":     d.Count <= -MaxSafeInteger+2,
			"negative id":    d.ID < 0,
			"long text":      len(d.Text) > 1000,
			"empty text":     d.Text == "",
			"tiny float":     d.Ratio != 0 && d.Ratio < 1e-299 && d.Ratio > 0,
			"nested arrays":  strings.Contains(string(d.Nested), `"list":[1,"two",null,true`),
			"control chars":  strings.Contains(doc, `\u0001`),
			"integral float": d.Ratio == float64(int64(d.Ratio)),
		}
		for k, v := range flags {
			if v {
				seen[k] = true
			}
		}
	}
	for _, k := range []string{"empty key", "emoji", "newline", "backslash", "quote", "absent note", "null note", "string note",
		"near 2^53", "near -2^53", "negative id", "long text", "empty text", "tiny float", "nested arrays", "control chars", "integral float"} {
		if !seen[k] {
			t.Errorf("no document has %s", k)
		}
	}
}

func TestSchemaFromStructTags(t *testing.T) {
	var s, err = schemaOf(new(Rich))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.Keys, ",") != "id,name" || strings.Join(s.Values, ",") != "count,flag,nested,note,ratio,rev,text" {
		t.Fatalf("keys %v values %v", s.Keys, s.Values)
	}
	if got := s.Fields["note"].Types; strings.Join(got, ",") != "null,string" || s.Fields["note"].Required {
		t.Fatalf("note: %v required=%v", got, s.Fields["note"].Required)
	}
	var schema map[string]interface{}
	if err := json.Unmarshal(s.JSON, &schema); err != nil {
		t.Fatal(err)
	}
	if req := schema["required"].([]interface{}); len(req) != 8 {
		t.Fatalf("required %v", req)
	}
	// The values of Rich.Values() line up with the sorted value fields.
	if n := len(new(Rich).Values()); n != len(s.Values) {
		t.Fatalf("Values() has %d, fields %d", n, len(s.Values))
	}

	for _, c := range []struct {
		td   TestData
		says string
	}{
		{new(badKey), `key field "nope"`},
		{new(floatKey), "keys must be integer, string or boolean"},
	} {
		if _, err := schemaOf(c.td); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%T: %v, want %q", c.td, err, c.says)
		}
	}
}

type badKey struct {
	Basic
}

func (badKey) KeyFields() []string { return []string{"nope"} }

type floatKey struct {
	K float64 `json:"k"`
	V string  `json:"v"`
}

func (floatKey) KeyFields() []string      { return []string{"k"} }
func (floatKey) RequiredFields() []string { return nil }
func (f floatKey) Keys() tuple.Tuple      { return tuple.Tuple{f.K} }
func (f floatKey) Values() tuple.Tuple    { return tuple.Tuple{f.V} }
func (floatKey) UpdateValues()            {}
func (f floatKey) Equal(o TestData) bool  { return false }

// order is a user-supplied type with no generator: matsim keeps it in memory.
type order struct {
	Customer string   `json:"customer" flowsim:"customer,key"`
	Number   int64    `json:"number" flowsim:"number,key"`
	Total    float64  `json:"total" flowsim:"total,required"`
	Items    []string `json:"items"`
	Paid     *bool    `json:"paid"`
}

func (o *order) KeyFields() []string      { return []string{"customer", "number"} }
func (o *order) RequiredFields() []string { return []string{"customer", "number", "total"} }
func (o *order) Keys() tuple.Tuple        { return tuple.Tuple{o.Customer, o.Number} }
func (o *order) Values() tuple.Tuple {
	var items, _ = json.Marshal(o.Items)
	var paid interface{}
	if o.Paid != nil {
		paid = *o.Paid
	}
	return tuple.Tuple{items, paid, o.Total}
}
func (o *order) UpdateValues() { o.Total += 1.25; o.Items = append(o.Items, "more") }
func (o *order) Equal(other TestData) bool {
	var p, ok = other.(*order)
	var a, _ = json.Marshal(o)
	var b, _ = json.Marshal(p)
	return ok && string(a) == string(b)
}

func TestUserTestDataType(t *testing.T) {
	for _, test := range []string{"basic", "fence", "recovery"} {
		var rep = run(t, test, 4, `{}`, func(o *Options) { o.NewTestData = func() TestData { return new(order) } })
		if !rep.Passed() {
			t.Fatalf("%s with a user type: %s", test, rep.Result.Message)
		}
	}
	// A user type is verified as strictly as the default one.
	var rep = Execute(context.Background(), Options{
		Test: "basic", Connector: connector.InProcess(reference.New(), "x"), Config: json.RawMessage(`{"defect":"drop-store"}`),
		NewTestData: func() TestData { return new(order) }, Loops: 3, Start: 40, Batch: 16, Seed: 2,
	})
	if rep.Result.Check != string(CheckLoadMissing) {
		t.Fatalf("drop-store with a user type: %s %s", rep.Result.Check, rep.Result.Message)
	}
}

func TestBasicDocuments(t *testing.T) {
	var rep = run(t, "basic", 8, `{}`, func(o *Options) { o.NewTestData = func() TestData { return new(Basic) } })
	if !rep.Passed() {
		t.Fatal(rep.Result.Message)
	}
	rep = run(t, "basic", 8, `{"defect":"float-precision"}`, func(o *Options) { o.NewTestData = func() TestData { return new(Basic) } })
	if rep.Result.Check != string(CheckLoadValue) {
		t.Fatalf("float-precision with Basic: %s %s", rep.Result.Check, rep.Result.Message)
	}
}

// hangs never answers Validate.
type hangs struct{ *reference.Driver }

func (h hangs) Validate(ctx context.Context, _ *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestUnaryCallTimeout(t *testing.T) {
	var rep = Execute(context.Background(), Options{
		Test: "basic", Connector: connector.InProcess(hangs{reference.New()}, "x"),
		Loops: 1, Start: 1, Batch: 1, Seed: 1, CallTimeout: 50 * time.Millisecond,
	})
	if rep.Result.Check != string(CheckSetupValidate) || rep.ExitCode() != 2 || !strings.Contains(rep.Result.Message, "did not finish Validate within 50ms") {
		t.Fatalf("got %s: %s", rep.Result.Check, rep.Result.Message)
	}
}

func TestBuiltSpecValidates(t *testing.T) {
	for _, td := range []TestData{new(Rich), new(Basic), new(order)} {
		var s, err = schemaOf(td)
		if err != nil {
			t.Fatal(err)
		}
		var names = newSpecNames("basic", s.TypeName, 42, json.RawMessage(`{"name":"t"}`))
		if err := s.validateRequest(names, json.RawMessage(`{}`), json.RawMessage(`{}`)).Validate(); err != nil {
			t.Fatalf("%T: ValidateRequest: %v", td, err)
		}
		var sel = &selection{ResourcePath: []string{"t"}}
		sel.FieldSelection.Keys = s.Keys
		sel.FieldSelection.Values = s.Values
		sel.FieldSelection.Document = DocumentField
		if err := s.materializationSpec(names, json.RawMessage(`{}`), json.RawMessage(`{}`), sel).Validate(); err != nil {
			t.Fatalf("%T: MaterializationSpec: %v", td, err)
		}
	}
}

func TestRestartFailureIsSetupConnect(t *testing.T) {
	var rep = run(t, "recovery", 1, `{}`, func(o *Options) {
		o.Reopen = func(context.Context) (connector.Connector, error) {
			return nil, fmt.Errorf("no such container")
		}
	})
	if rep.Result.Check != string(CheckSetupConnect) || rep.ExitCode() != 2 || !strings.Contains(rep.Result.Message, "no such container") {
		t.Fatalf("got %s exit %d: %s", rep.Result.Check, rep.ExitCode(), rep.Result.Message)
	}
}
