package corefile

import (
	"fmt"
	"strings"
)

// Named names a Corefile for people: its file, and its ConfigMap or pod.
func (cf *Config) Named() string {
	switch s := cf.Source; {
	case s == nil:
		return cf.Path
	case s.ConfigMap != "":
		return fmt.Sprintf("%s (ConfigMap %s, data.%s)", cf.Path, s.ConfigMap, s.Key)
	default:
		return fmt.Sprintf("%s (mounted into pod %s)", cf.Path, s.Pod)
	}
}

// HandFix is the by-hand fix of a Corefile unloop does not edit: the
// ConfigMap, the line and the edit.
func (cf *Config) HandFix(line int, old, new string) string {
	where := cf.Path
	switch {
	case cf.Source.ConfigMap != "":
		ns, name, _ := strings.Cut(cf.Source.ConfigMap, "/")
		where = fmt.Sprintf("ConfigMap %s (kubectl -n %s edit configmap %s), data.%s, %s line %d", cf.Source.ConfigMap, ns, name, cf.Source.Key, cf.Path, line)
	default:
		// The volume's name is the pod's, not the ConfigMap's: ask the pod.
		ns, name, _ := strings.Cut(cf.Source.PodName, "/")
		where = fmt.Sprintf("the ConfigMap of volume %s of pod %s (kubectl -n %s edit configmap $(kubectl -n %s get pod %s -o jsonpath='{.spec.volumes[?(@.name==\"%s\")].configMap.name}')), data.%s, line %d",
			cf.Source.Volume, cf.Source.PodName, ns, ns, name, cf.Source.Volume, cf.Source.Key, line)
	}
	return fmt.Sprintf("fix by hand (kubelet rewrites this copy): in %s change `%s` to `%s`", where, old, new)
}
