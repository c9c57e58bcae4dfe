package node

import (
	"net/netip"

	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// fileWriters are the writers known only by the file they leave (its link,
// header or content, hostcfg/resolvconf's generator): Kubespray's
// host_resolvconf block, Docker Engine, SUSE's netconfig, unloop's own file
// (Debian's resolvconf is a source of its own, source_resolvconf.go). They are also where the last upstream
// candidates come from: the pod and host files without their looping
// addresses.
type fileWriters struct{ none }

func newFileWriters() Source { return fileWriters{} }

func (fileWriters) Name() string { return "resolv.conf" }

// Paths: the host's file, and SUSE's netconfig's.
func (fileWriters) Paths() []string {
	return []string{"/etc/resolv.conf", resolvconf.NetconfigFile}
}

func (fileWriters) Wrote(rf *resolvconf.File) bool {
	switch rf.Generator {
	case resolvconf.GenKubespray, resolvconf.GenDocker, resolvconf.GenNetconfig, resolvconf.GenUnloop:
		return true
	}
	return false
}

func (w fileWriters) Put(_ *Node, rf *resolvconf.File, _ netip.Addr, _ addrKind) (Origin, bool) {
	switch {
	case rf.Generator == resolvconf.GenKubespray:
		return Origin{Says: "Kubespray's host_resolvconf block put it there", Fixes: []string{StrategyKubelet}, Writer: true}, true
	case w.Wrote(rf):
		return writtenBy(rf), true
	}
	return Origin{}, false
}

func (fileWriters) Candidates(n *Node, add func(netip.Addr, From)) {
	for _, rf := range []*resolvconf.File{n.Pod, n.Host} {
		if rf == nil {
			continue
		}
		for _, ns := range rf.Conf.Nameservers {
			add(ns.Addr, lineOf("", rf.Path, ns.Line))
		}
	}
}
