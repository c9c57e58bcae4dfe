package remediate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// StubDropIn is the resolved drop-in that turns the stub listener off.
const StubDropIn = "/etc/systemd/resolved.conf.d/90-unloop.conf"

var stubStrategy = Strategy{
	Name:  node.StrategyStub,
	Help:  "turn systemd-resolved's stub listener off (a drop-in), relink /etc/resolv.conf to its uplink file and restart resolved",
	Fixes: []finding.Code{finding.CodeResolvedStub, finding.CodeCorefileForwardLoop},
	// It relinks /etc/resolv.conf to resolved's uplink file: a fix only
	// where pods get resolved's stub file itself (by whatever links), never
	// for a copy of it, which the generator tells.
	Applies: func(n *node.Node) bool { return n.Pod != nil && n.Pod.Generator == resolvconf.GenResolvedStub },
	When:    "pods get systemd-resolved's stub file itself (generator systemd-resolved-stub), not a copy",
	plan:    planStub,
}

const stubDropIn = resolvconf.UnloopMarker + `: systemd-resolved without its stub listener, so that
# /etc/resolv.conf names the real upstreams instead of 127.0.0.53.
# Written by ` + "`unloop apply --strategy stub`" + `; ` + "`unloop rollback`" + ` removes it.
[Resolve]
DNSStubListener=no
`

func planStub(ctx context.Context, p *planner, _ []node.Finding) error {
	if _, runs := p.node.UpstreamsFile(); !runs {
		return fmt.Errorf("systemd-resolved is not running (no %s): the stub strategy needs it", resolvconf.ResolvedUplinkFile)
	}
	if ok, tried := p.uplinkAnswers(ctx); !ok {
		why := strings.Join(tried, ", ")
		if why == "" {
			why = "it names none"
		}
		return fmt.Errorf("no server in %s answers DNS (%s): without the stub the host and pods would ask only those; unloop does not trade a loop for a black hole",
			resolvconf.ResolvedUplinkFile, why)
	}
	if err := p.edit(StubDropIn, node.StrategyStub, "turn systemd-resolved's stub listener off", func([]byte) ([]byte, error) {
		return []byte(stubDropIn), nil
	}); err != nil {
		return err
	}
	if err := p.link("/etc/resolv.conf", "../run/systemd/resolve/resolv.conf", node.StrategyStub,
		"point /etc/resolv.conf at resolved's uplink file, which names the real upstreams"); err != nil {
		return err
	}
	p.restart(ctx, "systemd-resolved.service", node.StrategyStub, "systemd-resolved reads DNSStubListener only at start", "", verifyStubOff)
	p.pods(node.StrategyStub)
	return nil
}

// verifyStubOff reads systemd-resolved back: the stub listener must be off.
// Right after a restart resolved may not be on the bus yet, or not have
// looked at /etc/resolv.conf again: ask until ctx's deadline.
func verifyStubOff(ctx context.Context, bus node.Bus) error {
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

func stubOff(ctx context.Context, bus node.Bus) error {
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
