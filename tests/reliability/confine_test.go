package reliability

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// entry is one thing in a tree: a file, a link, a FIFO or a folder.
type entry struct {
	data string
	link string
	fifo bool
	dir  bool
}

func file(s string) entry    { return entry{data: s} }
func link(to string) entry   { return entry{link: to} }
func fifo() entry            { return entry{fifo: true} }
func folder() entry          { return entry{dir: true} }
func escape(p string) string { return strings.Repeat("../", 24) + strings.TrimPrefix(p, "/") }

func lay(t *testing.T, dir string, entries map[string]entry) {
	t.Helper()
	for _, p := range slices.Sorted(maps.Keys(entries)) {
		e := entries[p]
		hp := filepath.Join(dir, p)
		must(t, os.MkdirAll(filepath.Dir(hp), 0o755))
		switch {
		case e.link != "":
			must(t, os.Symlink(e.link, hp))
		case e.fifo:
			must(t, syscall.Mkfifo(hp, 0o644))
		case e.dir:
			must(t, os.MkdirAll(hp, 0o755))
		default:
			must(t, os.WriteFile(hp, []byte(e.data), 0o644))
		}
	}
}

// marker is in every canary: output that shows it read one.
const marker = "203.0.113."

// TestConfinement builds node trees whose links point everywhere outside the
// root (absolute links, relative ones climbing with .., chains of links,
// /proc/self/root, the host's own /etc/resolv.conf), and puts canaries at the
// places those links name on this machine: files whose content would show in
// unloop's output, FIFOs a read would hang on, empty folders a write would
// fill. check, plan, apply and rollback then run with --root: the canaries
// must see no open, no read, no write (inotify), keep content and mtime, and
// the root's own files, reached through the same links resolved inside the
// root, must be the ones read and written.
func TestConfinement(t *testing.T) {
	hostResolv, err := os.Stat("/etc/resolv.conf")
	must(t, err)
	hostResolvData, err := os.ReadFile("/etc/resolv.conf")
	must(t, err)

	for _, tc := range []struct {
		name     string
		strategy string
		tree     func(out string) (inside, outside map[string]entry)
		// written are files under the root (OUT: the outside folder's path
		// without its leading slash) and what apply must have written in
		// them: the links, resolved inside the root, lead there.
		written map[string]string
	}{
		{"dhclient", "dhclient", fieldTree, map[string]string{
			"etc/dhcp/dhclient-enter-hooks.d/unloop": "unloop_filter",
			"OUT/dhcp/dhclient.conf":                 "# unloop: prepend domain-name-servers 169.254.25.10;",
		}},
		{"dhclient-hook-folder-link", "dhclient", hookFolderTree, map[string]string{
			"OUT/dhcp/dhclient-enter-hooks.d/unloop": "unloop_filter",
		}},
		{"kubelet", "kubelet", fieldTree, map[string]string{
			"proc/self/root/OUT/unloop-etc/resolv.conf": "nameserver 192.168.2.136",
			"OUT/config.yaml": "resolvConf: /etc/unloop/resolv.conf",
		}},
		{"stub", "stub", stubTree, map[string]string{
			"OUT/resolved.conf.d/90-unloop.conf": "DNSStubListener=no",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			root, out := filepath.Join(base, "root"), filepath.Join(base, "outside")
			inside, outside := tc.tree(out)
			lay(t, root, inside)
			lay(t, out, outside)
			before := snapshotCanaries(t, out)
			w := watch(t, out)

			args := []string{"--root", root, "--offline", "--strategy", tc.strategy}
			r := run(t, unloopBin(), nil, append([]string{"check"}, checkArgs(args)...)...)
			if r.Code != 2 {
				t.Fatalf("check: want the tree's loop (exit 2): %s", r)
			}
			outputs := []result{r, run(t, unloopBin(), nil, append([]string{"plan"}, args...)...)}
			// A link at the lock path is never opened through, even to a
			// place inside the root (issue 11): apply refuses it and says
			// what it is; once it is gone, apply makes its own lock file.
			r = run(t, unloopBin(), nil, append([]string{"apply"}, args...)...)
			if r.Code != 1 || !strings.Contains(r.Stderr, "/run/unloop.lock: is a symbolic link to ") {
				t.Fatalf("apply with a link at the lock path: want it refused: %s", r)
			}
			outputs = append(outputs, r)
			if err := os.Remove(filepath.Join(root, "run/unloop.lock")); err != nil {
				t.Fatal(err)
			}
			r = run(t, unloopBin(), nil, append([]string{"apply"}, args...)...)
			if !fixedCode(r.Code) {
				t.Fatalf("apply: %s", r)
			}
			outputs = append(outputs, r)
			for p, want := range tc.written {
				p = strings.ReplaceAll(p, "OUT", strings.TrimPrefix(out, "/"))
				data, err := os.ReadFile(filepath.Join(root, p))
				if err != nil || !strings.Contains(string(data), want) {
					t.Fatalf("apply did not write %q into %s inside the root (%v): the links were not followed inside it\n%s", want, p, err, data)
				}
			}
			outputs = append(outputs, run(t, unloopBin(), nil, append([]string{"check"}, checkArgs(args)...)...))
			r = run(t, unloopBin(), nil, "rollback", "--root", root, "--offline")
			if r.Code != 0 {
				t.Fatalf("rollback: %s", r)
			}
			outputs = append(outputs, r, run(t, unloopBin(), nil, append([]string{"check"}, checkArgs(args)...)...))

			if evs := w.events(t); len(evs) > 0 {
				t.Errorf("unloop touched files outside the root:\n%s", strings.Join(evs, "\n"))
			}
			if d := diffStates(snapshotCanaries(t, out), before); d != "" {
				t.Errorf("the canaries outside the root changed:\n%s", d)
			}
			for _, r := range outputs {
				if strings.Contains(r.Stdout+r.Stderr, marker) || strings.Contains(r.Stdout+r.Stderr, "outside-marker") {
					t.Errorf("unloop's output shows a canary's content: it read outside the root:\n%s", r)
				}
			}
			if fi, err := os.Stat("/etc/resolv.conf"); err != nil || !fi.ModTime().Equal(hostResolv.ModTime()) {
				t.Errorf("the machine's /etc/resolv.conf changed (mtime %v, was %v)", fi.ModTime(), hostResolv.ModTime())
			}
			if data, _ := os.ReadFile("/etc/resolv.conf"); !bytes.Equal(data, hostResolvData) {
				t.Errorf("the machine's /etc/resolv.conf changed")
			}
		})
	}
}

