// Package sandbox reads the pod sandboxes a container runtime keeps on disk:
// which pod each running sandbox is, and where its copy of the pod file is.
// A sandbox keeps the resolv.conf it was created with: after the node's file
// is fixed, a running pod still holds the old one.
package sandbox

import (
	"encoding/json"
	"errors"
	"path"

	"github.com/unloop/unloop/hostcfg"
)

// Sandbox is one running pod sandbox.
type Sandbox struct {
	Runtime   string // "containerd" or "cri-o"
	ID        string
	Name      string
	Namespace string
	UID       string
	// Labels are the pod's labels where the runtime keeps them (CRI-O).
	Labels map[string]string
	// Bundle is the node path of the OCI config.json that says it runs.
	Bundle string
	// ResolvConf is the node path of the sandbox's copy of the pod file.
	ResolvConf string
}

// Where the runtimes keep a sandbox's bundle (under /run: gone when the
// sandbox stops) and its files (under /var/lib: kept until it is removed).
// containerd v1.7 and v2.0: the runtime v2 shim's bundle in the k8s.io
// namespace (core/runtime/v2/bundle.go), the CRI plugin's sandbox root
// (internal/cri/server/podsandbox/helpers.go: getSandboxRootDir, resolv.conf).
// CRI-O v1.28 to v1.31: containers/storage's run and graph roots,
// overlay-containers/ID/userdata (server/sandbox_run_linux.go).
const (
	ContainerdBundles   = "/run/containerd/io.containerd.runtime.v2.task/k8s.io"
	ContainerdSandboxes = "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes"
	CRIORun             = "/run/containers/storage/overlay-containers"
	CRIOStorage         = "/var/lib/containers/storage/overlay-containers"
)

// Annotation keys of the sandbox's OCI spec: containerd's
// pkg/cri/annotations (v1.7) and CRI-O's pkg/annotations (v1.28).
const (
	containerdType      = "io.kubernetes.cri.container-type"
	containerdName      = "io.kubernetes.cri.sandbox-name"
	containerdNamespace = "io.kubernetes.cri.sandbox-namespace"
	containerdUID       = "io.kubernetes.cri.sandbox-uid"
	crioType            = "io.kubernetes.cri-o.ContainerType"
	crioLabels          = "io.kubernetes.cri-o.Labels"
	crioResolvPath      = "io.kubernetes.cri-o.ResolvPath"
	// kubelet's labels on every sandbox (pkg/kubelet/types/labels.go).
	podName      = "io.kubernetes.pod.name"
	podNamespace = "io.kubernetes.pod.namespace"
	podUID       = "io.kubernetes.pod.uid"
)

// List reads the running sandboxes of containerd and CRI-O. A bundle that
// can't be read or parsed is an error naming it; the others are still listed.
func List(r *hostcfg.Root) ([]Sandbox, error) {
	return list(r, func(string) Listed { return Read })
}

// Listed is what the runtime said of an ID found among its bundles.
type Listed int

const (
	// Read: the runtime was not asked, or the sandbox is one whose files
	// unloop reads (a DNS server pod's): its bundle is read.
	Read Listed = iota
	// Unread: the runtime lists the sandbox and it is another pod's: it is
	// listed by its ID alone, its bundle not read.
	Unread
	// Unlisted: the runtime does not list it as a sandbox (a container's
	// bundle, or a sandbox made or removed since it was asked): not read, not
	// listed.
	Unlisted
)

// ListListed is List where the runtime was asked (CRI), which already says
// whose each sandbox is: listed(id) says what to do with each bundle. Only
// the DNS server pods' bundles are read, so on a node of 100 pods a check
// opens a few files, not 200 (a sandbox's and its container's), and nothing
// of a tenant's pod is read at all (DESIGN.md §2b). An Unread sandbox has
// only Runtime, ID, Bundle and ResolvConf, where the runtime keeps the copy
// by default (CRI-O's annotation could name another place; it is not read).
func ListListed(r *hostcfg.Root, listed func(id string) Listed) ([]Sandbox, error) {
	return list(r, listed)
}

func list(r *hostcfg.Root, listed func(id string) Listed) ([]Sandbox, error) {
	var out []Sandbox
	var errs []error
	add := func(sb *Sandbox, err error) {
		if err != nil {
			errs = append(errs, err)
		} else if sb != nil {
			out = append(out, *sb)
		}
	}
	for _, rt := range []struct {
		dir        string
		read, stub func(r *hostcfg.Root, id string) (*Sandbox, error)
	}{
		{ContainerdBundles, containerd, containerdStub},
		{CRIORun, crio, crioStub},
	} {
		ids, err := r.ReadDir(rt.dir)
		errs = append(errs, err)
		for _, e := range ids {
			switch listed(e.Name()) {
			case Read:
				add(rt.read(r, e.Name()))
			case Unread:
				add(rt.stub(r, e.Name()))
			}
		}
	}
	return out, errors.Join(errs...)
}

func containerdStub(_ *hostcfg.Root, id string) (*Sandbox, error) {
	return &Sandbox{Runtime: "containerd", ID: id, Bundle: path.Join(ContainerdBundles, id, "config.json"),
		ResolvConf: path.Join(ContainerdSandboxes, id, "resolv.conf")}, nil
}

func crioStub(_ *hostcfg.Root, id string) (*Sandbox, error) {
	return &Sandbox{Runtime: "cri-o", ID: id, Bundle: path.Join(CRIORun, id, "userdata", "config.json"),
		ResolvConf: path.Join(CRIOStorage, id, "userdata", "resolv.conf")}, nil
}

type spec struct {
	Annotations map[string]string `json:"annotations"`
}

func readSpec(r *hostcfg.Root, p string) (*spec, bool, error) {
	data, ok, err := r.ReadFileIfExists(p)
	if err != nil || !ok {
		return nil, false, err
	}
	var s spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, false, hostcfg.Errorf(p, 0, "not an OCI runtime config: %v", err)
	}
	return &s, true, nil
}

func containerd(r *hostcfg.Root, id string) (*Sandbox, error) {
	bundle := path.Join(ContainerdBundles, id, "config.json")
	s, ok, err := readSpec(r, bundle)
	if err != nil || !ok || s.Annotations[containerdType] != "sandbox" {
		return nil, err
	}
	a := s.Annotations
	sb, _ := containerdStub(r, id)
	sb.Name, sb.Namespace, sb.UID = a[containerdName], a[containerdNamespace], a[containerdUID]
	return sb, nil
}

func crio(r *hostcfg.Root, id string) (*Sandbox, error) {
	bundle := path.Join(CRIORun, id, "userdata", "config.json")
	s, ok, err := readSpec(r, bundle)
	if err != nil || !ok || s.Annotations[crioType] != "sandbox" {
		return nil, err
	}
	labels := map[string]string{}
	if l := s.Annotations[crioLabels]; l != "" {
		if err := json.Unmarshal([]byte(l), &labels); err != nil {
			return nil, hostcfg.Errorf(bundle, 0, "annotation %s is not a JSON object: %v", crioLabels, err)
		}
	}
	sb, _ := crioStub(r, id)
	sb.Name, sb.Namespace, sb.UID, sb.Labels = labels[podName], labels[podNamespace], labels[podUID], labels
	if rc := s.Annotations[crioResolvPath]; rc != "" {
		sb.ResolvConf = rc
	}
	return sb, nil
}

// ShortID is a sandbox ID as crictl shows it: its first 12 characters.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
