package reliability

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
)

// hostileDir is the corpus: one folder per kind of input, named for it.
var hostileDir = filepath.Join("..", "..", "hostcfg", "testdata", "hostile")

// hostilePlaces is where each kind of input goes in the base tree.
var hostilePlaces = map[string]string{
	"resolv.conf":    "/etc/resolv.conf",
	"resolved.conf":  "/etc/systemd/resolved.conf",
	"kubelet-config": "/var/lib/kubelet/config.yaml",
	"kubelet-env":    "/etc/default/kubelet",
	"kubelet-unit":   "/etc/systemd/system/kubelet.service",
	"dhclient.conf":  "/etc/dhcp/dhclient.conf",
	"dhclient-lease": "/var/lib/dhclient/dhclient--eth0.lease",
	"Corefile":       "/etc/coredns/Corefile",
}

// hostileWant is what unloop must make of one hostile input.
type hostileWant struct {
	// check is check's exit status: 1 unreadable (apply must refuse and
	// write nothing), or 2 when the input is valid and the base tree's loop
	// is found (apply must then fix it: exit 0 and a clean check).
	check int
	// where is the file (and line) the unreadable finding must name.
	where string
	// kubelet, when set, is what apply --strategy kubelet (which edits the
	// kubelet config) must do: "fixes" (exit 0, then a clean check) or
	// "refuses" (exit 1 naming where, nothing written).
	kubelet string
	// refusal is what the refusal must say, when not "where:".
	refusal string
}

// hostileCorpus is the expectation for every file of the corpus; a file
// without one fails the test.
var hostileCorpus = map[string]hostileWant{
	"Corefile/binary-junk":        {check: 1, where: "/etc/coredns/Corefile:1"},
	"Corefile/deep-braces":        {check: 2},
	"Corefile/env-placeholder":    {check: 2},
	"Corefile/import":             {check: 2},
	"Corefile/non-utf8":           {check: 1, where: "/etc/coredns/Corefile:3"},
	"Corefile/pillar-template":    {check: 2},
	"Corefile/snippet-recursion":  {check: 2},
	"Corefile/unbalanced-close":   {check: 1, where: "/etc/coredns/Corefile:4"},
	"Corefile/unbalanced-open":    {check: 1, where: "/etc/coredns/Corefile:1"},
	"Corefile/unterminated-quote": {check: 1, where: "/etc/coredns/Corefile:1"},

	"dhclient.conf/bad-address":         {check: 1, where: "/etc/dhcp/dhclient.conf:1"},
	"dhclient.conf/binary-junk":         {check: 1, where: "/etc/dhcp/dhclient.conf:1"},
	"dhclient.conf/nested-deep":         {check: 2},
	"dhclient.conf/no-semicolon":        {check: 1, where: "/etc/dhcp/dhclient.conf:1"},
	"dhclient.conf/non-utf8":            {check: 1, where: "/etc/dhcp/dhclient.conf:2"},
	"dhclient.conf/shell-metachars":     {check: 2},
	"dhclient.conf/unbalanced-braces":   {check: 1, where: "/etc/dhcp/dhclient.conf:1"},
	"dhclient.conf/unterminated-string": {check: 1, where: "/etc/dhcp/dhclient.conf:1"},

	"kubelet-config/anchor-alias.yaml":          {check: 2, kubelet: "fixes"},
	"kubelet-config/billion-laughs.yaml":        {check: 2, kubelet: "refuses", where: "/var/lib/kubelet/config.yaml"},
	"kubelet-config/binary-junk.yaml":           {check: 1, where: "/var/lib/kubelet/config.yaml"},
	"kubelet-config/deep-nesting.yaml":          {check: 2, kubelet: "fixes"},
	"kubelet-config/duplicate-keys.yaml":        {check: 2, kubelet: "refuses", where: "/var/lib/kubelet/config.yaml:3"},
	"kubelet-config/json.yaml":                  {check: 2, kubelet: "fixes"},
	"kubelet-config/merge-key.yaml":             {check: 2, kubelet: "fixes"},
	"kubelet-config/misspelled-key.yaml":        {check: 2, kubelet: "fixes"},
	"kubelet-config/multi-doc.yaml":             {check: 1, where: "/var/lib/kubelet/config.yaml:4"},
	"kubelet-config/non-utf8.yaml":              {check: 1, where: "/var/lib/kubelet/config.yaml"},
	"kubelet-config/not-a-mapping.yaml":         {check: 1, where: "/var/lib/kubelet/config.yaml:1"},
	"kubelet-config/resolvconf-not-string.yaml": {check: 1, where: "/var/lib/kubelet/config.yaml:4"},
	"kubelet-config/tabs.yaml":                  {check: 1, where: "/var/lib/kubelet/config.yaml:5"},
	"kubelet-config/unclosed-quote.yaml":        {check: 1, where: "/var/lib/kubelet/config.yaml:3"},
	"kubelet-config/wrong-kind.yaml":            {check: 1, where: "/var/lib/kubelet/config.yaml:2"},

	// systemd reads env files leniently (a line it can't parse is skipped
	// with a log message), and so does unloop: never unreadable.
	"kubelet-env/binary-junk":         {check: 2},
	"kubelet-env/continuation":        {check: 2},
	"kubelet-env/continuation-at-eof": {check: 2},
	"kubelet-env/export-and-comments": {check: 2},
	"kubelet-env/non-utf8":            {check: 2},
	"kubelet-env/quotes":              {check: 2},
	// --resolv-conf=$(touch: systemd splits $VAR at spaces, so kubelet would
	// get that very path, which does not exist; the kubelet strategy
	// replaces just that word.
	"kubelet-env/shell-metachars":    {check: 2},
	"kubelet-env/unterminated-quote": {check: 2},

	// A nameserver value that is no address is the warning nameserver-invalid
	// (glibc skips the line, kubelet passes it on): the file is read, and the
	// node's own loop (dhclient's) is still found.
	"resolv.conf/bad-address":      {check: 2},
	"resolv.conf/binary-junk":      {check: 1, where: "/etc/resolv.conf:1"},
	"resolv.conf/crlf-bom":         {check: 2}, // the BOM line is no nameserver line, for CoreDNS either
	"resolv.conf/empty":            {check: 2},
	"resolv.conf/long-line":        {check: 1, where: "/etc/resolv.conf:2"},
	"resolv.conf/many-nameservers": {check: 2},
	"resolv.conf/no-newline-tabs":  {check: 2},
	"resolv.conf/non-utf8":         {check: 1, where: "/etc/resolv.conf:2"},
	"resolv.conf/nul-bytes":        {check: 1, where: "/etc/resolv.conf:1"},
	"resolv.conf/shell-metachars":  {check: 2},

	"resolved.conf/bad-address":          {check: 1, where: "/etc/systemd/resolved.conf:2"},
	"resolved.conf/binary-junk":          {check: 1, where: "/etc/systemd/resolved.conf:1"},
	"resolved.conf/continuation":         {check: 2},
	"resolved.conf/no-section":           {check: 2},
	"resolved.conf/non-utf8":             {check: 1, where: "/etc/systemd/resolved.conf:2"},
	"resolved.conf/unterminated-section": {check: 1, where: "/etc/systemd/resolved.conf:1"},
}

