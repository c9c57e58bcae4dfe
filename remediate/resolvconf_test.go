package remediate

import (
	"strings"
	"testing"
)

// Debian's resolvconf's head, edited by an admin after apply (a line of
// their own): rollback refuses it and keeps the newer bytes.
func TestResolvconfRollbackRefusesNewerEdit(t *testing.T) {
	rollbackRefusesEdit(t, "debian-resolvconf-head", "etc/resolvconf/resolv.conf.d/head",
		func(b []byte) []byte { return append(b, "options timeout:1\n"...) })
}

// dnsmasq's defaults edited after apply: the same.
func TestResolvconfDnsmasqRollbackRefusesNewerEdit(t *testing.T) {
	rollbackRefusesEdit(t, "debian-resolvconf-dnsmasq", "etc/default/dnsmasq",
		func(b []byte) []byte { return []byte(strings.Replace(string(b), "ENABLED=1", "ENABLED=0", 1)) })
}
