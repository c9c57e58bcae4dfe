package kubelet

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg/internal/parsetest"
)

// TestSetKubeletResolvConfGolden edits every file in testdata/kubelet-config
// and compares the result (or the error) with NAME.golden.
func TestSetKubeletResolvConfGolden(t *testing.T) {
	const value = "/run/systemd/resolve/resolv.conf"
	inputs, err := filepath.Glob("testdata/kubelet-config/*.*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := SetResolvConf("/var/lib/kubelet/config.yaml", data, value)
			if err != nil {
				parsetest.Golden(t, in+".golden", []byte("error: "+err.Error()+"\n"))
				return
			}
			parsetest.Golden(t, in+".golden", out)
			kc, err := parseKubeletConfig("/var/lib/kubelet/config.yaml", out)
			if err != nil {
				t.Fatalf("the result does not parse: %v", err)
			}
			if got, ok := kc.resolvConf(); !ok || got != value {
				t.Errorf("the result sets resolvConf to %q (%v)", got, ok)
			}
			again, err := SetResolvConf("/var/lib/kubelet/config.yaml", out, value)
			if err != nil || !bytes.Equal(again, out) {
				t.Errorf("a second edit is not a no-op: err %v\n%s", err, again)
			}
		})
	}
	if n < 20 {
		t.Fatalf("only %d inputs in testdata/kubelet-config", n)
	}
}

func TestSetKubeletResolvConfValues(t *testing.T) {
	in := []byte("kind: KubeletConfiguration\nresolvConf: /etc/resolv.conf\n")
	for _, tc := range []struct{ value, want string }{
		{"/etc/unloop/resolv.conf", "resolvConf: /etc/unloop/resolv.conf\n"},
		{"", `resolvConf: ""` + "\n"},
		{"/path with blank", `resolvConf: "/path with blank"` + "\n"},
		{"yes", `resolvConf: "yes"` + "\n"},
		{`/a"b\c`, `resolvConf: "/a\"b\\c"` + "\n"},
		{"/run/#x", `resolvConf: "/run/#x"` + "\n"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			out, err := SetResolvConf("/c.yaml", in, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if want := "kind: KubeletConfiguration\n" + tc.want; string(out) != want {
				t.Errorf("got %q, want %q", out, want)
			}
		})
	}
	_, err := SetResolvConf("/c.yaml", in, "/a\nb")
	parsetest.WantFileError(t, err, "/c.yaml", 0, "control characters")
}

func TestParseKubeletConfig(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		value string // resolvConf, "-" when the default
		line  int    // error line, 0 for an error about the whole file
		err   string // "" when it parses
	}{
		{"plain", "kind: KubeletConfiguration\nresolvConf: /a\n", "/a", 0, ""},
		{"no kind is accepted", "resolvConf: /a\n", "/a", 0, ""},
		{"absent", "kind: KubeletConfiguration\n", "-", 0, ""},
		{"null", "kind: KubeletConfiguration\nresolvConf: null\n", "-", 0, ""},
		{"empty string", "kind: KubeletConfiguration\nresolvConf: ''\n", "", 0, ""},
		{"a string tag", "resolvConf: !!str 123\n", "123", 0, ""},
		{"duplicate keys: the last wins, as in kubelet's lenient decoding", "resolvConf: /a\nresolvConf: /b\n", "/b", 0, ""},
		{"an alias", "x: &p /a\nresolvConf: *p\n", "/a", 0, ""},
		{"a merge", "x: &m {resolvConf: /m}\n<<: *m\n", "/m", 0, ""},
		{"a direct key beats a merge", "x: &m {resolvConf: /m}\nresolvConf: /d\n<<: *m\n", "/d", 0, ""},
		{"JSON", `{"kind":"KubeletConfiguration","resolvConf":"/j"}`, "/j", 0, ""},
		{"a trailing empty document", "resolvConf: /a\n---\n", "/a", 0, ""},
		{"a list", "- a\n- b\n", "", 1, "a list, not a mapping"},
		{"a single value", "# c\nhello\n", "", 2, "a single value"},
		{"another kind", "kind: Pod\n", "", 1, `kind is "Pod", not KubeletConfiguration`},
		{"a number", "resolvConf: 53\n", "", 1, "resolvConf must be a path (a string), not 53 (int)"},
		{"a mapping", "resolvConf:\n  path: /a\n", "", 2, "not a mapping"},
		{"a merged number", "x: &m {resolvConf: 1}\n<<: *m\n", "", 1, "not 1 (int)"},
		{"empty", "", "", 0, "empty"},
		{"comments only", "# nothing\n", "", 0, "empty"},
		{"a lone document marker", "---\n", "", 0, "no YAML content"},
		{"two documents", "kind: KubeletConfiguration\n---\nresolvConf: /a\n", "", 2, "second YAML document"},
		{"a tab for indentation", "kind: KubeletConfiguration\nauthentication:\n\tx: 1\n", "", 3, "not valid YAML"},
		{"broken syntax", "kind: [\n", "", 1, "not valid YAML"},
		{"a bad second document", "kind: KubeletConfiguration\n---\n: : :\n  - [\n", "", 0, "not valid YAML"},
		{"binary junk", "\x00\x01\x02", "", 0, "not valid YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kc, err := parseKubeletConfig("/k.yaml", []byte(tc.data))
			if tc.err != "" {
				parsetest.WantFileError(t, err, "/k.yaml", tc.line, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, ok := kc.resolvConf()
			if !ok {
				v = "-"
			}
			if v != tc.value {
				t.Errorf("resolvConf %q, want %q", v, tc.value)
			}
		})
	}
}

