package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPages: one page per visible command, generated from the commands
// (so a new command or flag shows up without editing a page), dated by the
// build, and the hidden generator itself is not documented.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"man", dir}, Streams{Out: &out, Err: &errb}); code != 0 {
		t.Fatalf("unloop man: exit %d: %s", code, errb.String())
	}
	for _, c := range []struct{ page, want string }{
		{"unloop.1", `.TH "UNLOOP" "1" "Nov 2023"`},
		{"unloop.1", "unloop apply"},
		{"unloop-check.1", "unloop check --output json"},
		{"unloop-apply.1", "--strategy"},
		{"unloop-plan.1", "--detailed-exitcode"},
		{"unloop-rollback.1", "--run"},
		{"unloop-completion-bash.1", "bash"},
	} {
		b, err := os.ReadFile(filepath.Join(dir, c.page))
		if err != nil {
			t.Errorf("no page %s: %v", c.page, err)
			continue
		}
		if !strings.Contains(string(b), c.want) {
			t.Errorf("%s lacks %q", c.page, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "unloop-man.1")); err == nil {
		t.Error("the hidden man generator has a page of its own")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "unloop.1")); bytes.Contains(b, []byte("Auto generated")) {
		t.Error("pages carry cobra's auto-generated line (it changes every build)")
	}
}
