package kubelet

import (
	"fmt"
	"path"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
)

// DropInName is unloop's own drop-in in kubelet's --config-dir: "99-" and
// "unloop" sort after the drop-ins nodeadm (40-nodeadm.conf) and k3s
// (00-k3s-defaults.conf) write, so it is merged last.
const DropInName = "99-unloop-resolvconf.conf"

// readDropIns merges the KubeletConfiguration drop-ins of --config-dir over
// the config file, as kubelet 1.30–1.34 does (cmd/kubelet/app/server.go,
// mergeKubeletConfigurations): every file whose name ends in ".conf", found
// by filepath.WalkDir (sub-folders too, in lexical order), each one a JSON
// merge patch over what came before. A key a drop-in leaves out keeps its
// value; `resolvConf: null` deletes the key, and kubelet then keeps the value
// its config file gave. Flags are parsed again afterwards, so --resolv-conf
// still beats every file.
func (k *Setup) readDropIns(r *hostcfg.Root) error {
	dir := conffile.Clean(k.ConfigDir)
	files, err := walkConf(r, dir, 0)
	if err != nil {
		return fmt.Errorf("listing kubelet's --config-dir: %w", err)
	}
	base, baseSource, baseAt := k.ResolvConf, k.ResolvConfSource, k.ResolvConfAt
	for _, p := range files {
		data, ok, err := r.ReadFileIfExists(p)
		if err != nil {
			return fmt.Errorf("reading kubelet drop-in: %w", err)
		}
		if !ok {
			continue
		}
		k.DropIns = append(k.DropIns, p)
		kc, err := parseKubeletConfig(p, data)
		if err != nil {
			return err
		}
		k.Misspelled = append(k.Misspelled, kc.misspelled()...)
		k.takeClusterDNS(kc)
		if ep := kc.runtimeEndpoint(); ep != "" && !k.runtimeFlag {
			k.RuntimeEndpoint = ep
		}
		if kc.rcVal == nil && kc.mergedVal == nil {
			continue
		}
		if v, ok := kc.resolvConf(); ok {
			k.ResolvConf, k.ResolvConfSource = v, "config"
			line := 0
			if kc.rcKey != nil {
				line = kc.rcKey.Line
			} else {
				line = kc.mergedVal.Line
			}
			k.ResolvConfAt = Where{File: p, Line: line}
		} else {
			k.ResolvConf, k.ResolvConfSource, k.ResolvConfAt = base, baseSource, baseAt
		}
	}
	if k.ResolvConfFlag == nil {
		// --resolv-conf beats every drop-in: then the flag is edited instead.
		k.Fix = Fix{Path: path.Join(dir, DropInName), Edit: dropInEdit}
	}
	return nil
}

// walkConf lists the ".conf" files under dir as filepath.WalkDir visits them:
// each folder's entries sorted by name, a sub-folder walked where its name
// sorts. A link is not followed into (WalkDir does not), but a link named
// *.conf is read as the file it points at.
func walkConf(r *hostcfg.Root, dir string, depth int) ([]string, error) {
	if depth > 16 {
		return nil, nil
	}
	ents, err := r.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		if e.IsDir() {
			sub, err := walkConf(r, p, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		if path.Ext(e.Name()) == ".conf" {
			out = append(out, p)
		}
	}
	return out, nil
}

// DropIn is unloop's drop-in for kubelet's --config-dir: a KubeletConfiguration
// that sets resolvConf and nothing else (kubelet requires kind and apiVersion
// in each drop-in).
func DropIn(target string) []byte {
	var b strings.Builder
	b.WriteString("# Written by `unloop apply`: the resolv.conf kubelet hands to pods, without\n")
	b.WriteString("# DNS forwarding loops. `unloop rollback` removes it.\n")
	b.WriteString("apiVersion: kubelet.config.k8s.io/v1beta1\n")
	b.WriteString("kind: KubeletConfiguration\n")
	b.WriteString("resolvConf: " + yamlScalarText(target, 0) + "\n")
	return []byte(b.String())
}

func dropInEdit(_ []byte, target string) ([]byte, error) { return DropIn(target), nil }