// TestHostileInput puts each file of the corpus at its place in a node tree
// that loops, and runs the real binary: check and apply never panic and never
// hang; input that can't be read is an `unreadable` finding naming the file
// and line, exit 1, and apply writes nothing at all; input that is valid
// (however odd) leaves unloop doing its job.
func TestHostileInput(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(hostileDir, "*", "*"))
	if err != nil || len(files) < 40 {
		t.Fatalf("the hostile corpus has %d files (%v)", len(files), err)
	}
	for _, f := range files {
		rel := filepath.ToSlash(strings.TrimPrefix(f, hostileDir+string(filepath.Separator)))
		want, ok := hostileCorpus[rel]
		if !ok {
			t.Errorf("%s: no expectation in hostileCorpus", rel)
			continue
		}
		place, ok := hostilePlaces[path.Dir(rel)]
		if !ok {
			t.Errorf("%s: no place for %q inputs", rel, path.Dir(rel))
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(rel, func(t *testing.T) {
			testHostile(t, want, func(dir string) { writeAt(t, dir, place, data, 0o644) })
		})
	}
}

// TestHostileFiles puts things that are not configuration files where
// configuration files go: FIFOs (a read would hang the boot), links to
// /dev/zero (endless), link loops, 100 MB sparse files, folders; and valid
// kubelet configs of 2 and 3 MB (near the size limit: they must stay quick).
func TestHostileFiles(t *testing.T) {
	type kind struct {
		name string
		make func(t *testing.T, hp string)
	}
	kinds := []kind{
		{"fifo", func(t *testing.T, hp string) { must(t, syscall.Mkfifo(hp, 0o644)) }},
		{"dev-zero", func(t *testing.T, hp string) { must(t, os.Symlink("/dev/zero", hp)) }},
		{"link-loop", func(t *testing.T, hp string) { must(t, os.Symlink(filepath.Base(hp), hp)) }},
		{"100MB", func(t *testing.T, hp string) {
			must(t, os.WriteFile(hp, nil, 0o644))
			must(t, os.Truncate(hp, 100<<20))
		}},
		{"folder", func(t *testing.T, hp string) { must(t, os.Mkdir(hp, 0o755)) }},
	}
	// A link to /dev/zero is a link to the root's /dev/zero, which is not
	// there: the input is absent, as on a node where the file is missing.
	absent := hostileWant{check: 2}
	for _, place := range []string{"resolv.conf", "resolved.conf", "kubelet-config", "kubelet-env", "kubelet-unit", "dhclient.conf", "dhclient-lease", "Corefile"} {
		p := hostilePlaces[place]
		for _, k := range kinds {
			want := hostileWant{check: 1, where: p}
			if k.name == "dev-zero" {
				want = absent
			}
			t.Run(place+"/"+k.name, func(t *testing.T) {
				testHostile(t, want, func(dir string) {
					hp := filepath.Join(dir, p)
					must(t, os.RemoveAll(hp))
					must(t, os.MkdirAll(filepath.Dir(hp), 0o755))
					k.make(t, hp)
				})
			})
		}
	}
	bigConfig := func(size int) []byte {
		var b strings.Builder
		b.WriteString("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nresolvConf: /etc/resolv.conf\nfeatureGates:\n")
		for i := 0; b.Len() < size; i++ {
			fmt.Fprintf(&b, "  Gate%07d: true\n", i)
		}
		return []byte(b.String())
	}
	// Over the 256 KiB unloop parses in a KubeletConfiguration (real ones
	// are a few KB; a parse costs ~40 times the size in memory, and apply
	// stays within 30 MB): unreadable, named, nothing written.
	t.Run("kubelet-config/300KB", func(t *testing.T) {
		testHostile(t, hostileWant{check: 1, where: hostilePlaces["kubelet-config"]}, func(dir string) {
			writeAt(t, dir, hostilePlaces["kubelet-config"], bigConfig(300<<10), 0o644)
		})
	})
	// Over the 1 MiB any node file may have.
	t.Run("kubelet-config/2MB", func(t *testing.T) {
		testHostile(t, hostileWant{check: 1, where: hostilePlaces["kubelet-config"]}, func(dir string) {
			writeAt(t, dir, hostilePlaces["kubelet-config"], bigConfig(2<<20), 0o644)
		})
	})
	// At the limit the kubelet config is read and fixed.
	t.Run("kubelet-config/250KB", func(t *testing.T) {
		testHostile(t, hostileWant{check: 2, kubelet: "fixes"}, func(dir string) {
			writeAt(t, dir, hostilePlaces["kubelet-config"], bigConfig(250<<10), 0o644)
		})
	})
	t.Run("resolv.conf/5MB", func(t *testing.T) {
		data := []byte(strings.Repeat("nameserver 10.0.0.2\n", 5<<20/20+1))
		testHostile(t, hostileWant{check: 1, where: "/etc/resolv.conf"}, func(dir string) {
			writeAt(t, dir, "/etc/resolv.conf", data, 0o644)
		})
	})
}

