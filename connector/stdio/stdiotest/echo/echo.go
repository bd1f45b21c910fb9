// Package echo is a careless connector for the redaction tests: it echoes its endpoint
// config to stderr, in pieces and in several encodings, and fails Validate with an
// error that quotes the config again. A test binary re-executes itself as this
// connector (Main, Command), so no other binary needs to be built.
package echo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/url"
	"os"

	"github.com/estuary/protocols/materialize"
	"github.com/flowsim/flowsim/connector/reference"
	"github.com/flowsim/flowsim/connector/stdio"
)

// Arg is the argv[1] marker of a re-executed test binary.
const Arg = "echo-connector"

// Command returns the argv that runs this test binary as the echoing connector; a
// client appends the subcommand. TestMain must call Main first.
func Command() []string {
	var self, err = os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	return []string{self, Arg}
}

// Main serves one subcommand and exits when the process was started by Command.
func Main() {
	if len(os.Args) < 3 || os.Args[1] != Arg {
		return
	}
	var err = stdio.ServeArgs(context.Background(), &Server{Driver: reference.New(), Stderr: os.Stderr}, os.Args[2:], os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Server is the reference connector, except that Validate echoes the config to Stderr
// and fails.
type Server struct {
	*reference.Driver
	Stderr io.Writer
}

// Validate echoes the config and fails, quoting it.
func (s *Server) Validate(_ context.Context, req *materialize.ValidateRequest) (*materialize.ValidateResponse, error) {
	var config = req.EndpointSpecJson
	if s.Stderr != nil {
		Echo(s.Stderr, config, seedOf(config))
	}
	var quoted, _ = json.Marshal(string(config))
	return nil, fmt.Errorf("cannot connect with config %s (as a string %s, URL-encoded %s, base64 %s)",
		config, quoted, url.QueryEscape(string(config)), base64.StdEncoding.EncodeToString(config))
}

func seedOf(b []byte) uint64 {
	var h = fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64()
}

// Echo writes config to w in several encodings (raw, as a JSON string in a JSON log
// line, URL-encoded, base64, and the value of each member alone), each line cut into
// pieces written one by one at points chosen by seed.
func Echo(w io.Writer, config []byte, seed uint64) {
	var rng = rand.New(rand.NewPCG(seed, 11))
	var quoted, _ = json.Marshal(string(config))
	var lines = []string{
		"config: " + string(config) + "\n",
		`{"level":"debug","msg":"connecting","config":` + string(quoted) + "}\n",
		"url: " + url.QueryEscape(string(config)) + "\n",
		"base64: " + base64.StdEncoding.EncodeToString(config) + "\n",
	}
	var members map[string]any
	if json.Unmarshal(config, &members) == nil {
		for k, v := range members {
			lines = append(lines, fmt.Sprintf("%s: %v\n", k, v))
		}
	}
	for _, l := range lines {
		for l != "" {
			var n = 1 + rng.IntN(min(len(l), 6))
			_, _ = io.WriteString(w, l[:n])
			l = l[n:]
		}
	}
}
