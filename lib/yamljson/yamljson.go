// Package yamljson is flowsim's one rule for turning YAML into JSON: the local CLI's
// --config/--resource and `flowsim kube run` read connector configs through it, so
// the same text gives the same JSON on a laptop and on a cluster.
//
// The rule: YAML 1.2 scalars (only true/false are booleans: on, yes, no and off are
// strings, as a connector expects of a value such as sslmode); integers stay exact
// however large (written as JSON numbers digit for digit); a duplicate key is an
// error naming its line, not a silent overwrite; anchors, aliases and merge keys
// (<<) are resolved; the document must be a mapping.
package yamljson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Mapping converts one YAML document that must be a mapping to JSON.
func Mapping(b []byte) (json.RawMessage, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %v", err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("empty YAML document")
	}
	var root = resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("YAML is not a mapping (line %d)", root.Line)
	}
	var buf bytes.Buffer
	if err := write(&buf, root, 0); err != nil {
		return nil, err
	}
	return json.RawMessage(buf.Bytes()), nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

const maxDepth = 200

func write(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("YAML nested deeper than %d levels (line %d)", maxDepth, n.Line)
	}
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		var pairs, err = mappingPairs(n, depth)
		if err != nil {
			return err
		}
		buf.WriteByte('{')
		for i, p := range pairs {
			if i > 0 {
				buf.WriteByte(',')
			}
			var k, _ = json.Marshal(p.key)
			buf.Write(k)
			buf.WriteByte(':')
			if err := write(buf, p.value, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := write(buf, c, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		return scalar(buf, n)
	default:
		return fmt.Errorf("unsupported YAML node (line %d)", n.Line)
	}
	return nil
}

type pair struct {
	key   string
	value *yaml.Node
}

// mappingPairs lists a mapping's pairs in order, merge keys (<<) expanded (keys of
// the mapping itself win over merged ones), and rejects duplicate keys.
func mappingPairs(n *yaml.Node, depth int) ([]pair, error) {
	var pairs []pair
	var at = map[string]int{}
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		var k, v = resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("a mapping key is not a scalar (line %d)", k.Line)
		}
		if k.Tag == "!!merge" {
			var src = resolve(v)
			var srcs = []*yaml.Node{src}
			if src.Kind == yaml.SequenceNode {
				srcs = nil
				for _, c := range src.Content {
					srcs = append(srcs, resolve(c))
				}
			}
			for _, m := range srcs {
				if m.Kind != yaml.MappingNode {
					return nil, fmt.Errorf("a merge key (<<) must name a mapping (line %d)", k.Line)
				}
				var ps, err = mappingPairs(m, depth+1)
				if err != nil {
					return nil, err
				}
				merged = append(merged, ps...)
			}
			continue
		}
		if j, dup := at[k.Value]; dup {
			return nil, fmt.Errorf("duplicate key %q (line %d, first on line %d)", k.Value, k.Line, resolve(n.Content[j]).Line)
		}
		at[k.Value] = i
		pairs = append(pairs, pair{key: k.Value, value: v})
	}
	var own = len(pairs)
	for _, p := range merged {
		var seen bool
		for _, q := range pairs[:own] {
			if q.key == p.key {
				seen = true
				break
			}
		}
		if !seen {
			for _, q := range pairs[own:] {
				if q.key == p.key {
					seen = true // the first merged mapping wins
					break
				}
			}
		}
		if !seen {
			pairs = append(pairs, p)
		}
	}
	return pairs, nil
}

func scalar(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Tag {
	case "!!null":
		buf.WriteString("null")
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("invalid boolean %q (line %d)", n.Value, n.Line)
		}
		buf.WriteString(strconv.FormatBool(v))
	case "!!int":
		var s = strings.ReplaceAll(n.Value, "_", "")
		var i, ok = new(big.Int).SetString(s, 0)
		if !ok {
			return fmt.Errorf("invalid integer %q (line %d)", n.Value, n.Line)
		}
		buf.WriteString(i.String())
	case "!!float":
		// An integer too large for int64 is resolved as a float by the parser:
		// it stays exact.
		if i, ok := new(big.Int).SetString(strings.TrimPrefix(n.Value, "+"), 10); ok {
			buf.WriteString(i.String())
			return nil
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return fmt.Errorf("invalid number %q (line %d)", n.Value, n.Line)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("%s has no JSON form (line %d)", n.Value, n.Line)
		}
		buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	default: // !!str, !!timestamp, !!binary and custom tags: the text as written
		var b, _ = json.Marshal(n.Value)
		buf.Write(b)
	}
	return nil
}
