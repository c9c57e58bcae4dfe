package kubeapi

import (
	"bytes"
	"encoding/json"
	"strings"
)

// PatchCommand is the kubectl command that sets key of ConfigMap
// namespace/name to value, for a shell: a JSON merge patch (RFC 7386) of
// that one key, so every other key and the rest of the object stay.
func PatchCommand(namespace, name, key, value string) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// <, > and & as themselves: the command is read by people first.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{"data": map[string]string{key: value}}); err != nil {
		return "", err
	}
	patch := strings.TrimSuffix(b.String(), "\n")
	return "kubectl -n " + shellQuote(namespace) + " patch configmap " + shellQuote(name) + " --type merge -p " + shellQuote(patch), nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
