package kubelet

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/internal/parsetest"
	"github.com/unloop/unloop/hostcfg/unitfile"
)

// kubeletTree writes a node from a txtar text (see hostcfgtest) and returns its Root.
func kubeletTree(t *testing.T, archive string) *hostcfg.Root {
	t.Helper()
	dir := t.TempDir()
	if err := hostcfgtest.Write(dir, txtar.Parse([]byte(archive))); err != nil {
		t.Fatal(err)
	}
	r, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// kubeletSummary is what a test compares: the found Setup in short.
type kubeletSummary struct {
	Present      bool
	Units        []string
	Env          []string
	Config       string
	ConfigExists bool
	ConfigFlag   string // "FILE:LINE VALUE"
	ResolvConf   string
	Source       string
	Flag         string // "FILE:LINE VALUE"
	At           string // "FILE:LINE"
	Misspelled   []string
}

func summarize(k *Setup) kubeletSummary {
	flag := func(f *Flag) string {
		if f == nil {
			return ""
		}
		return fmt.Sprintf("%s:%d %s", f.File, f.Line, f.Value)
	}
	s := kubeletSummary{
		Present: k.Present, Units: k.UnitFiles, Env: k.EnvFiles,
		Config: k.ConfigPath, ConfigExists: k.ConfigExists, ConfigFlag: flag(k.ConfigFlag),
		ResolvConf: k.ResolvConf, Source: k.ResolvConfSource, Flag: flag(k.ResolvConfFlag),
	}
	if k.ResolvConfAt != (Where{}) {
		s.At = fmt.Sprintf("%s:%d", k.ResolvConfAt.File, k.ResolvConfAt.Line)
	}
	for _, m := range k.Misspelled {
		s.Misspelled = append(s.Misspelled, fmt.Sprintf("%s:%d %s=%s", m.File, m.Line, m.Key, m.Value))
	}
	return s
}

// The kubeadm files as the Debian/RPM packages and kubeadm write them.
const (
	kubeadmUnit = `-- usr/lib/systemd/system/kubelet.service --
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
-- usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf --
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`
	kubeadmConfig = `-- var/lib/kubelet/config.yaml --
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
kind: KubeletConfiguration
resolvConf: /run/systemd/resolve/resolv.conf
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
`
	kubesprayUnit = `-- etc/systemd/system/kubelet.service --
[Unit]
Description=Kubernetes Setup Server
Documentation=https://github.com/GoogleCloudPlatform/kubernetes
After=containerd.service
Wants=containerd.service

[Service]
EnvironmentFile=-/etc/kubernetes/kubelet.env
ExecStart=/usr/local/bin/kubelet \
		$KUBE_LOGTOSTDERR \
		$KUBE_LOG_LEVEL \
		$KUBELET_API_SERVER \
		$KUBELET_ADDRESS \
		$KUBELET_PORT \
		$KUBELET_HOSTNAME \
		$KUBELET_ARGS \
		$DOCKER_SOCKET \
		$KUBELET_NETWORK_PLUGIN \
		$KUBELET_VOLUME_PLUGIN \
		$KUBELET_CLOUDPROVIDER
Restart=always
RestartSec=10s

[Install]
WantedBy=multi-user.target
-- etc/kubernetes/kubelet.env --
KUBE_LOGTOSTDERR="--logtostderr=true"
KUBE_LOG_LEVEL="--v=2"
KUBELET_ADDRESS="--node-ip=10.0.0.11"
KUBELET_HOSTNAME="--hostname-override=node1"

KUBELET_ARGS="--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
--config=/etc/kubernetes/kubelet-config.yaml \
--kubeconfig=/etc/kubernetes/kubelet.conf \
--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock \
--runtime-cgroups=/system.slice/containerd.service \
 "
KUBELET_NETWORK_PLUGIN="--network-plugin=cni --cni-conf-dir=/etc/cni/net.d --cni-bin-dir=/opt/cni/bin"
KUBELET_VOLUME_PLUGIN="--volume-plugin-dir=/usr/libexec/kubernetes/kubelet-plugins/volume/exec"
KUBELET_CLOUDPROVIDER=""

PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/sbin
`
)

func TestDiscoverKubelet(t *testing.T) {
	const kubeadmUnits = "/usr/lib/systemd/system/kubelet.service /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"
	tests := []struct {
		name      string
		tree      string
		unitFiles []string // what systemd says over D-Bus
		want      kubeletSummary
	}{{
		name: "kubeadm, config sets resolvConf",
		tree: kubeadmUnit + kubeadmConfig + `-- var/lib/kubelet/kubeadm-flags.env --
KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10"
`,
		want: kubeletSummary{
			Present: true, Units: strings.Fields(kubeadmUnits), Env: []string{"/var/lib/kubelet/kubeadm-flags.env"},
			Config: "/var/lib/kubelet/config.yaml", ConfigExists: true,
			ConfigFlag: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf:4 /var/lib/kubelet/config.yaml",
			ResolvConf: "/run/systemd/resolve/resolv.conf", Source: "config", At: "/var/lib/kubelet/config.yaml:10",
		},
	}, {
		name: "kubeadm, kubeadm-flags.env has --resolv-conf",
		tree: kubeadmUnit + kubeadmConfig + `-- var/lib/kubelet/kubeadm-flags.env --
KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --resolv-conf=/run/systemd/resolve/resolv.conf"
`,
		want: kubeletSummary{
			Present: true, Units: strings.Fields(kubeadmUnits), Env: []string{"/var/lib/kubelet/kubeadm-flags.env"},
			Config: "/var/lib/kubelet/config.yaml", ConfigExists: true,
			ConfigFlag: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf:4 /var/lib/kubelet/config.yaml",
			ResolvConf: "/run/systemd/resolve/resolv.conf", Source: "flag",
			Flag: "/var/lib/kubelet/kubeadm-flags.env:1 /run/systemd/resolve/resolv.conf",
			At:   "/var/lib/kubelet/config.yaml:10",
		},
	}, {
		name: "the flag beats the config, in --x v form from /etc/default/kubelet",
		tree: kubeadmUnit + kubeadmConfig + `-- etc/default/kubelet --
# extra args
KUBELET_EXTRA_ARGS=--node-ip=10.0.0.5 --resolv-conf /etc/kubelet/resolv.conf
`,
		want: kubeletSummary{
			Present: true, Units: strings.Fields(kubeadmUnits), Env: []string{"/etc/default/kubelet"},
			Config: "/var/lib/kubelet/config.yaml", ConfigExists: true,
			ConfigFlag: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf:4 /var/lib/kubelet/config.yaml",
			ResolvConf: "/etc/kubelet/resolv.conf", Source: "flag",
			Flag: "/etc/default/kubelet:2 /etc/kubelet/resolv.conf",
			At:   "/var/lib/kubelet/config.yaml:10",
		},
	}, {
		name: "kubespray: kubelet.env with continued lines and kubelet-config.yaml",
		tree: kubesprayUnit + `-- etc/kubernetes/kubelet-config.yaml --
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
clusterDNS:
- 169.254.25.10
resolvConf: "/run/systemd/resolve/resolv.conf"
`,
		want: kubeletSummary{
			Present: true, Units: []string{"/etc/systemd/system/kubelet.service"}, Env: []string{"/etc/kubernetes/kubelet.env"},
			Config: "/etc/kubernetes/kubelet-config.yaml", ConfigExists: true,
			ConfigFlag: "/etc/kubernetes/kubelet.env:7 /etc/kubernetes/kubelet-config.yaml",
			ResolvConf: "/run/systemd/resolve/resolv.conf", Source: "config", At: "/etc/kubernetes/kubelet-config.yaml:5",
		},
	}, {
		name: "the typo path is reported as written",
		tree: kubesprayUnit + `-- etc/kubernetes/kubelet-config.yaml --
kind: KubeletConfiguration
resolvConf: /run/systemd/resolv/resolv.conf
`,
		want: kubeletSummary{
			Present: true, Units: []string{"/etc/systemd/system/kubelet.service"}, Env: []string{"/etc/kubernetes/kubelet.env"},
			Config: "/etc/kubernetes/kubelet-config.yaml", ConfigExists: true,
			ConfigFlag: "/etc/kubernetes/kubelet.env:7 /etc/kubernetes/kubelet-config.yaml",
			ResolvConf: "/run/systemd/resolv/resolv.conf", Source: "config", At: "/etc/kubernetes/kubelet-config.yaml:2",
		},
	}, {
		name: "misspelled key: kubelet keeps the default",
		tree: kubeadmUnit + `-- var/lib/kubelet/config.yaml --
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
resolvconf: /run/systemd/resolve/resolv.conf
ResolverConfig: /etc/other.conf
`,
		want: kubeletSummary{
			Present: true, Units: strings.Fields(kubeadmUnits),
			Config: "/var/lib/kubelet/config.yaml", ConfigExists: true,
			ConfigFlag: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf:4 /var/lib/kubelet/config.yaml",
			ResolvConf: "/etc/resolv.conf", Source: "default",
			Misspelled: []string{
				"/var/lib/kubelet/config.yaml:3 resolvconf=/run/systemd/resolve/resolv.conf",
				"/var/lib/kubelet/config.yaml:4 ResolverConfig=/etc/other.conf",
			},
		},
	}, {
		name: `resolvConf: "" gives pods nothing`,
		tree: kubeadmUnit + `-- var/lib/kubelet/config.yaml --
kind: KubeletConfiguration
resolvConf: ""
`,
		want: kubeletSummary{
			Present: true, Units: strings.Fields(kubeadmUnits),
			Config: "/var/lib/kubelet/config.yaml", ConfigExists: true,
			ConfigFlag: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf:4 /var/lib/kubelet/config.yaml",
			ResolvConf: "", Source: "config", At: "/var/lib/kubelet/config.yaml:2",
		},
	}, {
		name: "resolvConf: with no value is kubelet's default",
		tree: kubeadmUnit + `-- var/lib/kubelet/config.yaml --
kind: KubeletConfiguration
resolvConf:
`,
		want: kubeletSummary{
			Present: true, Units: strings.Fields(kubeadmUnits),
			Config: "/var/lib/kubelet/config.yaml", ConfigExists: true,
			ConfigFlag: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf:4 /var/lib/kubelet/config.yaml",
			ResolvConf: "/etc/resolv.conf", Source: "default", At: "/var/lib/kubelet/config.yaml:2",
		},
	}, {
		name: "no kubelet at all",
		tree: `-- etc/resolv.conf --
nameserver 10.0.0.2
`,
		want: kubeletSummary{ResolvConf: "/etc/resolv.conf", Source: "default"},
	}, {
		name: "only a config file, at the Kubespray path",
		tree: `-- etc/kubernetes/kubelet-config.yaml --
kind: KubeletConfiguration
resolvConf: /etc/k8s-resolv.conf
`,
		want: kubeletSummary{
			Present: true, Config: "/etc/kubernetes/kubelet-config.yaml", ConfigExists: true,
			ResolvConf: "/etc/k8s-resolv.conf", Source: "config", At: "/etc/kubernetes/kubelet-config.yaml:2",
		},
	}, {
		name: "kubeadm's path wins over Kubespray's when both exist and no flag names one",
		tree: `-- etc/kubernetes/kubelet-config.yaml --
kind: KubeletConfiguration
resolvConf: /etc/b.conf
-- var/lib/kubelet/config.yaml --
kind: KubeletConfiguration
resolvConf: /etc/a.conf
`,
		want: kubeletSummary{
			Present: true, Config: "/var/lib/kubelet/config.yaml", ConfigExists: true,
			ResolvConf: "/etc/a.conf", Source: "config", At: "/var/lib/kubelet/config.yaml:2",
		},
	}, {
		name: "no unit: the env files at the usual places are read",
		tree: `-- var/lib/kubelet/kubeadm-flags.env --
KUBELET_KUBEADM_ARGS="--resolv-conf=/run/systemd/resolve/resolv.conf"
-- etc/sysconfig/kubelet --
KUBELET_EXTRA_ARGS=--config /etc/kubelet.yaml
-- etc/kubelet.yaml --
kind: KubeletConfiguration
resolvConf: /etc/ignored.conf
`,
		want: kubeletSummary{
			Present: true, Env: []string{"/var/lib/kubelet/kubeadm-flags.env", "/etc/sysconfig/kubelet"},
			Config: "/etc/kubelet.yaml", ConfigExists: true, ConfigFlag: "/etc/sysconfig/kubelet:1 /etc/kubelet.yaml",
			ResolvConf: "/run/systemd/resolve/resolv.conf", Source: "flag",
			Flag: "/var/lib/kubelet/kubeadm-flags.env:1 /run/systemd/resolve/resolv.conf",
			At:   "/etc/kubelet.yaml:2",
		},
	}, {
		name: "--config names a missing file",
		tree: `-- etc/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet --config=/etc/kubernetes/missing.yaml
-- var/lib/kubelet/config.yaml --
kind: KubeletConfiguration
resolvConf: /etc/not-used.conf
`,
		want: kubeletSummary{
			Present: true, Units: []string{"/etc/systemd/system/kubelet.service"},
			Config: "/etc/kubernetes/missing.yaml", ConfigFlag: "/etc/systemd/system/kubelet.service:2 /etc/kubernetes/missing.yaml",
			ResolvConf: "/etc/resolv.conf", Source: "default",
		},
	}, {
		name: "drop-ins: /etc hides the same name in /usr/lib, applied by name, ExecStart= resets",
		tree: `-- lib/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet --resolv-conf=/from/lib
-- usr/lib/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet --resolv-conf=/from/usr-lib
-- usr/lib/systemd/system/kubelet.service.d/20-b.conf --
[Service]
ExecStart=
ExecStart=/usr/bin/kubelet --resolv-conf=/from/usr-lib-20
-- etc/systemd/system/kubelet.service.d/20-b.conf --
[Service]
ExecStart=
ExecStart=/usr/bin/kubelet --resolv-conf=/from/etc-20
-- run/systemd/system/kubelet.service.d/10-a.conf --
[Service]
ExecStart=
ExecStart=/usr/bin/kubelet --resolv-conf=/from/run-10
-- etc/systemd/system/kubelet.service.d/README --
not a drop-in
`,
		want: kubeletSummary{
			Present: true,
			Units: []string{"/usr/lib/systemd/system/kubelet.service",
				"/run/systemd/system/kubelet.service.d/10-a.conf", "/etc/systemd/system/kubelet.service.d/20-b.conf"},
			ResolvConf: "/from/etc-20", Source: "flag", Flag: "/etc/systemd/system/kubelet.service.d/20-b.conf:3 /from/etc-20",
		},
	}, {
		name: "service.d drop-ins count; a masked drop-in is listed and hides its name; merged /usr gives one name",
		tree: `-- lib -> usr/lib --
-- usr/lib/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet $ARGS
-- usr/lib/systemd/system/kubelet.service.d/20-args.conf --
[Service]
Environment=ARGS=--resolv-conf=/from/masked
-- etc/systemd/system/kubelet.service.d/20-args.conf -> /dev/null --
-- usr/lib/systemd/system/service.d/10-all.conf --
[Service]
Environment="ARGS=--resolv-conf=/from/service.d"
`,
		want: kubeletSummary{
			Present: true,
			Units: []string{"/usr/lib/systemd/system/kubelet.service", "/usr/lib/systemd/system/service.d/10-all.conf",
				"/etc/systemd/system/kubelet.service.d/20-args.conf"},
			ResolvConf: "/from/service.d", Source: "flag", Flag: "/usr/lib/systemd/system/service.d/10-all.conf:2 /from/service.d",
		},
	}, {
		name:      "systemd's own list of unit files is used as given",
		unitFiles: []string{"/opt/units/kubelet.service", "/opt/units/kubelet.service.d/override.conf"},
		tree: `-- opt/units/kubelet.service --
[Service]
ExecStart=/opt/bin/kubelet --resolv-conf=/from/opt
-- opt/units/kubelet.service.d/override.conf --
[Service]
Environment=RC=/from/override
ExecStart=
ExecStart=/opt/bin/kubelet --resolv-conf=${RC}
-- etc/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet --resolv-conf=/from/etc
`,
		want: kubeletSummary{
			Present: true, Units: []string{"/opt/units/kubelet.service", "/opt/units/kubelet.service.d/override.conf"},
			ResolvConf: "/from/override", Source: "flag", Flag: "/opt/units/kubelet.service.d/override.conf:2 /from/override",
		},
	}, {
		name: "a masked unit runs nothing",
		tree: `-- etc/systemd/system/kubelet.service -> /dev/null --
-- lib/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet --resolv-conf=/from/lib
`,
		want: kubeletSummary{ResolvConf: "/etc/resolv.conf", Source: "default"},
	}, {
		name: "EnvironmentFile= overrides Environment=, whatever the order",
		tree: `-- etc/systemd/system/kubelet.service --
[Service]
EnvironmentFile=/etc/kubelet.env
Environment="ARGS=--resolv-conf=/from/environment"
ExecStart=/usr/bin/kubelet $ARGS
-- etc/kubelet.env --
ARGS='--resolv-conf=/from/file'
`,
		want: kubeletSummary{
			Present: true, Units: []string{"/etc/systemd/system/kubelet.service"}, Env: []string{"/etc/kubelet.env"},
			ResolvConf: "/from/file", Source: "flag", Flag: "/etc/kubelet.env:1 /from/file",
		},
	}, {
		name: "${VAR} is one word: the flag's value holds the rest",
		tree: `-- etc/systemd/system/kubelet.service --
[Service]
Environment="ARGS=--resolv-conf=/a --v=2"
ExecStart=/usr/bin/kubelet ${ARGS}
`,
		want: kubeletSummary{
			Present: true, Units: []string{"/etc/systemd/system/kubelet.service"},
			ResolvConf: "/a --v=2", Source: "flag", Flag: "/etc/systemd/system/kubelet.service:2 /a --v=2",
		},
	}, {
		name: "a : prefix turns expansion off; the last flag wins; _ is -",
		tree: `-- etc/systemd/system/kubelet.service --
[Service]
Environment=RC=/expanded
ExecStart=:/usr/bin/kubelet --resolv_conf=/first \
  --resolv-conf=$RC
`,
		want: kubeletSummary{
			Present: true, Units: []string{"/etc/systemd/system/kubelet.service"},
			ResolvConf: "$RC", Source: "flag", Flag: "/etc/systemd/system/kubelet.service:4 $RC",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := kubeletTree(t, tc.tree)
			k, err := Discover(r, tc.unitFiles)
			if err != nil {
				t.Fatal(err)
			}
			if got := summarize(k); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			for _, f := range []*Flag{k.ConfigFlag, k.ResolvConfFlag} {
				checkFlagOffsets(t, r, f)
			}
		})
	}
}

// checkFlagOffsets makes sure a flag's offsets hold its value in its file.
func checkFlagOffsets(t *testing.T, r *hostcfg.Root, f *Flag) {
	t.Helper()
	if f == nil || f.ValueStart < 0 {
		return
	}
	data, err := r.ReadFile(f.File)
	if err != nil {
		t.Fatal(err)
	}
	if f.ValueEnd > len(data) || string(data[f.ValueStart:f.ValueEnd]) != f.Value {
		t.Errorf("--%s: bytes %d..%d of %s are not %q", f.Name, f.ValueStart, f.ValueEnd, f.File, f.Value)
	}
	if got := conffile.LineOfOffset(data, f.ValueStart); got != f.Line {
		t.Errorf("--%s: line %d, but its value is on line %d", f.Name, f.Line, got)
	}
}

func TestDiscoverKubeletErrors(t *testing.T) {
	tests := []struct {
		name  string
		tree  string
		file  string
		line  int
		words []string
		want  kubeletSummary // what is still found
	}{{
		name: "config that is a list",
		tree: kubeadmUnit + `-- var/lib/kubelet/config.yaml --
# a list, not a mapping
- kind: KubeletConfiguration
`,
		file: "/var/lib/kubelet/config.yaml", line: 2, words: []string{"not a KubeletConfiguration", "a list"},
		want: kubeletSummary{
			Present: true, Units: []string{"/usr/lib/systemd/system/kubelet.service", "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"},
			Config: "/var/lib/kubelet/config.yaml", ConfigExists: true,
			ConfigFlag: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf:4 /var/lib/kubelet/config.yaml",
			ResolvConf: "/etc/resolv.conf", Source: "default",
		},
	}, {
		name: "config of another kind, and the flag still counts",
		tree: `-- etc/default/kubelet --
KUBELET_EXTRA_ARGS="--resolv-conf=/etc/x.conf"
-- var/lib/kubelet/config.yaml --
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
`,
		file: "/var/lib/kubelet/config.yaml", line: 2, words: []string{"KubeProxyConfiguration", "not KubeletConfiguration"},
		want: kubeletSummary{
			Present: true, Env: []string{"/etc/default/kubelet"},
			Config: "/var/lib/kubelet/config.yaml", ConfigExists: true,
			ResolvConf: "/etc/x.conf", Source: "flag", Flag: "/etc/default/kubelet:1 /etc/x.conf",
		},
	}, {
		name: "unreadable unit: a folder; the answer is still kubelet's default",
		tree: `-- etc/systemd/system/kubelet.service/ --
`,
		file: "/etc/systemd/system/kubelet.service", words: []string{"reading kubelet unit", "not a regular file"},
		want: kubeletSummary{ResolvConf: "/etc/resolv.conf", Source: "default"},
	}, {
		name: "unreadable config: a folder",
		tree: `-- var/lib/kubelet/config.yaml/ --
`,
		file: "/var/lib/kubelet/config.yaml", words: []string{"not a regular file"},
		want: kubeletSummary{Config: "/var/lib/kubelet/config.yaml", ResolvConf: "/etc/resolv.conf", Source: "default"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Discover(kubeletTree(t, tc.tree), nil)
			parsetest.WantFileError(t, err, tc.file, tc.line, tc.words...)
			if k == nil {
				t.Fatal("nil Setup with the error")
			}
			if got := summarize(k); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSetFlagValue(t *testing.T) {
	r := kubeletTree(t, kubeadmUnit+kubeadmConfig+`-- var/lib/kubelet/kubeadm-flags.env --
KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock --resolv-conf=/run/systemd/resolve/resolv.conf --v=2"
`)
	k, err := Discover(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := *k.ResolvConfFlag
	data, err := r.ReadFile(f.File)
	if err != nil {
		t.Fatal(err)
	}
	out, err := SetFlagValue(data, f, "/etc/unloop/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := `KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock --resolv-conf=/etc/unloop/resolv.conf --v=2"` + "\n"
	if string(out) != want {
		t.Errorf("got  %q\nwant %q", out, want)
	}

	// The edited file reads back with the new value, at the new offsets.
	vars := unitfile.ParseEnvFile(0, out)
	words, _ := unitfile.SplitWords(vars[0].Value, unitfile.WordRelax)
	files := &unitfile.Files{Paths: []string{f.File}, Data: [][]byte{out}}
	if nf := kubeletFlags(words, files)["resolv-conf"]; nf == nil || nf.Value != "/etc/unloop/resolv.conf" {
		t.Errorf("after the edit the flag reads %+v", nf)
	}

	for _, tc := range []struct {
		name  string
		data  []byte
		f     Flag
		value string
		words string
	}{
		{"the file changed", []byte(strings.Replace(string(data), "/run/systemd/resolve", "/run/systemd/resolv_", 1)), f, "/x", "changed"},
		{"the file is shorter", data[:f.ValueStart+3], f, "/x", "changed"},
		{"a value that needs quotes", data, f, "/etc/my resolv.conf", "only path characters"},
		{"an empty value", data, f, "", "only path characters"},
		{"a value built from variables", data, Flag{Name: "resolv-conf", File: f.File, ValueStart: -1, ValueEnd: -1}, "/x", "by hand"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SetFlagValue(tc.data, tc.f, tc.value)
			parsetest.WantFileError(t, err, f.File, 0, tc.words)
		})
	}
}

func TestFlagNotSpliceable(t *testing.T) {
	tests := []struct {
		name, tree string
		value      string
		spliceable bool
	}{
		{"quoted in the middle", "-- etc/default/kubelet --\nA=--resolv-conf=/a\"b\"c\n", "/abc", false},
		{"an escape in the value", "-- etc/default/kubelet --\nA=--resolv-conf=/a\\b\n", "/ab", false},
		{"an escaped blank splits no word but is no literal run", "-- etc/systemd/system/kubelet.service --\n[Service]\nExecStart=/bin/kubelet --resolv-conf=/a\\sb\n", "/a b", false},
		{"double-quoted whole", "-- etc/default/kubelet --\nA=\"--resolv-conf=/abc\"\n", "/abc", true},
		{"single-quoted, two words", "-- etc/default/kubelet --\nA='--resolv-conf /abc'\n", "/abc", true},
		{"empty after =", "-- etc/default/kubelet --\nA=--resolv-conf=\n", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := kubeletTree(t, tc.tree)
			k, err := Discover(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			f := k.ResolvConfFlag
			if f == nil || f.Value != tc.value {
				t.Fatalf("flag %+v, want value %q", f, tc.value)
			}
			if got := f.ValueStart >= 0; got != tc.spliceable {
				t.Errorf("spliceable %v, want %v (%+v)", got, tc.spliceable, f)
			}
			checkFlagOffsets(t, r, f)
		})
	}
}

// Units names each distribution's kubelet unit once, kubelet.service first.
func TestUnits(t *testing.T) {
	u := Units()
	if len(u) == 0 || u[0] != "kubelet.service" {
		t.Fatalf("Units() = %q: want kubelet.service first", u)
	}
	seen := map[string]bool{}
	for _, n := range u {
		if seen[n] || !strings.HasSuffix(n, ".service") {
			t.Errorf("Units() = %q: %s repeated or not a service", u, n)
		}
		seen[n] = true
	}
	for _, n := range []string{"k3s-agent.service", "rke2-server.service", "snap.microk8s.daemon-kubelite.service", "k0sworker.service"} {
		if !seen[n] {
			t.Errorf("Units() = %q: no %s", u, n)
		}
	}
}
