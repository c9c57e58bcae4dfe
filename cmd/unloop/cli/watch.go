package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/unloop/unloop/cmd/unloop/render"
	"github.com/unloop/unloop/cmd/unloop/settings"
	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/watch"
	"github.com/unloop/unloop/remediate"
	"github.com/unloop/unloop/remediate/journal"
)

const (
	defaultListen = "127.0.0.1:9958"
	// healthzSlack is how late past its interval a check may finish before
	// /healthz fails: an apply restarts kubelet and waits for it.
	healthzSlack = 2 * time.Minute
)

type watchFlags struct {
	apply              bool
	listen, textfile   string
	nodeName           string
	debounce, interval time.Duration
}

func newWatchCommand(s Streams) *cobra.Command {
	var wf watchFlags
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Check again whenever a file that decides pods' DNS changes (a daemon)",
		Long: `watch checks the node, then again each time a file that decides pods' DNS changes
(inotify on what every source reads, as unloop.path, and on every file the last check
read: kubelet's flags file, drop-ins and --config, the Corefiles, links' targets) and
every --interval. With --apply it applies instead, under the same lock and journal as
the boot unit.

Links are followed inside --root, as the check reads them: an absolute link's target is
watched in the root, never outside it. A change counts only when a watched file then holds
other bytes, mode, owner or flags than the last check left: watch's own writes and
rollbacks start no check. An apply that failed is not tried again until one of its inputs
changes; meanwhile watch only checks, and says why.

Changes are debounced (--debounce). A change that writes a looping address (a
node-local-dns address, a --local-ip, a loopback such as 127.0.0.53) on a line naming DNS
servers is checked after 50 ms instead: a renew putting the loop back is fixed before a
pod can start with it. A file rewritten in a loop is reported and backs the checks off,
up to one a minute, whatever it holds: watch never spins. It serves Prometheus metrics on
/metrics and its health on /healthz at --listen: ok while its watches are in place and
the last check finished within its interval. ` + listenHelp + ` On SIGTERM it stops; an apply in progress
ends all or nothing (a step cut short is rolled back).

Each check's result is printed as check (or apply) prints it.

With Kubernetes credentials (--kubeconfig, KUBECONFIG, a control-plane node's admin
kubeconfig, the pod's service account) it reports to its Node (--node-name, else
$NODE_NAME, else the host name) as node-problem-detector does: the condition
` + ConditionType + ` (True with the loop's finding code as its reason, False with
NoDNSForwardingLoop; NPD's own DNSForwardingLoop is never touched) and Events when a loop
is found, fixed or left after an apply. It needs nodes get, nodes/status patch and events
create and patch. Without credentials it says so once and reports only here.

` + exitHelp("watch"),
		Example: `  unloop watch
  unloop watch --apply --listen 10.0.0.5:9958
  unloop watch --root /host --output json --log-format json   # the DaemonSet's container
  curl -s 127.0.0.1:9958/metrics | grep ^unloop_check_status`,
		Args: cobra.NoArgs,
	}
	flags := addSettings(cmd, applySettings...)
	f := cmd.Flags()
	f.BoolVar(&wf.apply, "apply", false, "apply what a check finds, as unloop apply does (under its lock and journal)")
	f.StringVar(&wf.listen, "listen", defaultListen, "`ADDRESS` to serve /metrics and /healthz on (empty: none)")
	f.StringVar(&wf.textfile, "textfile", "", "also write the metrics to this file after each check, atomically (node_exporter's textfile collector)")
	f.DurationVar(&wf.debounce, "debounce", 500*time.Millisecond, "wait this long after a change before checking, so a burst of writes is one check (50 ms, or less, when the change writes a looping address)")
	f.DurationVar(&wf.interval, "interval", 5*time.Minute, "check at least this often when nothing changes")
	f.StringVar(&wf.nodeName, "node-name", "", "the `NODE` whose condition "+ConditionType+" and Events watch writes, with the credentials of --kubeconfig (default: $NODE_NAME, else the host name)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if wf.debounce <= 0 || wf.interval <= 0 {
			return errors.New("--debounce and --interval must be more than 0")
		}
		ss, err := flags.start(s)
		if err != nil {
			return err
		}
		return runWatch(cmd.Context(), ss, wf)
	}
	return cmd
}

