package networkd

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
)

func leaseRoot(t *testing.T, files map[string]string) *hostcfg.Root {
	t.Helper()
	dir := t.TempDir()
	for p, data := range files {
		hp := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A lease as networkd v252 saves it (dhcp_lease_save), with its link's state
// naming the network file; a name that is no ifindex is not networkd's.
func TestLoadLeases(t *testing.T) {
	r := leaseRoot(t, map[string]string{
		"run/systemd/netif/leases/2":    "# This is private data. Do not parse.\nADDRESS=10.0.0.57\nDNS=169.254.25.10 10.0.0.2\n",
		"run/systemd/netif/links/2":     "# This is private data. Do not parse.\nNETWORK_FILE=/etc/systemd/network/10-eth0.network\n",
		"run/systemd/netif/leases/3":    "ADDRESS=10.0.1.5\n", // no servers
		"run/systemd/netif/leases/.tmp": "DNS=x\n",
	})
	ls, err := LoadLeases(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("169.254.25.10"), netip.MustParseAddr("10.0.0.2")}
	if len(ls) != 1 || ls[0].Ifindex != 2 || ls[0].Line != 3 || ls[0].NetworkFile != "/etc/systemd/network/10-eth0.network" || !slices.Equal(ls[0].DNS, want) {
		t.Fatalf("leases %+v", ls)
	}
	if ls, err := LoadLeases(leaseRoot(t, nil)); ls != nil || err != nil {
		t.Errorf("no lease folder: %v %v, want nothing", ls, err)
	}
}

// A DNS= that is no address is an error naming the file and line.
func TestLoadLeasesBad(t *testing.T) {
	r := leaseRoot(t, map[string]string{"run/systemd/netif/leases/2": "ADDRESS=10.0.0.57\nDNS=10.0.0.2 nameserver\n"})
	_, err := LoadLeases(r)
	if err == nil || !strings.Contains(err.Error(), "/run/systemd/netif/leases/2:2:") {
		t.Fatalf("err %v, want the lease file and line 2", err)
	}
	t.Log(err)
}
