package kubelet

import (
	"fmt"
	"path"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/internal/yamltext"
)

// DropInName is the usual name of unloop's drop-in in kubelet's
// --config-dir: "99-" and "unloop" sort after the drop-ins nodeadm
// (40-nodeadm.conf) and k3s (00-k3s-defaults.conf) write. placeOwn picks
// another of ownNames when a site's drop-in merged later would override it.
const DropInName = "99-unloop-resolvconf.conf"

// ownNames are the names unloop's file may take in a drop-in folder, tried in
// order: the usual one, then one that sorts after the names sites give
// (letters, "custom", a sub-folder "site"). A site file that still sorts
// after the last of them (zzz.conf, a name in another script) wins whatever
// unloop writes: then unloop refuses rather than write a file that loses.
var ownNames = []string{"99-unloop-resolvconf", "zz-unloop-resolvconf"}

// podFile is the pod file as far as the files read so far say.
type podFile struct {
	value, source string
	at            Where
	// by is the last file that decided it: where it is set, or the drop-in
	// whose `resolvConf: null` gave back the config file's value.
	by Where
}

// dropIn is one drop-in of --config-dir as kubelet merges it.
type dropIn struct {
	path string
	// top is its first path element under --config-dir: filepath.WalkDir
	// visits a folder's entries sorted by name, so a file unloop puts in
	// --config-dir itself comes after every drop-in whose top sorts before
	// its name, sub-folders included.
	top string
	kc  *kubeletConfig // nil for unloop's own, which sets own
	own string
}

// mergeDropIns replays kubelet's merge of the drop-ins' resolvConf over
// base: a drop-in that sets it replaces it, `resolvConf: null` gives back
// the config file's value.
func mergeDropIns(base podFile, ds []dropIn) podFile {
	cur := base
	for _, d := range ds {
		if d.kc == nil {
			own := Where{File: d.path}
			cur = podFile{d.own, "config", own, own}
			continue
		}
		kc := d.kc
		if kc.rcVal == nil && kc.mergedVal == nil {
			continue
		}
		line := 0
		if kc.rcKey != nil {
			line = kc.rcKey.Line
		} else {
			line = kc.mergedVal.Line
		}
		at := Where{File: d.path, Line: line}
		v, ok := kc.resolvConf()
		if !ok {
			cur = base
			cur.by = at
			continue
		}
		cur = podFile{v, "config", at, at}
	}
	return cur
}

// withOwn is ds with unloop's file, named name in dir, put where kubelet
// reads it; a drop-in already at that path is the one it replaces.
func withOwn(dir, name, target string, ds []dropIn) []dropIn {
	own := dropIn{path: path.Join(dir, name), top: name, own: target}
	var out []dropIn
	placed := false
	for _, d := range ds {
		if d.path == own.path {
			continue
		}
		if !placed && d.top > name {
			out, placed = append(out, own), true
		}
		out = append(out, d)
	}
	if !placed {
		out = append(out, own)
	}
	return out
}

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
	base := podFile{k.ResolvConf, k.ResolvConfSource, k.ResolvConfAt, k.ResolvConfAt}
	var ds []dropIn
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
		top, _, _ := strings.Cut(strings.TrimPrefix(p, dir+"/"), "/")
		ds = append(ds, dropIn{path: p, top: top, kc: kc})
	}
	cur := mergeDropIns(base, ds)
	k.ResolvConf, k.ResolvConfSource, k.ResolvConfAt = cur.value, cur.source, cur.at
	if k.ResolvConfFlag != nil {
		return nil // --resolv-conf beats every drop-in: then the flag is edited instead.
	}
	k.Fix = placeOwn(dir, ".conf", "kubelet's --config-dir", "remove resolvConf from it, or rename it to sort before "+DropInName, func(name, target string) Where {
		return mergeDropIns(base, withOwn(dir, name, target, ds)).by
	})
	k.Fix.Edit = dropInEdit
	return nil
}

// placeOwn names unloop's file in a drop-in folder: the first of ownNames
// that the reader's merge (decides, with unloop's file in its place) shows
// winning. When none wins, the Fix refuses and names the site's file that
// decides. Merged checks a plan's target the same way.
func placeOwn(dir, ext, reader, advice string, decides func(name, target string) Where) Fix {
	// Who wins depends on the order and the keys, not on the value: any
	// path serves to find out.
	const probe = "/etc/unloop/resolv.conf"
	var last Where
	for _, n := range ownNames {
		name := n + ext
		at := decides(name, probe)
		if at.File == path.Join(dir, name) {
			return Fix{Path: path.Join(dir, name), Merged: func(target string) Where { return decides(name, target) }}
		}
		last = at
	}
	fix := Fix{Path: path.Join(dir, ownNames[0]+ext)}
	fix.Refuse = fmt.Sprintf("%s line %d decides kubelet's pod file and %s reads it after any name unloop can give its own file there (%s): unloop's file would lose. In %s, %s; then run apply again",
		last.File, last.Line, reader, strings.Join(ownNamesExt(ext), ", "), last.File, advice)
	return fix
}

func ownNamesExt(ext string) []string {
	out := make([]string, len(ownNames))
	for i, n := range ownNames {
		out[i] = n + ext
	}
	return out
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
	b.WriteString("resolvConf: " + yamltext.ScalarText(target, 0) + "\n")
	return []byte(b.String())
}

func dropInEdit(_ []byte, target string) ([]byte, error) { return DropIn(target), nil }