// TestHostileNames: file names with newlines in them (a drop-in folder is
// read whole, whatever its files are called). JSON names the file exactly.
func TestHostileNames(t *testing.T) {
	name := "/etc/systemd/resolved.conf.d/evil\nERROR   nameserver-resolved-stub  forged:1  127.0.0.53\n.conf"
	t.Run("unreadable", func(t *testing.T) {
		testHostile(t, hostileWant{check: 1, where: name + ":2"}, func(dir string) {
			writeAt(t, dir, name, []byte("[Resolve]\nDNS=\xff\n"), 0o644)
		})
	})
	t.Run("valid", func(t *testing.T) {
		testHostile(t, hostileWant{check: 2}, func(dir string) {
			writeAt(t, dir, name, []byte("[Resolve]\nDNS=169.254.25.10\n"), 0o644)
		})
	})
}

// testHostile runs check and apply on the base tree with one input made
// hostile by place, and holds them to want.
func testHostile(t *testing.T, want hostileWant, place func(dir string)) {
	t.Helper()
	dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "hostile-base.txtar"))
	place(dir)
	before := hostcfgtest.State(t, dir, func(rel string) bool { return rel == "run/unloop.lock" })

	r := quick(t, run(t, unloopBin(), nil, "check", "--root", dir, "--offline", "--output", "json"))
	if r.Code != want.check {
		t.Fatalf("check: want exit %d: %s", want.check, r)
	}
	var rep struct {
		Findings []struct {
			Code, File string
			Line       int
			Message    string
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("check's JSON: %v\n%s", err, r.Stdout)
	}
	var unreadable []string
	for _, f := range rep.Findings {
		if f.Code == "unreadable" {
			where := f.File
			if f.Line > 0 {
				where = fmt.Sprintf("%s:%d", f.File, f.Line)
			}
			unreadable = append(unreadable, where)
			if f.File == "" {
				t.Errorf("an unreadable finding names no file: %s", f.Message)
			}
		}
	}
	if want.check == 1 {
		if len(unreadable) != 1 || unreadable[0] != want.where {
			t.Fatalf("unreadable findings at %q, want one at %q\n%s", unreadable, want.where, r.Stdout)
		}
	} else if len(unreadable) > 0 {
		t.Fatalf("unreadable findings at %q, want none", unreadable)
	}
	text := quick(t, run(t, unloopBin(), nil, "check", "--root", dir, "--offline"))
	if text.Code != want.check {
		t.Fatalf("check (text): want exit %d: %s", want.check, text)
	}
	// A name with a newline must not forge a line of the text report.
	if strings.Contains("\n"+text.Stdout, "\nERROR   nameserver-resolved-stub  forged:1") {
		t.Errorf("a file name forged a finding in the text output:\n%s", text.Stdout)
	}

	switch want.kubelet {
	case "refuses":
		r := quick(t, run(t, unloopBin(), nil, "apply", "--root", dir, "--offline", "--strategy", "kubelet"))
		refusal := want.refusal
		if refusal == "" {
			refusal = want.where + ":"
		}
		if r.Code != 1 || !strings.Contains(r.Stderr, refusal) {
			t.Fatalf("apply --strategy kubelet: want exit 1 saying %q: %s", refusal, r)
		}
		unchanged(t, dir, before)
	case "fixes":
		kdir := copyTree(t, dir)
		r := quick(t, run(t, unloopBin(), nil, "apply", "--root", kdir, "--offline", "--strategy", "kubelet"))
		if !fixedCode(r.Code) {
			t.Fatalf("apply --strategy kubelet: %s", r)
		}
		if r := quick(t, run(t, unloopBin(), nil, "check", "--root", kdir, "--offline")); r.Code != 0 {
			t.Fatalf("check after apply --strategy kubelet: %s", r)
		}
	}

	r = quick(t, run(t, unloopBin(), nil, "apply", "--root", dir, "--offline"))
	switch want.check {
	case 1:
		if r.Code != 1 || !strings.Contains(r.Stderr, "nothing was changed") {
			t.Fatalf("apply on unreadable input: want exit 1 and nothing changed: %s", r)
		}
		unchanged(t, dir, before)
		if _, err := os.Lstat(filepath.Join(dir, "var/lib/unloop")); err == nil {
			t.Fatal("apply refused, but journaled a run")
		}
	default:
		if !fixedCode(r.Code) {
			t.Fatalf("apply: %s", r)
		}
		if r := quick(t, run(t, unloopBin(), nil, "check", "--root", dir, "--offline")); r.Code != 0 {
			t.Fatalf("check after apply: %s", r)
		}
	}
}

// quick fails on a panic and on a run slow enough to matter at boot.
func quick(t *testing.T, r result) result {
	t.Helper()
	if strings.Contains(r.Stderr, "panic:") || strings.Contains(r.Stderr, "goroutine ") {
		t.Fatalf("unloop panicked: %s", r)
	}
	if r.Dur > 5*time.Second {
		t.Fatalf("took %v", r.Dur)
	}
	return r
}

// unchanged fails unless the tree is exactly as before (every file, link and
// mode; only the lock file may have appeared).
func unchanged(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := hostcfgtest.State(t, dir, func(rel string) bool { return rel == "run/unloop.lock" })
	if d := diffStates(after, before); d != "" {
		t.Fatalf("apply refused but wrote:\n%s", d)
	}
}

// writeAt writes data at the node path p of the tree dir, replacing what is there.
func writeAt(t *testing.T, dir, p string, data []byte, mode fs.FileMode) {
	t.Helper()
	hp := filepath.Join(dir, p)
	must(t, os.MkdirAll(filepath.Dir(hp), 0o755))
	must(t, os.RemoveAll(hp))
	must(t, os.WriteFile(hp, data, mode))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
