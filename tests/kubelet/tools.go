//go:build tools

// Package tools pins the commands the test bed builds from this module:
// kubelet, and crictl (not packaged in Debian) to read pods as a user would;
// kube-apiserver and kubectl for the control plane of tests/cluster.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
