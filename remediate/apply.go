package remediate

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/unloop/unloop/remediate/cmapply"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
	"github.com/unloop/unloop/remediate/probe"
	"github.com/unloop/unloop/remediate/trace"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/remediate/journal"
)

// Deadlines of apply's steps: it runs at boot and must never hang.
const (
	lockTimeout    = 60 * time.Second
	restartTimeout = 60 * time.Second
	// restartSettle is how long a restarted unit without a health endpoint
	// must stay active. A restart job of a Type=simple unit is done at fork:
	// a daemon that exits on the new config a moment later shows only here.
	restartSettle = 2 * time.Second
	// rollbackTimeout bounds a rollback's restarts, which run on a context
	// of their own: a SIGTERM that cut the run short must not also stop
	// the rollback from restarting kubelet on its old config.
	rollbackTimeout = 2 * time.Minute
)

// healthzWait bounds the wait for a restarted unit's health endpoint
// (kubelet's /healthz) to say ok; kubelet serves it about a second after it
// starts, once its config is read and accepted. A variable for the tests.
var healthzWait = 30 * time.Second

// Result is what apply did: the plan it carried out, and how it went.
// document.Apply is how it is printed.
type Result struct {
	Plan       *Plan
	Run        string
	Verified   bool
	RolledBack bool
	// Recreated are the pods whose sandboxes apply removed and kubelet made
	// again with the fixed file; StillStale those not back in time, which
	// still hold the old file (apply exits 3).
	Recreated  []string
	StillStale []string
	// StaleSkipped says why the stale pods were not recreated (offline,
	// --no-recreate-pods, no runtime...); "" when apply tried.
	StaleSkipped string
	// After is the verification's check, made once the change was in
	// place: what the node holds after the run (nil when not verified).
	// The pods it recreated after it are not in it.
	After *node.Report
}

// StepError says which step of apply failed; every change was rolled back.
type StepError struct {
	Step       string
	Err        error
	RollbackOK bool
	// Again are the flags that chose the node (" --root /mnt/node
	// --offline", shell-quoted), set by the command that ran apply: the
	// rollback the message suggests must act on the same tree.
	Again string
}

func (e *StepError) Error() string {
	s := fmt.Sprintf("%s: %v", e.Step, e.Err)
	if e.RollbackOK {
		return s + "; every change of the run was rolled back"
	}
	return s + "; rolling back failed too, see the errors above and run `unloop rollback" + e.Again + "`"
}

func (e *StepError) Unwrap() error { return e.Err }

// Apply carries out the plan MakePlan makes, under the lock: it refuses files
// that changed since they were read, journals the originals, writes, restarts,
// verifies, and rolls everything back if any step fails.
func Apply(ctx context.Context, env node.Env, opts node.Options) (*Result, error) {
	defer holdHangup(env.Logger())()
	unlock, err := lock(ctx, env)
	if err != nil {
		return nil, err
	}
	defer unlock()

	journal.Quarantine(env.Root, env.Logger())
	if err := recoverCrashed(ctx, env, opts); err != nil {
		return nil, err
	}
	journal.CleanTemps(env.Root, env.Logger())
	// A file that changed under apply (a DHCP renew racing the boot unit) is
	// refused before it is written; the plan is made again from what is
	// there now, so the renewed servers are kept, not lost.
	for replans := 0; ; replans++ {
		res, err := applyOnce(ctx, env, opts)
		var se *StepError
		if !errors.Is(err, hostcfg.ErrChanged) || errors.As(err, &se) && !se.RollbackOK {
			return res, err
		}
		if replans == maxReplans {
			return res, fmt.Errorf("%w; files kept changing while unloop wrote them, planned again %d times, giving up", err, maxReplans)
		}
		env.Logger().Warn("a file changed while applying: planning again from what is there now", "err", err, "attempt", replans+2)
	}
}

// prune removes the oldest runs beyond opts.KeepRuns (0: node.DefaultKeepRuns).
func prune(env node.Env, opts node.Options) {
	keep := opts.KeepRuns
	if keep <= 0 {
		keep = node.DefaultKeepRuns
	}
	journal.Prune(env.Root, env.Logger(), keep)
}

// maxReplans is how often apply plans again after a file changed under it.
const maxReplans = 3

