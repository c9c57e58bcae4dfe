// Package kubelet finds what kubelet hands to pods as their resolv.conf: its
// units, environment files and flags, and its KubeletConfiguration file, and
// edits the flag or the file in place.
package kubelet

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/unitfile"
)

// Where is a place in a file.
type Where struct {
	File string
	Line int
}

// String is "FILE line N", or FILE alone where there are no lines (a
// process's command line, a distribution's default).
func (w Where) String() string {
	if w.Line == 0 {
		return w.File
	}
	return fmt.Sprintf("%s line %d", w.File, w.Line)
}

// Flag is a command-line flag of kubelet found in a unit or an environment file.
type Flag struct {
	Name  string // "resolv-conf", "config"
	Value string
	File  string // the file that holds the value's bytes
	Line  int
	// ValueStart and ValueEnd are the byte offsets of the value in File, for
	// splicing. Both are -1 when the value is not written there as one literal
	// run (quoted with escapes, split over joined lines, built from several
	// variables): such a value can only be changed by hand.
	ValueStart int
	ValueEnd   int
}

// KeyMiss is a key in kubelet's config that nearly spells resolvConf.
type KeyMiss struct {
	Key   string
	Value string
	File  string
	Line  int
}

// Setup is what kubelet hands to pods with dnsPolicy: Default, and why.
type Setup struct {
	Present   bool     // a kubelet unit, env file or config was found
	UnitFiles []string // kubelet.service and drop-ins read, in systemd's order
	EnvFiles  []string // environment files read

	ConfigPath   string // the KubeletConfiguration file in force ("" when none is found)
	ConfigFlag   *Flag  // the --config flag, nil when the default path is used
	ConfigExists bool

	// ResolvConf is the pod file; "" with ResolvConfSource "config" or
	// "flag" means `resolvConf: ""`: pods get a nameserver on their own
	// loopback (EmptyResolvConfServers).
	ResolvConf       string
	ResolvConfSource string // "flag", "config", "default"
	ResolvConfFlag   *Flag  // when the source is the flag
	ResolvConfAt     Where  // where the config file sets it (also when the flag overrides it)

	Misspelled []KeyMiss

	// NodeIPs is --node-ip (empty when unset): with resolvConf "" their
	// families decide what pods get (EmptyResolvConfServers).
	NodeIPs []netip.Addr
	// NodeIPFromNode: NodeIPs is unset because k3s or RKE2 passes kubelet
	// the node's own address (an IPv4 one when there is one, k3s's
	// util.GetHostnameAndIPs), which only the node's interfaces tell.
	NodeIPFromNode bool
	// ClusterDNS is --cluster-dns, else the config's clusterDNS: the
	// cluster DNS Service, which CoreDNS is; ClusterDNSAt says where.
	ClusterDNS     []netip.Addr
	ClusterDNSAt   Where
	clusterDNSFlag bool
	// clusterDNSDefault: ClusterDNS is k3s's default (k3sClusterDNS).
	clusterDNSDefault bool

	// Healthz is the address of kubelet's /healthz: its config's
	// healthzBindAddress and healthzPort (127.0.0.1:10248 by default), ""
	// when healthzPort is 0 (turned off). apply watches it after a restart.
	Healthz string

	// ConfigDir is --config-dir; DropIns are the drop-ins read there, in
	// kubelet's order.
	ConfigDir string
	DropIns   []string

	// Distro is what runs kubelet: DistroKubelet (a kubelet unit of its own),
	// or k3s, rke2, microk8s, k8s-snap, k0s.
	Distro string
	// Unit is the systemd unit restarted after the pod file changed.
	Unit string
	// RuntimeEndpoint is kubelet's container runtime (CRI) endpoint:
	// --container-runtime-endpoint, else its config's
	// containerRuntimeEndpoint, else the distribution's default.
	RuntimeEndpoint string
	runtimeFlag     bool // RuntimeEndpoint is the flag's: no file overrides it
	// NodeName is the name kubelet registers (--hostname-override, k3s's
	// node-name); "" when it is the host's name.
	NodeName string
	// Why says where ResolvConf comes from when ResolvConfSource is "distro":
	// the distribution's own rule (k3s's choice, a snap's default).
	Why string
	// Fix is how unloop changes the pod file on this layout; its zero value
	// means: edit the flag or the config file in place.
	Fix Fix
	// ConfigFiles are the distribution's config files read (k3s's
	// config.yaml and config.yaml.d, a snap's args file, k0s.yaml).
	ConfigFiles []string
	// Fallback is the server of k3s's own resolv.conf when its fallback
	// applies (8.8.8.8), "" otherwise.
	Fallback string
	// Process is the running kubelet this was read from (online), nil when
	// it was read from the files alone.
	Process *Process
	// PodRoot, when not nil, is the running kubelet's own root (a
	// container of its own) in which ResolvConf is a file apart from the
	// node's file of that path: the pod file is read there.
	PodRoot *hostcfg.Root
	// Unknown, when set, says why the pod file is not known: kubelet runs
	// in a way unloop does not recognise, and nothing is judged from a guess.
	Unknown string
	// changed says which of the running kubelet's config files changed
	// after it started (changedSince).
	changed string
	// rootDenied: the running kubelet's /proc/PID/root could not be
	// followed, so nothing of it was read.
	rootDenied bool
}

