package remediate

import (
	"context"

	"github.com/unloop/unloop/remediate/dnspods"
	"github.com/unloop/unloop/remediate/node"
)

// The node model and its analysis live in remediate/node; these are the
// names of it that remediate's callers (cmd/unloop, the tests) use, so that
// they import one package: cmd → remediate → its stages.
type (
	Env            = node.Env
	Options        = node.Options
	Bus            = node.Bus
	Iface          = node.Iface
	Runtime        = node.Runtime
	Report         = node.Report
	ResolvReport   = node.ResolvReport
	KubeletReport  = node.KubeletReport
	ResolvedReport = node.ResolvedReport
	Finding        = node.Finding
	Loop           = node.Loop
	Reader         = node.Reader
	Code           = node.Code
	Severity       = node.Severity
	Ignore         = node.Ignore
	Candidate      = node.Candidate
	DNSServerPods  = dnspods.Selector
	Label          = dnspods.Label
)

const (
	SevError   = node.SevError
	SevWarning = node.SevWarning

	CodeLoopback            = node.CodeLoopback
	CodeNodeLocalDNS        = node.CodeNodeLocalDNS
	CodeLocalAddress        = node.CodeLocalAddress
	CodeCorefileForwardLoop = node.CodeCorefileForwardLoop
	CodeDhclientInjects     = node.CodeDhclientInjects
	CodeNoUpstream          = node.CodeNoUpstream
	CodeNameserverLimit     = node.CodeNameserverLimit
	CodeSearchLimit         = node.CodeSearchLimit
	CodeUnreadable          = node.CodeUnreadable
	CodePodResolvStale      = node.CodePodResolvStale

	DefaultKeepRuns = node.DefaultKeepRuns
)

var (
	SystemInterfaces = node.SystemInterfaces
	NotAnUpstream    = node.NotAnUpstream
	DNSProbe         = node.DNSProbe
	// DefaultDNSServerPods, ParseLabel, CheckNamespace and CheckNamePrefix:
	// the dns-server-* settings (DESIGN.md §2b).
	DefaultDNSServerPods = dnspods.Default
	ParseLabel           = dnspods.ParseLabel
	CheckNamespace       = dnspods.CheckNamespace
	CheckNamePrefix      = dnspods.CheckNamePrefix
)

var (
	// WatchPaths are the paths every source reads whatever the node holds.
	WatchPaths = node.WatchPaths
)

// Check gathers the node and analyses it (remediate/node).
func Check(ctx context.Context, env Env, opts Options) (*Report, *node.Node, error) {
	return node.Check(ctx, env, opts, fixers())
}
