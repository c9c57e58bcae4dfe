package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Prober asks addr one DNS question; nil when it answers.
type Prober func(ctx context.Context, addr netip.Addr) error

const probeTimeout = 1500 * time.Millisecond

// DNSProbe asks addr:53 for the root's NS records over UDP. Any answer with
// NOERROR or NXDOMAIN counts: the server resolves. SERVFAIL, REFUSED and
// silence do not.
func DNSProbe(ctx context.Context, addr netip.Addr) error {
	return ProbeAt(ctx, net.JoinHostPort(addr.String(), "53"))
}

// ProbeAt is DNSProbe's question to a host:port (tests ask a local server).
func ProbeAt(ctx context.Context, hostport string) error {
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
