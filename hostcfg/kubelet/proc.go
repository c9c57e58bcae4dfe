package kubelet

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/unitfile"
)

// Process is a running kubelet, found by its command line in the root's /proc.
type Process struct {
	PID  int
	Argv []string
	// Distro is DistroKubelet for kubelet's own process, else the program
	// kubelet runs inside: k3s, rke2, k0s, microk8s (kubelite), microshift.
	Distro string
	// Unit is the systemd unit it runs in, from /proc/PID/cgroup ("" when
	// none is named there).
	Unit string
}

// classify says whether argv is a kubelet's, and in which program: kubelet
// itself, or one that runs kubelet in-process (k3s server|agent, rke2
// server|agent, k0s worker or controller, microshift, MicroK8s's kubelite).
// RKE2 and k0s also start kubelet as a process of its own, which is found
// first.
func classify(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	sub := ""
	if len(argv) > 1 {
		sub = argv[1]
	}
	switch path.Base(argv[0]) {
	case "kubelet":
		return DistroKubelet
	case "kubelite":
		return DistroMicroK8s
	case "microshift":
		return DistroMicroShift
	case "k3s":
		if sub == "server" || sub == "agent" {
			return DistroK3s
		}
	case "rke2":
		if sub == "server" || sub == "agent" {
			return DistroRKE2
		}
	case "k0s":
		if sub == "worker" || sub == "controller" {
			return DistroK0s
		}
	}
	return ""
}

// FindProcess looks through the root's /proc/*/cmdline for the running
// kubelet: kubelet's own process first (the lowest PID), else a program that
// runs kubelet in-process; one whose / is the root's before one in a root of
// its own. nil when none runs (offline, at boot) or the root
// has no /proc.
func FindProcess(r *hostcfg.Root) (*Process, error) {
	r = r.Unrecorded()
	ents, err := r.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("looking for the running kubelet: %w", err)
	}
	var found []*Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		// A process may end between the listing and the read: skipped.
		data, ok, err := r.ReadFileIfExists("/proc/" + e.Name() + "/cmdline")
		if err != nil || !ok {
			continue
		}
		argv := splitCmdline(data)
		if d := classify(argv); d != "" && !inPod(r, pid) {
			found = append(found, &Process{PID: pid, Argv: argv, Distro: d})
		}
	}
	slices.SortStableFunc(found, func(a, b *Process) int {
		if (a.Distro == DistroKubelet) != (b.Distro == DistroKubelet) {
			if a.Distro == DistroKubelet {
				return -1
			}
			return 1
		}
		return a.PID - b.PID
	})
	if len(found) == 0 {
		return nil, nil
	}
	// The node's own kubelet before one in a container of its own (kind
	// nodes, test beds on this host): their roots are not the root.
	p := found[0]
	for _, c := range found {
		if pr, err := r.ProcessRoot(c.PID); err == nil && pr == r {
			p = c
			break
		}
	}
	if data, ok, err := r.ReadFileIfExists(fmt.Sprintf("/proc/%d/cgroup", p.PID)); err == nil && ok {
		p.Unit = cgroupUnit(data)
	}
	return p, nil
}

// inPod says whether process pid runs in a pod's cgroup (kubelet's
// "kubepods" hierarchy, cgroupfs or systemd driver): a tenant's container may
// run any program named kubelet, and nothing a tenant runs decides what unloop
// sees (DESIGN.md §2b). kubelet itself, k3s and a containerized kubelet
// (Talos's, RKE1's) run outside that hierarchy.
func inPod(r *hostcfg.Root, pid int) bool {
	data, ok, err := r.ReadFileIfExists(fmt.Sprintf("/proc/%d/cgroup", pid))
	return err == nil && ok && bytes.Contains(data, []byte("kubepods"))
}

// splitCmdline splits /proc/PID/cmdline: arguments each ended by a NUL (a
// process that rewrote its title may leave one string with spaces, which is
// then split at them).
func splitCmdline(data []byte) []string {
	data = bytes.TrimRight(data, "\x00")
	if len(data) == 0 {
		return nil
	}
	if !bytes.Contains(data, []byte{0}) {
		return strings.Fields(string(data))
	}
	return strings.Split(string(data), "\x00")
}

