#!/bin/sh
# setup.sh prepares what the real-node tests need: host packages, cached root
# filesystems for the nodes, and a CoreDNS of our own. It is idempotent and
# does nothing costly when everything is already there (`make deps` runs it
# before every test run).
#
# Environment:
#   RELEASES   root filesystems to build (default "bookworm trixie")
#   MIRROR     Debian mirror for debootstrap (default: the first URIs of this
#              machine's own apt sources that are not a security archive)
#   GO         the go command (default: go on PATH, else /usr/local/go/bin/go)
#   UNLOOP_CACHE  the cache folder (default: the repository's .cache), as the
#              tests read it
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${UNLOOP_CACHE:-$repo/.cache}
releases=${RELEASES:-bookworm trixie}
# curl asks a node's kubelet for its /configz (TLS, which the node's bash can't).
packages="debootstrap systemd-container dnsmasq-base dnsutils iproute2 curl"
# Inside the rootfs only: never on the host (they take over its DNS).
include=systemd,systemd-sysv,dbus,systemd-resolved,isc-dhcp-client,iproute2,procps

log() { printf 'setup: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
now() { date +%s.%N; }
# took START WHAT: prints how long WHAT took since START.
took() { log "$(awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.2fs", e - s }') $2"; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, systemd-nspawn)"
mkdir -p "$cache/rootfs" "$cache/bin"

# Two `make deps` at once (two terminals, parallel make) must not both build
# the same rootfs into the same .tmp folder.
exec 9>"$cache/setup.lock"
flock 9

# --- host packages -----------------------------------------------------------

# host_packages PACKAGE...: installs those not installed yet. No recommends:
# systemd-container recommends libnss-mymachines, which rewrites the host's
# /etc/nsswitch.conf.
host_packages() {
	missing=
	for p in "$@"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$status" = "install ok installed" ] || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		log "installing$missing"
		apt-get update
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
	fi
}

t=$(now)
# shellcheck disable=SC2086
host_packages $packages
took "$t" "host packages"

# --- root filesystems ----------------------------------------------------------

# mirror prints the Debian mirror this machine's apt already uses, so nothing
# about the network is written into the repo.
mirror() {
	if [ -n "${MIRROR:-}" ]; then
		echo "$MIRROR"
		return
	fi
	m=$(
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -r "$f" ] || continue
			# deb822: one stanza per paragraph; skip deb-src-only and disabled
			# stanzas and the security archive (it has no base suites).
			awk '
				function flush() {
					if (uris != "" && types ~ /(^| )deb( |$)/ && enabled != "no" && uris !~ /security/)
						{ split(uris, u, " "); print u[1] }
					uris = ""; types = ""; enabled = ""
				}
				/^[ \t]*$/ { flush(); next }
				/^#/ { next }
				tolower($1) == "uris:" { $1 = ""; uris = $0 }
				tolower($1) == "types:" { $1 = ""; types = $0 " " }
				tolower($1) == "enabled:" { enabled = tolower($2) }
				END { flush() }
			' "$f"
		done
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -r "$f" ] || continue
			# deb [options] URI suite components...
			awk '$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
				if ($i !~ /security/) print $i
			}' "$f"
		done
	)
	m=$(printf '%s\n' "$m" | sed -n '/./{p;q}')
	[ -n "$m" ] || die "no Debian mirror found in /etc/apt sources; set MIRROR"
	echo "$m"
}

for release in $releases; do
	dir="$cache/rootfs/$release"
	[ -d "$dir" ] && continue
	# An older debootstrap may not know a newer release yet; Debian's releases
	# all bootstrap with the sid script (bookworm and trixie are links to it).
	script=
	if [ ! -e "/usr/share/debootstrap/scripts/$release" ]; then
		script=/usr/share/debootstrap/scripts/sid
		[ -e "$script" ] || die "this debootstrap has no script for $release nor sid (upgrade debootstrap)"
		log "debootstrap has no script for $release: using $script"
	fi
	t=$(now)
	m=$(mirror)
	log "building $dir from $m (about 80 s; log in $dir.log)"
	# A .tmp left by an interrupted run is never trusted: start over.
	rm -rf "$dir.tmp"
	# In a mount namespace of its own: trixie's debootstrap leaves /proc
	# mounted inside the target (seen here), and that mount must not outlive
	# it on this machine. $script is empty or one path: unquoted on purpose.
	# shellcheck disable=SC2086
	if ! unshare --mount --propagation private debootstrap --variant=minbase --include="$include" \
		"$release" "$dir.tmp" "$m" $script >"$dir.log" 2>&1; then
		tail -20 "$dir.log" >&2
		die "debootstrap $release failed; see $dir.log"
	fi
	echo "$release-node" >"$dir.tmp/etc/hostname"
	mv "$dir.tmp" "$dir"
	took "$t" "rootfs $release"
done

# --- host packages for tests/configs and the man pages -------------------------

