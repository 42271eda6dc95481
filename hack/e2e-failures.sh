#!/usr/bin/env bash
# Prints what failed in a `go test -v` log: each failed test's name and the
# lines its t.Error/t.Fatal calls printed (the first line of each, cut short),
# so the short tail CI shows names the failing assertion, not only the test.
# The drill's narration (narrator.go) is left out: it is the story, not the
# failure. t.Log lines of the failed test cannot be told from its errors and
# are kept.
#
# Usage: hack/e2e-failures.sh LOG [LINES-PER-TEST]
set -euo pipefail
log=$1
per=${2:-8}
awk -v per="$per" '
function flush(name,   i, n) {
	n = count[name]
	# A parent whose subtests failed printed nothing of its own.
	if (n == 0 && (name in subfailed)) return
	printf "%s\n", failed[name]
	if (n == 0) { printf "    (no file:line output)\n" }
	for (i = (n > per ? n - per + 1 : 1); i <= n; i++) { printf "%s\n", lines[name, i] }
	if (n > per) { printf "    (%d earlier lines in the log)\n", n - per }
}
/^=== (RUN|CONT|NAME|PAUSE) / { cur = $3; next }
/^[ \t]*--- (PASS|SKIP): / { delete count[$3]; next }
/^[ \t]*--- FAIL: / {
	name = $3
	failed[name] = $0
	parent = name
	while (sub(/\/[^\/]*$/, "", parent)) subfailed[parent] = 1
	flush(name)
	delete count[name]
	next
}
/^panic: / { print; next }
/^(FAIL|ok)[ \t]/ { cur = ""; next }
/^[ \t]+[A-Za-z0-9_]+\.go:[0-9]+: / {
	if (cur == "" || $1 ~ /^narrator\.go:/) next
	line = $0
	if (length(line) > 240) line = substr(line, 1, 240) " ..."
	count[cur]++
	lines[cur, count[cur]] = line
}
' "$log"