// Distributions of kubelet.
const (
	DistroKubelet  = "kubelet"
	DistroK3s      = "k3s"
	DistroRKE2     = "rke2"
	DistroMicroK8s = "microk8s"
	DistroK8sSnap  = "k8s-snap"
	DistroK0s      = "k0s"
	// DistroMicroShift and DistroTalos: microshift.go, talos.go.
	DistroMicroShift = "microshift"
	DistroTalos      = "talos"
)

// Fix is how unloop points kubelet at another pod file on a layout where the
// flag and the config file are not edited in place.
type Fix struct {
	// Path is the file unloop writes or edits: its drop-in, its
	// config.yaml.d file, a snap's args file.
	Path string
	// Edit returns Path's new bytes (old is nil when Path does not exist).
	Edit func(old []byte, target string) ([]byte, error)
	// Hand, when set, is the edit a person makes: unloop changes nothing.
	Hand func(target string) string
	// Merged, for a file in a drop-in folder, is the file and line that
	// decide the pod file once Path holds target: the reader's merge
	// replayed with unloop's file in its place. It is Path when unloop's
	// file wins.
	Merged func(target string) Where
	// Refuse, when set, says why no file unloop can write there wins: the
	// site's file that would override it, named. unloop writes nothing.
	Refuse string
}

// DefaultRuntimeEndpoints are the container runtime sockets each kubelet uses
// unless told otherwise: KubeletConfiguration's default since 1.27, and the
// containerd each distribution runs for itself.
var DefaultRuntimeEndpoints = map[string]string{
	DistroKubelet:  "unix:///run/containerd/containerd.sock",
	DistroK3s:      "unix:///run/k3s/containerd/containerd.sock",
	DistroRKE2:     "unix:///run/k3s/containerd/containerd.sock",
	DistroMicroK8s: "unix:///var/snap/microk8s/common/run/containerd.sock",
	DistroK8sSnap:  "unix:///run/containerd/containerd.sock",
	DistroK0s:      "unix:///run/k0s/containerd.sock",
	// MicroShift's kubeletFlags.RemoteRuntimeEndpoint; Talos's
	// constants.CRIContainerdAddress.
	DistroMicroShift: "unix:///var/run/crio/crio.sock",
	DistroTalos:      "unix:///run/containerd/containerd.sock",
}

// DefaultHealthz is where kubelet serves /healthz unless its config says.
const DefaultHealthz = "127.0.0.1:10248"

// Where kubelet's files are by default.
const (
	DefaultResolvConf      = "/etc/resolv.conf"
	kubeadmKubeletConfig   = "/var/lib/kubelet/config.yaml"
	kubesprayKubeletConfig = "/etc/kubernetes/kubelet-config.yaml"
)

