// Package verifier reads back the rows a delta-updates binding holds, for matsim's
// delta test (and recovery on a delta binding): a command that prints them as NDJSON
// (--verify-command), or a SQL query against PostgreSQL (--verify-sql). Both satisfy
// matsim.Verifier. Variables name the binding's resource path: $FLOWSIM_TABLE,
// $FLOWSIM_SCHEMA and $FLOWSIM_RESOURCE_PATH (also written ${FLOWSIM_TABLE}).
package verifier

import (
	"fmt"
	"regexp"
	"strings"
)

// Variables returns the values of the resource path variables for a command:
// FLOWSIM_TABLE is the path's last element, FLOWSIM_SCHEMA its first when it has
// two or more, FLOWSIM_RESOURCE_PATH every element joined with ".".
func Variables(resourcePath []string) map[string]string {
	var v = map[string]string{"FLOWSIM_TABLE": "", "FLOWSIM_SCHEMA": "", "FLOWSIM_RESOURCE_PATH": strings.Join(resourcePath, ".")}
	if n := len(resourcePath); n > 0 {
		v["FLOWSIM_TABLE"] = resourcePath[n-1]
		if n > 1 {
			v["FLOWSIM_SCHEMA"] = resourcePath[0]
		}
	}
	return v
}

var variable = regexp.MustCompile(`\$\{(FLOWSIM_[A-Z_]+)\}|\$(FLOWSIM_[A-Z_]+)`)

// expand replaces $FLOWSIM_X and ${FLOWSIM_X} in s with vars; any other text,
// including other $ signs, is kept. An unknown FLOWSIM_ variable is an error.
func expand(s string, vars map[string]string) (string, error) {
	var bad string
	var out = variable.ReplaceAllStringFunc(s, func(m string) string {
		var name = strings.Trim(m, "${}")
		var v, ok = vars[name]
		if !ok && bad == "" {
			bad = name
		}
		return v
	})
	if bad != "" {
		return "", fmt.Errorf("unknown variable $%s (known: $FLOWSIM_TABLE, $FLOWSIM_SCHEMA, $FLOWSIM_RESOURCE_PATH)", bad)
	}
	return out, nil
}

// SplitCommand splits a command line into arguments without a shell: arguments are
// separated by spaces; '…' quotes literally, "…" quotes with \" and \\ escapes, and
// a backslash outside quotes escapes the next character. Pipes, redirections and
// globs have no meaning: they are plain arguments.
func SplitCommand(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	var inArg bool
	for i := 0; i < len(s); i++ {
		var c = s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inArg {
				out = append(out, cur.String())
				cur.Reset()
				inArg = false
			}
		case c == '\'':
			var end = strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inArg = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inArg = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inArg = true
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		out = append(out, cur.String())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return out, nil
}
