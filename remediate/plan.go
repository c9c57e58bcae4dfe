package remediate

import (
	"net/netip"

	"github.com/unloop/unloop/kubeapi"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
	dnsprobe "github.com/unloop/unloop/remediate/probe"
	"github.com/unloop/unloop/remediate/trace"

	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/rogpeppe/go-internal/diff"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/cri"
)

// Change kinds and actions.
const (
	KindFile = "file"
	KindLink = "link"
	KindUnit = "unit"
	KindPods = "pods"
)

// Change is one thing a plan would do. Reason is shown, never acted on.
// document.Change is how it is printed.
type Change struct {
	Kind     string
	Path     string
	Unit     string
	Action   string // create, modify, relink, restart, reload, recreate
	Strategy string
	Reason   string
	Diff     string
	// Skipped says why a unit action will not be carried out (offline,
	// --no-restart, not running); the change is still listed. SkipReason is
	// the same as a code for scripts (JSON's skipped.reason, DESIGN.md §4):
	// one of the Skip* constants, "" when not skipped.
	Skipped    string
	SkipReason string
	// Pods are the pods seen (through CRI or the node's pod folders), never
	// assumed names; Selector is the label selector of the pods a change
	// asks to recreate when none was seen (the kubectl line's).
	Pods     []string
	Selector string
	Target   string // a link's new target
	Node     string // the node's name as kubelet registers it ("" : the host's name)
	// Sandboxes are the pods' sandboxes apply removes (recreate, not skipped).
	Sandboxes []cri.Sandbox

	// What apply needs; Before is what the plan read and apply insists on.
	Before *hostcfg.Snapshot
	After  []byte
	Mode   fs.FileMode
	UID    int
	GID    int
	Verify func(ctx context.Context, bus node.Bus) error
	// Reload carries out a unit's "reload" (the strategy's own call).
	Reload func(ctx context.Context, bus node.Bus) error
	// Healthz is the restarted unit's own health endpoint (host:port),
	// watched after the restart instead of the fixed restartSettle.
	Healthz string
	// A ConfigMap's key (KindConfigMap): "namespace/name", the key, the
	// version the plan read, and the kubectl command that makes the change.
	ConfigMap, Key, ResourceVersion, Command string
	// cm is the ConfigMap as read, which apply updates; pending says when
	// CoreDNS loads it once updated (cmapply.Pending).
	cm      *kubeapi.ConfigMap
	pending string
}

// Plan is what apply would do, as data; document.Plan is how it is printed.
type Plan struct {
	// Report is the check the plan was made from.
	Report     *node.Report
	Strategies []string
	Changed    bool
	Changes    []Change
	Upstreams  []node.Candidate
	// Unfixed are the error findings no chosen strategy fixes; apply refuses
	// while there are any.
	Unfixed []node.Finding

	node *node.Node
}

// ErrUnfixed is returned by apply when some error has no chosen strategy.
var ErrUnfixed = errors.New("some errors have no fix among the chosen strategies")

// chooseStrategy picks, for a finding, the first of its fixes that the user's
// order allows (auto: the finding's own order, least invasive first).
func chooseStrategy(f node.Finding, order []string) string {
	if len(order) == 0 {
		if len(f.Fixes) > 0 {
			return f.Fixes[0]
		}
		return ""
	}
	for _, s := range order {
		if slices.Contains(f.Fixes, s) {
			return s
		}
	}
	return ""
}

// planner accumulates the edits of every strategy, so two edits of one file
// become one change with one diff.
type planner struct {
	env   node.Env
	opts  node.Options
	node  *node.Node
	ups   []node.Candidate
	files map[string]*Change // by the node path actually written (links resolved)
	order []string
	other []Change
}

// file returns the change for path, reading the file the first time. A file
// that does not exist starts empty with mode 0644.
func (p *planner) file(path string) (*Change, error) {
	real, err := p.env.Root.Resolve(path)
	if err != nil {
		return nil, err
	}
	if c, ok := p.files[real]; ok {
		return c, nil
	}
	// A link swapped in since the check: the edits were reasoned from
	// another file, and writing through a link put there meanwhile is
	// exactly what must never happen.
	if first, ok := p.env.Root.FirstResolved(path); ok && first != real {
		return nil, hostcfg.Errorf(path, 0, "%w: it leads to %s now, not %s", hostcfg.ErrSwapped, real, first)
	}
	snap, err := p.env.Root.Snapshot(real)
	if err != nil {
		return nil, err
	}
	// The edits splice at lines and offsets found when the node was checked:
	// on other bytes they would cut the wrong place.
	if p.changedSinceCheck(real, snap) {
		return nil, hostcfg.Errorf(real, 0, "%w", hostcfg.ErrChanged)
	}
	c := &Change{Kind: KindFile, Path: real, Before: snap, Mode: 0o644, UID: 0, GID: 0}
	if snap.Exists {
		c.After = slices.Clone(snap.Data)
		c.Mode, c.UID, c.GID = snap.Mode, snap.UID, snap.GID
	}
	p.files[real] = c
	p.order = append(p.order, real)
	return c, nil
}

