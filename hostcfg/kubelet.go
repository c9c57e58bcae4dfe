package hostcfg

import "errors"

// Where is a place in a file.
type Where struct {
	File string
	Line int
}

// Flag is a command-line flag of kubelet found in a unit or an environment file.
type Flag struct {
	Name       string // "resolv-conf", "config"
	Value      string
	File       string
	Line       int
	ValueStart int // byte offsets of the value in File, for splicing
	ValueEnd   int
}

// KeyMiss is a key in kubelet's config that nearly spells resolvConf.
type KeyMiss struct {
	Key   string
	Value string
	File  string
	Line  int
}

// Kubelet is what kubelet hands to pods with dnsPolicy: Default, and why.
type Kubelet struct {
	Present   bool     // a kubelet unit, env file or config was found
	UnitFiles []string // kubelet.service and drop-ins read, in systemd's order
	EnvFiles  []string // environment files read

	ConfigPath   string // the KubeletConfiguration file in force
	ConfigFlag   *Flag  // the --config flag, nil when the default path is used
	ConfigExists bool

	// ResolvConf is the pod file; "" with ResolvConfSource "config" means
	// `resolvConf: ""` (pods inherit nothing).
	ResolvConf       string
	ResolvConfSource string // "flag", "config", "default"
	ResolvConfFlag   *Flag  // when the source is the flag
	ResolvConfAt     Where  // where the config file sets it (source "config")

	Misspelled []KeyMiss
}

// DiscoverKubelet finds kubelet's units and drop-ins (under /etc/systemd/system,
// /run/systemd/system, /usr/lib/systemd/system, /lib/systemd/system; unitFiles
// from systemd itself are used instead when given), the environment files they
// name, the --config and --resolv-conf flags (a flag beats the config file), and
// the config file (--config, else /var/lib/kubelet/config.yaml, else
// /etc/kubernetes/kubelet-config.yaml).
func DiscoverKubelet(r *Root, unitFiles []string) (*Kubelet, error) {
	return nil, errors.New("not implemented")
}
