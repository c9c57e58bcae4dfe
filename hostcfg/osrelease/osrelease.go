// Package osrelease reads os-release(5): which distribution and version a
// node runs, as far as the dhclient hook needs to know it.
package osrelease

import (
	"bufio"
	"bytes"
	"slices"
	"strconv"
	"strings"
)

// Path is where os-release lives on the node. /usr/lib/os-release is its
// fallback; every release this package tells apart has /etc/os-release.
const Path = "/etc/os-release"

// Release is what os-release says; an empty Release is an unknown system.
type Release struct {
	ID        string   // "rhel", "centos", "rocky", "almalinux", "ol", "amzn", "debian", ...
	IDLike    []string // ID_LIKE, split on spaces
	VersionID string   // "7", "8.10", "9.4", "2"
}

// Parse reads os-release's KEY=value lines. Lines it cannot read are skipped,
// as systemd does: the file only tells unloop which dhclient-script to expect,
// and an odd line there must not stop a fix.
func Parse(data []byte) Release {
	var r Release
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		val, ok = unquote(val)
		if !ok {
			continue
		}
		switch key {
		case "ID":
			r.ID = strings.ToLower(val)
		case "ID_LIKE":
			r.IDLike = strings.Fields(strings.ToLower(val))
		case "VERSION_ID":
			r.VersionID = val
		}
	}
	return r
}

// unquote undoes os-release's shell-like quoting of one value.
func unquote(v string) (string, bool) {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		if v[len(v)-1] != v[0] {
			return "", false
		}
		v = v[1 : len(v)-1]
		if v != "" && strings.ContainsAny(v, `\`) {
			var b strings.Builder
			for i := 0; i < len(v); i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				b.WriteByte(v[i])
			}
			v = b.String()
		}
	}
	return v, true
}

// rebuilds are RHEL and the distributions rebuilt from its sources.
var rebuilds = []string{"rhel", "centos", "rocky", "almalinux", "ol"}

// RHELMajor is the RHEL release whose dhclient-script the node ships: 7, 8 or
// 9 for RHEL and its rebuilds (CentOS, Rocky, AlmaLinux, Oracle Linux, and
// others that say ID_LIKE=rhel), 7 for Amazon Linux 2 (its dhcp package is
// RHEL 7's dhcp-4.2.5), 0 for anything else: Fedora, Amazon Linux 2023 and
// RHEL 10 have no dhclient-script of RHEL's to speak of.
func (r Release) RHELMajor() int {
	if r.ID == "amzn" {
		if r.VersionID == "2" {
			return 7
		}
		return 0
	}
	if !slices.Contains(rebuilds, r.ID) && !slices.Contains(r.IDLike, "rhel") {
		return 0
	}
	major, _, _ := strings.Cut(r.VersionID, ".")
	n, err := strconv.Atoi(major)
	if err != nil || n < 7 || n > 9 {
		return 0
	}
	return n
}
