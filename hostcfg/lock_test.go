package hostcfg

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLockRefusesNonFiles: whatever is planted at the lock path that is not a
// lock file of its own is refused with a message saying what it is, and the
// file it leads to keeps its bytes (a link to /etc/important used to get the
// pid written into it).
func TestLockRefusesNonFiles(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, dir string)
		want  string
	}{
		{"a link to a file inside the root", func(t *testing.T, dir string) {
			mustDo(t, os.Symlink("/etc/important", filepath.Join(dir, "run/unloop.lock")))
		}, "/run/unloop.lock: is a symbolic link to /etc/important, not the lock file: refusing to open it (remove it)"},
		{"a link to nothing", func(t *testing.T, dir string) {
			mustDo(t, os.Symlink("/nowhere/lock", filepath.Join(dir, "run/unloop.lock")))
		}, "/run/unloop.lock: is a symbolic link to /nowhere/lock, not the lock file"},
		{"a hard link to a file", func(t *testing.T, dir string) {
			mustDo(t, os.Link(filepath.Join(dir, "etc/important"), filepath.Join(dir, "run/unloop.lock")))
		}, "/run/unloop.lock: has 2 hard links, so it is another file too: refusing it (remove it)"},
		{"a folder", func(t *testing.T, dir string) {
			mustDo(t, os.Mkdir(filepath.Join(dir, "run/unloop.lock"), 0o755))
		}, "/run/unloop.lock: is a directory, not the lock file: refusing it (remove it)"},
		{"a FIFO", func(t *testing.T, dir string) {
			mustDo(t, syscall.Mkfifo(filepath.Join(dir, "run/unloop.lock"), 0o644))
		}, "/run/unloop.lock: is a special file (p---------), not the lock file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wtRoot(t, map[string]string{"etc/important": "keep\n", "run/.keep": ""})
			tt.plant(t, r.Dir())
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			unlock, err := r.Lock(ctx, nil)
			if err == nil {
				unlock()
				t.Fatal("Lock took a lock path that is not a lock file of its own")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant %s…", err, tt.want)
			}
			if b, _ := os.ReadFile(filepath.Join(r.Dir(), "etc/important")); string(b) != "keep\n" {
				t.Errorf("/etc/important is now %q", b)
			}
		})
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestLockWaitingNamesHolder: the lock file still names a long-gone run; the
// process that holds the lock never wrote its pid. After a second of waiting
// Lock says whom it waits for: the holder, as the kernel tells, not the pid in
// the file. Once the holder lets go, Lock gets the lock.
func TestLockWaitingNamesHolder(t *testing.T) {
	const stale = "4194303\n" // above any pid_max: no such process
	r := wtRoot(t, map[string]string{"run/unloop.lock": stale})
	holder, err := os.OpenFile(filepath.Join(r.Dir(), "run/unloop.lock"), os.O_RDWR, 0)
	mustDo(t, err)
	defer holder.Close()
	mustDo(t, unix.Flock(int(holder.Fd()), unix.LOCK_EX))

	waited := make(chan int, 2)
	start := time.Now()
	var after time.Duration
	time.AfterFunc(1500*time.Millisecond, func() { holder.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err := r.Lock(ctx, func(pid int) {
		after = time.Since(start)
		waited <- pid
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	close(waited)
	var pids []int
	for pid := range waited {
		pids = append(pids, pid)
	}
	if len(pids) != 1 || pids[0] != os.Getpid() {
		t.Fatalf("waiting said pids %v, want once this process's %d (the holder), not the file's %s", pids, os.Getpid(), strings.TrimSpace(stale))
	}
	if after < lockQuietWait {
		t.Errorf("said it waited after %v, before a second", after)
	}
	if b, _ := os.ReadFile(filepath.Join(r.Dir(), "run/unloop.lock")); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("the lock file says %q, want its holder's pid %d", b, os.Getpid())
	}
}

// TestLockQuietWhenFree: a free lock is taken without a word.
func TestLockQuietWhenFree(t *testing.T) {
	r := wtRoot(t, map[string]string{"run/.keep": ""})
	unlock, err := r.Lock(context.Background(), func(pid int) { t.Errorf("said it waits for pid %d", pid) })
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}
