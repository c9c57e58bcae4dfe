package remediate

import (
	"context"

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
	Prober         = node.Prober
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
)

const (
	SevError   = node.SevError
	SevWarning = node.SevWarning

	CodeResolvedStub          = node.CodeResolvedStub
	CodeLoopback              = node.CodeLoopback
	CodeNodeLocalDNS          = node.CodeNodeLocalDNS
	CodeLocalAddress          = node.CodeLocalAddress
	CodeCorefileForwardLoop   = node.CodeCorefileForwardLoop
	CodeKubeletMissing        = node.CodeKubeletMissing
	CodeKubeletMisspelled     = node.CodeKubeletMisspelled
	CodeDhclientInjects       = node.CodeDhclientInjects
	CodeResolvedUpstreamLoop  = node.CodeResolvedUpstreamLoop
	CodeNetworkManagerInjects = node.CodeNetworkManagerInjects
	CodeNoUpstream            = node.CodeNoUpstream
	CodeNameserverLimit       = node.CodeNameserverLimit
	CodeZoneIndex             = node.CodeZoneIndex
	CodeSearchLimit           = node.CodeSearchLimit
	CodeUnreadable            = node.CodeUnreadable
	CodeNameserverNone        = node.CodeNameserverNone
	CodePodResolvStale        = node.CodePodResolvStale

	DefaultKeepRuns = node.DefaultKeepRuns
)

var (
	DefaultNodeLocalDNS = node.DefaultNodeLocalDNS
	SystemInterfaces    = node.SystemInterfaces
	NotAnUpstream       = node.NotAnUpstream
	DNSProbe            = node.DNSProbe
	// WatchPaths are the paths every source reads whatever the node holds.
	WatchPaths = node.WatchPaths
)

// Check gathers the node and analyses it (remediate/node).
func Check(ctx context.Context, env Env, opts Options) (*Report, *node.Node, error) {
	return node.Check(ctx, env, opts, fixers())
}
