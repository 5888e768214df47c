#!/bin/sh
# hop benchmark of make bench: what one extra Go chainloader hop costs, in
# milliseconds: `privdrop -u 65534 -g 65534 true` against `true` run
# directly, and against skarnet's C s6-applyuidgid doing the same drop.
# Goal: privdrop's hop <= 1.5 ms. Uses hyperfine when installed, else a
# bounded shell loop (coarser: the shell's fork is in every sample).
# Needs root for the id change; without root it times `privdrop true`.
set -u
cd "$(dirname "$0")/../.."
BIN=${TLSCHAIN_BIN:-}
RUNS=${BENCH_HOP_RUNS:-300}
ROUNDS=${BENCH_ROUNDS:-3}
W=$(mktemp -d /tmp/tlschain-bench-hop.XXXXXX)
trap 'rm -rf "$W"' EXIT INT TERM

if [ -z "$BIN" ] || [ ! -x "$BIN/privdrop" ]; then
	BIN=$W/bin
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$BIN/" ./cmd/privdrop || exit 111
fi
# The floor of any Go chainloader: a Go program that only execs its
# arguments (the runtime's start, nothing else), built here.
mkdir "$W/goexec"
cat >"$W/goexec/main.go" <<'EOF'
package main

import (
	"os"
	"syscall"
)

func main() {
	syscall.Exec(os.Args[1], os.Args[1:], os.Environ())
	os.Exit(127)
}
EOF
printf 'module goexec\n\ngo 1.22\n' >"$W/goexec/go.mod"
GOEXEC=
if (cd "$W/goexec" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$W/goexec-bin" . 2>/dev/null); then
	GOEXEC=$W/goexec-bin
fi
TRUE=/bin/true
[ -x "$TRUE" ] || TRUE=$(command -v true)
S6=$(command -v s6-applyuidgid || true)

if [ "$(id -u)" = 0 ]; then
	IDS="-u 65534 -g 65534"
else
	IDS=""
	echo "(not root: privdrop runs without an id change)"
fi

# label|env|command, one per line (env: extra variables for the command,
# set on hyperfine itself so that no `env` exec is timed)
{
	echo "true|X=|$TRUE"
	[ -n "$GOEXEC" ] && echo "Go floor: a Go program that execs true|X=|$GOEXEC $TRUE"
	echo "privdrop $IDS true|X=|$BIN/privdrop $IDS $TRUE"
	[ -n "$IDS" ] && echo "privdrop -u nobody true|X=|$BIN/privdrop -u nobody $TRUE"
	[ -n "$IDS" ] && echo "GOMAXPROCS=1 privdrop $IDS true|GOMAXPROCS=1|$BIN/privdrop $IDS $TRUE"
	[ -n "$S6" ] && [ -n "$IDS" ] && echo "s6-applyuidgid $IDS true|X=|$S6 $IDS $TRUE"
	[ -n "$S6" ] && [ -z "$IDS" ] && echo "s6-applyuidgid true|X=|$S6 $TRUE"
} >"$W/cmds"

# median_ms ENV CMD: prints the median wall time of CMD in ms.
if command -v hyperfine >/dev/null 2>&1; then
	median_ms() {
		env "$1" hyperfine -N --style none --warmup 30 --runs "$RUNS" --export-csv "$W/out.csv" "$2" >/dev/null 2>&1 || { echo "-"; return; }
		awk -F, 'NR==2 { printf "%.3f", $4 * 1000 }' "$W/out.csv"
	}
	HOW="hyperfine -N, $RUNS runs, median"
else
	median_ms() {
		n=$((RUNS / 4)); [ "$n" -gt 0 ] || n=1
		t0=$(date +%s%N); i=0
		while [ $i -lt $n ]; do env "$1" $2 || { echo "-"; return; }; i=$((i + 1)); done
		t1=$(date +%s%N)
		awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "%.3f", (b - a) / n / 1e6 }'
	}
	HOW="shell loop, $((RUNS / 4)) runs, mean (includes the shell's fork and env's exec)"
fi

# ROUNDS interleaved rounds (every command once per round, so that load
# from elsewhere hits all of them alike); the median of the rounds'
# medians is reported.
: >"$W/all"
r=0
while [ $r -lt "$ROUNDS" ]; do
	while IFS='|' read -r label envv cmd; do
		echo "$label|$(median_ms "$envv" "$cmd")" >>"$W/all"
	done <"$W/cmds"
	r=$((r + 1))
done
while IFS='|' read -r label envv cmd; do
	m=$(awk -F'|' -v l="$label" '$1 == l { print $2 }' "$W/all" | sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "-") }')
	echo "$label|$m"
done <"$W/cmds" >"$W/res"

echo "## one chainloader hop ($HOW; median of $ROUNDS rounds)"
echo
base=$(awk -F'|' 'NR==1 { print $2 }' "$W/res")
awk -F'|' -v base="$base" '
	BEGIN { printf "| %-40s | %9s | %9s |\n", "command", "ms", "hop ms"; printf "|%s|%s|%s|\n", "------------------------------------------", "-----------", "-----------" }
	{ hop = ($2 == "-" || NR == 1) ? "" : sprintf("%.3f", $2 - base); printf "| %-40s | %9s | %9s |\n", $1, $2, hop }
' "$W/res"
echo
echo "privdrop binary: $(wc -c <"$BIN/privdrop") bytes; goal: hop <= 1.5 ms, or within 0.5 ms of"
echo "the Go floor's where the Go runtime's start alone takes longer"
