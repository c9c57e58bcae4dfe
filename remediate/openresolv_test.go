package remediate

import "testing"

// openresolv's resolvconf.conf, edited by an admin after apply: rollback
// refuses it and keeps the newer bytes.
func TestOpenresolvRollbackRefusesNewerEdit(t *testing.T) {
	rollbackRefusesEdit(t, "openresolv-name-servers", "etc/resolvconf.conf",
		func(b []byte) []byte { return append(b, "search_domains=lan\n"...) })
}
