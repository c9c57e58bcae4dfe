// Package parsetest holds what the tests of the parsers under hostcfg share:
// node trees from a map, checks of FileErrors, fuzz seeds and golden files.
package parsetest

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
)

// Root builds a node in t.TempDir() and returns its Root. Keys are node
// paths; a value "-> TARGET" makes a symbolic link, a key ending in "/" an empty
// folder, anything else a file with that content.
func Root(t testing.TB, files map[string]string) *hostcfg.Root {
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
	r, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// WantFileError checks that err is a FileError about path (and line, when
// line > 0) whose text holds every one of words.
func WantFileError(t testing.TB, err error, path string, line int, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one about %s:%d", path, line)
	}
	var fe *hostcfg.FileError
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

// MustBeFileError fails t unless err is a *FileError.
func MustBeFileError(t testing.TB, err error) {
	t.Helper()
	var fe *hostcfg.FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FileError", err, err)
	}
}

// AddSeeds adds every file matching pattern (but golden files) as a seed, then
// each of more.
func AddSeeds(f *testing.F, pattern string, more ...string) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		if strings.HasSuffix(p, ".golden") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range more {
		f.Add([]byte(s))
	}
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Golden compares got with the golden file at path, or rewrites it when the
// test runs with -update.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}
