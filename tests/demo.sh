#!/usr/bin/env bash
# make demo: the field's loop on a throwaway node, found and fixed for real.
# It is the end-to-end test TestFieldReport, narrated (UNLOOP_DEMO=1).
set -euo pipefail
cd "$(dirname "$0")/.."
UNLOOP_DEMO=1 go -C tests test -count=1 -run '^TestFieldReport$' -v ./e2e 2>&1 |
	grep -v -E '^(=== (RUN|PAUSE|CONT|NAME)|\s+(node|main_test|bed_test|fieldreport_test)\.go:[0-9]+: (node |unloop ))' |
	sed -e 's/^--- PASS: TestFieldReport.*/\nDemo finished: the loop was found, fixed at its source, kept fixed, and rolled back./' -e '/^PASS$/d' -e '/^ *--- PASS/d' -e '/^ok /d'