// applyOnce plans and carries the plan out, once, under the caller's lock.
func applyOnce(ctx context.Context, env node.Env, opts node.Options) (*Result, error) {
	pl, err := MakePlan(ctx, env, opts)
	if err != nil {
		if pl != nil {
			return &Result{Plan: pl}, fmt.Errorf("%w; nothing was changed", err)
		}
		return nil, err
	}
	res := &Result{Plan: pl}
	if err := refusal(pl); err != nil || !pl.Changed {
		if err == nil {
			prune(env, opts)
			// The files are clean already: the check that found only
			// stale copies is the verification.
			if len(remainingErrors(pl.Report)) == 0 {
				recreatePods(ctx, env, res)
			}
		}
		return res, err
	}
	snaps, left, err := samePlan(env.Root, pl)
	if err != nil {
		return res, err
	}
	j, err := journal.New(env.Root, journal.NewRunID(time.Now()), pl.Strategies, snaps, left, missingDirs(env.Root, pl.Changes))
	if err != nil {
		return res, err
	}
	res.Run = j.ID
	trace.New(env.Logger()).Fact("journaled", "run", j.ID, "paths", len(snaps), "strategies", trace.List(pl.Strategies))
	crashpoint("journaled")
	r := &run{env: env, opts: opts, j: j, res: res, touched: len(snaps)}
	if err := r.carryOut(ctx); err != nil {
		return res, err
	}
	prune(env, opts)
	if res.Verified {
		recreatePods(ctx, env, res)
	}
	return res, nil
}

// lock takes unloop's lock, saying after a second whom it waits for.
func lock(ctx context.Context, env node.Env) (func(), error) {
	lctx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	return env.Root.Lock(lctx, func(pid int) {
		if pid > 0 {
			env.Logger().Info(fmt.Sprintf("waiting for the lock held by pid %d", pid))
			return
		}
		env.Logger().Info("waiting for the lock held by another process")
	})
}

// refusal says why apply must not carry out pl, if it must not.
func refusal(pl *Plan) error {
	for _, f := range pl.Report.Findings {
		if f.Code == finding.CodeNotANode {
			return fmt.Errorf("%s; nothing was changed", f.Message)
		}
	}
	if pl.Report.HasUnreadable() {
		return errors.New("some inputs could not be read (see the unreadable findings); nothing was changed")
	}
	if pl.Blocked() {
		var codes []string
		for _, f := range pl.blocking() {
			codes = append(codes, string(f.Code))
		}
		return fmt.Errorf("%w (%s); nothing was changed", ErrUnfixed, strings.Join(codes, ", "))
	}
	return configMapRefusal(pl)
}

// samePlan checks that every path the plan changes is still what the plan
// read, and returns what it is and what the run will leave there, for the
// journal.
func samePlan(root *hostcfg.Root, pl *Plan) ([]*hostcfg.Snapshot, []journal.Left, error) {
	var snaps []*hostcfg.Snapshot
	var left []journal.Left
	for _, c := range pl.Changes {
		if c.Kind != KindFile && c.Kind != KindLink {
			continue
		}
		cur, err := root.Snapshot(c.Path)
		if err != nil {
			return nil, nil, err
		}
		if !cur.Equal(c.Before) {
			return nil, nil, fmt.Errorf("%s %w; nothing was changed", c.Path, hostcfg.ErrChanged)
		}
		snaps = append(snaps, cur)
		l := journal.Left{Path: c.Path, Exists: true, Link: c.Target}
		if c.Kind == KindFile {
			l = journal.LeftFile(c.Path, c.After)
		}
		left = append(left, l)
	}
	return snaps, left, nil
}

// run is one journaled apply: its steps, and the rollback when one fails.
type run struct {
	env       node.Env
	opts      node.Options
	j         *journal.Journal
	res       *Result
	restarted []string
	// touched counts the journaled paths a write may have reached: the rest
	// were never written, and restoring them could put old bytes over what
	// another writer put there meanwhile.
	touched int
}

func (r *run) carryOut(ctx context.Context) error {
	if step, err := cmapply.Write(ctx, r.env.Root, r.env.ConfigMaps, r.j, r.configMapEdits(), r.env.Logger()); err != nil {
		r.touched = 0 // the ConfigMaps go first: no file written yet
		return r.fail(ctx, step, err)
	}
	if step, err := r.write(); err != nil {
		return r.fail(ctx, step, err)
	}
	if step, err := r.restart(ctx); err != nil {
		return r.fail(ctx, step, err)
	}
	tr := trace.New(r.env.Logger())
	if !r.opts.NoVerify {
		tr.Fact("verify", "run", r.j.ID, "how", "check the node again: no error of the node's own may remain")
		after, err := verifyClean(ctx, r.env, r.opts)
		if err != nil {
			tr.Fact("verify", "run", r.j.ID, "result", "failed: rolling back", "err", err)
			return r.fail(ctx, "verifying", err)
		}
		r.res.Verified, r.res.After = true, after
		tr.Fact("verify", "run", r.j.ID, "result", "no error remains")
		crashpoint("verified")
	} else {
		tr.Fact("verify", "run", r.j.ID, "result", "skipped: --no-verify")
	}
	if err := r.j.SetState(journal.RunApplied); err != nil {
		return r.fail(ctx, "journaling", err)
	}
	crashpoint("applied")
	return nil
}

