package corefile

import (
	"strings"
	"testing"
)

// A ConfigMap's Corefile is read with the YAML file's lines; a manifest
// without one, and prose, are refused.
func TestParseManifest(t *testing.T) {
	data := "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: coredns\n    namespace: kube-system\n  data:\n    Corefile: |\n      .:53 {\n          forward . /etc/resolv.conf\n      }\n"
	cfs, err := ParseManifest("/etc/kubernetes/coredns.yml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfs) != 1 || cfs[0].Source.ConfigMap != "kube-system/coredns" {
		t.Fatalf("got %d Corefiles (%+v)", len(cfs), cfs)
	}
	if fw := cfs[0].Servers[0].Forwards[0]; fw.Line != 12 {
		t.Errorf("forward at line %d, want 12 (the YAML file's line)", fw.Line)
	}
	if _, err := ParseManifest("x.yml", []byte("apiVersion: v1\nkind: Service\n")); err == nil || !strings.Contains(err.Error(), "neither a Corefile") {
		t.Errorf("a manifest without a Corefile: %v", err)
	}
	cf, err := Parse("notes.txt", []byte("remember to fix DNS, then reboot\n"))
	if err == nil {
		err = cf.Check()
	}
	if err == nil || !strings.Contains(err.Error(), "neither a Corefile") {
		t.Errorf("prose read as a Corefile: %v", err)
	}
}