// cgroupUnit is the systemd service a process runs in, from its
// /proc/PID/cgroup: the last ".service" in the unified (0::) or the
// name=systemd hierarchy's path.
func cgroupUnit(data []byte) string {
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || (parts[0] != "0" && parts[1] != "name=systemd") {
			continue
		}
		elems := strings.Split(parts[2], "/")
		for i := len(elems) - 1; i >= 0; i-- {
			if strings.HasSuffix(elems[i], ".service") {
				return elems[i]
			}
		}
	}
	return ""
}

// Running is what the running kubelet p hands to pods: its flags from its
// command line, its --config and --config-dir read through the process's
// own root (hostcfg.Root.ProcessRoot), so that a path means what it means
// to kubelet. For a program that runs kubelet in-process, the layout of
// that distribution unloop knows, read the same way. Unknown (the
// distribution's layout is not found, or another one is) is said in
// Setup.Unknown, never guessed; so is a config that can't be read now.
func Running(r *hostcfg.Root, p *Process) *Setup {
	pr, err := r.ProcessRoot(p.PID)
	if err != nil {
		k := unknownSetup(p, fmt.Sprintf("kubelet (pid %d) runs, but its root can't be opened (%v; following /proc/PID/root takes ptrace's read access: CAP_SYS_PTRACE, or kubelet's own user)", p.PID, err))
		k.rootDenied = true
		return k
	}
	if p.Distro != DistroKubelet {
		return runningInProcess(r, pr, p)
	}
	return runningOwn(r, pr, p)
}

// runningInProcess is kubelet inside another program: the process says
// which, and that distribution's files, read through its root, the rest.
func runningInProcess(r, pr *hostcfg.Root, p *Process) *Setup {
	k, err := discoverDistro(pr)
	if p.Distro == DistroK3s || p.Distro == DistroRKE2 {
		// Its own command line, not the unit's: flags there only.
		k, err = runningRancher(pr, p)
		if k != nil && k.ResolvConfFlag != nil && k.ResolvConfFlag.Line == 0 {
			k.Fix = Fix{Hand: cmdlineHand(p, *k.ResolvConfFlag)}
		}
	}
	switch {
	case err != nil:
		return unknownSetup(p, fmt.Sprintf("kubelet runs inside %s (pid %d), whose configuration can't be read (%v)", p.Distro, p.PID, err))
	case k == nil || k.Distro != p.Distro:
		return unknownSetup(p, fmt.Sprintf("kubelet runs inside %s (pid %d), whose configuration unloop does not know", p.Distro, p.PID))
	}
	k.Process = p
	if pr != r {
		k.Unknown = fmt.Sprintf("%s (pid %d) runs in a root of its own (a container): its %s is a path there, not on the node", p.Distro, p.PID, k.ResolvConf)
	}
	return k
}

// runningOwn is kubelet's own process: its flags from its command line,
// its config files through its root.
func runningOwn(r, pr *hostcfg.Root, p *Process) *Setup {
	k := &Setup{Healthz: DefaultHealthz, Unit: p.Unit}
	defer k.finish()
	var files unitfile.Files
	flags := kubeletFlags(argvText(p, &files, 1), &files)
	// The running kubelet's --node-ip and --cluster-dns count too (the
	// pod file's rules), as its other flags do.
	k.takeFlags(flags)
	k.Process = p
	err := k.readConfig(pr)
	if err == nil && k.ConfigDir != "" {
		err = k.readDropIns(pr)
	}
	if err != nil {
		// What it read at its start may have parsed; what is there now
		// does not tell.
		k.Unknown = fmt.Sprintf("kubelet (pid %d) runs, but its config can't be read now (%v)", p.PID, err)
		return k
	}
	if k.ResolvConfFlag != nil {
		k.Fix.Hand = cmdlineHand(p, *k.ResolvConfFlag)
	}
	k.changed = changedSince(r, pr, p.PID, append([]string{k.ConfigPath}, k.DropIns...))
	if pr != r {
		k.inOwnRoot(r, pr, p)
	}
	return k
}

