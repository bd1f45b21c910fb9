package shell

import (
	"os/exec"
	"testing"
)

// Every quoted word reads back as itself through a real shell.
func TestQuoteRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", "a b", "it's", `"q"`, "$HOME", "a\nb", "*", "{x}", "x;y", "~", "!"} {
		var out, err = exec.Command("/bin/sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("Quote(%q) = %s: the shell read %q (%v)", s, Quote(s), out, err)
		}
	}
	if Quote("plain") != "plain" {
		t.Errorf("a plain word is quoted: %s", Quote("plain"))
	}
}