// write writes the plan's files and links, each only over the very file the
// plan read, unchanged; on failure it names the step.
func (r *run) write() (string, error) {
	root := r.env.Root
	written := 0
	failed := func(err error) error {
		r.touched = written + 1
		if errors.Is(err, hostcfg.ErrChanged) || errors.Is(err, hostcfg.ErrSwapped) {
			r.touched = written // refused before its rename: not ours to restore
		}
		return err
	}
	for _, c := range r.res.Plan.Changes {
		switch c.Kind {
		case KindFile:
			if err := root.MkdirAll(path.Dir(c.Path), 0o755); err != nil {
				return "writing " + c.Path, failed(err)
			}
			if err := root.ReplaceFile(c.Before, c.After, c.Mode, c.UID, c.GID); err != nil {
				return "writing " + c.Path, failed(err)
			}
			written++
			crashpoint("wrote " + c.Path)
			r.env.Logger().Info("wrote", "path", c.Path, "strategy", c.Strategy)
		case KindLink:
			if err := root.ReplaceLink(c.Before, c.Target); err != nil {
				return "linking " + c.Path, failed(err)
			}
			written++
			crashpoint("linked " + c.Path)
			r.env.Logger().Info("linked", "path", c.Path, "target", c.Target, "strategy", c.Strategy)
		}
	}
	return "", nil
}

// restart restarts the plan's units, each journaled first and watched after.
func (r *run) restart(ctx context.Context) (string, error) {
	restarts := slices.ContainsFunc(r.res.Plan.Changes, func(c Change) bool { return c.Kind == KindUnit && c.Skipped == "" })
	if restarts {
		if err := reloadUnits(ctx, r.env, r.paths()); err != nil {
			return "reloading systemd", err
		}
	}
	for _, c := range r.res.Plan.Changes {
		if c.Kind != KindUnit || c.Skipped != "" {
			continue
		}
		reload := c.Action == "reload"
		if !reload {
			// A reload is not journaled: rollback reloads the unit again
			// by the files it restores (reloadAll).
			r.restarted = append(r.restarted, c.Unit)
			if err := r.j.SetUnits(slices.Clone(r.restarted)); err != nil {
				return "journaling " + c.Unit, err
			}
		}
		crashpoint("restarting " + c.Unit)
		trace.New(r.env.Logger()).Fact(c.Action, "unit", c.Unit, "strategy", c.Strategy, "healthz", c.Healthz, "verify", c.Verify != nil && !r.opts.NoVerify)
		rctx, cancel := context.WithTimeout(ctx, restartTimeout)
		var err error
		if reload {
			err = c.Reload(rctx, r.env.Bus)
		} else {
			err = r.env.Bus.RestartUnit(rctx, c.Unit)
		}
		switch {
		case err != nil:
		case reload:
		case c.Healthz != "":
			crashpoint("watching " + c.Unit)
			err = becomesHealthy(rctx, r.env, c.Unit, c.Healthz)
		default:
			crashpoint("watching " + c.Unit)
			err = staysActive(rctx, r.env.Bus, c.Unit)
		}
		if err == nil && c.Verify != nil && !r.opts.NoVerify {
			err = c.Verify(rctx, r.env.Bus)
		}
		cancel()
		if err != nil {
			return "restarting " + c.Unit, err
		}
		crashpoint("restarted " + c.Unit)
		r.env.Logger().Info("restarted", "unit", c.Unit)
	}
	return "", nil
}

