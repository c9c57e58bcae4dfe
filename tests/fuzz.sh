#!/usr/bin/env bash
# make fuzz: every fuzz target of every package for FUZZTIME (default 30s).
# A finding fails; Go saves its minimized input under the package's
# testdata/fuzz/TARGET/, to commit with the fix (plain `go test`, and so
# `make test`, replays it from then on). The corpus the fuzzer grows stays in
# Go's own cache ($(go env GOCACHE)/fuzz), never in the repository: only
# inputs that once failed are committed.
#
# Go's fuzzer sometimes ends a -fuzztime run with "context deadline exceeded"
# and no failing input, when time runs out while a worker is minimizing a new
# interesting input (golang/go#48820 and kin). That is not a finding: such a
# run is retried once, and only a failure with a failing input, or twice the
# deadline error, fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
for dir in $(grep -rlE --include='*_test.go' '^func Fuzz\w+\(\w+ \*testing\.F\)' . | xargs -n1 dirname | sort -u); do
	pkg=$($GO list "$dir")
	for f in $(sed -nE 's/^func (Fuzz\w+)\(\w+ \*testing\.F\).*/\1/p' "$dir"/*_test.go); do
		for try in 1 2; do
			echo "fuzz $pkg $f ($FUZZTIME)"
			if out=$($GO test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$dir" 2>&1); then
				printf '%s\n' "$out" | tail -n 3
				break
			fi
			printf '%s\n' "$out"
			if [ "$try" = 2 ] || grep -q 'Failing input written to' <<<"$out" || ! grep -q 'context deadline exceeded' <<<"$out"; then
				exit 1
			fi
			echo "fuzz $f: the fuzzer's own deadline error, no failing input: trying once more"
		done
	done
done
