package hostcfg

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// swapIn puts the complete temp entry tmp (a file or a link) at base in the
// folder d (the node path p). With want nil it is a plain rename over
// whatever is there.
//
// With want, the check before it (unchanged) leaves an instant in which
// another writer (a DHCP renew: dhclient-script renames its own temp file
// over resolv.conf) can get in, and a rename would bury its write. So the
// name is not renamed over: it is exchanged (renameat2 RENAME_EXCHANGE,
// Linux 3.15), which hands back, now at tmp, whatever the name held at that
// very instant. When that is not what was verified, the exchange is undone
// and the error wraps ErrChanged, so apply plans again from the renewed file.
// Where nothing was there (want.Exists false), RENAME_NOREPLACE refuses a
// file that appeared meanwhile in the same way.
//
// A filesystem without RENAME_EXCHANGE (EINVAL: NFS, for one) gets the
// plain rename, and with it the instant. EBUSY (a mount point) is returned
// for the caller to write in place. Killed between the exchange and the
// removal of what came out, the original is left at the temp name, which
// the next apply's temp cleanup recognises by its content.
func (r *Root) swapIn(d *os.File, tmp, base, p string, want *Snapshot) error {
	dfd := int(d.Fd())
	if want == nil {
		return unix.Renameat(dfd, tmp, dfd, base)
	}
	var ours unix.Stat_t
	if err := unix.Fstatat(dfd, tmp, &ours, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	r.callHook("exchange", p)
	if !want.Exists {
		err := unix.Renameat2(dfd, tmp, dfd, base, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%w: something was put there", ErrChanged)
		}
		if !errors.Is(err, unix.EINVAL) {
			return err
		}
		return unix.Renameat(dfd, tmp, dfd, base)
	}
	err := unix.Renameat2(dfd, tmp, dfd, base, unix.RENAME_EXCHANGE)
	switch {
	case errors.Is(err, unix.EINVAL):
		return unix.Renameat(dfd, tmp, dfd, base)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: it was removed", ErrChanged)
	case err != nil:
		return err
	}
	// tmp now holds what was at base when the exchange happened.
	cerr := unchanged(d, tmp, want)
	if cerr == nil {
		// The original, as verified: it goes, the new entry stays.
		if err := unix.Unlinkat(dfd, tmp, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("removing the replaced file: %w", err)
		}
		return nil
	}
	if err := r.putBack(dfd, tmp, base, p, &ours); err != nil {
		// Not ErrChanged: unloop's entry may be at base, for rollback to
		// treat as written.
		return fmt.Errorf("%v; and putting back what was there: %w", cerr, err)
	}
	if errors.Is(cerr, ErrChanged) || errors.Is(cerr, ErrSwapped) {
		return cerr
	}
	return fmt.Errorf("%w: what was there can't be checked: %w", ErrChanged, cerr)
}

// putBack undoes an exchange that handed back something other than what was
// verified: the other writer's entry (now at tmp) goes back to base and
// unloop's (ours) to tmp, for the caller to remove. If base no longer holds
// unloop's entry, a later writer replaced it and is the newest: base is left
// to it. A writer may also land between that check and the exchange; its
// entry, the newest, then comes to tmp, and a second exchange takes it back
// to base (the older one left at tmp is removed with the temp name).
func (r *Root) putBack(dfd int, tmp, base, p string, ours *unix.Stat_t) error {
	if !isEntry(dfd, base, ours) {
		return nil
	}
	r.callHook("put back", p)
	if err := unix.Renameat2(dfd, tmp, dfd, base, unix.RENAME_EXCHANGE); err != nil {
		return err
	}
	if isEntry(dfd, tmp, ours) {
		return nil
	}
	return unix.Renameat2(dfd, tmp, dfd, base, unix.RENAME_EXCHANGE)
}

// isEntry reports whether name in the folder dfd is the very entry st.
func isEntry(dfd int, name string, st *unix.Stat_t) bool {
	var cur unix.Stat_t
	err := unix.Fstatat(dfd, name, &cur, unix.AT_SYMLINK_NOFOLLOW)
	return err == nil && cur.Dev == st.Dev && cur.Ino == st.Ino
}
