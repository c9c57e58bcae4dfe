package testbed

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNet makes a Net where a killed run left its namespaces behind, asks
// the upstream from the node's side, and checks that cleanup deletes both
// namespaces.
func TestNet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("network namespaces need root: run the tests as root")
	}
	var netNS, nodeNS string
	outer := t
	t.Run("net", func(t *testing.T) {
		// A number held is not handed out again while it is held.
		id := netID(t, "ultb")
		if other := netID(t, "ultb"); other == id {
			t.Fatalf("netID handed out %d twice", id)
		}
		// Its names, made first as a killed run would leave them.
		for _, ns := range []string{"ultbnet", "ultbnode"} {
			ns += strconv.Itoa(id)
			if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
				t.Fatalf("a leftover %s: %v: %s", ns, err, out)
			}
			// Not t's cleanup: the check below is that NewNet's deletes it.
			outer.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
		}

		nw := newNet(t, "ultb", "10.95", id)
		netNS, nodeNS = nw.NetNS, nw.NodeNS
		if want := "ultbnet" + strconv.Itoa(id); nw.NetNS != want {
			t.Errorf("NetNS = %q, want %q", nw.NetNS, want)
		}
		if want := "10.95." + strconv.Itoa(id) + "."; nw.Upstream != want+"1" || nw.NodeAddr != want+"2" || nw.Addr(3) != want+"3" {
			t.Errorf("Upstream %s, NodeAddr %s, Addr(3) %s: want them in %s0/24", nw.Upstream, nw.NodeAddr, nw.Addr(3), want)
		}
		nw.AddNodeAddr()
		for _, tc := range []struct{ name, want string }{
			{"example.test", "192.0.2.10"},
			{"other.example", "NXDOMAIN"},
		} {
			out := "no answer"
			if !Poll(10*time.Second, func() bool { // CoreDNS takes a moment to listen
				out = dig(t, nw.NodeNS, nw.Upstream, tc.name)
				return strings.Contains(out, tc.want)
			}) {
				t.Errorf("the upstream's answer for %s: %s, want %s", tc.name, out, tc.want)
			}
		}
	})
	if netNS == "" {
		return
	}
	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range strings.Fields(string(list)) {
		if ns == netNS || ns == nodeNS {
			t.Errorf("%s is still there after cleanup", ns)
		}
	}
}

// dig asks server for name from inside the namespace ns.
func dig(t *testing.T, ns, server, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "dig", "+time=1", "+tries=1", "+noall", "+comments", "+answer", "@"+server, name, "A").CombinedOutput()
	return string(out)
}

func TestPoll(t *testing.T) {
	calls := 0
	if !Poll(time.Second, func() bool { calls++; return calls == 3 }) || calls != 3 {
		t.Errorf("Poll of a condition that holds at the third call: %d calls", calls)
	}
	start := time.Now()
	if Poll(300*time.Millisecond, func() bool { return false }) {
		t.Error("Poll of a condition that never holds said it held")
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("Poll gave up after %v, want about 300ms", d)
	}
}
