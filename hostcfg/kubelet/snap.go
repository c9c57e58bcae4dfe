package kubelet

import (
	"bytes"
	"fmt"
	"net"
	"regexp"
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

// discoverSnap finds the first snap whose kubelet is on the node.
func discoverSnap(r *hostcfg.Root) (*Setup, error) {
	for _, s := range snapKubelets {
		if k, err := s.discover(r); k != nil || err != nil {
			return k, err
		}
	}
	return nil, nil
}

func kubeletDefault(*hostcfg.Root) (string, string, error) {
	return DefaultResolvConf, "kubelet's default", nil
}

// k8sSnapDefault is Canonical Kubernetes' kubelet default: the first of
// resolved's uplink file and /etc/resolv.conf that qualifies for
// k8sSnapQualifies, else /etc/resolv.conf.
func k8sSnapDefault(r *hostcfg.Root) (string, string, error) {
	for _, p := range []string{resolvconf.ResolvedUplinkFile, DefaultResolvConf} {
		data, ok, err := r.ReadFileIfExists(p)
		if err != nil {
			return "", "", fmt.Errorf("reading %s: %w", p, err)
		}
		if ok && k8sSnapQualifies(data) {
			return p, "Canonical Kubernetes' default: the first of " + resolvconf.ResolvedUplinkFile + " and " + DefaultResolvConf + " whose nameservers are all addresses and none loopback", nil
		}
	}
	return DefaultResolvConf, "Canonical Kubernetes' default: neither file names only non-loopback addresses, so kubelet's own default", nil
}

// k8sSnapNameserver is the line the k8s-snap kubelet patch matches
// (0001-use-resolv.conf-file-with-non-loopback-nameservers.patch in
// canonical/k8s-snap, commit d924cc27f36c): a line with anything after the
// address is not a nameserver line to it.
var k8sSnapNameserver = regexp.MustCompile(`(?m)^\s*nameserver\s+(\S*)\s*$`)

// k8sSnapQualifies is the patch's test of a file: at least one nameserver
// line, and each one an address (its zone dropped) that is not loopback.
func k8sSnapQualifies(data []byte) bool {
	m := k8sSnapNameserver.FindAllSubmatch(data, -1)
	if len(m) == 0 {
		return false
	}
	for _, ns := range m {
		host, _, _ := strings.Cut(string(ns[1]), "%")
		ip := net.ParseIP(host)
		if ip == nil || ip.IsLoopback() {
			return false
		}
	}
	return true
}

// argLine is one flag of an args file.
type argLine struct {
	name, value string
	line        int
	start, end  int // the value's bytes (inside its quotes), -1 when they are not the value
}

// parseArgs reads an args file: "--name=value" or "--name value" a line,
// blank lines and "#" comments skipped, a value in quotes unquoted. The
// snaps' wrappers read the file as bash words, and k8sd writes every value
// double-quoted (canonical/k8sd pkg/snap/util/arguments.go).
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
			a.value = val[1 : len(val)-1]
			a.start, a.end = a.start+1, a.end-1
			// Inside double quotes bash still expands $, ` and \: the bytes
			// are then not the value, and a person changes them.
			if val[0] == '"' && strings.ContainsAny(a.value, "$`\\\"") {
				a.start, a.end = -1, -1
			}
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
// changed in place (inside its quotes when quoted), or a line added at the
// end. Every other byte is kept.
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
		return nil, hostcfg.Errorf(path, last.line, "the value of --%s is quoted with expansions: change it by hand", name)
	}
	return slices.Concat(data[:last.start], []byte(value), data[last.end:]), nil
}
