package kubecli

import (
	"testing"

	"github.com/flowsim/flowsim/lib/yamljson"
)

// `flowsim kube run --config` turns YAML into JSON by the local CLI's rule
// (lib/yamljson): YAML 1.1 booleans stay strings, big integers stay exact, a
// duplicate key is an error. Before, it used another library and gave true/true.
func TestKubeRunYAMLIsTheCLIsRule(t *testing.T) {
	var in = "sslmode: on\nok: yes\nid: 123456789012345678901\n"
	var got, err = yamlMapping([]byte(in))
	var want, _ = yamljson.Mapping([]byte(in))
	if err != nil || string(got) != string(want) || string(got) != `{"sslmode":"on","ok":"yes","id":123456789012345678901}` {
		t.Fatalf("yamlMapping = %s, %v; want %s", got, err, want)
	}
	if _, err := yamlMapping([]byte("a: 1\na: 2\n")); err == nil {
		t.Fatal("a duplicate key was accepted")
	}
}