# Debian's ansible-core runs the Ansible role's test against a node over SSH
# (ssh and ssh-keygen come from openssh-client); bash-completion is what
# the completion test sources, as a user's shell does; groff-base renders the
# man pages as man shows them. None touches the DNS.
t=$(now)
host_packages ansible-core openssh-client bash-completion groff-base
took "$t" "host packages for tests/configs"

# --- root filesystem variants ----------------------------------------------------

# variant NAME BASE PACKAGE...: a copy of the rootfs BASE with more packages
# installed inside it (never on this machine): cloud-init for the user-data's
# schema check, openssh-server and python3 for Ansible's target node. Names
# have no dash: tests/node takes a release name of letters only. apt runs in a
# private mount namespace that gives the copy /proc and, on a tmpfs over its
# /run (where its resolv.conf link points), a copy of this machine's
# resolv.conf to reach the mirror; a policy-rc.d keeps daemons from starting.
# Nothing of that outlives the command, and only a finished copy gets NAME.
variant() {
	name=$1 base=$2
	shift 2
	dir="$cache/rootfs/$name"
	# $dir.packages says what the copy was built with: a changed list
	# rebuilds it.
	[ -d "$dir" ] && [ "$(cat "$dir.packages" 2>/dev/null)" = "$base $*" ] && return 0
	rm -rf "$dir"
	[ -d "$cache/rootfs/$base" ] || die "variant $name needs the rootfs $base (RELEASES)"
	t=$(now)
	log "building $dir: $base + $* (log in $dir.log)"
	rm -rf "$dir.tmp"
	cp -a "$cache/rootfs/$base" "$dir.tmp"
	# shellcheck disable=SC2016
	if ! unshare --mount --propagation private sh -eu -c '
		d=$1
		shift
		mount -t proc proc "$d/proc"
		mount -t tmpfs tmpfs "$d/run"
		mkdir -p "$d/run/systemd/resolve"
		cat /etc/resolv.conf >"$d/run/systemd/resolve/stub-resolv.conf"
		printf "#!/bin/sh\nexit 101\n" >"$d/usr/sbin/policy-rc.d"
		chmod 755 "$d/usr/sbin/policy-rc.d"
		chroot "$d" apt-get update
		chroot "$d" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
		chroot "$d" apt-get clean
		rm -f "$d/usr/sbin/policy-rc.d"
		rm -rf "$d/var/lib/apt/lists/"*
	' sh "$dir.tmp" "$@" >"$dir.log" 2>&1; then
		tail -20 "$dir.log" >&2
		die "installing $* into a copy of $base failed; see $dir.log"
	fi
	mv "$dir.tmp" "$dir"
	echo "$base $*" >"$dir.packages"
	took "$t" "rootfs $name"
}

case " $releases " in
*" bookworm "*)
	# curl: what a cloud image has, and what the user-data downloads with.
	variant bookwormcloudinit bookworm cloud-init curl
	# python3-apt: what Ansible's apt module needs to install the role's .deb.
	variant bookwormssh bookworm openssh-server python3 python3-apt
	# Debian's resolvconf (1.91+nmu1; trixie's 1.94) and dnsmasq for tests/configs'
	# TestResolvconfRealProgram; apt removes systemd-resolved, which conflicts.
	variant bookwormresolvconf bookworm resolvconf dnsmasq
	# openresolv (3.12.0; trixie's 3.13.2), the other resolvconf, for
	# TestOpenresolvRealProgram: it conflicts with resolvconf and with
	# systemd-resolved, so it has a copy of its own.
	variant bookwormopenresolv bookworm openresolv
	;;
esac
case " $releases " in
*" trixie "*)
	variant trixieresolvconf trixie resolvconf dnsmasq
	variant trixieopenresolv trixie openresolv
	;;
esac

# --- programs built from the module proxy ----------------------------------------

gocmd=${GO:-}
if [ -z "$gocmd" ]; then
	if command -v go >/dev/null 2>&1; then gocmd=go; else gocmd=/usr/local/go/bin/go; fi
fi