// fieldTree is the field's loop (dhclient prepends the node cache) with every
// path behind a link that leads out of the root.
func fieldTree(out string) (inside, outside map[string]entry) {
	o := strings.TrimPrefix(out, "/")
	inside = map[string]entry{
		// An absolute link: the machine's OUT/resolv.conf is a FIFO.
		"etc/resolv.conf":  link(out + "/resolv.conf"),
		o + "/resolv.conf": file("; generated by /usr/sbin/dhclient-script\nnameserver 169.254.25.10\nnameserver 192.168.2.136\n"),
		// A relative link climbing far above the root.
		"etc/dhcp/dhclient.conf":                    link(escape(out + "/dhcp/dhclient.conf")),
		o + "/dhcp/dhclient.conf":                   file("prepend domain-name-servers 169.254.25.10;\n"),
		"etc/dhcp/dhclient-enter-hooks.d/.keep":     file(""),
		"var/lib/dhclient/dhclient--eth0.lease":     file("lease {\n  option domain-name-servers 192.168.2.136;\n}\n"),
		"sbin/dhclient":                             file(""),
		"etc/systemd/system/kubelet.service":        link("/proc/self/root" + out + "/kubelet.service"),
		"proc/self/root/" + o + "/kubelet.service":  file("[Service]\nEnvironmentFile=-/etc/default/kubelet\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml $KUBELET_EXTRA_ARGS\n"),
		"proc/self/root/" + o + "/unloop-etc/.keep": file(""),
		"etc/default/kubelet":                       link(out + "/kubelet.env"),
		o + "/kubelet.env":                          file("KUBELET_EXTRA_ARGS=--node-ip=192.168.2.50\n"),
		// A chain: relative, relative, then absolute out.
		"var/lib/kubelet/config.yaml": link("../../../etc/kc1"),
		"etc/kc1":                     link("kc2"),
		"etc/kc2":                     link(out + "/config.yaml"),
		o + "/config.yaml":            file("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nresolvConf: /run/pod-resolv.conf\n"),
		// The pod file names the machine's own /etc/resolv.conf.
		"run/pod-resolv.conf": link("/etc/resolv.conf"),
		// Where unloop writes its own things.
		"etc/unloop":                  link("/proc/self/root" + out + "/unloop-etc"),
		"var/lib/unloop":              link(escape(out + "/journal")),
		"run/unloop.lock":             link(out + "/unloop.lock"),
		"etc/systemd/resolved.conf.d": link(out + "/resolved.conf.d"),
		"etc/coredns/Corefile":        link(escape(out + "/Corefile")),
	}
	outside = map[string]entry{
		"resolv.conf":                 fifo(),
		"dhcp/dhclient.conf":          file("prepend domain-name-servers " + marker + "2;\n"),
		"dhcp/dhclient-enter-hooks.d": folder(),
		"kubelet.service":             file("[Service]\nExecStart=/usr/bin/kubelet --resolv-conf=/outside-marker\n"),
		"kubelet.env":                 fifo(),
		"config.yaml":                 file("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nresolvConf: /outside-marker\n"),
		"unloop-etc":                  folder(),
		"journal":                     folder(),
		"unloop.lock":                 fifo(),
		"resolved.conf.d/evil.conf":   file("[Resolve]\nDNS=" + marker + "3\n"),
		"Corefile":                    file(".:53 {\n    bind " + marker + "4\n    forward . " + marker + "4\n}\n"),
	}
	return inside, outside
}

