package hostcfg

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// makeNodeTree builds a node in t.TempDir() and returns its Root. Keys are node
// paths; a value "-> TARGET" makes a symbolic link, a key ending in "/" an empty
// folder, anything else a file with that content.
func makeNodeTree(t *testing.T, files map[string]string) *Root {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		hp := filepath.Join(dir, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(hp, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(c, "-> "); ok {
			if err := os.Symlink(target, hp); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(hp, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantFileError checks that err is a FileError about path (and line, when
// line > 0) whose text holds every one of words.
func wantFileError(t *testing.T, err error, path string, line int, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one about %s:%d", path, line)
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FileError", err, err)
	}
	if fe.Path != path {
		t.Errorf("error %q names %q, want %q", err, fe.Path, path)
	}
	if line > 0 && fe.Line != line {
		t.Errorf("error %q is about line %d, want %d", err, fe.Line, line)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}
