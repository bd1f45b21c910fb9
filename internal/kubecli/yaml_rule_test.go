package kubecli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `flowsim kube run --config` turns YAML into JSON by the local CLI's rule
// (lib/yamljson.Flag): YAML 1.1 booleans stay strings, big integers stay exact, a
// duplicate key is an error; inline or from a file alike. Before, it used another
// library and gave true/true.
func TestKubeRunYAMLIsTheCLIsRule(t *testing.T) {
	var in = "sslmode: on\nok: yes\nid: 123456789012345678901\n"
	var file = filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, value := range []string{in, file} {
		var got, text, err = yamlFlag("--config", value)
		if err != nil || string(got) != `{"sslmode":"on","ok":"yes","id":123456789012345678901}` || string(text) != in {
			t.Fatalf("yamlFlag(%q) = %s, %q, %v", value, got, text, err)
		}
	}
	var _, _, err = yamlFlag("--config", "a: 1\na: 2\n")
	if err == nil || !strings.Contains(err.Error(), "--config") || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("a duplicate key: %v", err)
	}
}
