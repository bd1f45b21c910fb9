package wire2023

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// diffInputs: representative messages of both directions (Load, Loaded, Store,
// Flush, StartCommit, Open, Opened, Validate, Validated, Apply ...): nested specs,
// maps, enums by name and number, 64-bit integers as strings and numbers, raw JSON
// with whitespace and escapes, unknown fields of every JSON type, nulls, both
// names of a field, members named twice, and many kinds of wrong input.
var diffInputs = []string{
	// Load, Store, Flush, Acknowledge, StartCommit.
	`{"load":{"binding":2,"key":[42,"a\u00e9\"b"],"keyPacked":"FSoC"}}`,
	`{"load":{"binding":"7","key_json":[1],"key_packed":"FSoC"}}`,
	`{"store":{"binding":1,"key":[1],"keyPacked":"AQI=","values":[1, "a",  null],"valuesPacked":"Ag==","doc":{ "a" : [1, 2, {"b": "c\n\u2028\ud83d\ude00"}], "e": "\u00e9" },"exists":true,"delete":false}}`,
	"{\"store\":{\"doc\":{\n\t\"a\":\r\n1\n}\n, \"values_json\" : [ ] , \"exists\":false}}\n",
	`{"store":{"doc":"just a string","key":123,"values":true,"binding":0}}`,
	`{"store":{"doc":null,"key":null,"keyPacked":null,"exists":null,"binding":null}}`,
	`{"flush":{}}`,
	`{"flush":{"statePatches":[{"a":1},{"b":null}]}}`,
	`{"acknowledge":{"statePatches":[]},"unknown":[1,{"a":null}],"other":"x\"y","n":-1.5e-7,"t":true,"f":false,"z":null,"o":{"deep":[[[{}]]]}}`,
	`{"startCommit":{"runtimeCheckpoint":{"sources":{"j/1":{"readThrough":"5","producers":[{"id":"AQ==","state":{"lastAck":"9","begin":"-1"}}]},"j/2":{"readThrough":12}},"ackIntents":{"j/1":"eA==","j/2":""}},"statePatches":[{"p":1}]}}`,
	`{"startCommit":{"runtime_checkpoint":{"sources":{"a":null,"b":{}},"ack_intents":{"x":null}}}}`,
	// Open, Apply, Validate, Spec.
	`{"open":{"materialization":{"name":"acme/m","connectorType":"IMAGE","config":{"x":1},"bindings":[{"resourceConfig":{"table":"t"},"resourcePath":["t"],"collection":{"name":"acme/c","key":["/id"],"projections":[{"ptr":"/id","field":"id","isPrimaryKey":true,"inference":{"types":["integer"],"exists":"MUST","string":{"maxLength":3,"format":"date"},"default":5}}],"partitionTemplate":{"name":"p","replication":3,"labels":{"labels":[{"name":"l","value":"v","prefix":true}]},"fragment":{"length":"1048576","compressionCodec":"GZIP","stores":["s3://b/"],"refreshInterval":"300s","flushInterval":"1.5s"},"flags":4},"readSchema":{"type":"object"}},"fieldSelection":{"keys":["id"],"values":["v"],"document":"flow_document","fieldConfig":{"v":{"castToString":true},"w":[1]}},"deltaUpdates":true,"partitionSelector":{"include":{"labels":[]},"exclude":{}},"journalReadSuffix":"x","backfill":2,"stateKey":"k","serPolicy":{"strTruncateAfter":1000}}],"shardTemplate":{"id":"s","maxTxnDuration":"1s","minTxnDuration":"0s","hintBackups":2,"labels":{"labels":[{"name":"a"}]}},"recoveryLogTemplate":{"name":"r"}},"version":"v1","range":{"keyBegin":0,"keyEnd":4294967295,"rClockBegin":"5","rClockEnd":"4294967295"},"state":{"s":2}}}`,
	`{"open":{"materialization":{"connectorType":9,"connector_type":8},"range":{"key_begin":1,"keyBegin":1}}}`,
	`{"apply":{"materialization":{"bindings":[{"collection":{"projections":[{"inference":{"exists":4}}]}}]},"lastMaterialization":{"name":"old"},"state":{"a":[]},"lastVersion":"v0"}}`,
	`{"validate":{"name":"m","connectorType":"LOCAL","config":{},"bindings":[{"resourceConfig":{},"collection":{"name":"c"},"fieldConfig":{"a":{"b":1},"c":"s","d":null},"backfill":1,"groupBy":["a","b"]}]}}`,
	`{"spec":{"connectorType":"DEKAF","config":{"k":"v"}}}`,
	`{"validate":{"bindings":[{"collection":{"projections":[{"inference":{"exists":"MUST","string":{"maxLength":3}}}],"partitionTemplate":{"fragment":{"refreshInterval":"1.5s","compressionCodec":2}}}}]}}`,
	// Responses.
	`{"loaded":{"binding":1,"doc":{"a":1,"b":"two","c":[3.5,null,true]}}}`,
	`{"loaded":{"binding":4294967295,"doc":{}}}`,
	`{"opened":{"runtimeCheckpoint":{"sources":{"j":{"readThrough":"-9"}}},"disableLoadOptimization":true}}`,
	`{"validated":{"bindings":[{"constraints":{"a":{"type":"FIELD_REQUIRED","reason":"r"},"b":{"type":6,"foldedField":"B"}},"resourcePath":["t"],"deltaUpdates":true,"serPolicy":{},"caseInsensitiveFields":true,"projectionConstraints":[{"field":"f","constraint":{"type":"LOCATION_RECOMMENDED"}}]}]}}`,
	`{"applied":{"actionDescription":"created <t> & done","state":{"updated":{"a":1},"mergePatch":true}}}`,
	`{"flushed":{"state":{"updated":{"x":[1,2]}}},"startedCommit":{},"acknowledged":{"state":null}}`,
	`{"spec":{"protocol":3032023,"configSchema":{"type":"object"},"resourceConfigSchema":true,"documentationUrl":"https://x/\u003c"}}`,
	// Members named twice (the last one counts), and both names of one field.
	`{"load":{"binding":1,"binding":2}}`,
	`{"load":{"binding":"x","binding":2}}`,
	`{"load":{"binding":2,"binding":null}}`,
	`{"store":{"doc":{"a":1},"doc":{"b":2}},"store":{"key":[1]}}`,
	`{"validate":{"bindings":[{"groupBy":["a"]}],"bindings":[{"groupBy":["b"],"groupBy":["c"]}]}}`,
	`{"startCommit":{"runtimeCheckpoint":{"ackIntents":{"a":"!!","a":"eA=="}}}}`,
	`{"validate":{"bindings":[{"fieldConfig":{"k":1,"k":[2]}}]}}`,
	`{"load":{"binding":1,"bind\u0069ng":3}}`,
	`{"validated":{"bindings":[{"constraints":{"a":{"type":"NOPE"},"a":{"type":1}}}]}}`,
	// Enums, integers, base64 and strings in their other forms.
	`{"validated":{"bindings":[{"constraints":{"a":{"type":"7"}}}]}}`,
	`{"validated":{"bindings":[{"constraints":{"a":{"type":-3},"b":{"type":2147483647}}}]}}`,
	`{"validated":{"bindings":[{"constraints":{"a":{"type":2147483648}}}]}}`,
	`{"validated":{"bindings":[{"constraints":{"a":{"type":1.0}}}]}}`,
	`{"validated":{"bindings":[{"constraints":{"a":{"type":null}}}]}}`,
	`{"opened":{"runtimeCheckpoint":{"sources":{"j":{"readThrough":"9223372036854775807","producers":[{"state":{"lastAck":18446744073709551615,"begin":-9223372036854775808}}]}}}}}`,
	`{"opened":{"runtimeCheckpoint":{"sources":{"j":{"readThrough":"9223372036854775808"}}}}}`,
	`{"opened":{"runtimeCheckpoint":{"sources":{"j":{"readThrough":"+5"}}}}}`,
	`{"opened":{"runtimeCheckpoint":{"sources":{"j":{"readThrough":"007"}}}}}`,
	`{"opened":{"runtimeCheckpoint":{"sources":{"j":{"readThrough":1e3}}}}}`,
	`{"opened":{"runtimeCheckpoint":{"sources":{"j":{"readThrough":"\u0035"}}}}}`,
	`{"opened":{"runtimeCheckpoint":{"sources":{"j":{"producers":[{"state":{"lastAck":"-1"}}]}}}}}`,
	`{"load":{"binding":4294967296}}`,
	`{"load":{"binding":-1}}`,
	`{"load":{"binding":"-0"}}`,
	`{"load":{"binding":1.5}}`,
	`{"load":{"binding":true}}`,
	`{"load":{"keyPacked":"AQ"}}`,
	`{"load":{"keyPacked":"-_8"}}`,
	`{"load":{"keyPacked":"A\nQ\u003d="}}`,
	`{"load":{"keyPacked":"!"}}`,
	`{"load":{"keyPacked":5}}`,
	`{"store":{"exists":"true"}}`,
	`{"store":{"exists":1}}`,
	`{"validate":{"name":"a\u0000b\ud800c\udc00\ud83d\ude00","lastVersion":"\/\b\f\n\r\t"}}`,
	"{\"validate\":{\"name\":\"bad \xff\xfe utf8\"}}",
	`{"validate":{"name":5}}`,
	`{"validate":{"name":null,"bindings":[{"groupBy":[null,"a"]}]}}`,
	`{"validate":{"bindings":[{"groupBy":["a",1]}]}}`,
	`{"validate":{"bindings":[null,{}]}}`,
	`{"validate":{"bindings":{}}}`,
	`{"validate":{"bindings":[5]}}`,
	`{"validate":{"bindings":"x"}}`,
	`{"validated":{"bindings":[{"constraints":[]}]}}`,
	`{"validated":{"bindings":[{"constraints":{"a":null,"b":5}}]}}`,
	`{"validated":{"bindings":[{"constraints":{"\u00e9\t\u0007":{},"\ud800":{},"\u007f":{},"\u200b":{}}}]}}`,
	`{"validate":{"bindings":[{"fieldConfig":{"\u0007":1}}]}}`,
	`{"validate":{"bindings":[{"fieldConfig":{"\n":1}}]}}`,
	"{\"validate\":{\"bindings\":[{\"fieldConfig\":{\"\xff\":1}}]}}",
	`{"startCommit":{"runtimeCheckpoint":{"ackIntents":{"a":null}}}}`,
	`{"open":{"materialization":{"shardTemplate":{"maxTxnDuration":"1h2m3.5s","minTxnDuration":null}}}}`,
	`{"open":{"materialization":{"shardTemplate":{"maxTxnDuration":"-1.000000001s"}}}}`,
	`{"open":{"materialization":{"shardTemplate":{"maxTxnDuration":"5"}}}}`,
	`{"open":{"materialization":{"shardTemplate":{"maxTxnDuration":5}}}}`,
	`{"open":{"materialization":{"shardTemplate":{"maxTxnDuration":{}}}}}`,
	`{"open":{"materialization":{"shardTemplate":{"maxTxnDuration":"\u0031s"}}}}`,
	`{"open":{"materialization":{"shardTemplate":{"hintBackups":"-2147483648","maxTxnDuration":"9999999999h"}}}}`,
	`{"open":{"range":{"keyBegin":"0x10"}}}`,
	`{"open":{"materialization":{"connectorType":"image"}}}`,
	`{"open":{"materialization":5}}`,
	`{"open":{"materialization":[]}}`,
	`{"open":"x"}`,
	// Whole inputs of other kinds, and invalid JSON.
	`null`, `{}`, ` { } `, "\t{\"flush\":{}}\r\n", `[]`, `5`, `"x"`, ``, ` `,
	`{"load":{"binding":1}} x`, `{"load":{"binding":1}}{}`, `{"load":{"binding":`, `{"load":{"doc":{"a":1`,
	`{"load":{"binding":01}}`, `{"load":{"binding":1,}}`, `{"load":{"binding":1}]`, `{"load" {}}`,
	`{"unknown":[1,2,}`, `{"unknown":"\x"}`, `{"unknown":"\u12"}`, "{\"unknown\":\"a\tb\"}", `{"unknown":tru}`,
	`{"unknown":nul}`, `{"unknown":-}`, `{"unknown":1.}`, `{"unknown":1e}`, `{"unknown":.5}`, `{'a':1}`,
	`{"load":{"binding":"x"}, "z": tru}`, `{"store":{"doc":{"a":1,}}}`, `{"store":{"doc":[1 2]}}`,
	"{\"store\":{\"doc\":\"\x01\"}}", "\xef\xbb\xbf{}", `{"a":1}` + "\x00",
	`{"unknown":` + strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001) + `}`,
	`{"unknown":` + strings.Repeat(`[`, 9998) + strings.Repeat(`]`, 9998) + `}`,
	`{"store":{"doc":` + strings.Repeat(`{"a":`, 9998) + `1` + strings.Repeat(`}`, 9998) + `}}`,
	`{"store":{"doc":` + strings.Repeat(`{"a":`, 9999) + `1` + strings.Repeat(`}`, 9999) + `}}`,
}

