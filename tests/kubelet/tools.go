//go:build tools

// Package tools pins the commands the test bed builds from this module:
// kubelet, and crictl (not packaged in Debian) to read pods as a user would.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
