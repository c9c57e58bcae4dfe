package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIgnoreSetting: the config file's ignore list, strictly read; the
// findings it names are shown as ignored and do not make check fail.
func TestIgnoreSetting(t *testing.T) {
	tests := []struct {
		name, config string
		code         int
		out, err     string
	}{
		{"a code", "ignore: [nameserver-limit]\n", 0, "nameserver-limit  /etc/resolv.conf:4  (ignored)", ""},
		{"a code in a file", "ignore:\n- {code: nameserver-limit, file: /etc/resolv.conf}\n", 0, "OK: no loop, 0 warnings, 1 ignored", ""},
		{"another file", "ignore:\n- code: nameserver-limit\n  file: /etc/other.conf\n", 0, "WARNING: no loop, 1 warning", ""},
		{"unknown code", "ignore: [nameserver-limits]\n", 1, "", `config CFG:1: ignore: unknown finding code "nameserver-limits"`},
		{"unknown key", "ignore:\n- {code: nameserver-limit, path: /etc/resolv.conf}\n", 1, "", `config CFG:2: ignore: unknown key "path" (want code and file)`},
		{"no code", "ignore:\n- {file: /etc/resolv.conf}\n", 1, "", "config CFG:2: ignore: an item without a code"},
		{"relative file", "ignore:\n- {code: nameserver-limit, file: etc/resolv.conf}\n", 1, "", `config CFG:2: ignore: file "etc/resolv.conf": want a clean absolute path of the node`},
		{"not a list", "ignore: nameserver-limit\n", 1, "", "config CFG:1: ignore: want a list"},
		{"unreadable", "ignore: [unreadable]\n", 1, "", "unreadable can't be ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := nodeTree(t, warnNode)
			cfg := filepath.Join(t.TempDir(), "unloop.yaml")
			if err := os.WriteFile(cfg, []byte(tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
			var outb, errb bytes.Buffer
			code := Run(context.Background(), []string{"check", "--root", root, "--offline", "--config", cfg}, Streams{In: strings.NewReader(""), Out: &outb, Err: &errb})
			out, stderr := outb.String(), errb.String()
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(stderr, strings.ReplaceAll(tt.err, "CFG", cfg)) {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr: %s\nwant %q / %q", code, tt.code, out, stderr, tt.out, tt.err)
			}
		})
	}
}
