package journal

import (
	"errors"
	"fmt"

	"github.com/rogpeppe/go-internal/diff"

	"github.com/unloop/unloop/hostcfg"
)

// ConfigMap is a journal entry of its own kind: one key of a ConfigMap that
// the run changes through the Kubernetes API, not a file. It keeps the key's
// bytes before the run (so rollback restores them byte for byte) and the
// resourceVersions the run read and wrote: rollback writes only over the
// version the run wrote (the API server's precondition), so any later edit,
// of this key or another, is refused as a file edited since is.
type ConfigMap struct {
	// Path is how findings and plans name the key:
	// configmap/NAMESPACE/NAME/KEY.
	Path      string `json:"path"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Key       string `json:"key"`
	// Exists: the key was there before the run; Data its bytes.
	Exists bool   `json:"exists"`
	Data   []byte `json:"data"`
	// ReadVersion is the resourceVersion the plan read and the update's
	// precondition; WrittenVersion the one the update made, "" until the
	// API server answered (a run killed in between is recognised by SHA256,
	// the hash of what it wrote).
	ReadVersion    string `json:"resource_version_read"`
	WrittenVersion string `json:"resource_version_written,omitempty"`
	SHA256         string `json:"sha256"`
}

// ID is the ConfigMap's "namespace/name".
func (c *ConfigMap) ID() string { return c.Namespace + "/" + c.Name }

// Holds says whether data is what the run wrote to the key.
func (c *ConfigMap) Holds(data []byte) bool { return c.SHA256 == sha256Hex(data) }

// LeftConfigMap is the entry of a key the run sets to after.
func LeftConfigMap(e ConfigMap, after []byte) ConfigMap {
	e.SHA256 = sha256Hex(after)
	return e
}

// AddConfigMaps journals the ConfigMap keys the run will change, before
// the first of them is written.
func (j *Journal) AddConfigMaps(r *hostcfg.Root, cms []ConfigMap) error {
	j.ConfigMaps = append(j.ConfigMaps, cms...)
	j.root = r
	return j.save(r)
}

// SetWritten records the resourceVersion the run's update of entry i made.
func (j *Journal) SetWritten(i int, version string) error {
	if i < 0 || i >= len(j.ConfigMaps) {
		return fmt.Errorf("journal of run %s has no ConfigMap entry %d", j.ID, i)
	}
	j.ConfigMaps[i].WrittenVersion = version
	return j.save(j.root)
}

// RestoreConfigMap puts a journaled key back through the API, when it may
// (remediate does it: the journal knows no API server). force restores it
// over a newer version too.
type RestoreConfigMap func(e *ConfigMap, force bool) PathResult

func (j *Journal) restoreConfigMap(e *ConfigMap, force bool) PathResult {
	if j.restoreCM == nil {
		err := fmt.Errorf("ConfigMap %s, data.%s: run %s changed it through the Kubernetes API, and rollback has no credentials for it (--kubeconfig)", e.ID(), e.Key, j.ID)
		return PathResult{Path: e.Path, Result: PathFailed, Error: err.Error(), err: err}
	}
	res := j.restoreCM(e, force)
	if res.Result == PathFailed && res.err == nil {
		res.err = errors.New(res.Error)
	}
	return res
}

// ConfigMapFailed is a failed restore of e, for a RestoreConfigMap.
func ConfigMapFailed(e *ConfigMap, err error) PathResult {
	return PathResult{Path: e.Path, Result: PathFailed, Error: err.Error(), err: err}
}

// ConfigMapRefused keeps the newer content of a key and says what --force
// would do, as for a file.
func ConfigMapRefused(e *ConfigMap, now []byte, id string) PathResult {
	d := diff.Diff(e.Path+" (now)", now, e.Path+" (before run "+id+")", e.Data)
	return PathResult{Path: e.Path, Result: PathRefused, Diff: string(d)}
}
