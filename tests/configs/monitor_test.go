package configs

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// npdConfig is node-problem-detector's custom plugin monitor config (its
// pkg/custompluginmonitor/types), the fields this example uses; decoding is
// strict so a misspelled key fails here instead of being ignored by NPD.
type npdConfig struct {
	Plugin       string `json:"plugin"`
	PluginConfig struct {
		InvokeInterval  string `json:"invoke_interval"`
		Timeout         string `json:"timeout"`
		MaxOutputLength int    `json:"max_output_length"`
		Concurrency     int    `json:"concurrency"`
		MessageChange   bool   `json:"enable_message_change_based_condition_update"`
	} `json:"pluginConfig"`
	Source           string `json:"source"`
	MetricsReporting bool   `json:"metricsReporting"`
	Conditions       []struct {
		Type    string `json:"type"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"conditions"`
	Rules []struct {
		Type      string   `json:"type"`
		Condition string   `json:"condition"`
		Reason    string   `json:"reason"`
		Path      string   `json:"path"`
		Args      []string `json:"args"`
		Timeout   string   `json:"timeout"`
	} `json:"rules"`
}

// TestNPDConfig: the example plugin config decodes strictly, its rules run
// unloop as NPD would (the host's static binary at /host, --root /host),
// and unloop answers them by the plugin protocol: exit 0 and a short OK on a
// clean host, exit 1 and the loop on a looping one, within the config's
// output length.
func TestNPDConfig(t *testing.T) {
	var cfg npdConfig
	dec := json.NewDecoder(bytes.NewReader(configFile(t, "node-problem-detector/unloop-plugin.json")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if cfg.Plugin != "custom" || cfg.PluginConfig.MaxOutputLength != 80 || len(cfg.Rules) == 0 || len(cfg.Conditions) == 0 {
		t.Fatalf("config: %+v", cfg)
	}
	for _, d := range []string{cfg.PluginConfig.InvokeInterval, cfg.PluginConfig.Timeout} {
		if _, err := time.ParseDuration(d); err != nil {
			t.Errorf("duration %q: %v", d, err)
		}
	}
	for _, r := range cfg.Rules {
		if r.Type == "permanent" && !slices.ContainsFunc(cfg.Conditions, func(c struct {
			Type    string `json:"type"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		}) bool {
			return c.Type == r.Condition
		}) {
			t.Errorf("permanent rule's condition %q is not among the conditions", r.Condition)
		}
		if r.Path != "/host/usr/bin/unloop" {
			t.Errorf("rule path %q", r.Path)
		}
		i := slices.Index(r.Args, "--root")
		if i < 0 || i+1 >= len(r.Args) || r.Args[i+1] != "/host" || !slices.Contains(r.Args, "npd") {
			t.Fatalf("rule args %v: want --output npd --root /host", r.Args)
		}
		for _, c := range []struct {
			name, resolv string
			exit         int
			want         string
		}{
			{"clean", "nameserver 192.0.2.53\n", 0, "no DNS forwarding loop"},
			{"loop", "nameserver 169.254.20.10\n", 1, "DNS loop: nameserver-node-local-dns 169.254.20.10"},
		} {
			host := t.TempDir()
			must(t, os.MkdirAll(filepath.Join(host, "etc"), 0o755))
			must(t, os.WriteFile(filepath.Join(host, "etc/resolv.conf"), []byte(c.resolv), 0o644))
			must(t, os.WriteFile(filepath.Join(host, "etc/os-release"), []byte("ID=debian\n"), 0o644)) // a node's (DESIGN.md §2)
			args := slices.Clone(r.Args)
			args[i+1] = host
			cmd := exec.Command(filepath.Join(binDir, "unloop"), args...)
			cmd.Env = append(os.Environ(), "UNLOOP_CONFIG=/dev/null")
			out, err := cmd.Output()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			msg := strings.TrimSuffix(string(out), "\n")
			if code != c.exit || !strings.Contains(msg, c.want) || utf8.RuneCountInString(msg) > cfg.PluginConfig.MaxOutputLength || strings.Contains(msg, "\n") {
				t.Errorf("%s rule on a %s host: exit %d, %q; want exit %d and %q in one line of at most %d", r.Type, c.name, code, msg, c.exit, c.want, cfg.PluginConfig.MaxOutputLength)
			}
		}
	}
}

// TestCompletionBash: the real bash, with `unloop completion bash` sourced,
// completes unloop's commands and flag values (through unloop itself).
func TestCompletionBash(t *testing.T) {
	script := `source /usr/share/bash-completion/bash_completion
source <(unloop completion bash)
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); __start_unloop 2>/dev/null; printf '%s\n' "${COMPREPLY[@]}"; }
echo "== commands"; complete_words unloop ch
echo "== output"; complete_words unloop check --output ""
echo "== strategy"; complete_words unloop apply --strategy k
`
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{"== commands\ncheck\n", "text\njson\nprometheus\nnpd\n", "== strategy\nkubelet\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("bash completion lacks %q:\n%s", want, got)
			break
		}
	}
}