func TestResolvConfNearMiss(t *testing.T) {
	for _, k := range []string{"resolvconf", "ResolvConf", "RESOLVCONF", "resolv-conf", "resolv_conf", "resolv.conf",
		"ResolverConfig", "resolverConfig", "resolveConf", "resolvConfig", "reslovConf", "resolvCnf",
		"resolvConf ", "resolverconf", "resolver-config", "resolv-config"} {
		if !resolvConfNearMiss(k) {
			t.Errorf("%q is not taken for a near miss of resolvConf", k)
		}
	}
	// Every key of KubeletConfiguration v1beta1 but resolvConf must pass.
	keys := []string{"resolvConf", "apiVersion", "kind", "enableServer", "staticPodPath", "podLogsDir", "syncFrequency",
		"fileCheckFrequency", "httpCheckFrequency", "staticPodURL", "staticPodURLHeader", "address", "port",
		"readOnlyPort", "tlsCertFile", "tlsPrivateKeyFile", "tlsCipherSuites", "tlsMinVersion", "rotateCertificates",
		"serverTLSBootstrap", "authentication", "authorization", "registryPullQPS", "registryBurst",
		"imagePullCredentialsVerificationPolicy", "preloadedImagesVerificationAllowlist", "eventRecordQPS",
		"eventBurst", "enableDebuggingHandlers", "enableContentionProfiling", "healthzPort", "healthzBindAddress",
		"oomScoreAdj", "clusterDomain", "clusterDNS", "streamingConnectionIdleTimeout", "nodeStatusUpdateFrequency",
		"nodeStatusReportFrequency", "nodeLeaseDurationSeconds", "imageMinimumGCAge", "imageMaximumGCAge",
		"imageGCHighThresholdPercent", "imageGCLowThresholdPercent", "volumeStatsAggPeriod", "kubeletCgroups",
		"systemCgroups", "cgroupRoot", "cgroupsPerQOS", "cgroupDriver", "cpuManagerPolicy", "singleProcessOOMKill",
		"cpuManagerPolicyOptions", "cpuManagerReconcilePeriod", "memoryManagerPolicy", "topologyManagerPolicy",
		"topologyManagerScope", "topologyManagerPolicyOptions", "qosReserved", "runtimeRequestTimeout", "hairpinMode",
		"maxPods", "podCIDR", "podPidsLimit", "cpuCFSQuota", "cpuCFSQuotaPeriod", "nodeStatusMaxImages",
		"maxOpenFiles", "contentType", "kubeAPIQPS", "kubeAPIBurst", "serializeImagePulls", "maxParallelImagePulls",
		"evictionHard", "evictionSoft", "evictionSoftGracePeriod", "evictionPressureTransitionPeriod",
		"evictionMaxPodGracePeriod", "evictionMinimumReclaim", "mergeDefaultEvictionSettings", "podsPerCore",
		"enableControllerAttachDetach", "protectKernelDefaults", "makeIPTablesUtilChains", "iptablesMasqueradeBit",
		"iptablesDropBit", "featureGates", "failSwapOn", "memorySwap", "containerLogMaxSize", "containerLogMaxFiles",
		"containerLogMaxWorkers", "containerLogMonitorInterval", "configMapAndSecretChangeDetectionStrategy",
		"systemReserved", "kubeReserved", "reservedSystemCPUs", "showHiddenMetricsForVersion", "systemReservedCgroup",
		"kubeReservedCgroup", "enforceNodeAllocatable", "allowedUnsafeSysctls", "volumePluginDir", "providerID",
		"kernelMemcgNotification", "logging", "enableSystemLogHandler", "enableSystemLogQuery", "shutdownGracePeriod",
		"shutdownGracePeriodCriticalPods", "shutdownGracePeriodByPodPriority", "crashLoopBackOff", "reservedMemory",
		"enableProfilingHandler", "enableDebugFlagsHandler", "seccompDefault", "memoryThrottlingFactor",
		"registerWithTaints", "registerNode", "tracing", "localStorageCapacityIsolation", "containerRuntimeEndpoint",
		"imageServiceEndpoint", "failCgroupV1", "userNamespaces"}
	var flagged []string
	for _, k := range keys {
		if resolvConfNearMiss(k) {
			flagged = append(flagged, k)
		}
	}
	if !reflect.DeepEqual(flagged, []string(nil)) {
		t.Errorf("real kubelet keys taken for near misses: %q", flagged)
	}
}

// TestHealthz: where apply asks kubelet whether it came back, by the config.
func TestHealthz(t *testing.T) {
	head := "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
	for _, tc := range []struct{ name, config, want string }{
		{"defaults", head, "127.0.0.1:10248"},
		{"block YAML", head + "healthzBindAddress: 10.0.0.5\nhealthzPort: 10250\n", "10.0.0.5:10250"},
		{"quoted port", head + "healthzPort: \"10300\"\n", "127.0.0.1:10300"},
		{"flow YAML", "{kind: KubeletConfiguration, healthzPort: 11000, healthzBindAddress: '::1'}\n", "[::1]:11000"},
		{"JSON", `{"kind": "KubeletConfiguration", "healthzBindAddress": "0.0.0.0"}` + "\n", "0.0.0.0:10248"},
		{"turned off", head + "healthzPort: 0\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc, err := parseKubeletConfig("/var/lib/kubelet/config.yaml", []byte(tc.config))
			if err != nil {
				t.Fatal(err)
			}
			if got := kc.healthz(); got != tc.want {
				t.Errorf("healthz() = %q, want %q", got, tc.want)
			}
		})
	}
}
