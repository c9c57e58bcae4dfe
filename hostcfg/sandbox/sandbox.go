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
	var out []Sandbox
	var errs []error
	add := func(sb *Sandbox, err error) {
		if err != nil {
			errs = append(errs, err)
		} else if sb != nil {
			out = append(out, *sb)
		}
	}
	ids, err := r.ReadDir(ContainerdBundles)
	errs = append(errs, err)
	for _, e := range ids {
		add(containerd(r, e.Name()))
	}
	ids, err = r.ReadDir(CRIORun)
	errs = append(errs, err)
	for _, e := range ids {
		add(crio(r, e.Name()))
	}
	return out, errors.Join(errs...)
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
	return &Sandbox{Runtime: "containerd", ID: id, Name: a[containerdName], Namespace: a[containerdNamespace], UID: a[containerdUID],
		Bundle: bundle, ResolvConf: path.Join(ContainerdSandboxes, id, "resolv.conf")}, nil
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
	rc := s.Annotations[crioResolvPath]
	if rc == "" {
		rc = path.Join(CRIOStorage, id, "userdata", "resolv.conf")
	}
	return &Sandbox{Runtime: "cri-o", ID: id, Name: labels[podName], Namespace: labels[podNamespace], UID: labels[podUID],
		Labels: labels, Bundle: bundle, ResolvConf: rc}, nil
}

// ShortID is a sandbox ID as crictl shows it: its first 12 characters.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