// changedSinceCheck reports whether path, as snap found it now, is not what
// the check read: other bytes, or (for /etc/resolv.conf) another link.
func (p *planner) changedSinceCheck(path string, snap *hostcfg.Snapshot) bool {
	if h := p.node.Host; h != nil && h.Path == path && (!snap.Exists || h.Link != snap.Link) {
		return true
	}
	if snap.Exists && snap.Link != "" {
		return false // a link's target is read, and compared, under its own path
	}
	seen, ok := p.env.Root.FirstRead(path)
	return ok && (!snap.Exists || !bytes.Equal(seen, snap.Data))
}

// edit records new content for path with a reason and the strategy.
func (p *planner) edit(path, strategy, reason string, edit func(old []byte) ([]byte, error)) error {
	c, err := p.file(path)
	if err != nil {
		return err
	}
	after, err := edit(c.After)
	if err != nil {
		return err
	}
	c.After = after
	if c.Strategy == "" {
		c.Strategy = strategy
	} else if !strings.Contains(c.Strategy, strategy) {
		c.Strategy += "," + strategy
	}
	if c.Reason == "" {
		c.Reason = reason
	} else if !strings.Contains(c.Reason, reason) {
		c.Reason += "; " + reason
	}
	return nil
}

func (p *planner) link(path, target, strategy, reason string) error {
	snap, err := p.env.Root.Snapshot(path)
	if err != nil {
		return err
	}
	if p.changedSinceCheck(path, snap) {
		return hostcfg.Errorf(path, 0, "%w", hostcfg.ErrChanged)
	}
	if snap.Exists && snap.Link == target {
		return nil
	}
	old := "(nothing)"
	switch {
	case snap.Link != "":
		old = "link to " + snap.Link
	case snap.Exists:
		old = "a regular file"
	}
	d := fmt.Sprintf("--- %s\n+++ %s\n-%s\n+link to %s\n", path, path, old, target)
	p.other = append(p.other, Change{Kind: KindLink, Path: path, Action: "relink", Strategy: strategy,
		Reason: reason, Diff: d, Before: snap, Target: target})
	return nil
}

// restart lists a unit restart; whether it runs is decided here, once, so
// plan and apply show the same thing.
func (p *planner) restart(ctx context.Context, unit, strategy, reason, healthz string, verify func(context.Context, node.Bus) error) {
	p.unitAction(ctx, "restart", unit, strategy, reason, healthz, verify)
}

// reload lists a unit reload (systemctl reload), decided as restart, and
// returns it.
func (p *planner) reload(ctx context.Context, unit, strategy, reason string, reload, verify func(context.Context, node.Bus) error) Change {
	c := p.unitAction(ctx, "reload", unit, strategy, reason, "", verify)
	for i := range p.other {
		if p.other[i].Kind == KindUnit && p.other[i].Unit == unit {
			p.other[i].Reload, c.Reload = reload, reload
		}
	}
	return c
}

func (p *planner) unitAction(ctx context.Context, action, unit, strategy, reason, healthz string, verify func(context.Context, node.Bus) error) Change {
	for _, c := range p.other {
		if c.Kind == KindUnit && c.Unit == unit {
			return c
		}
	}
	c := Change{Kind: KindUnit, Unit: unit, Action: action, Strategy: strategy, Reason: reason, Verify: verify, Healthz: healthz}
	switch {
	case p.opts.Offline:
		c.skip(SkipOffline, "offline")
	case p.env.Bus == nil:
		c.skip(SkipNoBus, "no system bus")
	default:
		// Asked also with --no-restart: a unit that is not running reads the
		// new file when it starts, so the fix is in effect (apply exits 0, not 4).
		active, err := p.env.Bus.UnitActive(ctx, unit)
		switch {
		case err == nil && !active:
			c.skip(SkipNotRunning, "not running")
		case p.opts.NoRestart:
			c.skip(SkipNoRestart, "--no-restart")
		case err != nil:
			c.skip(SkipStateUnknown, fmt.Sprintf("can't tell whether it runs: %v", err))
		}
	}
	p.other = append(p.other, c)
	return c
}

