package kubelet

import (
	"strings"
	"testing"
)

// k3s's test of a candidate file, as locateOrGenerateResolvConf applies it.
func TestK3sValidResolvConf(t *testing.T) {
	tests := []struct {
		name, data string
		want       bool
	}{
		{"private upstream", "nameserver 10.0.0.2\n", true},
		{"public upstream", "nameserver 1.1.1.1\nnameserver 2606:4700:4700::1111\n", true},
		{"resolved stub", "nameserver 127.0.0.53\noptions edns0 trust-ad\n", false},
		{"one loopback spoils it", "nameserver 10.0.0.2\nnameserver 127.0.0.1\n", false},
		{"node-local-dns is link-local", "nameserver 169.254.25.10\n", false},
		{"zone index does not parse", "nameserver fe80::1%eth0\n", false},
		{"no nameserver", "search example.internal\n", false},
		{"indented line is not read", "  nameserver 127.0.0.1\nnameserver 10.0.0.2\n", true},
		{"unspecified", "nameserver 0.0.0.0\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := k3sValidResolvConf([]byte(tt.data)); got != tt.want {
				t.Errorf("k3sValidResolvConf(%q) = %v, want %v", tt.data, got, tt.want)
			}
		})
	}
}

func TestSetArg(t *testing.T) {
	tests := []struct {
		name, data, want, err string
	}{
		{"added", "--fail-swap-on=false\n", "--fail-swap-on=false\n--resolv-conf=/x\n", ""},
		{"added after a last line without newline", "--a=b", "--a=b\n--resolv-conf=/x\n", ""},
		{"edited in place", "--resolv-conf=/etc/resolv.conf\n--a=b\n", "--resolv-conf=/x\n--a=b\n", ""},
		{"quoted is left to a person", "--resolv-conf=\"/etc/resolv.conf\"\n", "", "quoted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetArg("/args", []byte(tt.data), "resolv-conf", "/x")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
