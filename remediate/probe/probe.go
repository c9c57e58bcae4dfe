// Package probe asks a DNS server one question, to tell whether it answers
// from this node (an upstream candidate, k3s's fallback server), and a
// restarted unit's health endpoint (kubelet's /healthz) whether it is ok.
package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

const probeTimeout = 1500 * time.Millisecond

// DNS asks addr:53 for the root's NS records over UDP. Any answer with
// NOERROR or NXDOMAIN counts: the server resolves. SERVFAIL, REFUSED and
// silence do not.
func DNS(ctx context.Context, addr netip.Addr) error {
	return At(ctx, net.JoinHostPort(addr.String(), "53"))
}

// At is DNS's question to a host:port (tests ask a local server).
func At(ctx context.Context, hostport string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(".", dns.TypeNS)
	m.RecursionDesired = true
	c := &dns.Client{Timeout: probeTimeout}
	r, _, err := c.ExchangeContext(ctx, m, hostport)
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return fmt.Errorf("answered %s", dns.RcodeToString[r.Rcode])
	}
	return nil
}