// kubeletUnitDirs are systemd's system unit folders, highest precedence first
// (/usr/local/lib is systemd's too, between /run and /usr/lib).
var kubeletUnitDirs = []string{
	"/etc/systemd/system",
	"/run/systemd/system",
	"/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system",
	"/lib/systemd/system",
}

// kubeletEnvFiles are where kubeadm, the distribution packages and Kubespray
// keep kubelet's flags; they are read on their own when no unit is found.
var kubeletEnvFiles = []string{
	"/var/lib/kubelet/kubeadm-flags.env",
	"/etc/default/kubelet",
	"/etc/sysconfig/kubelet",
	"/etc/kubernetes/kubelet.env",
}

// Discover finds kubelet's units and drop-ins (under /etc/systemd/system,
// /run/systemd/system, /usr/local/lib/systemd/system, /usr/lib/systemd/system,
// /lib/systemd/system, with service.d/ drop-ins too; unitFiles
// from systemd itself (FragmentPath, then DropInPaths) are used instead when
// given), the environment files they name, the --config and --resolv-conf flags
// (a flag beats the config file), and the config file (--config, else
// /var/lib/kubelet/config.yaml, else /etc/kubernetes/kubelet-config.yaml).
//
// On error the returned Setup is never nil and holds what was found before
// the error (the flags, say, when the config file does not parse), so a check
// can report the error and still go on.
func Discover(r *hostcfg.Root, unitFiles []string) (*Setup, error) {
	k := &Setup{Healthz: DefaultHealthz}
	defer k.finish() // on every return: an error still leaves a usable answer
	var files unitfile.Files

	if unitFiles == nil {
		var err error
		unitFiles, err = findUnit(r, "kubelet.service")
		if err != nil {
			return k, err
		}
		if len(unitFiles) == 0 || path.Base(unitFiles[0]) != "kubelet.service" {
			// No kubelet unit: kubelet may live inside k3s, RKE2, a snap or k0s.
			if d, err := discoverDistro(r); d != nil || err != nil {
				return d, err
			}
		} else if d, err := bottlerocketPending(r); d != nil || err != nil {
			return d, err // Bottlerocket's unit, its settings not rendered yet
		}
	}
	u, err := k.readUnits(r, &files, unitFiles)
	if err != nil {
		return k, err
	}
	var args []unitfile.Text
	if len(k.UnitFiles) > 0 {
		args, err = k.unitArgs(r, &files, u)
	} else {
		args, err = k.envFileArgs(r, &files)
	}
	if err != nil {
		return k, err
	}

	k.takeFlags(kubeletFlags(args, &files))

	if err := k.readConfig(r); err != nil {
		return k, err
	}
	if k.ConfigDir != "" {
		if err := k.readDropIns(r); err != nil {
			return k, err
		}
	}
	return k, bottlerocketFix(r, k)
}

// distros are the programs kubelet runs inside when it has no unit of its
// own, one file each (k3s.go, snap.go, k0s.go, microshift.go, talos.go),
// asked in this order; each
// returns nil when it is not on the node. Add a distribution here
// (DESIGN.md "How to add a kubelet distribution").
var distros = []func(r *hostcfg.Root) (*Setup, error){
	discoverRancher,
	discoverSnap,
	discoverK0s,
	discoverMicroShift,
	discoverTalos,
}

// discoverDistro finds a kubelet that runs inside another program; nil when
// there is none.
func discoverDistro(r *hostcfg.Root) (*Setup, error) {
	for _, d := range distros {
		if k, err := d(r); k != nil || err != nil {
			return k, err
		}
	}
	return nil, nil
}

// unitSettings is what kubelet's unit and drop-ins say about its command line.
type unitSettings struct {
	cmds    []unitfile.Command
	envList []unitfile.EnvVar
	envFile []string // EnvironmentFile= values, "-" prefix kept
}

// readUnits reads the unit files in systemd's order and lists in
// k.UnitFiles those that are there.
func (k *Setup) readUnits(r *hostcfg.Root, files *unitfile.Files, unitFiles []string) (*unitSettings, error) {
	u := &unitSettings{}
	for _, p := range unitFiles {
		p = conffile.Clean(p)
		data, ok, err := readUnitFile(r, p)
		if err != nil {
			return u, fmt.Errorf("reading kubelet unit: %w", err)
		}
		if !ok {
			continue
		}
		k.UnitFiles = append(k.UnitFiles, p)
		fi := files.Add(p, data)
		for _, a := range unitfile.Parse(fi, data) {
			u.apply(a)
		}
	}
	return u, nil
}

