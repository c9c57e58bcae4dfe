package kubelet

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg/internal/parsetest"
	"github.com/unloop/unloop/hostcfg/unitfile"
)

// FuzzKubeletConfig reads any bytes as a KubeletConfiguration and, when they
// read, edits resolvConf: no panic, errors name the file, and an edit that
// succeeds reads back with the new value and is a no-op the second time.
func FuzzKubeletConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/kubelet-config/*.*")
	for _, p := range files {
		if strings.HasSuffix(p, ".golden") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "/run/systemd/resolve/resolv.conf")
	}
	f.Add([]byte("kind: KubeletConfiguration\nresolvConf: x\n"), "")
	f.Add([]byte("a: &a [*a]\n"), "/x")
	f.Add([]byte("resolvConf: \"\\u00e9\"\n"), "/é")
	f.Fuzz(func(t *testing.T, data []byte, value string) {
		kc, err := parseKubeletConfig("/k.yaml", data)
		if err != nil {
			parsetest.MustBeFileError(t, err)
			return
		}
		kc.resolvConf()
		for _, m := range kc.misspelled() {
			if m.Key == "resolvConf" {
				t.Fatalf("resolvConf taken for a near miss of itself")
			}
		}
		out, err := SetResolvConf("/k.yaml", data, value)
		if err != nil {
			parsetest.MustBeFileError(t, err)
			return
		}
		nk, err := parseKubeletConfig("/k.yaml", out)
		if err != nil {
			t.Fatalf("the edited file does not parse: %v\n%q", err, out)
		}
		if got, ok := nk.resolvConf(); !ok || got != value {
			t.Fatalf("the edited file sets %q (%v), not %q:\n%q", got, ok, value, out)
		}
		again, err := SetResolvConf("/k.yaml", out, value)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("a second edit is not a no-op (%v):\n%q\n%q", err, out, again)
		}
	})
}

// checkFlags checks every flag found against the bytes it points into, and
// that SetFlagValue on it gives a file that reads back with the new value.
func checkFlags(t *testing.T, data []byte, flags map[string]*Flag, reread func([]byte) map[string]*Flag) {
	t.Helper()
	for name, fl := range flags {
		if fl.ValueStart < 0 {
			continue
		}
		if fl.ValueEnd > len(data) || string(data[fl.ValueStart:fl.ValueEnd]) != fl.Value {
			t.Fatalf("--%s: bytes %d..%d are not %q", name, fl.ValueStart, fl.ValueEnd, fl.Value)
		}
		out, err := SetFlagValue(data, *fl, "/new/path")
		if err != nil {
			t.Fatalf("SetFlagValue on a literal value: %v", err)
		}
		if nf := reread(out)[name]; nf == nil || nf.Value != "/new/path" {
			t.Fatalf("after SetFlagValue --%s reads %+v\n%q", name, nf, out)
		}
	}
}

// FuzzSystemdEnvFile parses any bytes as an environment file and reads kubelet
// flags out of its variables, as when no unit is found.
func FuzzSystemdEnvFile(f *testing.F) {
	f.Add([]byte(`KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --resolv-conf=/run/systemd/resolve/resolv.conf"` + "\n"))
	f.Add([]byte("KUBELET_EXTRA_ARGS=--resolv-conf /etc/x --config=/c\n"))
	f.Add([]byte("KUBELET_ARGS=\"--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \\\n--config=/etc/kubernetes/kubelet-config.yaml \\\n \"\nPATH=/usr/bin\n"))
	f.Add([]byte("# c \\\nA='--resolv-conf=/a' ; x\r\nB=\"\\\"q\\\\\" --config \\$x\n"))
	f.Add([]byte("A=--resolv_conf=\n"))
	flags := func(data []byte) map[string]*Flag {
		files := &unitfile.Files{Paths: []string{"/e"}, Data: [][]byte{data}}
		var args []unitfile.Text
		for _, v := range unitfile.ParseEnvFile(0, data) {
			ws, _ := unitfile.SplitWords(v.Value, unitfile.WordRelax)
			args = append(args, ws...)
		}
		return kubeletFlags(args, files)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range unitfile.ParseEnvFile(0, data) {
			if !validEnvName(v.Name) || v.Line < 1 {
				t.Fatalf("bad variable %q at line %d", v.Name, v.Line)
			}
			checkSrc(t, data, v.Value)
		}
		checkFlags(t, data, flags(data), flags)
	})
}

// FuzzKubeletUnit parses any bytes as a kubelet unit and reads its flags the
// way Discover does (Environment= only: the file is alone).
func FuzzKubeletUnit(f *testing.F) {
	f.Add([]byte("[Service]\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_CONFIG_ARGS --resolv-conf=/r\n"))
	f.Add([]byte("[Service]\nExecStart=/usr/local/bin/kubelet \\\n\t\t$KUBE_LOG_LEVEL \\\n# c\n\t\t--resolv-conf /x ; /bin/true\n"))
	f.Add([]byte("[Service]\nEnvironment=A=/a B=${A}\nExecStart=-@:/bin/k k --config=${A} --resolv-conf=\"/q u\" \\x41\n"))
	flags := func(data []byte) map[string]*Flag {
		files := &unitfile.Files{Paths: []string{"/u"}, Data: [][]byte{data}}
		env := map[string]unitfile.Text{}
		var cmds []unitfile.Command
		for _, a := range unitfile.Parse(0, data) {
			switch a.Key {
			case "ExecStart":
				if len(a.Value) == 0 {
					cmds = nil
				}
				cmds = append(cmds, unitfile.ParseExecStart(a.Value, a.Line)...)
			case "Environment":
				for _, v := range unitfile.ParseEnvironment(a.Value, a.Line) {
					env[v.Name] = v.Value
				}
			}
		}
		if len(cmds) == 0 {
			return nil
		}
		c := cmds[len(cmds)-1]
		args := c.Args
		if !c.NoEnv {
			args = unitfile.ExpandArgv(args, env)
		}
		return kubeletFlags(args, files)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, a := range unitfile.Parse(0, data) {
			checkSrc(t, data, a.Value)
			for _, c := range unitfile.ParseExecStart(a.Value, a.Line) {
				for _, w := range append([]unitfile.Text{c.Path}, c.Args...) {
					checkSrc(t, data, w)
				}
			}
		}
		checkFlags(t, data, flags(data), flags)
	})
}

// checkSrc makes sure every literal byte of s is at its offset in data.
func checkSrc(t *testing.T, data []byte, s unitfile.Text) {
	t.Helper()
	for _, c := range s {
		if c.Off < 0 || c.Off >= len(data) {
			t.Fatalf("offset %d out of range", c.Off)
		}
		if c.Lit && data[c.Off] != c.C {
			t.Fatalf("byte at %d is %q, the value says %q", c.Off, data[c.Off], c.C)
		}
	}
}

// validEnvName is a shell variable's name, the only names systemd passes on.
var validEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString
