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
TEST_FLAGS ?= -count=1 -p 1 -timeout 40m

.PHONY: all build test unit bench demo lint fuzz clean
all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/unloop

-include tests/deps.mk

test: deps build lint
	$(GO) test $(TEST_FLAGS) ./...

# The fast part: parsers, analysis, CLI scripts (no booted node).
unit: build
	$(GO) test -count=1 ./hostcfg/... ./remediate/... ./cmd/...

bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.out

demo: deps build
	sh tests/demo.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

FUZZTIME ?= 10s
fuzz:
	@for pkg in ./hostcfg; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin dist
