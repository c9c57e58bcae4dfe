package unitfile

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseUnitFile(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string // "LINE Key=value"
	}{{
		name: "sections: only [Service] counts",
		data: "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/a\n[Install]\nExecStart=/bin/b\n",
		want: []string{"4 ExecStart=/bin/a"},
	}, {
		name: "blanks around key and value are stripped",
		data: "[Service]\n   Environment  =   A=1 B=2   \n",
		want: []string{"2 Environment=A=1 B=2"},
	}, {
		name: "continuation: the backslash becomes a blank, comments inside are skipped",
		data: "[Service]\nExecStart=/bin/k \\\n# a comment\n  --a=1 \\\n; another\n  --b=2\nX=y\n",
		want: []string{"2 ExecStart=/bin/k    --a=1    --b=2", "7 X=y"},
	}, {
		name: "an escaped backslash does not continue; an empty line ends a continuation",
		data: "[Service]\nA=x\\\\\nB=y \\\n\nC=z\n",
		want: []string{`2 A=x\\`, "3 B=y", "5 C=z"},
	}, {
		name: "a continuation at the end of the file",
		data: "[Service]\nA=x \\",
		want: []string{"2 A=x"},
	}, {
		name: "CRLF, CR and NUL end lines; a byte order mark is skipped",
		data: "\uFEFF[Service]\r\nA=1\rB=2\x00C=3",
		want: []string{"2 A=1", "3 B=2", "4 C=3"},
	}, {
		name: "lines without = and a broken section header are ignored",
		data: "[Service]\njunk\n=novalue\nA=1\n[Service\nB=2\n",
		want: []string{"4 A=1"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, a := range Parse(0, []byte(tc.data)) {
				got = append(got, strconv.Itoa(a.Line)+" "+a.Key+"="+a.Value.String())
				checkSrc(t, []byte(tc.data), a.Value)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// checkSrc makes sure every literal byte of s is at its offset in data.
func checkSrc(t *testing.T, data []byte, s Text) {
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

func unitText(s string) Text {
	out := make(Text, len(s))
	for i := range s {
		out[i] = Byte{C: s[i], Off: i, Lit: true}
	}
	return out
}

func words(ws []Text) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

func TestParseExecStart(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  [][]string // per command: path, args...
		noEnv []bool
	}{
		{"plain", "/usr/bin/kubelet --a=1 --b 2", [][]string{{"/usr/bin/kubelet", "--a=1", "--b", "2"}}, []bool{false}},
		{"quotes anywhere in a word", `/bin/k "--a=x y" --b='p q'r`, [][]string{{"/bin/k", "--a=x y", "--b=p qr"}}, []bool{false}},
		{"C escapes", `/bin/k --a=\x41\t\\ --b=\q`, [][]string{{"/bin/k", "--a=A\t\\", `--b=\q`}}, []bool{false}},
		{"prefixes", `-@:/bin/k argv0 --a`, [][]string{{"/bin/k", "--a"}}, []bool{true}},
		{"+ and ! prefixes", `+!/bin/k --a`, [][]string{{"/bin/k", "--a"}}, []bool{false}},
		{"; separates commands, \\; is an argument", `/bin/a x ; /bin/b \; y`, [][]string{{"/bin/a", "x"}, {"/bin/b", ";", "y"}}, []bool{false, false}},
		{"%% is %", `/bin/k --a=50%%`, [][]string{{"/bin/k", "--a=50%"}}, []bool{false}},
		{"unbalanced quote: systemd ignores the line", `/bin/k "--a=1`, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmds := ParseExecStart(unitText(tc.value), 1)
			var got [][]string
			var noEnv []bool
			for _, c := range cmds {
				got = append(got, append([]string{c.Path.String()}, words(c.Args)...))
				noEnv = append(noEnv, c.NoEnv)
			}
			if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(noEnv, tc.noEnv) {
				t.Errorf("got %q %v, want %q %v", got, noEnv, tc.want, tc.noEnv)
			}
		})
	}
}

func TestParseSystemdEnvFile(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string // "LINE NAME=value"
	}{
		{"kubeadm-flags.env", `KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.9"` + "\n",
			[]string{"1 KUBELET_KUBEADM_ARGS=--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.9"}},
		{"empty and unquoted", "KUBELET_EXTRA_ARGS=\nB=x y  \n", []string{"1 KUBELET_EXTRA_ARGS=", "2 B=x y"}},
		{"double quotes over lines, continuation eaten", "A=\"one \\\ntwo\nthree\"\nB=1\n", []string{"1 A=one two\nthree", "4 B=1"}},
		{"escapes in double quotes", `A="\"\\\$\` + "`" + `\n"`, []string{"1 A=\"\\$`\\n"}},
		{"single quotes are literal", `A='a\b "c"'`, []string{`1 A=a\b "c"`}},
		{"unquoted escapes and continuation", "A=a\\ b\\\nc\n", []string{"1 A=a bc"}},
		{"quotes glue to what follows; later quotes are literal", `A="a b"c 'd'`, []string{"1 A=a bc 'd'"}},
		{"blanks between quoted parts vanish", `A="a" 'b'`, []string{"1 A=ab"}},
		{"comments and blank keys", "# c\n; c\n  \n   B = 2\n", []string{"4 B=2"}},
		{"a comment continued by a backslash stays a comment to its end", "# c \\\nA=1\n", []string{"2 A=1"}},
		{"invalid names are dropped, export too", "1A=x\nexport B=y\nC-D=z\nE=ok\n", []string{"4 E=ok"}},
		{"a key without = is dropped", "JUSTKEY\nA=1", []string{"2 A=1"}},
		{"CRLF", "A=1\r\nB=\"2\"\r\n", []string{"1 A=1", "2 B=2"}},
		{"an unterminated quote runs to the end", `A="abc`, []string{"1 A=abc"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range ParseEnvFile(0, []byte(tc.data)) {
				got = append(got, strconv.Itoa(v.Line)+" "+v.Name+"="+v.Value.String())
				checkSrc(t, []byte(tc.data), v.Value)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestParseUnitEnvironment(t *testing.T) {
	got := map[string]string{}
	for _, v := range ParseEnvironment(unitText(`"A=x y" B='1 2' C=3 not-valid=4 D="a\tb" =5 E`), 1) {
		got[v.Name] = v.Value.String()
	}
	want := map[string]string{"A": "x y", "B": "1 2", "C": "3", "D": "a\tb"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestUnitExpandArgv(t *testing.T) {
	env := map[string]Text{
		"ARGS":  unitText(`--a=1 "--b=x y" --c`),
		"ONE":   unitText("/p"),
		"EMPTY": unitText(""),
	}
	tests := []struct {
		argv string
		want []string
	}{
		{"$ARGS", []string{"--a=1", "--b=x y", "--c"}},
		{"${ARGS}", []string{`--a=1 "--b=x y" --c`}},
		{"--x=${ONE}/q", []string{"--x=/p/q"}},
		{"--x=$ONE", []string{"--x=$ONE"}},
		{"$UNSET $EMPTY ${UNSET}", []string{""}},
		{"$$ONE a$$b", []string{"$ONE", "a$b"}},
		{"${ONE:-x} ${ONE", []string{"${ONE:-x}", "${ONE"}},
		{"$", nil},
	}
	for _, tc := range tests {
		t.Run(tc.argv, func(t *testing.T) {
			var argv []Text
			for _, w := range strings.Fields(tc.argv) {
				argv = append(argv, unitText(w))
			}
			got := words(ExpandArgv(argv, env))
			if len(got) == 0 && tc.want == nil {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