// apply takes one assignment of a unit file; an empty one resets its list.
func (u *unitSettings) apply(a unitfile.Assignment) {
	switch a.Key {
	case "ExecStart":
		if len(a.Value) == 0 {
			u.cmds = nil
			return
		}
		u.cmds = append(u.cmds, unitfile.ParseExecStart(a.Value, a.Line)...)
	case "Environment":
		if len(a.Value) == 0 {
			u.envList = nil
			return
		}
		u.envList = append(u.envList, unitfile.ParseEnvironment(a.Value, a.Line)...)
	case "EnvironmentFile":
		if len(a.Value) == 0 {
			u.envFile = nil
			return
		}
		u.envFile = append(u.envFile, unitfile.Specifiers(a.Value).String())
	}
}

// unitArgs is kubelet's argv[1:] as its unit starts it: the last ExecStart=,
// with the variables of Environment= and the environment files expanded.
func (k *Setup) unitArgs(r *hostcfg.Root, files *unitfile.Files, u *unitSettings) ([]unitfile.Text, error) {
	environ, err := k.unitEnviron(r, files, u)
	if err != nil {
		return nil, err
	}
	if len(u.cmds) == 0 {
		return nil, nil
	}
	// Only one ExecStart= is allowed for kubelet's Type=; the last one
	// is what runs if there are several.
	c := u.cmds[len(u.cmds)-1]
	if c.NoEnv {
		return c.Args, nil
	}
	return unitfile.ExpandArgv(c.Args, environ), nil
}

// unitEnviron is the environment a unit gives its process: Environment=, then
// the environment files over it.
func (k *Setup) unitEnviron(r *hostcfg.Root, files *unitfile.Files, u *unitSettings) (map[string]unitfile.Text, error) {
	environ := map[string]unitfile.Text{}
	for _, e := range u.envList {
		environ[e.Name] = e.Value
	}
	// Variables from files override Environment= (systemd.exec(5)).
	for _, spec := range u.envFile {
		paths, err := kubeletEnvFilePaths(r, spec)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			vars, ok, err := readKubeletEnvFile(r, files, p)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			k.EnvFiles = append(k.EnvFiles, p)
			for _, v := range vars {
				environ[v.Name] = v.Value
			}
		}
	}
	return environ, nil
}