// watcher is a running unloop watch: what its metrics and /healthz say,
// behind mu (the HTTP server reads it while the loop writes it).
type watcher struct {
	ss *session
	wf watchFlags

	mu         sync.Mutex
	rep        *node.Report
	checked    time.Time // when the last check ended with a report
	took       time.Duration
	up         bool
	armed      bool // a check's inputs were watched once
	folders    int
	gap        time.Duration
	changes    map[string]float64
	lastChange time.Time
	checks     map[string]float64
	runs       []*journal.Journal
	hold       *hold // what the last run left, and an apply held back
	node       *nodeReporter
	looping    func(netip.Addr) bool
}

// watchedPaths are what watch watches: the paths every source reads
// whatever the node holds, and the inputs of the last check (nil before
// the first): the files the node's own settings name (kubelet's flags
// file, unit drop-ins, a --config, --config-dir and its sub-folders, the
// Corefiles) and every link's target on the way to them.
func watchedPaths(inputs []string) []string {
	paths := append(node.WatchPaths(), inputs...)
	slices.Sort(paths)
	return slices.Compact(paths)
}

func runWatch(ctx context.Context, ss *session, wf watchFlags) error {
	wt := &watcher{ss: ss, wf: wf, changes: map[string]float64{}, checks: map[string]float64{}}
	root := ss.Root
	if root == "" {
		root = "/"
	}
	iw, err := watch.New(root, watchedPaths(nil))
	if err != nil {
		return err
	}
	defer iw.Close()
	tree, err := hostcfg.NewRoot(root)
	if err != nil {
		return err
	}
	wt.hold = &hold{tree: tree, paths: watchedPaths(nil)}
	if wt.node, err = newNodeReporter(ss, wf.nodeName, tree); err != nil {
		return err
	}
	wt.looping = loopingAddr(ss.Config.Opts)
	wt.up, wt.folders = true, iw.Watches()

	if wf.listen != "" {
		stop, err := wt.serve(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	changes := &pending{paths: map[string]bool{}, signal: make(chan struct{}, 1)}
	werr := make(chan error, 1)
	go func() { werr <- iw.Run(ctx, changes.add) }()
	return wt.loop(ctx, iw, changes, werr)
}

// serve starts /metrics and /healthz on --listen; stop shuts them down.
func (wt *watcher) serve(ctx context.Context) (stop func(), err error) {
	ln, err := net.Listen("tcp", wt.wf.listen)
	if err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	cc := newConnCap(maxConns) // serve.go: any pod can reach --listen
	srv := newServer(wt.handler(runtimeCollectors()...), cc)
	go srv.Serve(cc.listen(ln))
	wt.ss.log.Info("serving /metrics and /healthz", "listen", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}, nil
}

// pending are the paths changed since the loop last looked. The watcher's
// goroutine only records them and signals the loop, never waits for it: a
// check in progress must not stall the reads.
type pending struct {
	mu     sync.Mutex
	paths  map[string]bool
	signal chan struct{}
}

func (p *pending) add(paths []string) {
	p.mu.Lock()
	for _, q := range paths {
		p.paths[q] = true
	}
	p.mu.Unlock()
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// take returns the changed paths, sorted, and forgets them.
func (p *pending) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	paths := make([]string, 0, len(p.paths))
	for q := range p.paths {
		paths = append(paths, q)
	}
	clear(p.paths)
	sort.Strings(paths)
	return paths
}

// loop checks at start, after changes and every interval, as the schedule
// says, until ctx ends or the watches fail. Once ctx ended, the inotify
// reads end and a check may be due as well: a select picks among ready
// cases at random, so ctx is looked at first, and nothing new starts.
func (wt *watcher) loop(ctx context.Context, iw *watch.Watcher, changes *pending, werr <-chan error) error {
	sched := watch.NewSchedule(wt.wf.debounce, wt.wf.interval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	trigger := "start"
	for {
		if ctx.Err() != nil {
			wt.ss.log.Info("stopping")
			return nil
		}
		timer.Reset(time.Until(sched.Next(time.Now())))
		select {
		case <-ctx.Done():
		case err := <-werr:
			if ctx.Err() == nil {
				return wt.watchFailed(err)
			}
		case <-changes.signal:
			wt.onChange(sched, changes.take(), iw.Watches())
		case <-timer.C:
			if ctx.Err() != nil {
				continue
			}
			if now := time.Now(); sched.Started(now) {
				trigger = "change"
				if !wt.intervalDue(now) && wt.hold.unchanged() {
					wt.ss.log.Debug("every input holds what the last run left (its own writes, or the same bytes): no check")
					trigger = "interval"
					continue
				}
			}
			if rep := wt.check(ctx, trigger); rep != nil {
				wt.rearm(iw, rep.Inputs)
			}
			trigger = "interval"
		}
	}
}

// intervalDue: the last check is an interval old, so that changes that
// are no change never put the interval's check off.
func (wt *watcher) intervalDue(now time.Time) bool {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return wt.checked.IsZero() || now.Sub(wt.checked) >= wt.wf.interval
}

// rearm watches what the check just read, with the sources' paths. When
// that fails (the user's inotify watches are used up) the watches in place
// stay, and the next check tries again.
func (wt *watcher) rearm(iw *watch.Watcher, inputs []string) {
	changed, err := iw.SetPaths(watchedPaths(inputs))
	if err != nil {
		wt.ss.log.Error("watching the files the check read", "err", err)
	}
	wt.mu.Lock()
	first := !wt.armed
	wt.armed, wt.folders = true, iw.Watches()
	wt.mu.Unlock()
	if !changed && !first {
		return
	}
	log := wt.ss.log.Debug
	if first {
		log = wt.ss.log.Info // once: the list is in place from here on
	}
	log("watching the sources' paths and the check's inputs", "inputs", len(inputs), "folders", iw.Watches())
}

// watchFailed says why the inotify reads stopped while watch was not
// stopping, and makes /healthz fail meanwhile.
func (wt *watcher) watchFailed(err error) error {
	wt.mu.Lock()
	wt.up = false
	wt.mu.Unlock()
	if err == nil {
		err = errors.New("inotify closed")
	}
	return fmt.Errorf("watching: %w", err)
}

// onChange feeds a batch of changes to the schedule and the metrics, and
// logs when a rewrite loop starts or stops backing the checks off.
func (wt *watcher) onChange(sched *watch.Schedule, paths []string, folders int) {
	now := time.Now()
	before := sched.Gap()
	log := wt.ss.log
	log.Debug("changed", "paths", paths)
	// The quick look reads the files only when it can matter: while
	// checks back off from a rewrite loop, every change waits the gap.
	quick := false
	if before == 0 && wt.hold != nil && wt.looping != nil {
		if p, line, a := loopingChange(wt.hold.tree, wt.looping, paths); p != "" {
			quick = true
			log.Debug("a looping address written: checking after "+sched.Quick.String(), "path", p, "line", line, "addr", a.String())
		}
	}
	if quick {
		sched.Looping(now)
	} else {
		sched.Changed(now)
	}
	wt.changed(paths, now, folders, sched.Gap())
	if gap := sched.Gap(); gap > 0 && before == 0 {
		log.Warn("a watched file is rewritten in a loop: checking at most every "+gap.String()+", up to once a minute", "paths", paths)
	} else if gap == 0 && before > 0 {
		log.Info("the rewrite loop stopped: checking after each change again")
	}
}

// changed records a batch of changes for the metrics.
func (wt *watcher) changed(paths []string, now time.Time, folders int, gap time.Duration) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	for _, p := range paths {
		wt.changes[p]++
	}
	wt.lastChange, wt.folders, wt.gap = now, folders, gap
}

// check runs one check (or apply), prints its result, keeps what the
// metrics need, and returns its report (nil when there is none). A failure
// is logged and the watch goes on: the next change or interval tries again,
// and /healthz fails if none succeeds in time.
func (wt *watcher) check(ctx context.Context, trigger string) *node.Report {
	ss := wt.ss
	start := time.Now()
	c := *ss.Config // openEnv may turn a copy offline, not the watch
	env, closeEnv, err := openEnv(ctx, &c, ss.log)
	if err != nil {
		ss.log.Error("opening the node", "err", err)
		return nil
	}
	defer closeEnv()
	prev, sum := wt.hold.before()
	apply := wt.wf.apply
	if reason := wt.hold.held(); apply && reason != "" {
		apply = false
		ss.log.Warn("not applying: the last apply failed on the inputs the node still holds; checking only, until one of them changes", "reason", reason)
	}
	var rep *node.Report
	var res *remediate.Result
	wrote, failed := false, ""
	if apply {
		rep, res, failed = wt.apply(ctx, env, &c)
		wrote = res != nil && res.Run != "" && failed == ""
	} else {
		r, _, err := remediate.Check(ctx, env, c.Opts)
		if err != nil {
			ss.log.Error("check failed", "err", err)
		} else {
			rep = r
			if rerr := renderCheck(ss.out, ss.Output, rep); rerr != nil {
				ss.log.Warn("could not print the result", "err", rerr)
			}
		}
	}
	var inputs []string
	if rep != nil {
		inputs = rep.Inputs
	}
	wt.hold.ended(prev, sum, inputs, apply, wrote, failed)
	if wt.node != nil {
		wt.node.report(ctx, roundOf(ctx, env, c.Opts, rep, apply, res, failed))
	}
	end := time.Now()
	runs, err := journal.List(env.Root)
	if err != nil {
		ss.log.Warn("reading the journal", "err", err)
	}
	wt.mu.Lock()
	wt.checks[trigger]++
	if err == nil {
		wt.runs = runs
	}
	if rep != nil {
		wt.rep, wt.checked, wt.took = rep, end, end.Sub(start)
	}
	wt.mu.Unlock()
	if rep != nil {
		ss.log.Info("checked", "trigger", trigger, "status", rep.Status, "took", end.Sub(start).Round(time.Millisecond).String())
	}
	if wt.wf.textfile != "" && rep != nil {
		p := wt.wf.textfile
		if !filepath.IsAbs(p) {
			if wd, err := os.Getwd(); err == nil {
				p = filepath.Join(wd, p)
			}
		}
		if err := writeTextfileOf(p, wt.registry()); err != nil {
			ss.log.Error("writing the textfile", "err", err)
		}
	}
	return rep
}

// apply runs one apply and prints its result. rep is what the node holds
// after it (the plan's report when nothing went through); res, apply's
// result (its Run: it changed the node); failed, why it failed ("" if it
// did not).
func (wt *watcher) apply(ctx context.Context, env node.Env, c *settings.Config) (rep *node.Report, res *remediate.Result, failed string) {
	ss := wt.ss
	res, err := applyNode(ctx, env, c)
	if res != nil {
		if rerr := render.Apply(ss.out, ss.Output, res, err); rerr != nil {
			ss.log.Warn("could not print the result", "err", rerr)
		}
		if res.Plan != nil {
			rep = res.Plan.Report
		}
	}
	if err != nil {
		ss.log.Error("apply failed", "err", err)
		return rep, res, err.Error()
	}
	if after := afterApply(ctx, env, c.Opts, res); after != nil {
		rep = after
	}
	return rep, res, ""
}

// healthy says whether the watch is as it should be, and why not.
func (wt *watcher) healthy(now time.Time) error {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	switch {
	case !wt.up:
		return errors.New("not watching: inotify failed")
	case wt.checked.IsZero():
		return errors.New("no check has finished yet")
	case now.Sub(wt.checked) > wt.wf.interval+healthzSlack:
		return fmt.Errorf("the last check finished %v ago, more than its interval (%v)", now.Sub(wt.checked).Round(time.Second), wt.wf.interval)
	}
	return nil
}

// handler serves /healthz, and /metrics with runtime's metrics as well.
func (wt *watcher) handler(runtime ...prometheus.Collector) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := wt.healthy(time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	reg := wt.registry()
	reg.MustRegister(runtime...)
	opts := promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError}
	if wt.ss != nil {
		opts.ErrorLog = errorLog{wt.ss.log}
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, opts))
	return mux
}

