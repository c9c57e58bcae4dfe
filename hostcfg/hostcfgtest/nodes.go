package hostcfgtest

// Node trees (for Files) that the monitoring tests of cmd/unloop/cli and
// tests/metrics both look at: one definition, so both read the same nodes.
var (
	CleanNode      = map[string]string{"/etc/os-release": osRelease, "/etc/resolv.conf": "nameserver 192.0.2.53\n"}
	LoopNode       = map[string]string{"/etc/os-release": osRelease, "/etc/resolv.conf": "nameserver 169.254.25.10\nnameserver 192.0.2.53\n"}
	WarnNode       = map[string]string{"/etc/os-release": osRelease, "/etc/resolv.conf": "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n"}
	UnreadableNode = map[string]string{"/etc/os-release": osRelease, "/etc/resolv.conf": "DIR"}
	// ManyLoopsNode has several loops in files with long names: labels and
	// lines of the output get long.
	ManyLoopsNode = map[string]string{
		"/etc/resolv.conf":                    "nameserver 127.0.0.53\nnameserver 169.254.25.10\nnameserver 127.0.0.2\n",
		"/etc/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet --resolv-conf=" + manyLoopsDir + "/resolv.conf\n",
		manyLoopsDir + "/resolv.conf":         "nameserver 127.0.0.53\nnameserver 169.254.25.10\nnameserver 127.0.0.2\n",
	}
)

const manyLoopsDir = "/etc/a-rather-long-folder-name-that-keeps-going/and-going/and-going"

// osRelease makes each tree a node's (DESIGN.md §2: a root with no kubelet,
// no Corefile and no os-release is refused as not-a-node).
const osRelease = "ID=debian\nVERSION_ID=\"12\"\n"
