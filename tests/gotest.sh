#!/usr/bin/env bash
# make test's Go part: `go test` over every package of both modules (the
# product at the root, and tests/, the real-node suites), one package at a time
# (the real-node suites boot nodes and stay inside 2 cores), then a table of
# each package's time, slowest first, so a slow suite stands out in CI's log.
# No time-boxed fuzzing here: each fuzz target runs its f.Add seeds and the
# failing inputs committed under testdata/fuzz, as plain `go test` does.
# `make fuzz` is the time-boxed run (tests/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# This machine's own DNS must come out of the run as it went in: a test that
# writes the host's files instead of a node's fails the run, loudly.
guarded="/etc/resolv.conf /etc/hosts /etc/nsswitch.conf"
host_files() { for f in $guarded; do printf '%s ' "$f"; stat -c '%F %a' "$f" 2>&1 | tr '\n' ' '; sha256sum <"$f" 2>&1 | cut -c1-16; done; }
before=$(host_files)
start=$(date +%s)
status=0
# shellcheck disable=SC2086
$GO test $TEST_FLAGS ./... 2>&1 | tee "$out" || status=$?
# shellcheck disable=SC2086
(cd tests && $GO test $TEST_FLAGS ./...) 2>&1 | tee -a "$out" || status=$?
echo
echo "package times (slowest first), $(( $(date +%s) - start ))s in all:"
# `ok  pkg 12.3s` and `FAIL pkg 12.3s`; packages without tests print no time.
awk '($1 == "ok" || $1 == "FAIL") && $3 ~ /^[0-9.]+s$/ { t = $3; sub(/s$/, "", t); printf "%8.1fs  %-4s %s\n", t, $1, $2 }' "$out" | sort -rn
after=$(host_files)
if [ "$before" != "$after" ]; then
	echo "make test changed this machine's own DNS files:"
	diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") || :
	status=1
fi
exit "$status"
