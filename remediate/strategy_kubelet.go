package remediate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/unloop/unloop/hostcfg/kubelet"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// UnloopResolvConf is the file unloop keeps for pods when systemd-resolved's
// uplink file is not clean.
const UnloopResolvConf = "/etc/unloop/resolv.conf"

var kubeletStrategy = Strategy{
	Name:     node.StrategyKubelet,
	Help:     "point kubelet's resolvConf at a clean file (resolved's uplink file, else unloop's own) and restart kubelet",
	Fixes:    []finding.Code{finding.CodeResolvedStub, finding.CodeLoopback, finding.CodeNodeLocalDNS, finding.CodeClusterDNS, finding.CodeKubeletMissing, finding.CodeKubeletMisspelled, finding.CodeDhclientInjects, finding.CodeResolvedUpstreamLoop, finding.CodeNetworkManagerInjects, finding.CodeNetworkdInjects, finding.CodeResolvconfInjects, finding.CodeNetplanInjects, finding.CodeNameserverNone},
	Applies:  func(n *node.Node) bool { return n.Kubelet.Present },
	When:     "a kubelet is found on the node",
	podsOnly: true,
	plan:     planKubelet,
}

// unloopResolvConf is the file unloop keeps for pods when resolved's is not clean.
func unloopResolvConf(ups []netip.Addr, base *resolvconf.File) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: the resolv.conf kubelet hands to pods, without DNS forwarding loops.\n", resolvconf.UnloopMarker)
	b.WriteString("# Rewritten by `unloop apply`; edit unloop's config (upstream:) instead of this file.\n")
	for _, a := range ups {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	if base != nil {
		if len(base.Conf.Search) > 0 {
			fmt.Fprintf(&b, "search %s\n", strings.Join(base.Conf.Search, " "))
		}
		if len(base.Conf.Options) > 0 {
			fmt.Fprintf(&b, "options %s\n", strings.Join(base.Conf.Options, " "))
		}
	}
	return b.Bytes()
}

func planKubelet(ctx context.Context, p *planner, _ []node.Finding) error {
	n := p.node
	target := UnloopResolvConf
	if rf, runs := n.UpstreamsFile(); runs && n.Clean(rf) {
		if ok, _ := p.uplinkAnswers(ctx); ok {
			target = rf.Path
		}
	}
	if target == UnloopResolvConf {
		ups, err := p.usable()
		if err != nil {
			return err
		}
		base := n.Pod
		if err := p.edit(target, node.StrategyKubelet, "a clean resolv.conf for pods, from the upstreams that answer", func([]byte) ([]byte, error) {
			return unloopResolvConf(ups, base), nil
		}); err != nil {
			return err
		}
	}
	k := n.Kubelet
	was := n.PodFile
	if was == "" {
		was = "their own loopback (resolvConf \"\")"
	}
	reason := fmt.Sprintf("kubelet hands pods %s instead of %s", target, was)
	if err := p.pointKubelet(k, target, reason); err != nil {
		return err
	}
	p.restart(ctx, k.Unit, node.StrategyKubelet, "kubelet reads resolvConf only at start", k.Healthz, nil)
	p.pods(node.StrategyKubelet)
	return nil
}

// pointKubelet plans the edit that makes kubelet hand pods target: a file of
// the layout's own (a --config-dir drop-in, a config.yaml.d file, a snap's
// args file), else the flag or the config file in place. Where only a person
// can make the edit (k0s), it fails with the edit to make.
func (p *planner) pointKubelet(k *kubelet.Setup, target, reason string) error {
	n := p.node
	switch {
	case k.Fix.Hand != nil:
		return fmt.Errorf("unloop does not change %s's kubelet, fix it by hand: %s", k.Distro, k.Fix.Hand(target))
	case k.Fix.Edit != nil:
		if n.PodFile == target && len(k.Misspelled) == 0 {
			return nil
		}
		if err := fixWins(k, target); err != nil {
			return err
		}
		return p.edit(k.Fix.Path, node.StrategyKubelet, reason+" ("+path.Base(k.Fix.Path)+")", func(old []byte) ([]byte, error) {
			return k.Fix.Edit(old, target)
		})
	case k.ResolvConfSource == "flag" && k.ResolvConfFlag != nil:
		f := *k.ResolvConfFlag
		if f.Value == target {
			return nil
		}
		return p.edit(f.File, node.StrategyKubelet, reason+" (--"+f.Name+")", func(old []byte) ([]byte, error) {
			return kubelet.SetFlagValue(old, f, target)
		})
	case k.ConfigExists:
		if n.PodFile == target && len(k.Misspelled) == 0 {
			return nil
		}
		return p.edit(k.ConfigPath, node.StrategyKubelet, reason+" (resolvConf)", func(old []byte) ([]byte, error) {
			return kubelet.SetResolvConf(k.ConfigPath, old, target)
		})
	case k.ConfigPath != "":
		return fmt.Errorf("kubelet has neither a config file (%s does not exist) nor a --resolv-conf flag: nowhere to set resolvConf", k.ConfigPath)
	default:
		return errors.New("kubelet has neither a config file (no --config, no /var/lib/kubelet/config.yaml or /etc/kubernetes/kubelet-config.yaml) nor a --resolv-conf flag: nowhere to set resolvConf")
	}
}

// fixWins refuses, before anything is written, a drop-in that a later file
// of the site's would override: the reader's merge, replayed with unloop's
// file in place, must end on that file.
func fixWins(k *kubelet.Setup, target string) error {
	if k.Fix.Refuse != "" {
		return errors.New(k.Fix.Refuse)
	}
	if k.Fix.Merged == nil {
		return nil
	}
	if at := k.Fix.Merged(target); at.File != k.Fix.Path {
		return fmt.Errorf("%s line %d would decide kubelet's pod file over unloop's %s: remove that setting from %s, then run apply again", at.File, at.Line, k.Fix.Path, at.File)
	}
	return nil
}