# gobuild NAME MODULE PACKAGE [LDFLAGS]: builds PACKAGE from the module
# folder tests/MODULE into $cache/bin/NAME. The stamp is a hash of the
# module's files, the package, the ldflags and the Go version: a change to
# any rebuilds, nothing else does.
gobuild() {
	name=$1 module=$2 pkg=$3 ldflags=${4:-}
	t=$(now)
	bin="$cache/bin/$name"
	stamp=$(
		cd "$here/$module"
		{
			"$gocmd" version
			[ "$pkg" = . ] || echo "$pkg"
			[ -z "$ldflags" ] || echo "$ldflags"
			find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | xargs sha256sum
		} | sha256sum | cut -d' ' -f1
	)
	if [ -x "$bin" ] && [ "$(cat "$bin.stamp" 2>/dev/null)" = "$stamp" ]; then
		took "$t" "$name (up to date)"
		return 0
	fi
	log "building $bin"
	(cd "$here/$module" && CGO_ENABLED=0 "$gocmd" build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$bin.tmp" "$pkg")
	mv "$bin.tmp" "$bin"
	echo "$stamp" >"$bin.stamp"
	took "$t" "$name build"
}

# CoreDNS: the real loop detector, and node-local-dns's server in pods.
gobuild coredns coredns .
# The real kubelet (~8 minutes cold on 2 cores), crictl (not packaged in
# Debian) to read pods as a user would, and the pod sandbox's pause.
gobuild kubelet kubelet k8s.io/kubernetes/cmd/kubelet
gobuild crictl kubelet sigs.k8s.io/cri-tools/cmd/crictl
gobuild pause kubelet ./pause
gobuild ociarchive kubelet ./ociarchive
# The control plane of tests/cluster, from the kubelet's release: without
# these ldflags both report v0.0.0-master+$Format:%H$, which `kubectl
# version` can't parse. etcd v3.6.4 (Kubernetes 1.34.4's client version)
# from a module of its own: etcd's go.mod has replace lines. With the Go
# build cache warm from the kubelet, the three take about 2 minutes. The
# controller manager (node lifecycle, Deployments, CSR signing), the scheduler
# and kube-proxy (the kubernetes Service for CoreDNS's pods) make it a cluster
# a kubelet registers with: about 2 more minutes warm.
k8sversion=
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	k8sversion="$k8sversion -X $p.gitVersion=v1.34.4 -X $p.gitMajor=1 -X $p.gitMinor=34 -X $p.gitTreeState=clean"
done
gobuild kube-apiserver kubelet k8s.io/kubernetes/cmd/kube-apiserver "$k8sversion"
gobuild kubectl kubelet k8s.io/kubernetes/cmd/kubectl "$k8sversion"
gobuild kube-controller-manager kubelet k8s.io/kubernetes/cmd/kube-controller-manager "$k8sversion"
gobuild kube-scheduler kubelet k8s.io/kubernetes/cmd/kube-scheduler "$k8sversion"
gobuild kube-proxy kubelet k8s.io/kubernetes/cmd/kube-proxy "$k8sversion"
gobuild etcd etcd .
# helm v4.3.2 for the chart (configs/helm/unloop): tests/configs lints and
# renders it, tests/cluster installs it. Its version from the ldflags, as
# helm's own Makefile sets it (else `helm version` says v4.3).
gobuild helm helm helm.sh/helm/v4/cmd/helm "-X helm.sh/helm/v4/internal/version.version=v4.3.2 -X helm.sh/helm/v4/internal/version.metadata= -X helm.sh/helm/v4/internal/version.gitTreeState=clean"

# --- container images ------------------------------------------------------------

# image NAME BIN PATH: an OCI archive of BIN at PATH in the image, named
# unloop.test/NAME:1, for `ctr images import` in a node (no registry is
# reachable from here). Rebuilt when BIN's stamp changes.
image() {
	name=$1 src=$2 at=$3
	out="$cache/images/$name.tar"
	stamp=$(cat "$cache/bin/$src.stamp")
	[ -f "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ] && return 0
	t=$(now)
	mkdir -p "$cache/images"
	"$cache/bin/ociarchive" -name "unloop.test/$name:1" -bin "$cache/bin/$src" -path "$at" -o "$out"
	echo "$stamp" >"$out.stamp"
	took "$t" "image $name"
}
image pause pause /pause
image coredns coredns /coredns

# --- root filesystems with a container runtime -----------------------------------

# What a kubelet node has besides kubelet (bound in from $cache/bin): the
# container runtime, its OCI runtime and the CNI plugins for the pod network.
for release in $releases; do
	variant "${release}kubelet" "$release" containerd runc containernetworking-plugins
done

# --- root filesystems with NetworkManager -----------------------------------------

# NetworkManager for tests/reliability's fix at its source (issue 24): a
# variant of its own, as a NetworkManager that starts at boot would manage
# every other test's links and write their resolv.conf. netplan.io (0.106 in
# bookworm, 1.1 in trixie) renders to it and to the networkd every rootfs
# has: tests/configs' TestNetplanRealProgram; with no YAML in /etc/netplan it
# renders nothing at boot. dnsmasq-base (only recommended by network-manager)
# for its dns=dnsmasq mode.
for release in $releases; do
	variant "${release}nm" "$release" network-manager netplan.io dnsmasq-base
done

# --- promtool ---------------------------------------------------------------------

# promtool checks configs/prometheus (tests/configs). It comes from Debian's
# prometheus package, extracted, never installed: the package's postinst
# starts a Prometheus server on this machine.
if [ ! -x "$cache/bin/promtool" ]; then
	t=$(now)
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download prometheus >/dev/null) || { apt-get update >/dev/null && (cd "$tmp" && apt-get download prometheus >/dev/null); }
	dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
	cp "$tmp/x/usr/bin/promtool" "$cache/bin/promtool.tmp" && mv "$cache/bin/promtool.tmp" "$cache/bin/promtool"
	rm -rf "$tmp"
	took "$t" "promtool"
fi
