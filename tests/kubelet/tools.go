//go:build tools

// Package tools pins the commands the test bed builds from this module:
// kubelet, and crictl (not packaged in Debian) to read pods as a user would;
// the control plane of tests/cluster: kube-apiserver, kube-controller-manager,
// kube-scheduler and kubectl, and kube-proxy for a node's Services.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
