# unloop — see README.md. `make test` installs what the tests need (Debian packages,
# node root filesystems, a CoreDNS build) into .cache/ on first use.
SHELL := /bin/bash
GO ?= go
BIN := bin/unloop
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
# The tests boot real nodes; they run one package at a time to stay inside 2 cores.
# The timeout is per package: room for the slowest suite with a real kubelet,
# containerd and pods in it, while CI's limit for everything is 90 minutes.
TEST_FLAGS ?= -count=1 -p 1 -timeout 60m

.PHONY: all build test unit bench demo lint fuzz clean package image
all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/unloop

-include tests/deps.mk

# Deterministic: the fuzz targets run their seeds and committed failing
# inputs only; time-boxed fuzzing is `make fuzz`, never part of CI.
test: deps build lint
	GO=$(GO) TEST_FLAGS='$(TEST_FLAGS)' bash tests/gotest.sh

# The fast part: parsers, analysis, CLI scripts (no booted node).
unit: build
	$(GO) test -count=1 ./hostcfg/... ./remediate/... ./cmd/...

# Benchmarks (numbers, never timed tests): the process benchmarks of cmd/unloop
# and the rest (among them watch's idle RSS and CPU, and its RSS with 1,000
# idle connections), then the start-up guard (check --offline on an empty root,
# 30 runs, median at most 30 ms: the one benchmark that fails), then the ones on a booted node (tests/reliability: online
# check, no-op apply, resolvectl status, the race against CoreDNS's loop
# plugin), 30 runs each; apply until the real kubelet runs the new config
# and until the recreated CoreDNS pod answers, each with the fixed 2 s watch
# and the healthz watch, and online check with 0 and 100 pods (tests/e2e, 10
# runs each); unloop watch from a DHCP renew to
# /metrics and to the fix, and its CPU while a file is rewritten in a tight
# loop (tests/e2e, 5 runs); then the real kubelet's numbers that
# tests log: the boot unit's delay to kubelet's start (medians over the boots
# of one node, 5 disabled, 4 enabled) and apply until the recreated pod answers.
# The load average is logged next to the numbers.
bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.out
	$(GO) test -run '^$$' -bench 'CheckOfflineEmptyRoot' -benchtime 30x -count 1 ./cmd/unloop | tee -a bench.out
	cd tests && $(GO) test -run '^$$' -bench . -benchtime 30x -count 3 ./reliability | tee -a ../bench.out
	cd tests && $(GO) test -run '^$$' -bench 'RealKubelet(Apply|Check)' -benchtime 10x -count 1 ./e2e | tee -a ../bench.out
	cd tests && $(GO) test -run '^$$' -bench WatchOnNode -benchtime 5x -count 1 ./e2e | tee -a ../bench.out
	cd tests && $(GO) test -run '^$$' -bench BootUnit -benchtime 5x -count 1 ./configs | tee -a ../bench.out
	cd tests && $(GO) test -count=1 -v -run '^(TestFieldReport|TestResolvedStubKubelet)$$' ./e2e | grep -E 'apply →|^(ok|FAIL|---)' | tee -a ../bench.out

demo: deps build
	bash tests/demo.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	cd tests && $(GO) vet ./...
	cd configs/image && $(GO) vet ./... && $(GO) test -count=1 ./...
	@n=$$(git ls-files '*/testdata/fuzz/*' | wc -l); test "$$n" -le 40 || { echo "lint: $$n files under testdata/fuzz: commit only minimized inputs that once failed (a grown corpus stays in Go's cache)"; exit 1; }

# Every fuzz target of every package, FUZZTIME each (13 targets today): run it
# before a release and after touching a parser. A finding is saved, minimized,
# under the package's testdata/fuzz/ to commit with its fix; `make test` then
# replays it. See tests/fuzz.sh.
FUZZTIME ?= 30s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash tests/fuzz.sh

clean:
	rm -rf bin dist

# Packages: dist/unloop_VERSION-1_ARCH.deb and dist/unloop-VERSION-1.ARCH.rpm
# for each of PKG_ARCHES (binary, units, default config as a conffile, man
# pages, completions), built with nfpm as a library by configs/packaging (a
# module of its own). The binary is pure Go, so each architecture is a
# cross-build; completions come from this machine's build, and the man pages
# from cmd/unloop-man (cobra/doc, kept out of the binary), dated by the last
# commit so the same commit gives the same pages.
PKG_VERSION ?= $(shell git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//' | grep . || echo 0.0.0)
PKG_ARCHES ?= amd64 arm64
MAN_DATE ?= $(shell git log -1 --format=%cs 2>/dev/null || date -u +%F)
package: build
	rm -rf dist/man dist/completion dist/bin && mkdir -p dist/man dist/completion
	$(GO) run ./cmd/unloop-man -date $(MAN_DATE) -version $(VERSION) dist/man && gzip -9nf dist/man/*.1
	for sh in bash zsh fish; do $(BIN) completion $$sh >dist/completion/unloop.$$sh || exit 1; done
	for arch in $(PKG_ARCHES); do \
	  CGO_ENABLED=0 GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/bin/$$arch/unloop ./cmd/unloop && \
	  (cd configs/packaging && $(GO) run . -version $(PKG_VERSION) -arch $$arch \
	    -bin ../../dist/bin/$$arch/unloop -man ../../dist/man -completion ../../dist/completion -out ../../dist) || exit 1; \
	done

# The DaemonSet's image: dist/unloop-VERSION.tar, an OCI image archive of
# unloop:VERSION for each of IMAGE_ARCHES (one index), written by
# configs/image (a module of its own) with no Docker daemon. Load it with
# `ctr -n k8s.io images import`, `podman load` or push it with skopeo: see
# README.md ("Kubernetes").
IMAGE ?= unloop:$(PKG_VERSION)
IMAGE_ARCHES ?= amd64 arm64
image:
	for arch in $(IMAGE_ARCHES); do \
	  CGO_ENABLED=0 GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/bin/$$arch/unloop ./cmd/unloop || exit 1; \
	done
	cd configs/image && $(GO) run . -name $(IMAGE) -o ../../dist/unloop-$(PKG_VERSION).tar \
	  $(foreach arch,$(IMAGE_ARCHES),-bin $(arch)=../../dist/bin/$(arch)/unloop)
