#!/bin/sh
# engine.sh — tlswrap's own numbers: bulk MB/s through the relay (1 GiB,
# vs an in-process Go TLS loopback in the same run), GOMAXPROCS 1 vs 2,
# spawn-to-report time, idle Private_Dirty. Usage: t/bench/engine.sh [bindir]
set -eu
cd "$(dirname "$0")/../.."
bin=${1:-}
if [ -n "$bin" ]; then export TLSCHAIN_BIN="$bin"; fi
TLSCHAIN_BENCH=1 CGO_ENABLED=0 go test -count=1 -timeout 10m -run '^TestTLSWrapThroughput$' -v ./t/ |
	grep -E 'MB/s|Private_Dirty|spawn to report|^(ok|FAIL)'
