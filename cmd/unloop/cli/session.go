package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/unloop/unloop/remediate"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"

	"github.com/unloop/unloop/cmd/unloop/render"
	"github.com/unloop/unloop/cmd/unloop/settings"
	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/kubeapi"
)

// session is what a command runs with once its settings are read.
type session struct {
	*settings.Config
	log *slog.Logger
	out io.Writer // stdout; io.Discard under --quiet
	err io.Writer // stderr
}

// start reads the command's settings and makes its logger: the level follows
// --verbose and --quiet, and the settings' warnings (and, verbose, where each
// came from) are logged.
func (cf *cmdFlags) start(s Streams) (*session, error) {
	c, err := cf.settings.Load()
	if err != nil {
		return nil, err
	}
	level := slog.LevelInfo
	switch {
	case c.Quiet:
		level = slog.LevelError
	case c.Verbose:
		level = slog.LevelDebug
	}
	log, err := newLogger(s.Err, c.LogFormat, level)
	if err != nil {
		return nil, err
	}
	for _, w := range c.Warnings {
		log.Warn(w)
	}
	for _, src := range c.Sources {
		log.Debug("setting", "name", src.Name, "value", src.Value, "from", src.From)
		// What plan and apply change depends on their settings: one that
		// does not come from this command line is said, so that an
		// UNLOOP_STRATEGY=stub left in the environment does not change the
		// plan silently. (The config file itself is named in its keys' notes.)
		if (src.From == "env" || src.From == "file") && src.Name != "config" && slices.Contains([]string{"plan", "apply", "watch"}, cf.cmd.Name()) {
			log.Info(fmt.Sprintf("%s %v (from %s)", src.Name, src.Value, src.Where))
		}
	}
	out := s.Out
	if c.Quiet {
		out = io.Discard
		cf.cmd.SetOut(io.Discard)
	}
	return &session{Config: c, log: log, out: &render.Repeating{Writer: out, Flags: nodeFlags(c)}, err: s.Err}, nil
}

// nodeFlags are the flags that chose the node and how it is read, as given
// (flag, variable or config file), shell-quoted, for the commands the output
// suggests: without them, a suggested `unloop apply` would act on / (the
// default root) rather than the tree this run read.
func nodeFlags(c *settings.Config) string {
	var b strings.Builder
	for _, src := range c.Sources {
		v := fmt.Sprint(src.Value)
		switch {
		case src.From == "default":
		case src.Name == "root" || src.Name == "config":
			b.WriteString(" --" + src.Name + " " + shellQuote(v))
		case src.Name == "offline" && v == "true":
			b.WriteString(" --offline")
		}
	}
	return b.String()
}

// applyNode is remediate.Apply whose failed rollback's suggested `unloop
// rollback` carries the flags that chose the node, as every other
// suggested command does.
func applyNode(ctx context.Context, env node.Env, c *settings.Config) (*remediate.Result, error) {
	res, err := remediate.Apply(ctx, env, c.Opts)
	var se *remediate.StepError
	if errors.As(err, &se) {
		se.Again = nodeFlags(c)
	}
	return res, err
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// onNode is how check, plan, apply and rollback start and end: the settings,
// the logger, the node opened, fn, and the node closed again.
func (cf *cmdFlags) onNode(s Streams, fn func(ctx context.Context, ss *session, env node.Env) error) error {
	ss, err := cf.start(s)
	if err != nil {
		return err
	}
	ctx := cf.cmd.Context()
	env, closeEnv, err := openEnv(ctx, ss.Config, ss.log)
	if err != nil {
		return err
	}
	defer closeEnv()
	return fn(ctx, ss, env)
}

// openEnv opens the node: its root, and unless offline its bus and
// interfaces (which bus, and whether this machine's interfaces are the
// node's: nodeBus). No bus is not an error: check then says it read files
// only.
func openEnv(ctx context.Context, c *settings.Config, log *slog.Logger) (node.Env, func(), error) {
	root, err := hostcfg.NewRoot(c.Root)
	if err != nil {
		return node.Env{}, nil, err
	}
	env := node.Env{Root: root, Log: log}
	if c.Opts.Offline {
		return env, func() {}, nil
	}
	rt := &runtimeDialer{root: root}
	env.Runtime = rt.dial
	// Before the bus: a root that is not this machine is read offline, but
	// its cluster's API server is no part of this machine either.
	api, err := kubeapi.Connect(kubeapi.Where{Kubeconfig: c.Kubeconfig, Env: os.Getenv("KUBECONFIG"), ReadNode: root.ReadFileIfExists, InCluster: kubeapi.InCluster()})
	switch {
	case err == nil:
		env.ConfigMaps = api
		log.Debug("Kubernetes credentials", "from", api.From)
	case !errors.Is(err, kubeapi.ErrNoCredentials):
		return node.Env{}, nil, err
	}
	env, closeEnv, err := openBus(ctx, c, log, env)
	return env, func() { closeEnv(); rt.close() }, err
}

// runtimeDialer connects to the container runtime the first time remediate
// asks (after kubelet's endpoint is known), once per command: plan, apply
// and its verification share the connection.
type runtimeDialer struct {
	root     *hostcfg.Root
	endpoint string
	client   *cri.Client
}

func (d *runtimeDialer) dial(_ context.Context, endpoint string) (node.Runtime, error) {
	if d.client != nil && d.endpoint == endpoint {
		return d.client, nil
	}
	d.close()
	c, err := cri.Dial(d.root, endpoint)
	if err != nil {
		return nil, err
	}
	d.client, d.endpoint = c, endpoint
	return c, nil
}

func (d *runtimeDialer) close() {
	if d.client != nil {
		d.client.Close()
		d.client = nil
	}
}

// openBus dials the node's system bus, and says why not when it can't.
func openBus(ctx context.Context, c *settings.Config, log *slog.Logger, env node.Env) (node.Env, func(), error) {
	bctx, cancel := context.WithTimeout(ctx, busDialTimeout)
	defer cancel()
	bus, err := nodeBus(bctx, env.Root.Dir())
	var notOurs *foreignRootError
	switch {
	case errors.As(err, &notOurs):
		// Not this machine, and no bus of its own: nothing may act on this
		// machine, so files only.
		// The report's offline note says why, once (a log line too would
		// repeat it); rollback, which has no report, logs it.
		c.Opts.Offline = true
		env.BusNote = fmt.Sprintf("--root %s is not this machine and %v", c.Root, notOurs.Err)
		log.Debug("offline", "why", env.BusNote)
		env.Runtime = nil
		return env, func() {}, nil
	case err != nil:
		env.Interfaces = node.SystemInterfaces
		env.BusNote = fmt.Sprintf("no system bus (%v)", err)
		log.Debug("no system bus", "err", err)
		return env, func() {}, nil
	}
	env.Interfaces = node.SystemInterfaces
	env.Bus = bus
	return env, bus.Close, nil
}

func newLogger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// quietErrors says on stderr, under --quiet, why the command exits 1 when
// that reason is in its report: the inputs it could not read.
func quietErrors(ss *session, findings []node.Finding) {
	if !ss.Quiet {
		return
	}
	for _, f := range findings {
		if f.Code != finding.CodeUnreadable && f.Code != finding.CodeNotANode {
			continue
		}
		msg := f.Message
		if !strings.HasPrefix(msg, f.File) {
			msg = render.Where(f) + ": " + msg // the error names its file as a rule
		}
		fmt.Fprintf(ss.err, "unloop: %s\n", render.OneLine(msg)) // one line, whatever the file's name
	}
}