// inOwnRoot: kubelet runs in a container of its own (Talos, RKE1), where
// its pod file is a path in its mount namespace, read through its root.
// Where that is the very file of the same path on the node, it is the
// node's, fixed there: Talos v1.12.0 bind-mounts
// /system/resolved/resolv.conf at its own path
// (internal/app/machined/pkg/system/services/kubelet.go), RKE1 v1.6.3 binds
// /etc/resolv.conf and /run (cluster/plan.go, BuildKubeletProcess), and
// rke-tools v0.1.111's entrypoint.sh appends
// --resolv-conf=/run/systemd/resolve/resolv.conf where systemd-resolved
// runs. Else it is judged where kubelet sees it (PodRoot). Either way, the
// container's definition is where a person changes it.
func (k *Setup) inOwnRoot(r, pr *hostcfg.Root, p *Process) {
	if k.Fix.Hand == nil {
		k.Fix.Hand = func(target string) string {
			return fmt.Sprintf("kubelet (pid %d) runs in a container of its own, from a definition unloop does not edit: point its resolvConf at %s there (Talos: the machine config; RKE1: services.kubelet.extra_args in cluster.yml, then rke up)", p.PID, target)
		}
	}
	if k.ResolvConf == "" {
		return // no file: pods get their own loopback
	}
	a, errA := pr.Stat(k.ResolvConf)
	b, errB := r.Stat(k.ResolvConf)
	if errA == nil && errB == nil && os.SameFile(a, b) {
		return
	}
	k.PodRoot = pr
	apart := fmt.Sprintf("kubelet (pid %d) runs in a root of its own (a container): its %s is not the node's file of that path, and is judged as kubelet sees it, through /proc/%d/root", p.PID, k.ResolvConf, p.PID)
	k.changed = strings.Join(slices.DeleteFunc([]string{apart, k.changed}, func(s string) bool { return s == "" }), "; ")
}

// argvText is p's command line from argument from on, as words of the file
// /proc/PID/cmdline.
func argvText(p *Process, files *unitfile.Files, from int) []unitfile.Text {
	fi := files.Add(fmt.Sprintf("/proc/%d/cmdline", p.PID), nil)
	args := make([]unitfile.Text, 0, len(p.Argv))
	for _, a := range p.Argv[min(from, len(p.Argv)):] {
		t := make(unitfile.Text, len(a))
		for i := range a {
			// Not Lit: a command line is no file to edit.
			t[i] = unitfile.Byte{C: a[i], File: fi}
		}
		args = append(args, t)
	}
	return args
}

// cmdlineHand: only a person can change a flag of a command line unloop
// did not find in a file.
func cmdlineHand(p *Process, flag Flag) func(string) string {
	return func(target string) string {
		return fmt.Sprintf("%s (pid %d) runs with --%s=%s on its command line, from a unit, script or container unloop does not read: make it --%s=%s there and restart it", p.Distro, p.PID, flag.Name, flag.Value, flag.Name, target)
	}
}

// unknownSetup is a kubelet that runs in a way unloop does not know.
func unknownSetup(p *Process, why string) *Setup {
	k := &Setup{Healthz: DefaultHealthz, Distro: p.Distro, Unit: p.Unit, Process: p, Unknown: why}
	k.finish()
	return k
}

// Reconcile decides, online, between what the running kubelet uses
// (running) and what its files say (files: what kubelet reads at its next
// start). Pods get what the running kubelet chose; a fix still edits the
// files, so the files' Setup is kept wherever they name the same kubelet.
// note, when not "", says how the two differ.
func Reconcile(files, running *Setup) (use *Setup, note string) {
	use, note = reconcile(files, running)
	switch {
	case running.changed == "" || running.Unknown != "":
	case note == "":
		note = running.changed
	default:
		note += "; " + running.changed
	}
	return use, note
}

