package configs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// unloopHost runs the test's unloop binary on this machine (never on its own
// root: callers pass --root) and returns stdout, stderr and the exit status.
func unloopHost(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "unloop"), args...)
	cmd.Env = append(os.Environ(), "UNLOOP_CONFIG=/dev/null")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

// flagDefaults reads unloop's global flags and the defaults its help shows
// ("" for a zero value, which pflag does not show).
func flagDefaults(t *testing.T) map[string]string {
	t.Helper()
	// Each command has its own flags: the settings are all of them, less
	// the flags that are one command's alone and no setting.
	re := regexp.MustCompile(`^\s+(?:-\w, )?--([a-z-]+)(?: \w+)?\s+.*?(?:\(default (.*)\))?$`)
	flags := map[string]string{}
	for _, cmd := range []string{"check", "plan", "apply", "rollback", "runs"} {
		out, _, code := unloopHost(t, cmd, "--help")
		if code != 0 {
			t.Fatalf("unloop %s --help: exit %d", cmd, code)
		}
		// The flags' own lines, not the settings table after them (its
		// rows name each flag too, without a default).
		out, _, _ = strings.Cut(out, "\nSettings:")
		for _, l := range strings.Split(out, "\n") {
			if m := re.FindStringSubmatch(l); m != nil {
				flags[m[1]] = m[2]
			}
		}
	}
	for _, f := range []string{"help", "config", "textfile", "detailed-exitcode", "run", "force", "every"} {
		delete(flags, f) // config: the file can't name itself
	}
	if len(flags) < 5 {
		t.Fatalf("found only %v in the commands' --help", flags)
	}
	return flags
}

// uncomment turns every commented "# key: value" line (and the list items
// under it) into YAML.
func uncomment(data []byte) []byte {
	var b strings.Builder
	inKey := false
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case regexp.MustCompile(`^# [a-z-]+:`).MatchString(l):
			inKey = true
			b.WriteString(strings.TrimPrefix(l, "# ") + "\n")
		case inKey && strings.HasPrefix(l, "#   - "):
			b.WriteString(strings.TrimPrefix(l, "# ") + "\n")
		default:
			inKey = false
		}
	}
	return []byte(b.String())
}

// pflagDefault formats a YAML value as pflag shows a default.
func pflagDefault(v any) string {
	switch v := v.(type) {
	case bool:
		if !v {
			return ""
		}
		return "true"
	case string:
		return fmt.Sprintf("%q", v)
	case []any:
		if len(v) == 0 {
			return ""
		}
		var s []string
		for _, x := range v {
			s = append(s, fmt.Sprint(x))
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	return fmt.Sprint(v)
}

// TestDefaultConfig: configs/unloop.yaml holds every setting unloop has,
// commented out, each with the default the program really uses; unloop
// accepts it as it is and with every key uncommented.
func TestDefaultConfig(t *testing.T) {
	data := configFile(t, "unloop.yaml")
	flags := flagDefaults(t)

	var keys map[string]any
	if err := yaml.Unmarshal(uncomment(data), &keys); err != nil {
		t.Fatalf("the uncommented config is not YAML: %v\n%s", err, uncomment(data))
	}
	var names []string
	for k := range flags {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		v, ok := keys[name]
		if !ok {
			t.Errorf("configs/unloop.yaml has no commented key %q", name)
			continue
		}
		// A setting whose default is "ask kubelet" or "look for it" shows an
		// example instead (an empty value is refused in the file).
		if examples := map[string]bool{"runtime-endpoint": true, "kubeconfig": true}; examples[name] {
			continue
		}
		if got := pflagDefault(v); got != flags[name] {
			t.Errorf("configs/unloop.yaml says %s: %v (shown as %q); unloop's default is %q", name, v, got, flags[name])
		}
	}
	// Settings of the file alone, with no flag: a list of findings is no
	// command-line argument.
	fileOnly := map[string]bool{"ignore": true}
	for k := range keys {
		if _, ok := flags[k]; !ok && !fileOnly[k] {
			t.Errorf("configs/unloop.yaml has key %q that unloop has no flag for", k)
		}
	}

	// unloop takes both files: each gives the same report on the same node.
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("nameserver 169.254.25.10\nnameserver 192.0.2.53\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=debian\n"), 0o644)) // a node's (DESIGN.md §2)
	full := filepath.Join(t.TempDir(), "unloop.yaml")
	must(t, os.WriteFile(full, uncomment(data), 0o644))
	var outs []string
	for _, cfg := range []string{filepath.Join(repo, "configs", "unloop.yaml"), full} {
		out, stderr, code := unloopHost(t, "check", "--config", cfg, "--root", root, "--offline", "--output", "json")
		if code != 2 {
			t.Fatalf("unloop check --config %s: exit %d, want 2 (the loop found)\n%s%s", cfg, code, out, stderr)
		}
		outs = append(outs, out)
	}
	if outs[0] != outs[1] {
		t.Errorf("the commented and uncommented configs give different reports:\n%s\n%s", outs[0], outs[1])
	}
}
