# tests/deps.mk: what the real-node tests need, included by the main Makefile.
#
#   make deps    host packages, cached bookworm and trixie root filesystems
#                (and their variants: with containerd, runc and the CNI
#                plugins for the real kubelet; with network-manager and netplan.io
#                for tests/reliability and tests/configs), .cache/bin/coredns, kubelet,
#                crictl, pause, and kube-apiserver, kubectl and etcd for
#                tests/cluster (each rebuilt only when its module under
#                tests/ changes), and .cache/images (the pods' OCI archives)
#
# Everything lands in .cache/ (ignored by git); tests/setup.sh is idempotent and
# takes well under a second when nothing is missing.

UNLOOP_TESTS_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

# Tests find these through tests/node; exported for scripts and demos.
export UNLOOP_CACHE   ?= $(abspath $(UNLOOP_TESTS_DIR)/../.cache)
export UNLOOP_COREDNS ?= $(UNLOOP_CACHE)/bin/coredns

.PHONY: deps
deps:
	sh $(UNLOOP_TESTS_DIR)/setup.sh