// Why a change is skipped, as JSON's skipped.reason says it (DESIGN.md §4):
// a stable word for scripts; Skipped says it to people.
const (
	SkipOffline           = "offline"             // --offline: no bus, no runtime
	SkipNoBus             = "no_bus"              // no system bus to restart over
	SkipNotRunning        = "not_running"         // the unit does not run: it reads the file at its start
	SkipNoRestart         = "no_restart"          // --no-restart
	SkipStateUnknown      = "state_unknown"       // the bus or /healthz did not say whether it runs
	SkipLeftToUser        = "left_to_user"        // unloop does not do it (the kubectl line, a CoreDNS run by hand)
	SkipNotNeeded         = "not_needed"          // CoreDNS's reload plugin reloads by itself
	SkipNoRecreatePods    = "no_recreate_pods"    // --no-recreate-pods
	SkipNoVerify          = "no_verify"           // --no-verify: pods are recreated only after a verified fix
	SkipNoRuntime         = "no_runtime"          // no container runtime to ask, or it failed
	SkipRuntimeIncomplete = "runtime_incomplete"  // the runtime does not list every pod seen
	SkipKubeletNotRunning = "kubelet_not_running" // kubelet would not make the new sandboxes
)

// skip marks c skipped: reason for scripts, message for people.
func (c *Change) skip(reason, message string) {
	c.SkipReason, c.Skipped = reason, message
}

// DNSPodSelector selects the DNS server pods in kube-system that the
// kubectl line recreates when unloop saw none to name (kubeadm's CoreDNS,
// node-local-dns).
const DNSPodSelector = "k8s-app in (kube-dns, node-local-dns)"

func (p *planner) pods(strategy string) {
	for _, c := range p.other {
		if c.Kind == KindPods {
			return
		}
	}
	p.other = append(p.other, Change{Kind: KindPods, Action: "recreate", Strategy: strategy,
		Selector: DNSPodSelector,
		Node:     p.node.Kubelet.NodeName,
		Reason:   "a pod sandbox keeps the resolv.conf it was created with: delete the CoreDNS and node-local-dns pods on this node so they start with the new file (unloop does not talk to the API server)",
		Skipped:  "left to you", SkipReason: SkipLeftToUser})
}

// MakePlan checks the node and plans the fixes. Plan and apply both call it:
// there is one code path. When planning fails after the check, the plan holds
// the check's report (and no changes) beside the error, so it can be shown.
func MakePlan(ctx context.Context, env node.Env, opts node.Options) (*Plan, error) {
	env.Root = env.Root.Recording() // planner.file refuses a file that changed since Check read it
	rep, n, err := Check(ctx, env, opts)
	if err != nil {
		return nil, err
	}
	return planFor(ctx, env, opts, rep, n)
}

func planFor(ctx context.Context, env node.Env, opts node.Options, rep *node.Report, n *node.Node) (*Plan, error) {
	pl := &Plan{Report: rep, Strategies: []string{}, Changes: []Change{}, Upstreams: []node.Candidate{}, Unfixed: []node.Finding{}, node: n}
	tr := trace.New(env.Logger())
	if rep.HasUnreadable() {
		tr.Fact("plan", "strategies", "none", "why", "an input can't be read, or the root is not a node: no plan")
		return pl, nil
	}
	byStrategy, stale := assign(pl, rep, opts, tr)
	defer func() {
		if len(stale) > 0 {
			// The pods are named: the generic "delete the DNS pods" is not needed.
			pl.Changes = slices.DeleteFunc(pl.Changes, func(c Change) bool { return c.Kind == KindPods })
			pl.Changes = append(pl.Changes, recreateChange(ctx, env, opts, n, slices.Compact(stale)))
		}
		tracePlanned(tr, pl)
	}()
	if len(byStrategy) == 0 {
		return pl, nil
	}
	ups, err := SelectUpstreams(ctx, env, n, opts)
	if err != nil {
		return pl, err
	}
	pl.Upstreams = ups
	p := &planner{env: env, opts: opts, node: n, ups: ups, files: map[string]*Change{}}
	for _, s := range Strategies {
		fs := byStrategy[s.Name]
		if len(fs) == 0 {
			continue
		}
		pl.Strategies = append(pl.Strategies, s.Name)
		if err := s.plan(ctx, p, fs); err != nil {
			return pl, fmt.Errorf("planning the %s strategy: %w", s.Name, err)
		}
	}
	for _, path := range p.order {
		c := p.files[path]
		if c.Before.Exists && string(c.Before.Data) == string(c.After) {
			continue
		}
		c.Action = "modify"
		old := c.Before.Data
		if !c.Before.Exists {
			c.Action = "create"
			old = nil
		}
		c.Diff = unifiedDiff(path, old, c.After)
		pl.Changes = append(pl.Changes, *c)
	}
	pl.Changes = append(pl.Changes, p.other...)
	for _, c := range pl.Changes {
		if c.Kind == KindFile || c.Kind == KindLink || c.Kind == KindConfigMap {
			pl.Changed = true
		}
	}
	if !pl.Changed {
		// Nothing to write: restarts and pods alone are not a change.
		pl.Changes = []Change{}
	}
	return pl, nil
}

