package corefile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy/caddyfile"
	"github.com/rogpeppe/go-internal/txtar"

	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/internal/parsetest"
)

var corefileTestTargets = []string{"192.0.2.1", "192.0.2.2:5353"}

// corefileReport is what the golden file of a Corefile holds: the parse (or
// its error) and, for every forward, the file with its targets replaced.
func corefileReport(t *testing.T, path string, data []byte) []byte {
	ar := &txtar.Archive{}
	cf, err := Parse(path, data)
	if err != nil {
		ar.Files = append(ar.Files, txtar.File{Name: "error", Data: []byte(err.Error() + "\n")})
		return txtar.Format(ar)
	}
	js, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	ar.Files = append(ar.Files, txtar.File{Name: "parse.json", Data: append(js, '\n')})
	n := 0
	for _, sb := range cf.Servers {
		for _, fw := range sb.Forwards {
			n++
			name := fmt.Sprintf("forward %d (line %d) to %s", n, fw.Line, strings.Join(corefileTestTargets, " "))
			out, err := ReplaceTargets(path, data, fw, corefileTestTargets)
			if err != nil {
				out = []byte("error: " + err.Error() + "\n")
			}
			ar.Files = append(ar.Files, txtar.File{Name: name, Data: out})
		}
	}
	return txtar.Format(ar)
}

func TestParseCorefileGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.Corefile")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) < 15 {
		t.Fatalf("only %d inputs in testdata", len(inputs))
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			parsetest.Golden(t, strings.TrimSuffix(in, ".Corefile")+".golden", corefileReport(t, "/etc/coredns/Corefile", data))
			checkCorefileTokens(t, data)
		})
	}
}

// checkCorefileTokens checks the offsets of every token against the bytes:
// in order, on the right line, and spelling the token (for plain words).
func checkCorefileTokens(t *testing.T, data []byte) {
	t.Helper()
	toks, err := lexCorefile("/c", data)
	if err != nil {
		return
	}
	last := 0
	for _, tk := range toks {
		if tk.Offset < last || tk.End < tk.Offset || tk.End > len(data) {
			t.Fatalf("token %q at %d..%d after %d (file of %d bytes)", tk.Text, tk.Offset, tk.End, last, len(data))
		}
		last = tk.End
		raw := string(data[tk.Offset:tk.End])
		if !strings.HasPrefix(raw, `"`) && !strings.Contains(raw, "\r") && raw != tk.Text {
			t.Errorf("token %q is written %q", tk.Text, raw)
		}
		if got := conffile.LineOfOffset(data, tk.Offset); got != tk.Line {
			t.Errorf("token %q is on line %d, the lexer says %d", tk.Text, got, tk.Line)
		}
	}
}

