package reference

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/estuary/protocols/fdb/tuple"
	"golang.org/x/text/unicode/norm"
)

// Defect is a deliberate fault of the reference connector, switched on with
// {"defect": NAME} in its endpoint config.
type Defect struct {
	Name        string
	Class       string // data, protocol, fencing, durability
	Description string
	// CaughtBy maps a matsim test to the check that must fail when it runs against
	// this defect. flowsim's matrix test asserts every entry. A key may add flags
	// after the test name ("recovery --exactly-once").
	CaughtBy map[string]string
}

// Defects is the catalogue. README's defect table is generated from it.
var Defects = []Defect{
	// Data.
	{"drop-store", "data", "silently drops about one in ten stored documents",
		map[string]string{"basic": "load.missing", "recovery": "load.missing"}},
	{"stale-value", "data", "loads the previous revision of a document instead of the latest",
		map[string]string{"basic": "load.value"}},
	{"corrupt-unicode", "data", "stores text as if UTF-8 were Latin-1 (mojibake)",
		map[string]string{"basic": "load.value"}},
	{"truncate-strings", "data", "truncates strings longer than 255 bytes, like a VARCHAR(255) column",
		map[string]string{"basic": "load.value"}},
	{"float-precision", "data", "stores floating-point numbers as float32",
		map[string]string{"basic": "load.value"}},
	{"drop-nested", "data", "stores nested objects and arrays as JSON strings",
		map[string]string{"basic": "load.value"}},
	{"ignore-null", "data", "merges updates: a member that becomes null or absent keeps its old value",
		map[string]string{"basic": "load.value"}},
	{"exists-ignored", "data", "inserts updated documents as new rows (INSERT where an UPSERT belongs), duplicating keys",
		map[string]string{"basic": "load.duplicate"}},
	{"first-key-only", "data", "keys rows on the first key component only (a table whose primary key lacks the later key columns), so keys that differ in a later component share one row",
		map[string]string{"basic": "load.merged-keys"}},
	{"case-insensitive-keys", "data", "compares key strings case-insensitively, like the default collations of MySQL and SQL Server",
		map[string]string{"basic": "load.merged-keys"}},
	{"trim-trailing-space-keys", "data", "ignores trailing spaces of key strings, like a PAD SPACE collation or a CHAR column",
		map[string]string{"basic": "load.merged-keys"}},
	{"normalize-keys", "data", "normalises key strings to Unicode NFKC, so NFC and NFD forms (and full-width letters) of one text share a row",
		map[string]string{"basic": "load.merged-keys"}},
	// Protocol.
	{"left-join", "data", "answers a missing key with a document holding only its key fields (a LEFT JOIN where an INNER JOIN belongs)",
		map[string]string{"basic": "load.phantom"}},
	{"loaded-unrequested", "protocol", "sends a Loaded document for a key that was not requested",
		map[string]string{"basic": "load.unrequested"}},
	{"loaded-twice", "protocol", "sends the first found document of every Load twice",
		map[string]string{"basic": "load.duplicate"}},
	{"loaded-empty", "protocol", "answers a missing key with an empty document {} instead of omitting it",
		map[string]string{"basic": "load.unrequested"}},
	{"loaded-after-prepared", "protocol", "sends one more Loaded after Prepared",
		map[string]string{"basic": "protocol.loaded-after-prepared"}},
	{"prepared-before-flush", "protocol", "defers every Loaded and sends Prepared before flushing them",
		map[string]string{"basic": "protocol.loaded-after-prepared"}},
	{"ack-twice", "protocol", "answers Acknowledge with two Acknowledged",
		map[string]string{"basic": "protocol.ack-twice", "delta": "protocol.ack-twice"}},
	{"ack-never", "protocol", "never answers Acknowledge",
		map[string]string{"basic": "connector.timeout", "delta": "connector.timeout"}},
	{"committed-early", "protocol", "sends DriverCommitted when Prepare arrives, before Prepared and Commit",
		map[string]string{"basic": "protocol.committed-early", "delta": "protocol.committed-early"}},
	{"empty-checkpoint", "protocol", "answers Prepare with a merge-patch driver checkpoint that is empty",
		map[string]string{"basic": "protocol.invalid", "delta": "protocol.invalid"}},
	{"delta-loaded", "protocol", "sends a Loaded document for a delta-updates binding",
		map[string]string{"delta": "delta.loaded"}},
	{"loaded-not-json", "protocol", "answers the first found key of every Load with bytes that are not JSON",
		map[string]string{"basic": "load.undecodable"}},
	{"loaded-before-committed", "protocol", "sends a Loaded document when Commit arrives, before DriverCommitted",
		map[string]string{"basic": "protocol.loaded-after-prepared"}},
	{"prepared-unasked", "protocol", "sends Prepared right after Opened, before any Prepare",
		map[string]string{"basic": "protocol.order", "delta": "protocol.order"}},
	{"apply-fails", "protocol", "fails every ApplyUpsert",
		map[string]string{"basic": "setup.apply"}},
	{"apply-once", "durability", "fails ApplyUpsert when the table already exists (not idempotent)",
		map[string]string{"recovery": "recovery.apply-idempotent"}},
	{"crash-on-store", "protocol", "fails the stream when the first Store arrives",
		map[string]string{"basic": "connector.error", "delta": "connector.error"}},
	// Delta updates: only a verifier that reads the rows back catches these.
	{"delta-drop-rows", "data", "delta updates: silently drops the rows of about one key in ten",
		map[string]string{"delta --verify": "delta.missing"}},
	{"delta-replay-on-open", "durability", "delta updates: appends the last committed transaction's rows again when a stream opens (a stage-and-copy connector re-running its last COPY after a restart)",
		map[string]string{"delta --verify": "delta.duplicate"}},
	{"delta-marker-rows", "data", "delta updates: appends a marker row ({\"flow_txn\": N}) to the table with every commit",
		map[string]string{"delta --verify": "delta.extra"}},
	{"delta-truncate-values", "data", "delta updates: truncates strings longer than 255 bytes, like a VARCHAR(255) column",
		map[string]string{"delta --verify": "delta.value"}},
	// Fencing.
	{"no-fence", "fencing", "never fences: an older stream keeps committing",
		map[string]string{"fence": "fence.not-fenced"}},
	{"exact-range-only", "fencing", "fences only streams of exactly the same key range (not a split parent nor straddled neighbours)",
		map[string]string{"fence": "fence.not-fenced"}},
	{"global-fence", "fencing", "fences every stream of the materialization, also those over disjoint key ranges, so a multi-shard materialization cannot commit",
		map[string]string{"fence": "fence.disjoint-fenced"}},
	{"split-loses-checkpoint", "fencing", "starts a new key range (a split child) with no checkpoint instead of its parent's",
		map[string]string{"fence": "fence.checkpoint"}},
	{"fence-newer", "fencing", "fences a newer stream that opens over a partly overlapping range, so it cannot commit",
		map[string]string{"fence": "fence.newer-failed"}},
	{"zombie-writes", "fencing", "fails a fenced stream's commit but still applies its stores",
		map[string]string{"fence": "fence.zombie-visible"}},
	// Durability.
	{"lazy-commit", "durability", "acknowledges a commit that it only holds in memory until the next Acknowledge",
		map[string]string{"recovery": "recovery.checkpoint"}},
	{"no-checkpoint", "durability", "stores checkpoints with its data but returns none from Open, so the runtime cannot tell it is exactly-once (passes as at-least-once without --exactly-once)",
		map[string]string{"recovery --exactly-once": "recovery.checkpoint", "fence --exactly-once": "fence.checkpoint"}},
	{"drop-on-apply", "durability", "drops and recreates a table when an evolved spec is applied over it, losing its data",
		map[string]string{"migrate": "migrate.state"}},
	{"drop-on-version-change", "durability", "drops and recreates its tables whenever ApplyUpsert carries another version than the one applied last, losing their data on every spec change",
		map[string]string{"migrate": "migrate.state"}},
	{"loads-first-binding", "data", "answers the Loads of every binding from the first binding's table (a statement prepared for one table, reused for all)",
		map[string]string{"migrate": "migrate.state"}},
	{"drop-later-bindings", "data", "silently drops the stores of every binding but the first",
		map[string]string{"migrate": "migrate.state"}},
	{"ignore-new-field", "data", "ignores fields a later spec adds: documents lose members that were not fields when the table was created",
		map[string]string{"migrate": "migrate.state"}},
	{"torn-commit", "durability", "applies half of a stream's third transaction, then crashes without its checkpoint",
		map[string]string{"basic": "connector.error", "recovery": "recovery.state"}},
	{"stale-checkpoint", "durability", "returns the first checkpoint it ever committed from Open",
		map[string]string{"recovery": "recovery.checkpoint"}},
}