// fail rolls the run back and says which step failed.
func (r *run) fail(ctx context.Context, step string, err error) error {
	root, j := r.env.Root, r.j
	rerr := j.Undo(root, r.touched, r.env.Logger())
	r.res.RolledBack = rerr == nil
	if rerr == nil {
		crashpoint("rolled-back")
		rerr = errors.Join(reloadUnits(ctx, r.env, r.paths()), restartAll(ctx, r.env, r.restarted), reloadAll(ctx, r.env, r.paths()))
	} else if errors.Is(rerr, journal.ErrConflict) {
		// Some file changed under the run (a DHCP renew): its newer
		// content stays; what was restored still needs the restarts.
		rerr = errors.Join(rerr, reloadUnits(ctx, r.env, r.paths()), restartAll(ctx, r.env, r.restarted), reloadAll(ctx, r.env, r.paths()))
	}
	if rerr != nil {
		r.env.Logger().Error("rollback failed", "run", j.ID, "err", rerr)
	} else {
		trace.New(r.env.Logger()).Fact("rolled back", "run", j.ID, "step", step, "paths", r.touched, "restarted again", trace.List(r.restarted))
	}
	return &StepError{Step: step, Err: err, RollbackOK: rerr == nil}
}

// missingDirs lists the folders the run's files need that do not exist yet,
// parents first, so rollback can take them away again.
func missingDirs(root *hostcfg.Root, changes []Change) []string {
	var out []string
	for _, c := range changes {
		if c.Kind != KindFile {
			continue
		}
		var chain []string
		for d := path.Dir(c.Path); d != "/"; d = path.Dir(d) {
			if _, err := root.Lstat(d); err == nil {
				break
			}
			chain = append(chain, d)
		}
		for _, d := range slices.Backward(chain) {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// verifyClean checks the node again: no error may remain. It returns the
// check's report.
func verifyClean(ctx context.Context, env node.Env, opts node.Options) (*node.Report, error) {
	rep, _, err := Check(ctx, env, opts)
	if err != nil {
		return nil, err
	}
	if left := remainingErrors(rep); len(left) > 0 {
		return nil, fmt.Errorf("errors remain after the change: %s", strings.Join(left, ", "))
	}
	return rep, nil
}

// remainingErrors are the errors of rep that a fix must leave none of. A
// pod's stale copy stays until the pod is recreated (the plan lists it), and
// a DNS server pod's loop is the user's to fix (Plan.Left).
func remainingErrors(rep *node.Report) []string {
	var left []string
	for _, f := range rep.Findings {
		if f.Severity == finding.SevError && !f.Ignored && f.Pod == "" {
			where := f.File
			if f.Line > 0 {
				where = fmt.Sprintf("%s:%d", f.File, f.Line)
			}
			left = append(left, fmt.Sprintf("%s %s", f.Code, where))
		}
	}
	return left
}

// staysActive watches a unit just restarted for restartSettle: it must not
// stop (exit, fail, wait to be restarted) in that time.
func staysActive(ctx context.Context, bus node.Bus, unit string) error {
	start := time.Now()
	for {
		active, err := bus.UnitActive(ctx, unit)
		if err != nil {
			return err
		}
		if !active {
			return fmt.Errorf("%s stopped %v after its restart (see journalctl -u %s)", unit, time.Since(start).Round(100*time.Millisecond), unit)
		}
		if time.Since(start) >= restartSettle {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("watching %s after its restart: %w", unit, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// becomesHealthy watches a unit just restarted until its health endpoint at
// addr says ok: kubelet's own word that it read and accepted its config, in
// about a second where the fixed settle took 2 s. The unit must stay active
// meanwhile; a kubelet that refuses its config exits (and, restarted by
// systemd, never answers ok).
func becomesHealthy(ctx context.Context, env node.Env, unit, addr string) error {
	ask := env.Healthz
	if ask == nil {
		ask = probe.HTTPHealthz
	}
	start := time.Now()
	last := errors.New("no answer yet")
	for {
		active, err := env.Bus.UnitActive(ctx, unit)
		if err != nil {
			return err
		}
		if !active {
			return fmt.Errorf("%s stopped %v after its restart (see journalctl -u %s)", unit, time.Since(start).Round(100*time.Millisecond), unit)
		}
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		last = ask(hctx, addr)
		cancel()
		if last == nil {
			env.Logger().Debug("healthy", "unit", unit, "healthz", addr, "after", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if time.Since(start) >= healthzWait {
			return fmt.Errorf("%s not healthy %v after its restart: /healthz on %s: %v (see journalctl -u %s)", unit, healthzWait, addr, last, unit)
		}
		// Asked every 25 ms: until kubelet listens each ask is a refused
		// connection on loopback (no cost), and every poll interval is paid
		// by the pods waiting for apply (issue 27).
		select {
		case <-ctx.Done():
			return fmt.Errorf("watching %s after its restart: %w", unit, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// restartAll restarts the units a rollback put back the files of. It is
// part of a rollback, so it runs on its own deadline: a cancelled ctx (the
// SIGTERM that cut the run short) must not leave kubelet on a deleted file.
// Each unit's failed state is reset first: a kubelet that crash-looped on
// the rolled-back config under Restart=always may have hit its start limit,
// and systemd then refuses the restart that would bring it back.
func restartAll(ctx context.Context, env node.Env, units []string) error {
	if len(units) == 0 {
		return nil
	}
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer stop()
	var errs []error
	for _, u := range units {
		rctx, cancel := context.WithTimeout(ctx, restartTimeout)
		if err := env.Bus.ResetFailed(rctx, u); err != nil {
			env.Logger().Debug("rollback: reset-failed", "unit", u, "err", err)
		}
		if err := env.Bus.RestartUnit(rctx, u); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	return errors.Join(errs...)
}

// reloadAll reloads the running units that read one of paths at reload
// (a strategy's reloads: networkd's .network drop-ins, NetworkManager's
// conf.d files and profiles), as part of a
// rollback: on its own deadline, as restartAll.
func reloadAll(ctx context.Context, env node.Env, paths []string) error {
	if env.Bus == nil {
		return nil
	}
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer stop()
	var errs []error
	for _, s := range reloadedBy(paths) {
		rctx, cancel := context.WithTimeout(ctx, restartTimeout)
		if active, err := env.Bus.UnitActive(rctx, s.unit); err == nil && active {
			errs = append(errs, s.reload(rctx, env.Bus, paths))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// ErrRolledBack is returned (wrapped) by Rollback for a run that was rolled
// back already.
var ErrRolledBack = errors.New("rolled back already")

// RollbackResult is what Rollback did: the run, and each of its paths.
type RollbackResult struct {
	Run   *journal.Journal
	Paths []journal.PathResult
}

// Rollback restores the files of run id (the newest run when id is "") and
// restarts what that run restarted, unless offline or --no-restart. A path
// holding content newer than the run's is refused (ErrConflict) unless
// force; a run rolled back already is refused (ErrRolledBack).
func Rollback(ctx context.Context, env node.Env, opts node.Options, id string, force bool) (*RollbackResult, error) {
	root := env.Root
	defer holdHangup(env.Logger())()
	unlock, err := lock(ctx, env)
	if err != nil {
		return nil, err
	}
	defer unlock()
	journal.Quarantine(root, env.Logger())
	var j *journal.Journal
	if id == "" {
		j, err = journal.Last(root)
	} else {
		j, err = journal.Load(root, id)
	}
	if err != nil {
		return nil, err
	}
	res := &RollbackResult{Run: j}
	cmapply.Restorer(ctx, env.ConfigMaps, j)
	if j.State == journal.RunRolledBack {
		return res, fmt.Errorf("nothing to roll back: run %s was %w", j.ID, ErrRolledBack)
	}
	res.Paths, err = j.Rollback(root, force)
	if err != nil && !errors.Is(err, journal.ErrConflict) {
		return res, err
	}
	j.RemoveTemps(root, env.Logger())
	if !restoredAny(res.Paths) || opts.Offline || opts.NoRestart || env.Bus == nil {
		return res, err
	}
	return res, errors.Join(err, reloadUnits(ctx, env, j.Paths()), restartAll(ctx, env, j.Units), reloadAll(ctx, env, j.Paths()))
}

// paths are the files the plan writes.
func (r *run) paths() []string {
	var out []string
	for _, c := range r.res.Plan.Changes {
		if c.Kind == KindFile {
			out = append(out, c.Path)
		}
	}
	return out
}

// reloadUnits has systemd read its units again when one of paths is a unit
// file or drop-in (kubelet's --resolv-conf in kubelet.service.d/), so the
// restart that follows runs what the files now say. Seen on the real kubelet:
// without it, kubelet came back with the old flag.
func reloadUnits(ctx context.Context, env node.Env, paths []string) error {
	if env.Bus == nil || !slices.ContainsFunc(paths, isUnitFile) {
		return nil
	}
	// Part of a rollback too: on its own deadline, as restartAll.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restartTimeout)
	defer cancel()
	return env.Bus.Reload(rctx)
}

// isUnitFile says whether p is a systemd unit or drop-in that systemd reads
// at daemon-reload (environment files are read at each start).
func isUnitFile(p string) bool {
	dir := path.Dir(p)
	return strings.HasSuffix(dir, ".service.d") || strings.HasSuffix(dir, "/systemd/system") && strings.HasSuffix(p, ".service")
}
