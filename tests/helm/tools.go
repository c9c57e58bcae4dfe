//go:build tools

// Package tools pins the helm the test bed builds from this module
// (helm.sh/helm/v4 v4.3.2): tests/configs lints and renders the chart of
// configs/helm/unloop with it, tests/cluster installs it on the real API
// server. Helm is not packaged in Debian; its own go.mod builds it, but a
// module of ours pins its version and go.sum as the kubelet's does.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