// decodeBoth decodes data with the codec and the reference into new messages of
// m's type. The reference's result may vary where an object names one field by
// both its names (its map order is random): then it is tried up to 50 times for
// the codec's result.
func decodeBoth(t *testing.T, data []byte, m proto.Message) (got, want proto.Message, gotErr, wantErr error) {
	got, want = m.ProtoReflect().New().Interface(), m.ProtoReflect().New().Interface()
	gotErr = UnmarshalJSON(data, got)
	for try := 0; try < 50; try++ {
		wantErr = refUnmarshalJSON(data, want)
		if (gotErr == nil) == (wantErr == nil) && (gotErr != nil || proto.Equal(got, want)) {
			break
		}
	}
	return
}

// checkSame: the codec decodes data as the reference does, and the messages
// decoded encode to the same bytes (or fail to, alike) with both.
func checkSame(t *testing.T, data []byte) {
	t.Helper()
	for _, m := range []proto.Message{new(Request), new(Response)} {
		var got, want, gotErr, wantErr = decodeBoth(t, data, m)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%T from %q:\n got error %v\nwant error %v", m, data, gotErr, wantErr)
		}
		if gotErr != nil {
			continue
		}
		if !proto.Equal(got, want) {
			t.Fatalf("%T from %q:\n got %v\nwant %v", m, data, got, want)
		}
		var b1, e1 = MarshalJSON(got)
		var b2, e2 = refMarshalJSON(want)
		if !bytes.Equal(b1, b2) || (e1 == nil) != (e2 == nil) || (e1 != nil && e1.Error() != e2.Error()) {
			t.Fatalf("%T from %q encodes as\n%s (%v), the reference as\n%s (%v)", m, data, b1, e1, b2, e2)
		}
	}
}