// envFileArgs is used when there is no unit: kubelet may be started by
// something we can't read, and its flags are still in the usual files. Every
// variable there counts.
func (k *Setup) envFileArgs(r *hostcfg.Root, files *unitfile.Files) ([]unitfile.Text, error) {
	var args []unitfile.Text
	for _, p := range kubeletEnvFiles {
		vars, ok, err := readKubeletEnvFile(r, files, p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		k.EnvFiles = append(k.EnvFiles, p)
		for _, v := range vars {
			words, _ := unitfile.SplitWords(v.Value, unitfile.WordRelax)
			args = append(args, words...)
		}
	}
	return args, nil
}

// finish settles what is decided by everything found: presence and the flag's
// precedence over the config file.
func (k *Setup) finish() {
	k.Present = len(k.UnitFiles) > 0 || len(k.EnvFiles) > 0 || k.ConfigExists || len(k.DropIns) > 0 ||
		len(k.ConfigFiles) > 0 || (k.Distro != "" && k.Distro != DistroKubelet)
	if k.Distro == "" {
		k.Distro = DistroKubelet
	}
	if k.Unit == "" {
		k.Unit = "kubelet.service"
	}
	if k.RuntimeEndpoint == "" {
		k.RuntimeEndpoint = DefaultRuntimeEndpoints[k.Distro]
	}
	if k.ResolvConfFlag != nil {
		k.ResolvConf = k.ResolvConfFlag.Value
		k.ResolvConfSource = "flag"
	} else if k.ResolvConfSource == "" {
		k.ResolvConf = DefaultResolvConf
		k.ResolvConfSource = "default"
	}
}

// readConfig finds and reads the KubeletConfiguration file.
func (k *Setup) readConfig(r *hostcfg.Root) error {
	candidates := []string{kubeadmKubeletConfig, kubesprayKubeletConfig}
	if k.ConfigFlag != nil {
		if k.ConfigFlag.Value == "" {
			return nil // --config= names no file: kubelet uses its defaults
		}
		candidates = []string{conffile.Clean(k.ConfigFlag.Value)}
	}
	for _, p := range candidates {
		data, ok, err := r.ReadFileIfExists(p)
		if err != nil {
			k.ConfigPath = p
			return fmt.Errorf("reading kubelet config: %w", err)
		}
		if !ok {
			if k.ConfigFlag != nil {
				k.ConfigPath = p // named but missing: kubelet refuses to start
			}
			continue
		}
		k.ConfigPath, k.ConfigExists = p, true
		kc, err := parseKubeletConfig(p, data)
		if err != nil {
			return err
		}
		k.Misspelled = kc.misspelled()
		k.Healthz = kc.healthz()
		k.takeClusterDNS(kc)
		if k.RuntimeEndpoint == "" {
			k.RuntimeEndpoint = kc.runtimeEndpoint()
		}
		switch {
		case kc.rcVal != nil:
			k.ResolvConfAt = Where{File: p, Line: kc.rcKey.Line}
		case kc.mergedVal != nil:
			k.ResolvConfAt = Where{File: p, Line: kc.mergedVal.Line}
		}
		if v, ok := kc.resolvConf(); ok {
			k.ResolvConf, k.ResolvConfSource = v, "config"
		}
		return nil
	}
	return nil
}

// findUnit lists a unit (kubelet.service) and its drop-ins as systemd would load
// them: the first unit file found in the folders' order, then every
// NAME.d/*.conf and service.d/*.conf (drop-ins for every service,
// which Debian trixie ships) by file name, a name in an earlier folder hiding
// the same name in a later one. A unit linked to /dev/null is masked: nothing
// runs. A drop-in linked to /dev/null is listed, as systemd lists it, and
// hides the drop-ins of its name. /lib/systemd/system is skipped when it is
// /usr/lib/systemd/system (merged /usr), so files get one name.
func findUnit(r *hostcfg.Root, name string) ([]string, error) {
	var dirs []string
	seen := map[string]bool{}
	for _, d := range kubeletUnitDirs {
		rd, err := r.Resolve(d)
		if err != nil {
			return nil, fmt.Errorf("looking for the kubelet unit: %w", err)
		}
		if !seen[rd] {
			seen[rd] = true
			dirs = append(dirs, d)
		}
	}
	var out []string
	for _, d := range dirs {
		p := d + "/" + name
		if _, err := r.Lstat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("looking for the kubelet unit: %w", err)
		}
		m, err := unitMasked(r, p)
		if err != nil {
			return nil, fmt.Errorf("looking for the kubelet unit: %w", err)
		}
		if m {
			return nil, nil // masked: kubelet does not run from this unit
		}
		out = append(out, p)
		break
	}
	dropins := map[string]string{}
	for _, d := range dirs {
		for _, sub := range []string{"/" + name + ".d", "/service.d"} {
			names, err := r.Glob(d+sub, "*.conf")
			if err != nil {
				return nil, fmt.Errorf("listing kubelet drop-ins: %w", err)
			}
			for _, p := range names {
				if _, taken := dropins[path.Base(p)]; !taken {
					dropins[path.Base(p)] = p
				}
			}
		}
	}
	names := make([]string, 0, len(dropins))
	for n := range dropins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, dropins[n])
	}
	return out, nil
}

// unitMasked says whether p is a link to /dev/null, systemd's way of masking.
func unitMasked(r *hostcfg.Root, p string) (bool, error) {
	t, err := r.Readlink(p)
	if err != nil {
		return false, err
	}
	return t == "/dev/null", nil
}