// TestParseCorefileAgreesWithCaddy parses the golden inputs that need no import
// with caddy's own parser: the server keys must be the same, and a file caddy
// refuses must be refused here too.
func TestParseCorefileAgreesWithCaddy(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/*.Corefile")
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("import")) || bytes.Contains(data, []byte("{$")) || bytes.Contains(data, []byte("{%")) {
			continue
		}
		t.Run(filepath.Base(in), func(t *testing.T) { compareWithCaddy(t, data) })
	}
}

func compareWithCaddy(t *testing.T, data []byte) {
	t.Helper()
	ours, ourErr := Parse("/c", data)
	theirs, theirErr := caddyfile.Parse("/c", bytes.NewReader(data), nil)
	if theirErr != nil {
		if ourErr == nil {
			t.Errorf("caddy refuses the file (%v), Parse accepts it", theirErr)
		}
		return
	}
	if ourErr != nil {
		return // stricter on purpose: a stray }, control bytes, a forward without target
	}
	var ourKeys, theirKeys [][]string
	for _, sb := range ours.Servers {
		ourKeys = append(ourKeys, sb.Keys)
	}
	for _, sb := range theirs {
		theirKeys = append(theirKeys, sb.Keys)
	}
	if !reflect.DeepEqual(ourKeys, theirKeys) {
		t.Errorf("keys %q, caddy says %q", ourKeys, theirKeys)
	}
	for i, sb := range theirs {
		if i >= len(ours.Servers) {
			break
		}
		var fw []string
		for _, tk := range sb.Tokens["forward"] {
			fw = append(fw, tk.Text)
		}
		var ourFw []string
		for _, f := range ours.Servers[i].Forwards {
			ourFw = append(ourFw, "forward", f.From)
			for _, tk := range f.To {
				ourFw = append(ourFw, tk.Text)
			}
		}
		// caddy's tokens of a directive include its block; ours stop before it.
		if len(ourFw) > len(fw) || !reflect.DeepEqual(ourFw, fw[:len(ourFw)]) && !strings.Contains(strings.Join(fw, " "), "{") {
			t.Errorf("server %d: forwards %q, caddy's tokens %q", i, ourFw, fw)
		}
	}
}

func TestParseCorefile(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string // servers as "KEYS port=P binds=... loop reload fwd=FROM>TO,TO"
	}{
		{"default port", ". {\n}\n", ". port=53"},
		{"ports from keys and transports", "a:1053 b {\n}\ntls://. {\n}\ngrpc://.:5443 {\n}\n",
			"a:1053,b port=1053,53 | tls://. port=853 | grpc://.:5443 port=5443"},
		{"binds, loop and reload at the top level only", ".:53 {\n  bind lo 169.254.25.10\n  bind eth0 { except 10.0.0.1 }\n  hosts {\n    reload 1s\n  }\n  loop\n}\n",
			".:53 port=53 binds=lo,169.254.25.10,eth0 loop"},
		{"several forwards", ".:53 {\n  forward example.org 10.0.0.1\n  forward . /etc/resolv.conf 1.1.1.1:53\n  reload\n}\n",
			".:53 port=53 reload fwd=example.org>10.0.0.1 fwd=.>/etc/resolv.conf,1.1.1.1:53"},
		{"a block opened on the next line belongs to the directive", ".:53 {\n  forward . 1.1.1.1\n  {\n    force_tcp\n  }\n  loop\n}\n",
			".:53 port=53 loop fwd=.>1.1.1.1"},
		{"keys over lines with commas", "a.example,\n  b.example:54 {\n}\n", "a.example,b.example:54 port=53,54"},
		{"an empty file", "", ""},
		{"comments only", "# nothing\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cf, err := Parse("/c", []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, sb := range cf.Servers {
				s := strings.Join(sb.Keys, ",") + " port=" + strings.Join(sb.Ports, ",")
				if sb.Port != sb.Ports[0] {
					t.Errorf("Port %q is not the first key's %q", sb.Port, sb.Ports[0])
				}
				var binds []string
				for _, b := range sb.Binds {
					binds = append(binds, b.Text)
				}
				if len(binds) > 0 {
					s += " binds=" + strings.Join(binds, ",")
				}
				if sb.Loop {
					s += " loop"
				}
				if sb.Reload {
					s += " reload"
				}
				for _, f := range sb.Forwards {
					var to []string
					for _, tk := range f.To {
						to = append(to, tk.Text)
					}
					s += " fwd=" + f.From + ">" + strings.Join(to, ",")
				}
				got = append(got, s)
			}
			if g := strings.Join(got, " | "); g != tc.want {
				t.Errorf("got  %s\nwant %s", g, tc.want)
			}
			checkCorefileTokens(t, []byte(tc.data))
		})
	}
}

func TestReplaceCorefileTargets(t *testing.T) {
	data := []byte(".:53 {\n    forward . 169.254.25.10 /etc/resolv.conf { # upstreams\n        max_fails 2\n    }\n    forward example.org 127.0.0.1\n}\n")
	cf, err := Parse("/c", data)
	if err != nil {
		t.Fatal(err)
	}
	fws := cf.Servers[0].Forwards
	// Both forwards, from the end of the file backwards, as the plan does.
	out, err := ReplaceTargets("/c", data, fws[1], []string{"10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	out, err = ReplaceTargets("/c", out, fws[0], []string{"192.0.2.1", "192.0.2.2"})
	if err != nil {
		t.Fatal(err)
	}
	want := ".:53 {\n    forward . 192.0.2.1 192.0.2.2 { # upstreams\n        max_fails 2\n    }\n    forward example.org 10.0.0.1\n}\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}

	for _, tc := range []struct {
		name    string
		data    []byte
		fw      Forward
		targets []string
		words   string
	}{
		{"no targets", data, fws[0], nil, "without targets"},
		{"a target with a blank", data, fws[0], []string{"1.1.1.1 8.8.8.8"}, "one word"},
		{"a target with a brace", data, fws[0], []string{"1.1.1.1}"}, "one word"},
		{"a target with a quote", data, fws[0], []string{`"1.1.1.1`}, "one word"},
		{"a target that is a comment", data, fws[0], []string{"#x"}, "one word"},
		{"the file changed", bytes.Replace(data, []byte("169.254.25.10"), []byte("169.254.20.10"), 1), fws[0], []string{"1.1.1.1"}, "changed"},
		{"the file moved", append([]byte("\n"), data...), fws[0], []string{"1.1.1.1"}, "changed"},
		{"a forward of another file", data, Forward{From: ".", Line: 9, To: []Token{{Text: "x", Line: 9, Offset: 1, End: 2}}}, []string{"1.1.1.1"}, "changed"},
		{"a forward without targets", data, Forward{From: ".", Line: 2}, []string{"1.1.1.1"}, "no targets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReplaceTargets("/c", tc.data, tc.fw, tc.targets)
			parsetest.WantFileError(t, err, "/c", 0, tc.words)
		})
	}
}

// FuzzCorefile parses any bytes as a Corefile: no panic, errors name the file,
// token offsets hold, and replacing a forward's targets changes just those.
func FuzzCorefile(f *testing.F) {
	parsetest.AddSeeds(f, "testdata/*.Corefile",
		".:53 {\n forward . 1.1.1.1\n}\n",
		"a,\nb {\n  forward . \"x y\"#c d\n}\n",
		"(s) {\n forward . 1.1.1.1\n}\n. {\n import s\n}\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := Parse("/c", data)
		if err != nil {
			parsetest.MustBeFileError(t, err)
			return
		}
		checkCorefileTokens(t, data)
		if !bytes.Contains(data, []byte("import")) && !bytes.Contains(data, []byte("{$")) && !bytes.Contains(data, []byte("{%")) {
			// caddy reads imported files and the environment; we don't.
			compareWithCaddy(t, data)
		}
		targets := []string{"192.0.2.1", "[2001:db8::1]:53"}
		for _, sb := range cf.Servers {
			for _, fw := range sb.Forwards {
				out, err := ReplaceTargets("/c", data, fw, targets)
				if err != nil {
					parsetest.MustBeFileError(t, err)
					continue
				}
				nc, err := Parse("/c", out)
				if err != nil {
					t.Fatalf("the edited Corefile does not parse: %v\n%q", err, out)
				}
				found := false
				for _, nsb := range nc.Servers {
					for _, nfw := range nsb.Forwards {
						var to []string
						for _, tk := range nfw.To {
							to = append(to, tk.Text)
						}
						if nfw.To[0].Offset == fw.To[0].Offset && slices.Equal(to, targets) {
							found = true
						}
					}
				}
				if !found {
					t.Fatalf("the edited forward is not there:\n%q", out)
				}
			}
		}
	})
}
