package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/unloop/unloop/hostcfg/corefile"
	"github.com/unloop/unloop/kubeapi"
	"github.com/unloop/unloop/remediate/dnspods"
)

// APIConfigMaps are the ConfigMaps that hold the cluster's DNS servers'
// Corefiles (key Corefile), read through the Kubernetes API when unloop has
// credentials: kubeadm's, Kubespray's and MicroK8s's CoreDNS, and the
// node-local-dns addon's under both names it ships with (nodelocaldns.yaml
// and Kubespray's node-local-dns).
var APIConfigMaps = []string{"kube-system/coredns", "kube-system/nodelocaldns", "kube-system/node-local-dns"}

// APICorefilePath is how findings and plans name the Corefile in a
// ConfigMap read through the API: its API path's last parts and the key.
func APICorefilePath(id, key string) string { return "configmap/" + id + "/" + key }

// readAPICorefiles reads APIConfigMaps through the API. They are the
// cluster's (no tenant writes kube-system), and unlike a pod's mounted copy
// they are what the corefile strategy edits. --offline leaves Env without
// ConfigMaps; a root that is not this machine, read offline for its bus,
// still has them: the cluster's API server is no part of this machine.
func (n *Node) readAPICorefiles(ctx context.Context, g *Gathering) {
	api := g.Env.ConfigMaps
	if api == nil {
		return
	}
	if !api.Explicit() && n.Online && n.Kubelet.Process == nil {
		// No kubelet runs: the boot unit's moment, before kubelet starts.
		// A control-plane node's API server is one of kubelet's static pods,
		// so credentials unloop found there (admin.conf) reach nothing yet,
		// and a remote one may take the request's whole timeout: the boot
		// must not wait for it. Named credentials are still asked.
		n.Notes = append(n.Notes, "kubelet is not running: the cluster's DNS ConfigMaps were not read through the API (name the credentials with --kubeconfig to read them anyway)")
		n.trace("api", "asked", false, "why", "credentials found, not named, and no kubelet runs (boot)")
		return
	}
	for _, id := range APIConfigMaps {
		ns, name, _ := strings.Cut(id, "/")
		cm, err := api.ConfigMap(ctx, ns, name)
		if err != nil && !api.Explicit() {
			// Credentials unloop found (a control-plane node's admin.conf,
			// the pod's service account) may not reach or may not be
			// allowed: the node's own check goes on, and says so once.
			n.Notes = append(n.Notes, fmt.Sprintf("%v; the cluster's DNS ConfigMaps were not read through the API", err))
			return
		}
		if err != nil {
			n.unreadable(err)
			return
		}
		if cm == nil {
			continue
		}
		const key = "Corefile"
		data, ok := cm.Data[key]
		if !ok {
			continue
		}
		p := APICorefilePath(id, key)
		n.record(p, dnspods.Provenance{Owner: dnspods.OwnerNode}, false)
		// Parsed as stored, placeholders and all: the plan splices these
		// very bytes. node-cache fills __PILLAR__ values at its start, and
		// an unfilled one is no address, so never a loop here.
		cf, err := corefile.Parse(p, []byte(data))
		if err != nil {
			n.unreadable(err)
			continue
		}
		cf.Source = &corefile.Source{ConfigMap: id, Key: key, API: true}
		if n.ConfigMaps == nil {
			n.ConfigMaps = map[string]*kubeapi.ConfigMap{}
		}
		n.ConfigMaps[p] = cm
		n.addCorefiles(g.Env.Root, cf)
	}
}

// sameAsAPI says whether a DNS server pod's mounted Corefile is a copy of
// one read through the API (same key, same bytes): kubelet's copy is not
// judged again, the ConfigMap's findings stand for it.
func (n *Node) sameAsAPI(key string, data []byte) bool {
	for p, cm := range n.ConfigMaps {
		if strings.HasSuffix(p, "/"+key) && cm.Data[key] == string(data) {
			return true
		}
	}
	return false
}