// readUnitFile reads a unit or drop-in; a masked one reads as empty, and ok is
// false when nothing is there.
func readUnitFile(r *hostcfg.Root, p string) ([]byte, bool, error) {
	if _, err := r.Lstat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if m, err := unitMasked(r, p); err != nil || m {
		return nil, err == nil, err
	}
	return r.ReadFileIfExists(p)
}

// kubeletEnvFilePaths turns an EnvironmentFile= value into the files it names:
// a "-" prefix makes the file optional (we never fail on a missing one anyway)
// and the last path component may be a wildcard, as systemd allows.
func kubeletEnvFilePaths(r *hostcfg.Root, spec string) ([]string, error) {
	p := strings.TrimPrefix(spec, "-")
	if !strings.HasPrefix(p, "/") {
		return nil, nil // systemd refuses relative paths
	}
	p = conffile.Clean(p)
	if !strings.ContainsAny(path.Base(p), "*?[") {
		return []string{p}, nil
	}
	if _, err := path.Match(path.Base(p), ""); err != nil {
		return nil, nil
	}
	ps, err := r.Glob(path.Dir(p), path.Base(p))
	if err != nil {
		return nil, fmt.Errorf("listing kubelet environment files: %w", err)
	}
	return ps, nil
}

// readKubeletEnvFile reads and parses one environment file; ok is false when it
// does not exist.
func readKubeletEnvFile(r *hostcfg.Root, files *unitfile.Files, p string) ([]unitfile.EnvVar, bool, error) {
	data, ok, err := r.ReadFileIfExists(p)
	if err != nil {
		return nil, false, fmt.Errorf("reading kubelet environment file: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	return unitfile.ParseEnvFile(files.Add(p, data), data), true, nil
}

// kubeletFlagNames are the flags unloop reads of kubelet's command line.
var kubeletFlagNames = []string{"config", "resolv-conf", "config-dir", "hostname-override", "container-runtime-endpoint", "node-ip", "cluster-dns"}

// kubeletFlags finds kubeletFlagNames in kubelet's arguments, in the
// --name=value and --name value forms, as pflag reads them: the last one wins,
// "_" and "-" are the same in names, "--" ends the flags.
// takeFlags sets what kubelet's flags decide, from its unit or its process.
func (k *Setup) takeFlags(flags map[string]*Flag) {
	k.ConfigFlag = flags["config"]
	k.ResolvConfFlag = flags["resolv-conf"]
	if f := flags["hostname-override"]; f != nil {
		k.NodeName = f.Value
	}
	if f := flags["container-runtime-endpoint"]; f != nil && f.Value != "" {
		k.RuntimeEndpoint, k.runtimeFlag = f.Value, true
	}
	if f := flags["config-dir"]; f != nil && f.Value != "" {
		k.ConfigDir = f.Value
	}
	k.readDNSFlags(flags)
}

func kubeletFlags(args []unitfile.Text, files *unitfile.Files) map[string]*Flag {
	out := map[string]*Flag{}
	for i := 0; i < len(args); i++ {
		w := args[i]
		s := w.String()
		if s == "--" {
			break
		}
		if !strings.HasPrefix(s, "--") {
			continue
		}
		nameEnd := strings.IndexByte(s, '=')
		var name string
		if nameEnd < 0 {
			name = s[2:]
		} else {
			name = s[2:nameEnd]
		}
		name = strings.ReplaceAll(name, "_", "-")
		if !slices.Contains(kubeletFlagNames, name) {
			continue
		}
		var val unitfile.Text
		if nameEnd >= 0 {
			val = w[nameEnd+1:]
		} else {
			if i+1 >= len(args) {
				break // pflag fails: "flag needs an argument"
			}
			i++
			val = args[i]
			w = val
		}
		out[name] = newKubeletFlag(name, w, val, files)
	}
	return out
}

// newKubeletFlag locates val, a part of word w, in the file its bytes come from.
func newKubeletFlag(name string, w, val unitfile.Text, files *unitfile.Files) *Flag {
	f := &Flag{Name: name, Value: val.String(), ValueStart: -1, ValueEnd: -1}
	anchor := w
	if len(val) > 0 {
		anchor = val
	}
	if len(anchor) > 0 {
		c := anchor[0]
		f.File = files.Paths[c.File]
		if files.Data[c.File] != nil {
			f.Line = conffile.LineOfOffset(files.Data[c.File], c.Off)
		} // else a process's command line (argvText): no lines
	}
	if fi, start, end, ok := unitfile.LiteralSpan(val); ok {
		f.File, f.ValueStart, f.ValueEnd = files.Paths[fi], start, end
		f.Line = conffile.LineOfOffset(files.Data[fi], start)
	} else if len(val) == 0 && len(w) > 0 {
		// --resolv-conf= : the empty value sits right after a literal "=".
		eq := w[len(w)-1]
		if eq.Lit && eq.C == '=' {
			f.ValueStart, f.ValueEnd = eq.Off+1, eq.Off+1
		}
	}
	return f
}

// kubeletFlagValueSafe says whether v can be written into a unit or an environment
// file, quoted or not, without changing how the words split.
func kubeletFlagValueSafe(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("/._-+:@,=", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// SetFlagValue returns data with the value of f replaced by value; every other
// byte is kept. It refuses when the bytes at f's offsets are no longer f.Value
// (the file changed since it was read), when f's value is not written literally,
// and when value would need quoting (only path characters are allowed).
func SetFlagValue(data []byte, f Flag, value string) ([]byte, error) {
	if f.ValueStart < 0 || f.ValueEnd < f.ValueStart {
		return nil, hostcfg.Errorf(f.File, f.Line, "the value of --%s is not written as plain text (quotes, escapes or variables): change it by hand", f.Name)
	}
	if f.ValueEnd > len(data) || string(data[f.ValueStart:f.ValueEnd]) != f.Value {
		return nil, hostcfg.Errorf(f.File, f.Line, "--%s is no longer %q at the place it was read: the file changed", f.Name, f.Value)
	}
	if !kubeletFlagValueSafe(value) {
		return nil, hostcfg.Errorf(f.File, f.Line, "refusing to write %q as --%s: only path characters are written into flag files", value, f.Name)
	}
	out := slices.Concat(data[:f.ValueStart], []byte(value), data[f.ValueEnd:])
	return out, nil
}

// Units are the systemd units that run kubelet, in every distribution
// unloop knows: kubeadm's and the packages' kubelet.service, k3s and RKE2,
// the MicroK8s and Canonical Kubernetes snaps, k0s. configs/unloop.service
// is ordered before each (tests/configs holds it to this list).
func Units() []string {
	out := []string{"kubelet.service"}
	for _, d := range rancherDistros {
		out = append(out, d.units...)
	}
	for _, s := range snapKubelets {
		out = append(out, s.unit)
	}
	// Talos has no systemd: nothing to order unloop before there.
	return append(append(out, k0sUnits...), microshiftUnit)
}

// Paths are the node paths Discover reads whatever the node holds: the
// units and drop-in folders of every distribution's kubelet, the
// environment files, the default config files and drop-in folders, the
// rancher configs and the snaps' args files. The files a node's own flags
// name (--config, --config-dir and its sub-folders) are read as found.
func Paths() []string {
	var out []string
	units := []string{"kubelet.service", "k0sworker.service", "k0scontroller.service", microshiftUnit}
	for _, d := range rancherDistros {
		units = append(units, d.units...)
		out = append(out, d.config, d.config+".d", d.dataDir+"/agent/etc/kubelet.conf.d")
	}
	for _, d := range kubeletUnitDirs {
		for _, u := range units {
			out = append(out, d+"/"+u, d+"/"+u+".d")
		}
	}
	out = append(out, kubeletEnvFiles...)
	out = append(out, kubeadmKubeletConfig, kubesprayKubeletConfig, "/etc/kubernetes/kubelet/config.json.d")
	for _, s := range snapKubelets {
		out = append(out, s.args)
	}
	return append(out, k0sConfig, k0sKubeletConfig[0], k0sKubeletConfig[1],
		microshiftConfig, microshiftKubeletConfig, talosKubeletConfig)
}
