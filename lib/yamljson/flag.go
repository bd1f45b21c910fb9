package yamljson

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxInputBytes caps a file read by Flag: a path like /dev/zero, or a file of
// hundreds of MiB, is an error of one line instead of a reader that runs until
// memory runs out.
const MaxInputBytes = 16 << 20

// Flag reads the value of a flag (named flag, for messages) that is an inline YAML
// mapping or the path of a YAML file holding one, as `flowsim matsim` and `flowsim
// kube run` take --config and --resource. It returns the mapping as JSON and the
// YAML text it came from (the value, or the file's contents). Empty or blank means
// {}.
func Flag(flag, value string) (asJSON, text []byte, err error) {
	if strings.TrimSpace(value) == "" {
		return []byte("{}"), []byte("{}\n"), nil
	}
	var inline, inlineErr = Mapping([]byte(value))
	if inlineErr == nil {
		return inline, []byte(value), nil
	}
	var b, fileErr = readCapped(value)
	if fileErr != nil {
		return nil, nil, fmt.Errorf("%s: not an inline YAML mapping (%v), and not a readable file (%v)", flag, inlineErr, fileErr)
	}
	fromFile, err := Mapping(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: file %s: %v", flag, value, err)
	}
	return fromFile, b, nil
}

// readCapped reads the file at path, at most MaxInputBytes of it: a file (or
// device, or pipe) with more is an error saying so.
func readCapped(path string) ([]byte, error) {
	var f, err = os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxInputBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxInputBytes {
		return nil, fmt.Errorf("larger than %d MiB, more than a config holds", MaxInputBytes>>20)
	}
	return b, nil
}