// runtimeCollectors are the go_* and process_* metrics SREs expect of a
// daemon: on /metrics only, since node_exporter has its own and refuses a
// textfile that repeats them.
func runtimeCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
}

// registry gathers the watch's metrics as they are at each gathering.
func (wt *watcher) registry() *prometheus.Registry {
	return registryOf(func() []*gaugeFamily {
		wt.mu.Lock()
		defer wt.mu.Unlock()
		return wt.metricsLocked()
	})
}

// errorLog logs what /metrics could not gather; the rest is still served.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) { l.log.Warn("serving /metrics", "err", fmt.Sprint(v...)) }

// metricsLocked are the last check's metrics (none before the first), the
// journal's and the watch's own; wt.mu is held.
func (wt *watcher) metricsLocked() []*gaugeFamily {
	var fams []*gaugeFamily
	if wt.rep != nil {
		fams = append(fams, metrics(wt.rep, wt.checked)...)
		took := gauge("unloop_check_duration_seconds")
		took.add(wt.took.Seconds())
		pods := gauge("unloop_pod_stale")
		for _, f := range wt.rep.Findings {
			if f.Code == finding.CodePodResolvStale && !f.Ignored && f.Pod != "" {
				pods.add(1, "pod", f.Pod)
			}
		}
		fams = append(fams, took, pods)
	}
	fams = append(fams, journalMetrics(wt.runs)...)

	up := gauge("unloop_watch_up")
	up.add(b2f(wt.up))
	folders := gauge("unloop_watch_folders")
	folders.add(float64(wt.folders))
	gap := gauge("unloop_watch_backoff_seconds")
	gap.add(wt.gap.Seconds())
	// Every path the sources declare has its series from the start, at 0:
	// the family is there before the first change, and rate() sees that
	// change. The check's other inputs get theirs when they first change.
	counts := maps.Clone(wt.changes)
	if counts == nil {
		counts = map[string]float64{}
	}
	for _, p := range node.WatchPaths() {
		if _, ok := counts[p]; !ok {
			counts[p] = 0
		}
	}
	changes := counter("unloop_watch_changes_total")
	for _, p := range sortedKeys(counts) {
		changes.add(counts[p], "path", p)
	}
	lastChange := gauge("unloop_watch_last_change_timestamp_seconds")
	if !wt.lastChange.IsZero() {
		lastChange.add(unixSeconds(wt.lastChange))
	}
	checks := counter("unloop_watch_checks_total")
	for _, t := range []string{"start", "change", "interval"} {
		checks.add(wt.checks[t], "trigger", t)
	}
	fams = append(fams, up, folders, gap, changes, lastChange, checks)
	if wt.hold != nil {
		wt.hold.mu.Lock()
		ignored := counter("unloop_watch_changes_ignored_total")
		ignored.add(wt.hold.skips)
		fams = append(fams, ignored)
		if wt.wf.apply {
			held, heldN := gauge("unloop_watch_apply_held"), counter("unloop_watch_applies_held_total")
			held.add(b2f(wt.hold.failed != ""))
			heldN.add(wt.hold.refuse)
			fams = append(fams, held, heldN)
		}
		wt.hold.mu.Unlock()
	}
	return fams
}

// journalMetrics say what the newest run in the journal is and how many
// were rolled back, whoever ran them (watch, the boot unit, Ansible).
func journalMetrics(runs []*journal.Journal) []*gaugeFamily {
	info := gauge("unloop_last_apply_info")
	ok := gauge("unloop_last_apply_success")
	at := gauge("unloop_last_apply_timestamp_seconds")
	back := gauge("unloop_runs_rolled_back")
	n := 0
	for _, j := range runs {
		if j.State == journal.RunRolledBack || j.State == journal.RunConflict {
			n++
		}
	}
	back.add(float64(n))
	if len(runs) > 0 {
		j := runs[0]
		info.add(1, "run", j.ID, "state", string(j.State))
		ok.add(b2f(j.State == journal.RunApplied))
		at.add(unixSeconds(j.Created))
	}
	return []*gaugeFamily{info, ok, at, back}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
