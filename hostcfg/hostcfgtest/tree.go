// Package hostcfgtest writes node trees for tests from txtar archives.
//
// A file's name is its node path without the leading slash. A name of the form
// "etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf" is a symbolic
// link (its content is ignored); "path mode=0600" sets the mode.
package hostcfgtest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// Files makes a root with the given files (node paths to contents) and
// returns it. A content of "DIR" makes a folder there instead (an input
// that is not a file).
func Files(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, data := range files {
		hp := filepath.Join(root, p)
		if data == "DIR" {
			if err := os.MkdirAll(hp, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// State describes every file and link under dir, by path relative to dir:
// "file MODE UID:GID CONTENT" or "link TARGET". Folders are left out, and so is
// every path for which skip returns true.
func State(t testing.TB, dir string, skip func(rel string) bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		case !fi.Mode().IsRegular():
			// A FIFO is described, not read: reading it would hang.
			out[rel] = fmt.Sprintf("special %v %d:%d", fi.Mode(), st.Uid, st.Gid)
		case fi.Size() > 1<<20:
			// Hostile trees hold 100 MB files: their hash stands for them.
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file %v %d:%d %d bytes sha256 %x", fi.Mode(), st.Uid, st.Gid, fi.Size(), h.Sum(nil))
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file %v %d:%d %s", fi.Mode(), st.Uid, st.Gid, data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Dirs lists the folders under dir (relative, sorted), leaving out those for
// which skip returns true and everything below them.
func Dirs(t testing.TB, dir string, skip func(rel string) bool) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !d.IsDir() || rel == "." {
			return nil
		}
		if skip != nil && skip(rel) {
			return filepath.SkipDir
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