func defectByName(name string) (Defect, bool) {
	for _, d := range Defects {
		if d.Name == name {
			return d, true
		}
	}
	return Defect{}, false
}

// DefectNames lists the defects, sorted.
func DefectNames() []string {
	var out []string
	for _, d := range Defects {
		out = append(out, d.Name)
	}
	sort.Strings(out)
	return out
}

// mojibake re-encodes every non-ASCII byte as if it were a Latin-1 character.
func mojibake(doc json.RawMessage) json.RawMessage {
	var out = make([]byte, 0, len(doc)+16)
	for _, c := range doc {
		if c < 0x80 {
			out = append(out, c)
		} else {
			out = utf8.AppendRune(out, rune(c))
		}
	}
	return out
}

// rewriteJSON decodes a document (keeping numbers as written), transforms it, and
// encodes it again.
func rewriteJSON(doc json.RawMessage, fn func(v interface{}, depth int) interface{}) json.RawMessage {
	var d = json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v interface{}
	if err := d.Decode(&v); err != nil {
		return doc
	}
	var out, err = json.Marshal(walk(v, 0, fn))
	if err != nil {
		return doc
	}
	return out
}

func walk(v interface{}, depth int, fn func(interface{}, int) interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, e := range t {
			t[k] = walk(e, depth+1, fn)
		}
	case []interface{}:
		for k, e := range t {
			t[k] = walk(e, depth+1, fn)
		}
	}
	return fn(v, depth)
}

