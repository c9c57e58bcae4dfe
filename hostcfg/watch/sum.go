package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"path"
	"syscall"

	"github.com/unloop/unloop/hostcfg"
)

// Sum is a digest of what the node paths hold now, inside tree: for each,
// whether it exists, a link's target, a folder's names, a file's mode,
// owner, inode flags (chattr +i) and bytes; a pattern (/etc/dhclient-*.conf)
// stands for the names that match it. Two sums are equal when nothing a
// check reads from these paths differs, whatever inotify said meanwhile: a
// file rewritten with the same bytes, or written and rolled back, is no
// change. A file's times and inode are left out for that reason.
func Sum(tree *hostcfg.Root, paths []string) string {
	h := sha256.New()
	for _, p := range cleanPaths(paths) {
		if !isPattern(path.Base(p)) {
			sumOne(h, tree, p)
			continue
		}
		names, err := tree.Glob(path.Dir(p), path.Base(p))
		fmt.Fprintf(h, "glob %s %v\n", p, errClass(err))
		for _, q := range names {
			sumOne(h, tree, q)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sumOne(h hash.Hash, tree *hostcfg.Root, p string) {
	fi, err := tree.Lstat(p)
	if err != nil {
		fmt.Fprintf(h, "%s %s\n", p, errClass(err))
		return
	}
	fmt.Fprintf(h, "%s %v\n", p, fi.Mode())
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := tree.Readlink(p)
		fmt.Fprintf(h, "-> %q %s\n", t, errClass(err))
	case fi.IsDir():
		ents, err := tree.ReadDir(p)
		fmt.Fprintf(h, "%s\n", errClass(err))
		for _, e := range ents {
			fmt.Fprintf(h, "%q %v\n", e.Name(), e.Type())
		}
	case fi.Mode().IsRegular():
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(h, "owner %d:%d\n", st.Uid, st.Gid)
		}
		flags, err := tree.Flags(p)
		fmt.Fprintf(h, "flags %#x %s\n", flags, errClass(err))
		data, err := tree.ReadFile(p)
		if err != nil {
			// Too large or unreadable: its size stands for its bytes.
			fmt.Fprintf(h, "size %d %s\n", fi.Size(), errClass(err))
			return
		}
		fmt.Fprintf(h, "%d\n", len(data))
		h.Write(data)
	}
}

// errClass is what an error says about a path, without the parts that
// differ from one call to the next.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, fs.ErrNotExist):
		return "absent"
	default:
		return "error " + err.Error()
	}
}
