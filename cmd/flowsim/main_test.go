package main

import (
	"context"
	"testing"
)

func TestExitCodesOfTheRootCommand(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"--version"}, 0},
		{[]string{"version"}, 0},
		{[]string{"matsim", "basci"}, 2},
		{[]string{"bogus"}, 2},
		{[]string{"matsim", "basic", "--loops", "0"}, 2},
		{[]string{"completion", "bash"}, 0},
	} {
		if got := run(context.Background(), c.args); got != c.code {
			t.Errorf("flowsim %v: exit %d, want %d", c.args, got, c.code)
		}
	}
}
