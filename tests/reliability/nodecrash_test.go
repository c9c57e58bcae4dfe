package reliability

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashOnNode is the crash test on a real booted node, online: apply
// restarts kubelet (kubelet strategy) or systemd-resolved (stub strategy) over
// D-Bus, and is killed after each of its steps, the restarts included. After
// each kill, the next apply leaves the node as an uninterrupted apply does and
// rollback leaves it as it was; either way the running services agree with the
// files (kubelet started with the config on disk, resolved's stub listener as
// its drop-in says).
func TestCrashOnNode(t *testing.T) {
	for _, strategy := range []string{"kubelet", "stub"} {
		t.Run(strategy, func(t *testing.T) {
			b := newBed(t, "bookworm")
			orig := b.nodeState()
			applyArgs := []string{"apply", "--strategy", strategy, "--output", "json"}
			// Runs of one second are ordered by chance (see
			// remediate/journal's TestLastSameSecond): start each run in a second of its own.
			var last time.Time
			apply := func(bin string, env ...string) result {
				t.Helper()
				if now := time.Now(); now.Truncate(time.Second).Equal(last.Truncate(time.Second)) {
					time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
				}
				last = time.Now()
				return b.unloop(2*time.Minute, bin, env, applyArgs...)
			}
			consistent := func(when string) {
				t.Helper()
				if ok, desc := b.kubeletConsistent(); !ok {
					t.Fatalf("%s: kubelet runs with another config than the one on disk:\n%s", when, desc)
				}
				if !b.active("systemd-resolved.service") || !b.active("kubelet.service") {
					t.Fatalf("%s: systemd-resolved or kubelet is not active", when)
				}
				st := b.unloop(time.Minute, "unloop", nil, "check", "--output", "json")
				rep := decode(t, st)
				_, dropIn := b.nodeState()["/etc/systemd/resolved.conf.d/90-unloop.conf"]
				if stub := rep.has("nameserver-resolved-stub"); dropIn && stub {
					t.Fatalf("%s: the stub drop-in is there but resolved's stub is still the pod file's server: %s", when, st)
				}
			}

			r := apply("unloop-crash", "UNLOOP_CRASH_TRACE=/run/unloop-trace")
			if r.Code != 0 || !decode(t, r).Verified {
				t.Fatalf("apply: %s", r)
			}
			want := b.nodeState()
			consistent("after apply")
			trace, err := b.Node.ReadFile("/run/unloop-trace")
			must(t, err)
			steps := strings.Split(strings.TrimSpace(string(trace)), "\n")
			unit := map[string]string{"kubelet": "kubelet.service", "stub": "systemd-resolved.service"}[strategy]
			if !strings.Contains(string(trace), "restarted "+unit) {
				t.Fatalf("the run restarted no %s: crash points %q", unit, steps)
			}
			if r := b.unloop(time.Minute, "unloop", nil, "rollback"); r.Code != 0 {
				t.Fatalf("rollback: %s", r)
			}
			if d := diffStates(b.nodeState(), orig); d != "" {
				t.Fatalf("rollback:\n%s", d)
			}
			consistent("after rollback")

			for _, step := range steps {
				for _, then := range []string{"apply", "rollback"} {
					crash := apply("unloop-crash", "UNLOOP_CRASH_AT="+step)
					if crash.Signal != syscall.SIGKILL {
						t.Fatalf("apply with UNLOOP_CRASH_AT=%q was not killed: %s", step, crash)
					}
					allOrNothing(t, b.nodeState(), orig, want)
					switch then {
					case "apply":
						r := apply("unloop")
						if r.Code != 0 || (step != "applied" && !decode(t, r).Verified) {
							t.Fatalf("apply after a crash at %q: %s\n%s", step, r, b.journal(unit))
						}
						if d := diffStates(b.nodeState(), want); d != "" {
							t.Fatalf("apply after a crash at %q:\n%s", step, d)
						}
						consistent("apply after a crash at " + step)
						if r := b.unloop(time.Minute, "unloop", nil, "rollback"); r.Code != 0 {
							t.Fatalf("rollback: %s", r)
						}
					case "rollback":
						if r := b.unloop(time.Minute, "unloop", nil, "rollback"); r.Code != 0 {
							t.Fatalf("rollback after a crash at %q: %s", step, r)
						}
					}
					if d := diffStates(b.nodeState(), orig); d != "" {
						t.Fatalf("%s after a crash at %q, then rollback:\n%s", then, step, d)
					}
					consistent(then + " after a crash at " + step + ", then rollback")
				}
			}
			t.Logf("crash points tested on a booted node: %d (%q)", len(steps), steps)
		})
	}
}