// assign gives each error finding its strategy; those with none go to
// pl.Unfixed, and stale pod copies are listed apart: the file fix is right,
// and the pods are recreated after it.
func assign(pl *Plan, rep *node.Report, opts node.Options, tr trace.Log) (map[string][]node.Finding, []string) {
	byStrategy := map[string][]node.Finding{}
	var stale []string
	for _, f := range rep.Findings {
		// A loop has one fix where one strategy fixes every part of it.
		s, loopFixes := "", []string(nil)
		if f.Loop > 0 {
			loopFixes = rep.Loops[f.Loop-1].Fixes
			s = chooseStrategy(node.Finding{Fixes: loopFixes}, opts.Strategies)
		}
		if s == "" {
			s = chooseStrategy(f, opts.Strategies)
		}
		traceChoice(tr, f, loopFixes, opts.Strategies, s)
		if f.Severity != finding.SevError || f.Ignored {
			continue
		}
		if f.Code == finding.CodePodResolvStale {
			stale = append(stale, f.Pod)
			continue
		}
		if s == "" {
			pl.Unfixed = append(pl.Unfixed, f)
			continue
		}
		byStrategy[s] = append(byStrategy[s], f)
	}
	return byStrategy, stale
}

// unifiedDiff is the change of path as a unified diff, from its ---/+++
// header on: the "diff a b" line before it would only repeat the path.
func unifiedDiff(path string, old, new []byte) string {
	d := string(diff.Diff(path, old, path, new))
	if strings.HasPrefix(d, "diff ") {
		if _, rest, ok := strings.Cut(d, "\n"); ok {
			return rest
		}
	}
	return d
}

// usable are the upstreams a strategy may write: verified, or unverified when
// offline (said so in the plan).
func (p *planner) usable() ([]netip.Addr, error) {
	var out []netip.Addr
	for _, c := range p.ups {
		if c.Error == "" {
			out = append(out, c.Addr)
		}
		if len(out) == 3 {
			break
		}
	}
	if len(out) == 0 {
		var tried []string
		for _, c := range p.ups {
			tried = append(tried, c.Addr.String()+": "+c.Error)
		}
		if len(tried) == 0 {
			return nil, fmt.Errorf("no clean upstream found (%s): give one with --upstream", finding.CodeNoUpstream)
		}
		return nil, fmt.Errorf("no upstream answers DNS (%s); unloop does not trade a loop for a black hole", strings.Join(tried, ", "))
	}
	return out, nil
}

// uplinkAnswers reports whether one of the servers in resolved's uplink file
// answers a DNS question; otherwise it lists what was tried. Pointing pods or
// the host at a clean file of dead servers trades the loop for a black hole.
// The servers were asked with the other candidates unless --upstream left
// them out; then they are asked here. Offline nothing is asked (as for
// every upstream) and the file counts.
func (p *planner) uplinkAnswers(ctx context.Context) (bool, []string) {
	if p.opts.Offline {
		return true, nil
	}
	rf, _ := p.node.UpstreamsFile()
	if rf == nil {
		return false, nil
	}
	probe := p.env.Probe
	if probe == nil {
		probe = dnsprobe.DNS
	}
	var tried []string
	for _, ns := range rf.Conf.Nameservers {
		a := ns.Addr.WithZone("").Unmap()
		i := slices.IndexFunc(p.ups, func(c node.Candidate) bool { return c.Addr == a })
		var err error
		if i >= 0 {
			if p.ups[i].Error == "" {
				return true, nil
			}
			err = errors.New(p.ups[i].Error)
		} else if err = probe(ctx, a); err == nil {
			return true, nil
		}
		tried = append(tried, a.String()+": "+err.Error())
	}
	return false, tried
}
