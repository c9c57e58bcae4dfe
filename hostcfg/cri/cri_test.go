package cri

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/unloop/unloop/hostcfg"
)

func TestDialNoSocket(t *testing.T) {
	r, err := hostcfg.NewRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(r, "unix:///run/containerd/containerd.sock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dial without a socket: %v, want not exist", err)
	}
	if _, err := Dial(r, "tcp://10.0.0.1:1234"); err == nil {
		t.Error("Dial of a tcp endpoint: no error")
	}
}
