// Package hostcfgtest writes node trees for tests from txtar archives.
//
// A file's name is its node path without the leading slash. A name of the form
// "etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf" is a symbolic
// link (its content is ignored); "path mode=0600" sets the mode.
package hostcfgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// Write lays the archive's files out under dir.
func Write(dir string, ar *txtar.Archive) error {
	for _, f := range ar.Files {
		name := strings.TrimSpace(f.Name)
		if name == "" {
			return fmt.Errorf("empty file name")
		}
		if p, target, ok := strings.Cut(name, " -> "); ok {
			hp := filepath.Join(dir, strings.TrimSpace(p))
			if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(strings.TrimSpace(target), hp); err != nil {
				return err
			}
			continue
		}
		mode := os.FileMode(0o644)
		if p, m, ok := strings.Cut(name, " mode="); ok {
			v, err := strconv.ParseUint(strings.TrimSpace(m), 8, 32)
			if err != nil {
				return fmt.Errorf("%s: bad mode: %w", name, err)
			}
			name, mode = strings.TrimSpace(p), os.FileMode(v)
		}
		hp := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(hp, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(hp, f.Data, mode); err != nil {
			return err
		}
		if err := os.Chmod(hp, mode); err != nil {
			return err
		}
	}
	return nil
}

// Tree parses the txtar file at path and writes it into a new temporary
// folder; it returns the folder and the archive's comment.
func Tree(t testing.TB, path string) (dir string, comment string) {
	t.Helper()
	ar, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := Write(dir, ar); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return dir, string(ar.Comment)
}