func reconcile(files, running *Setup) (use *Setup, note string) {
	p := running.Process
	switch {
	case running.rootDenied && files.Present:
		// Nothing read of the running kubelet: its files, as offline.
		return files, running.Unknown + "; judged by kubelet's files, as offline"
	case running.Unknown != "":
		running.Present = true
		running.ResolvConf, running.ResolvConfSource = "", "unknown"
		running.Why = running.Unknown
		return running, running.Unknown + ": the file pods get is unknown, and unloop judges no file from a guess"
	case !files.Present:
		running.Present = true
		running.Why = fmt.Sprintf("%s; found by its process, pid %d, not by unit files", running.choice(), p.PID)
		return running, ""
	case p.Unit != "" && running.Distro == DistroKubelet && files.Distro == DistroKubelet && p.Unit != files.Unit:
		// The files describe a kubelet that is not the one running.
		running.Present = true
		running.Why = fmt.Sprintf("%s; found by its process, pid %d", running.choice(), p.PID)
		return running, fmt.Sprintf("kubelet runs from %s (pid %d), not from the %s unloop's files describe", p.Unit, p.PID, files.Unit)
	case running.Distro != DistroKubelet && files.Distro != running.Distro:
		running.Present = true
		return running, fmt.Sprintf("%s runs kubelet (pid %d), not the %s the files describe", running.Distro, p.PID, files.Distro)
	case files.ResolvConf == running.ResolvConf:
		files.Process, files.PodRoot = p, running.PodRoot
		return files, ""
	}
	use = new(Setup)
	*use = *files
	use.Process = p
	// Only the pod file is the running kubelet's: the flag, the config
	// file and the source stay the files', which is where a fix is made.
	use.ResolvConf, use.PodRoot = running.ResolvConf, running.PodRoot
	use.Why = fmt.Sprintf("the running kubelet, pid %d, took it from %s; its files now say %s, which its next restart picks up", p.PID, running.choice(), files.ResolvConf)
	note = fmt.Sprintf("the running kubelet (pid %d) hands pods %s (%s), but its files say %s (%s): pods get %s until kubelet restarts, then %s",
		p.PID, running.ResolvConf, running.choice(), files.ResolvConf, files.choice(), running.ResolvConf, files.ResolvConf)
	return use, note
}

// choice says where k's pod file comes from, in a few words.
func (k *Setup) choice() string {
	switch {
	case k.ResolvConfSource == "flag" && k.ResolvConfFlag != nil && k.ResolvConfFlag.Line == 0:
		return "--" + k.ResolvConfFlag.Name + " on " + k.ResolvConfFlag.File
	case k.ResolvConfSource == "flag" && k.ResolvConfFlag != nil:
		return fmt.Sprintf("--resolv-conf in %s line %d", k.ResolvConfFlag.File, k.ResolvConfFlag.Line)
	case k.ResolvConfSource == "config":
		return fmt.Sprintf("resolvConf in %s line %d", k.ResolvConfAt.File, k.ResolvConfAt.Line)
	case k.ResolvConfSource == "distro" && k.Why != "":
		return k.Why
	case k.ConfigExists:
		return "the default: " + k.ConfigPath + " sets no resolvConf"
	default:
		return "the default"
	}
}

// changedSince says which of kubelet's config files (read through pr)
// changed after process pid started: kubelet reads them only at its start,
// and what they said before is gone, so pods may still get that; "" when
// none did or the start time can't be read.
func changedSince(r, pr *hostcfg.Root, pid int, paths []string) string {
	start, ok := startTime(r, pid)
	if !ok {
		return ""
	}
	var changed []string
	for _, p := range paths {
		if p == "" {
			continue
		}
		// btime is in whole seconds: a file written in the second kubelet
		// started is not taken for a later change.
		if fi, err := pr.Stat(p); err == nil && fi.ModTime().After(start.Add(time.Second)) {
			changed = append(changed, p)
		}
	}
	if len(changed) == 0 {
		return ""
	}
	return fmt.Sprintf("%s changed after kubelet (pid %d) started at %s: kubelet reads it only at its start, so pods may still get what it said before; unloop judges it as it is now, which kubelet's next restart takes",
		strings.Join(changed, ", "), pid, start.UTC().Format(time.RFC3339))
}

// userHZ is the unit of /proc/PID/stat's times: USER_HZ, 100 on every
// architecture Kubernetes nodes run (amd64, arm64, ppc64le, s390x; proc(5)).
const userHZ = 100

// startTime is when process pid started: its /proc/PID/stat starttime
// (field 22, clock ticks after boot) after /proc/stat's btime.
func startTime(r *hostcfg.Root, pid int) (time.Time, bool) {
	r = r.Unrecorded()
	stat, err := r.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, false
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after it follow its last ')'.
	i := bytes.LastIndexByte(stat, ')')
	fields := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(fields) < 20 {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	sys, err := r.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(sys), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			bt, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(bt, 0).Add(time.Duration(ticks) * (time.Second / userHZ)), true
		}
	}
	return time.Time{}, false
}
