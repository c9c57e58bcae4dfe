package remediate

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
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
	return probeAt(ctx, net.JoinHostPort(addr.String(), "53"))
}

// probeAt is DNSProbe's question to a host:port (tests ask a local server).
func probeAt(ctx context.Context, hostport string) error {
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

// SelectUpstreams finds the candidates and, unless offline, asks each one a
// real DNS question in parallel. Candidates keep their order; those that did
// not answer carry the error and are not used.
func SelectUpstreams(ctx context.Context, env Env, n *Node, opts Options) ([]Candidate, error) {
	cands := n.Candidates(opts)
	if opts.Offline {
		for i := range cands {
			cands[i].Note = "not asked: offline"
		}
		return cands, nil
	}
	probe := env.Probe
	if probe == nil {
		probe = DNSProbe
	}
	var wg sync.WaitGroup
	for i := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := probe(ctx, cands[i].Addr); err != nil {
				cands[i].Error = err.Error()
			} else {
				cands[i].Note = "answered"
			}
		}()
	}
	wg.Wait()
	return cands, ctx.Err()
}

// verifyStubOff reads systemd-resolved back: the stub listener must be off.
// Right after a restart resolved may not be on the bus yet, or not have
// looked at /etc/resolv.conf again: ask until ctx's deadline.
func verifyStubOff(ctx context.Context, bus Bus) error {
	for {
		err := stubOff(ctx, bus)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func stubOff(ctx context.Context, bus Bus) error {
	st, err := bus.Resolved(ctx)
	if err != nil {
		return fmt.Errorf("reading systemd-resolved back: %w", err)
	}
	if st.DNSStubListener != "no" {
		return fmt.Errorf("systemd-resolved still says DNSStubListener=%s", st.DNSStubListener)
	}
	if st.ResolvConfMode != "uplink" {
		return fmt.Errorf("systemd-resolved says ResolvConfMode=%s, want uplink", st.ResolvConfMode)
	}
	return nil
}