// hookFolderTree is fieldTree with the whole of /etc/dhcp behind a link
// climbing out of the root: the hook is written through it.
func hookFolderTree(out string) (inside, outside map[string]entry) {
	inside, outside = fieldTree(out)
	o := strings.TrimPrefix(out, "/")
	delete(inside, "etc/dhcp/dhclient.conf")
	delete(inside, "etc/dhcp/dhclient-enter-hooks.d/.keep")
	inside["etc/dhcp"] = link(escape(out + "/dhcp"))
	inside[o+"/dhcp/dhclient-enter-hooks.d/.keep"] = file("")
	return inside, outside
}

// stubTree is the stub case with resolved's files and drop-ins behind links
// that lead out of the root.
func stubTree(out string) (inside, outside map[string]entry) {
	o := strings.TrimPrefix(out, "/")
	stub := "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\nnameserver 127.0.0.53\noptions edns0 trust-ad\n"
	inside = map[string]entry{
		"etc/resolv.conf":                    link("../run/systemd/resolve/stub-resolv.conf"),
		"run/systemd/resolve":                link(escape(out + "/resolve")),
		o + "/resolve/stub-resolv.conf":      file(stub),
		o + "/resolve/resolv.conf":           file("# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).\nnameserver 10.0.0.2\n"),
		"etc/systemd/resolved.conf":          link("/proc/self/root" + out + "/resolved.conf"),
		"etc/systemd/resolved.conf.d":        link(out + "/resolved.conf.d"),
		o + "/resolved.conf.d/.keep":         file(""),
		"proc/self/root/" + o + "/.keep":     file(""),
		"usr/lib/systemd/systemd-resolved":   file(""),
		"var/lib/unloop":                     link(out + "/journal"),
		"run/unloop.lock":                    link(escape(out + "/unloop.lock")),
		"etc/systemd/system/kubelet.service": link(out + "/kubelet.service"),
		"etc/os-release":                     file("ID=ubuntu\n"), // a node's, though its kubelet is outside (DESIGN.md §2)
	}
	outside = map[string]entry{
		"resolve/stub-resolv.conf":  fifo(),
		"resolve/resolv.conf":       file("nameserver " + marker + "5\n"),
		"resolved.conf":             file("[Resolve]\nDNS=" + marker + "6\n"),
		"resolved.conf.d/evil.conf": file("[Resolve]\nDNS=" + marker + "7\n"),
		"journal":                   folder(),
		"unloop.lock":               fifo(),
		"kubelet.service":           fifo(),
	}
	return inside, outside
}

// snapshotCanaries describes everything under dir with its mtime, without
// reading a FIFO.
func snapshotCanaries(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	must(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v mtime %v", fi.Mode(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " " + string(data)
		}
		out[p] = desc
		return nil
	}))
	return out
}

// watcher records every inotify event on the folders of a tree: an open, a
// read, a listing, a write, a new or removed entry.
type watcher struct {
	fd    int
	names map[int]string
}

func watch(t *testing.T, dir string) *watcher {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	must(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	w := &watcher{fd: fd, names: map[int]string{}}
	must(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		wd, err := syscall.InotifyAddWatch(fd, p, syscall.IN_ALL_EVENTS)
		if err != nil {
			return fmt.Errorf("watching %s: %w", p, err)
		}
		w.names[wd] = p
		return nil
	}))
	w.events(t) // this walk's own listings
	return w
}

// events returns what happened since watch, one line an event.
func (w *watcher) events(t *testing.T) []string {
	t.Helper()
	time.Sleep(50 * time.Millisecond) // events are queued at once; be generous
	var out []string
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(w.fd, buf)
		if err == syscall.EAGAIN || n <= 0 {
			return out
		}
		must(t, err)
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := ""
			if ev.Len > 0 {
				raw := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
				name = string(bytes.TrimRight(raw, "\x00"))
			}
			out = append(out, fmt.Sprintf("%s %s: %s", w.names[int(ev.Wd)], name, inotifyMask(ev.Mask)))
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

func inotifyMask(m uint32) string {
	var s []string
	for _, b := range []struct {
		bit  uint32
		name string
	}{
		{syscall.IN_ACCESS, "read"}, {syscall.IN_MODIFY, "write"}, {syscall.IN_ATTRIB, "attrib"},
		{syscall.IN_CLOSE_WRITE, "close-write"}, {syscall.IN_CLOSE_NOWRITE, "close"}, {syscall.IN_OPEN, "open"},
		{syscall.IN_MOVED_FROM, "moved-from"}, {syscall.IN_MOVED_TO, "moved-to"}, {syscall.IN_CREATE, "create"},
		{syscall.IN_DELETE, "delete"}, {syscall.IN_ISDIR, "dir"},
	} {
		if m&b.bit != 0 {
			s = append(s, b.name)
		}
	}
	return strings.Join(s, ",")
}
