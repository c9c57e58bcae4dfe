package corefile

import (
	"bytes"
	"strings"
)

// node-cache's placeholders (kubernetes/dns cmd/node-cache/app/configmap.go,
// 1.22 to 1.26): it fills them in Corefile.base at start and at every
// ConfigMap change, and writes the result to /etc/Corefile in the pod.
const (
	pillarUpstream   = "__PILLAR__UPSTREAM__SERVERS__"
	pillarClusterDNS = "__PILLAR__CLUSTER__DNS__"
	pillarDNSServer  = "__PILLAR__DNS__SERVER__"
)

// ExpandPillars fills node-cache's placeholders as node-cache does: the
// upstreams (else /etc/resolv.conf), and __PILLAR__DNS__SERVER__ removed.
// __PILLAR__CLUSTER__DNS__ comes from the container's environment, which is
// not read yet: it is left, and forward targets that hold it are not judged.
func ExpandPillars(data []byte, upstreams []string) []byte {
	up := "/etc/resolv.conf"
	if len(upstreams) > 0 {
		up = strings.Join(upstreams, " ")
	}
	data = bytes.ReplaceAll(data, []byte(pillarUpstream), []byte(up))
	return bytes.ReplaceAll(data, []byte(pillarDNSServer), nil)
}