func truncateStrings(v interface{}, _ int) interface{} {
	if s, ok := v.(string); ok && len(s) > 255 {
		var cut = 255
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut]
	}
	return v
}

func float32Numbers(v interface{}, _ int) interface{} {
	if n, ok := v.(json.Number); ok {
		if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return v
		}
		if f, err := n.Float64(); err == nil {
			return json.Number(strconv.FormatFloat(float64(float32(f)), 'g', -1, 64))
		}
	}
	return v
}

// stringifyNested turns objects and arrays below the top level into JSON strings.
func stringifyNested(v interface{}, depth int) interface{} {
	if depth != 1 {
		return v
	}
	switch v.(type) {
	case map[string]interface{}, []interface{}:
		var b, _ = json.Marshal(v)
		return string(b)
	}
	return v
}

// keepOldOnNull merges doc over old, but members that are null or absent in doc
// keep their old value.
func keepOldOnNull(old, doc json.RawMessage) json.RawMessage {
	var o, n map[string]json.RawMessage
	if json.Unmarshal(old, &o) != nil || json.Unmarshal(doc, &n) != nil {
		return doc
	}
	for k, v := range o {
		if nv, ok := n[k]; !ok || string(nv) == "null" {
			n[k] = v
		}
	}
	var out, err = json.Marshal(n)
	if err != nil {
		return doc
	}
	return out
}

// keyOnlyDocument builds {"key1": v1, ...} from a packed key, as a LEFT JOIN returns
// for a row that does not exist.
func keyOnlyDocument(fields []string, packed []byte) json.RawMessage {
	var t, err = tuple.Unpack(packed)
	if err != nil || len(t) != len(fields) {
		return json.RawMessage("{}")
	}
	var m = map[string]interface{}{}
	for i, f := range fields {
		m[f] = t[i]
	}
	var b, _ = json.Marshal(m)
	return b
}

// foldKey maps a packed key to the row key a store with a key defect uses: the
// first component only, or strings folded as a careless collation does. Keys that
// do not unpack are kept as they are.
func foldKey(defect string, packed []byte) []byte {
	var fold func(string) string
	switch defect {
	case "first-key-only":
	case "case-insensitive-keys":
		fold = strings.ToLower
	case "trim-trailing-space-keys":
		fold = func(s string) string { return strings.TrimRight(s, " ") }
	case "normalize-keys":
		fold = norm.NFKC.String
	default:
		return packed
	}
	var t, err = tuple.Unpack(packed)
	if err != nil || len(t) == 0 {
		return packed
	}
	if fold == nil {
		return tuple.Tuple{t[0]}.Pack()
	}
	for k, v := range t {
		if s, ok := v.(string); ok {
			t[k] = fold(s)
		}
	}
	return t.Pack()
}

// keepMembers drops the top-level members of doc that are not in fields, as a
// store that rebuilds documents from the columns it knows does.
func keepMembers(doc json.RawMessage, fields []string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil {
		return doc
	}
	var known = map[string]bool{}
	for _, f := range fields {
		known[f] = true
	}
	for k := range m {
		if !known[k] {
			delete(m, k)
		}
	}
	var out, err = json.Marshal(m)
	if err != nil {
		return doc
	}
	return out
}
