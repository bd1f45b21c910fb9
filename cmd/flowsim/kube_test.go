package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestInstallSelfCopiesTheRunningBinary(t *testing.T) {
	var dir = t.TempDir()
	var dst, err = installSelf(dir)
	if err != nil {
		t.Fatalf("installSelf(%s): %v", dir, err)
	}
	if want := filepath.Join(dir, "flowsim"); dst != want {
		t.Errorf("installSelf returned %q, want %q", dst, want)
	}
	self, _ := os.Executable()
	var want, _ = os.ReadFile(self)
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("installed binary differs from the running one (read error: %v)", err)
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o755 {
		t.Errorf("installed binary has mode %v, want 0755", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("install left %d files in %s, want only flowsim", len(entries), dir)
	}
}

func TestInstallCommandRequiresTo(t *testing.T) {
	var cmd = newInstallCommand()
	cmd.SetArgs(nil)
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(new(bytes.Buffer))
	if err := cmd.Execute(); err == nil {
		t.Fatal("install without --to succeeded, want an error")
	}
}
