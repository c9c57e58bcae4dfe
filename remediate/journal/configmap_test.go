package journal

import (
	"errors"
	"testing"
	"time"
)

// TestConfigMapEntries: a run's ConfigMap entries survive the manifest
// (bytes, versions), are listed among its paths, and rollback goes through
// the restorer: a refused one marks the run conflict; with no restorer
// (no credentials) it fails and the run stays as it was.
func TestConfigMapEntries(t *testing.T) {
	r := jtNode(t)
	j, err := New(r, NewRunID(time.Now()), []string{"corefile"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := []byte(".:53 {\n    forward . 0.0.0.0\n}\n")
	e := LeftConfigMap(ConfigMap{Path: "configmap/kube-system/coredns/Corefile", Namespace: "kube-system", Name: "coredns", Key: "Corefile",
		Exists: true, Data: old, ReadVersion: "41"}, []byte(".:53 {\n    forward . 192.0.2.10\n}\n"))
	if err := j.AddConfigMaps(r, []ConfigMap{e}); err != nil {
		t.Fatal(err)
	}
	if err := j.SetWritten(0, "42"); err != nil {
		t.Fatal(err)
	}
	got, err := Load(r, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ConfigMaps) != 1 || string(got.ConfigMaps[0].Data) != string(old) || got.ConfigMaps[0].WrittenVersion != "42" || got.ConfigMaps[0].ReadVersion != "41" {
		t.Fatalf("journaled %+v", got.ConfigMaps)
	}
	if p := got.Paths(); len(p) != 1 || p[0] != e.Path {
		t.Fatalf("paths %q", p)
	}

	if _, err := got.Rollback(r, false); err == nil || got.State != RunStarted {
		t.Fatalf("rollback without credentials: %v, state %s; want an error and the run left started", err, got.State)
	}
	var asked *ConfigMap
	got.SetConfigMapRestorer(func(e *ConfigMap, force bool) PathResult {
		asked = e
		return ConfigMapRefused(e, []byte("edited\n"), got.ID)
	})
	res, err := got.Rollback(r, false)
	if !errors.Is(err, ErrConflict) || got.State != RunConflict || asked == nil || len(res) != 1 || res[0].Result != PathRefused || len(got.Refused) != 1 {
		t.Fatalf("rollback with the ConfigMap edited since: %v, state %s, results %+v", err, got.State, res)
	}
}
