package node

import (
	"context"

	"github.com/unloop/unloop/remediate/dnspods"
)

// corefileSource are the holders of the cluster's DNS servers' Corefiles:
// the node's own (--corefile, /etc/coredns/Corefile), the ConfigMaps
// installers leave on disk, and the DNS server pods' mounted ones
// (dnsservers.go). They write no resolv.conf; they read one, and a forward
// of theirs that reaches the server itself is their own finding. What they
// hold is the node's readers (readers.go), so it is kept on Node.
type corefileSource struct{ none }

func newCorefile() Source { return corefileSource{} }

func (corefileSource) Name() string { return "Corefiles" }

// Paths: the default Corefile and the installers' manifest folders; the
// given Corefiles and the pods' volumes are among the check's inputs.
func (corefileSource) Paths() []string {
	out := []string{"/etc/coredns/Corefile"}
	for _, d := range dnspods.ManifestDirs {
		out = append(out, d.Dir)
	}
	return out
}

func (corefileSource) Read(ctx context.Context, g *Gathering) {
	n, r := g.Node, g.Env.Root
	n.readCorefiles(r, g.Opts)
	n.readAPICorefiles(ctx, g)
	n.readClusterCorefiles(r, n.dnsPods(ctx, g))
}

func (corefileSource) Findings(n *Node, _ []Reader) []Finding { return n.corefileFindings() }
