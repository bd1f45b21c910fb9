package wire2023

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzJSON: any input either fails to decode or decodes to a message that encodes
// in binary and whose JSON encoding is stable (encode, decode, encode gives the same
// bytes); nothing panics; and the codec decodes and encodes it as the reference
// codec it replaced did (json_ref_test.go).
func FuzzJSON(f *testing.F) {
	for _, seed := range []string{
		`{"open":{"materialization":{"name":"a","config":{"x":1},"bindings":[{"fieldSelection":{"fieldConfig":{"k":[1]}}}]},"range":{"keyEnd":5},"state":{"s":2}}}`,
		`{"store":{"keyPacked":"AQI=","doc":{"d":1},"exists":true,"values":[1,"a"]}}`,
		`{"startCommit":{"runtimeCheckpoint":{"sources":{"j":{"readThrough":"5","producers":[{"id":"AQ==","state":{"lastAck":"9","begin":"-1"}}]}},"ackIntents":{"j":"eA=="}}}}`,
		`{"validate":{"bindings":[{"collection":{"projections":[{"inference":{"exists":"MUST","string":{"maxLength":3}}}],"partitionTemplate":{"fragment":{"refreshInterval":"1.5s","compressionCodec":2}}}}]}}`,
		`{"load":{"binding":4294967295,"key_packed":"AQ"}}`,
		`{"acknowledge":{},"unknown":[1,{"a":null}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSame(t, data)
		var m Request
		if UnmarshalJSON(data, &m) != nil {
			return
		}
		if _, err := proto.Marshal(&m); err != nil {
			t.Fatalf("a decoded message does not encode in binary: %v", err)
		}
		var b1, err = MarshalJSON(&m)
		if err != nil {
			t.Fatalf("a decoded message does not encode: %v", err)
		}
		var m2 Request
		if err := UnmarshalJSON(b1, &m2); err != nil {
			t.Fatalf("our own encoding does not decode: %v\n%s", err, b1)
		}
		var b2, _ = MarshalJSON(&m2)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable:\n%s\n%s", b1, b2)
		}
	})
}