func TestJSONDecodeAsTheReference(t *testing.T) {
	for _, in := range diffInputs {
		checkSame(t, []byte(in))
	}
}

// The errors name the field and what is wrong with it, and a syntax error is
// encoding/json's, as it was.
func TestJSONErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"load":{"binding":"x"}}`: `flowsim.wire2023.Request.load: flowsim.wire2023.Request.Load.binding: strconv.ParseUint: parsing "x": invalid syntax`,
		`{"store":{"exists":1}}`:   `flowsim.wire2023.Request.store: flowsim.wire2023.Request.Store.exists: 1 is not a boolean`,
		`{"open":{"materialization":{"connectorType":"image"}}}`: `flowsim.wire2023.Request.open: flowsim.wire2023.Request.Open.materialization: ` +
			`flowsim.wire2023.MaterializationSpec.connectorType: unknown flowsim.wire2023.MaterializationSpec.ConnectorType value "image"`,
		`{"load":{"keyPacked":"!"}}`:             `flowsim.wire2023.Request.load: flowsim.wire2023.Request.Load.keyPacked: "!" is not base64`,
		`{"validate":{"bindings":{}}}`:           `flowsim.wire2023.Request.validate: flowsim.wire2023.Request.Validate.bindings: json: cannot unmarshal object into Go value of type []json.RawMessage`,
		`{"load":{"binding":1}} x`:               `flowsim.wire2023.Request: invalid character 'x' after top-level value`,
		`{"load":{"binding":"x"}, "z": tru}`:     `flowsim.wire2023.Request: invalid character '}' in literal true (expecting 'e')`,
		`{"load":{"binding":`:                    `flowsim.wire2023.Request: unexpected end of JSON input`,
		`[]`:                                     `flowsim.wire2023.Request: json: cannot unmarshal array into Go value of type map[string]json.RawMessage`,
		`{"load":{"binding":"x","binding":"y"}}`: `flowsim.wire2023.Request.load: flowsim.wire2023.Request.Load.binding: strconv.ParseUint: parsing "y": invalid syntax`,
	} {
		var err = UnmarshalJSON([]byte(in), new(Request))
		if err == nil || err.Error() != want {
			t.Errorf("%s:\n got %v\nwant %s", in, err, want)
		}
		if ref := refUnmarshalJSON([]byte(in), new(Request)); ref == nil || ref.Error() != want {
			t.Errorf("%s: the reference says %v", in, ref)
		}
	}
}

// Encoding: messages built in Go (raw JSON fields holding anything, strings that
// need escapes, map keys Go quotes) encode as with the reference, errors alike.
func TestJSONEncodeAsTheReference(t *testing.T) {
	var docs = []string{`{"a":1}`, " {\n \"a\" : [ 1 , \"b c\" ] }\n", `"s"`, `null`, `12`, ``, ` `, `{not json`, `{"a":1} {}`,
		"\"\xff\"", `"\u00e9 \" \\ "`, `[1,]`, "\"tab\there\"", `{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`}
	var strs = []string{"", "plain", "<&>", "é", "\x00\x1f", "\xff", "a\"b\\c", "\u2028\u2029", "\x7f", "line\nbreak"}
	var msgs []proto.Message
	for _, d := range docs {
		msgs = append(msgs,
			&Request{Store: &Request_Store{Binding: 3, KeyJson: []byte(d), DocJson: []byte(d), KeyPacked: []byte(d), Exists: true}},
			&Response{Loaded: &Response_Loaded{DocJson: []byte(d)}},
			&Request{Validate: &Request_Validate{Bindings: []*Request_Validate_Binding{{FieldConfigJsonMap: map[string][]byte{"k": []byte(d)}}}}})
	}
	for _, s := range strs {
		msgs = append(msgs,
			&Request{Validate: &Request_Validate{Name: s, Bindings: []*Request_Validate_Binding{{GroupBy: []string{s, "x"}, FieldConfigJsonMap: map[string][]byte{s: []byte(`1`), "b": []byte(`2`)}}}}},
			&Response{Validated: &Response_Validated{Bindings: []*Response_Validated_Binding{{Constraints: map[string]*Response_Validated_Constraint{s: {Type: 3, Reason: s}, "z": {Type: -4}}}}}},
			&Request{StartCommit: &Request_StartCommit{RuntimeCheckpoint: &Checkpoint{AckIntents: map[string][]byte{s: []byte(s)},
				Sources: map[string]*Checkpoint_Source{s: {ReadThrough: -5, Producers: []*Checkpoint_Source_ProducerEntry{{Id: []byte(s), State: &Checkpoint_ProducerState{LastAck: 1 << 63, Begin: -1}}}}}}}})
	}
	for _, d := range []time.Duration{0, time.Second, -time.Second - 1, 1500 * time.Millisecond, 1<<63 - 1} {
		msgs = append(msgs, &Request{Open: &Request_Open{Materialization: &MaterializationSpec{ShardTemplate: &ShardSpec{MaxTxnDuration: durationpb.New(d), HintBackups: -7},
			RecoveryLogTemplate: &JournalSpec{Fragment: &JournalSpec_Fragment{Length: 1 << 40, CompressionCodec: CompressionCodec_ZSTANDARD, FlushInterval: durationpb.New(d)}}}, Range: &RangeSpec{KeyEnd: 1<<32 - 1}}})
	}
	for _, m := range msgs {
		var got, err = MarshalJSON(m)
		var want, wantErr = refMarshalJSON(m)
		if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("%v:\n got %s (%v)\nwant %s (%v)", m, got, err, want, wantErr)
		}
	}
}

// FuzzJSONDiff: any input decodes (as Request and as Response) as the reference
// decodes it, and what it decodes to encodes as with the reference.
func FuzzJSONDiff(f *testing.F) {
	for _, in := range diffInputs {
		if len(in) < 4096 {
			f.Add([]byte(in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkSame(t, data) })
}

// FuzzJSONScan: the scanner accepts what encoding/json accepts, compacts as
// json.Compact does and decodes strings as json.Unmarshal does.
func FuzzJSONScan(f *testing.F) {
	for _, in := range []string{`{"a":[1,2.5e-3,"x\u00e9\"",true,false,null]}`, " [ 1 , { } ] ", `"\ud83d\ude00\ud800"`, "\"\xff\"", `-0.0E+1`, `{"a" 1}`, `[1,]`,
		`"\ud800\u0041"`, `"\ud800\ud800\udc00"`, `"\udc00x"`, `"\u0000\/\b\f\n\r\t\\"`, "\"\xed\xa0\x80\xc3\"", `"\u00E9\u00e9"`} {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s = scanner{data: data}
		var end, err = s.skipValue(s.ws(0))
		var valid = err == nil && s.ws(end) == len(data)
		if valid != json.Valid(data) {
			t.Fatalf("%q: the scanner says valid=%v (%v), encoding/json the opposite", data, valid, err)
		}
		var want bytes.Buffer
		var wantErr = json.Compact(&want, data)
		var got, gotErr = appendCompact([]byte("x"), data)
		if (gotErr == nil) != (wantErr == nil) || (gotErr == nil && string(got) != "x"+want.String()) {
			t.Fatalf("%q: compacted to %q (%v), json.Compact %q (%v)", data, got, gotErr, want.Bytes(), wantErr)
		}
		if valid && len(data) > 0 && s.ws(0) < len(data) && data[s.ws(0)] == '"' {
			var str string
			var raw = bytes.TrimRight(data[s.ws(0):], " \t\r\n")
			if json.Unmarshal(raw, &str) != nil {
				t.Fatalf("%q: json.Unmarshal fails", raw)
			}
			if u, ok := unquoteBytes(raw); !ok || string(u) != str {
				t.Fatalf("%q: unquoted as %q (%v), json.Unmarshal %q", raw, u, ok, str)
			}
		}
		// Cut anywhere, a valid value's prefix is truncated (not an error), except
		// where a number may end.
		if valid && len(data) > 1 {
			var cut = data[:len(data)/2]
			var c = scanner{data: cut}
			var _, err = c.skipValue(c.ws(0))
			if err != nil && !isTruncated(err) {
				t.Fatalf("%q cut to %q: %v, want truncated", data, cut, err)
			}
		}
	})
}

// Not to be confused: the internal signal of a member named twice never leaks.
func TestJSONTwiceNeverReturned(t *testing.T) {
	for _, in := range diffInputs {
		for _, m := range []proto.Message{new(Request), new(Response)} {
			if err := UnmarshalJSON([]byte(in), m); errors.Is(err, errTwice) {
				t.Errorf("%s: %v", in, err)
			}
		}
	}
}
