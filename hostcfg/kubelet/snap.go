package kubelet

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// snapKubelet is a snap whose kubelet reads its flags from an args file, one
// flag a line (the snap's wrapper reads the file into kubelet's argv).
type snapKubelet struct {
	distro string
	args   string // the args file
	unit   string
	// defaultPod is the pod file when the args file names none.
	defaultPod func(r *hostcfg.Root) (string, string, error)
}

var snapKubelets = []snapKubelet{
	// MicroK8s: kubelet runs inside kubelite; its args file is the
	// documented place for kubelet's flags (microk8s-resources/default-args/kubelet).
	{DistroMicroK8s, "/var/snap/microk8s/current/args/kubelet", "snap.microk8s.daemon-kubelite.service", kubeletDefault},
	// Canonical Kubernetes (k8s-snap): the snap's kubelet service, and a
	// patched default that skips a file naming a loopback server.
	{DistroK8sSnap, "/var/snap/k8s/common/args/kubelet", "snap.k8s.kubelet.service", k8sSnapDefault},
}

func kubeletDefault(*hostcfg.Root) (string, string, error) {
	return DefaultResolvConf, "kubelet's default", nil
}

// k8sSnapDefault is Canonical Kubernetes' kubelet default: the first of
// resolved's uplink file and /etc/resolv.conf that names no loopback server.
func k8sSnapDefault(r *hostcfg.Root) (string, string, error) {
	for _, p := range []string{resolvconf.ResolvedUplinkFile, DefaultResolvConf} {
		data, ok, err := r.ReadFileIfExists(p)
		if err != nil {
			return "", "", fmt.Errorf("reading %s: %w", p, err)
		}
		if ok && !namesLoopback(data) {
			return p, "Canonical Kubernetes' default: the first of " + resolvconf.ResolvedUplinkFile + " and " + DefaultResolvConf + " that names no loopback server", nil
		}
	}
	return DefaultResolvConf, "Canonical Kubernetes' default: both files name a loopback server, so kubelet's own default", nil
}

func namesLoopback(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && a.Unmap().IsLoopback() {
				return true
			}
		}
	}
	return false
}

// argLine is one flag of an args file.
type argLine struct {
	name, value string
	line        int
	start, end  int // the value's bytes, -1 when quoted
}

// parseArgs reads an args file: "--name=value" or "--name value" a line,
// blank lines and "#" comments skipped, a value in double quotes unquoted.
func parseArgs(data []byte) []argLine {
	var out []argLine
	off := 0
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		start := off
		off += len(line)
		s := strings.TrimRight(string(line), "\r\n")
		t := strings.TrimLeft(s, " \t")
		lead := len(s) - len(t)
		if !strings.HasPrefix(t, "--") {
			continue
		}
		name, val, ok := strings.Cut(t[2:], "=")
		sep := "="
		if !ok {
			name, val, _ = strings.Cut(t[2:], " ")
			sep = " "
		}
		val = strings.TrimRight(val, " \t")
		a := argLine{name: name, value: val, line: i + 1, start: start + lead + 2 + len(name) + len(sep)}
		a.end = a.start + len(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			a.value, a.start, a.end = val[1:len(val)-1], -1, -1
		}
		out = append(out, a)
	}
	return out
}

func (s snapKubelet) discover(r *hostcfg.Root) (*Setup, error) {
	k := &Setup{Distro: s.distro, Unit: s.unit}
	defer k.finish()
	data, ok, err := r.ReadFileIfExists(s.args)
	if err != nil {
		return k, fmt.Errorf("reading %s's kubelet args: %w", s.distro, err)
	}
	if !ok {
		return nil, nil
	}
	k.ConfigFiles = []string{s.args}
	k.Fix = Fix{Path: s.args, Edit: func(old []byte, target string) ([]byte, error) { return SetArg(s.args, old, "resolv-conf", target) }}
	var rc *argLine
	for _, a := range parseArgs(data) {
		switch a.name {
		case "resolv-conf":
			rc = &a
		case "hostname-override":
			k.NodeName = a.value
		}
	}
	if rc != nil {
		k.ResolvConf, k.ResolvConfSource = rc.value, "config"
		k.ResolvConfAt = Where{File: s.args, Line: rc.line}
		k.Why = fmt.Sprintf("--resolv-conf in %s line %d", s.args, rc.line)
		return k, nil
	}
	k.ResolvConf, k.Why, err = s.defaultPod(r)
	k.ResolvConfSource = "distro"
	return k, err
}

// SetArg returns an args file with --name set to value: the last such line
// changed in place, or a line added at the end. Every other byte is kept.
func SetArg(path string, data []byte, name, value string) ([]byte, error) {
	if !kubeletFlagValueSafe(value) {
		return nil, hostcfg.Errorf(path, 0, "refusing to write %q as --%s: only path characters are written into args files", value, name)
	}
	args := parseArgs(data)
	var last *argLine
	for j := range args {
		if args[j].name == name {
			last = &args[j]
		}
	}
	if last == nil {
		out := slices.Clone(data)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		return append(out, fmt.Sprintf("--%s=%s\n", name, value)...), nil
	}
	if last.start < 0 {
		return nil, hostcfg.Errorf(path, last.line, "the value of --%s is quoted: change it by hand", name)
	}
	return slices.Concat(data[:last.start], []byte(value), data[last.end:]), nil
}
