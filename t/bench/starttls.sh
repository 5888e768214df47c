#!/bin/sh
# starttls.sh — message throughput through ucspi-starttls: 50 MB of DATA
# to mailfront (smtp echo accept) over the real STARTTLS chain
# (tcpserver → tlsd -n → ucspi-starttls → mailfront, engine tlswrap)
# against TLS on connect (tcpserver → tlsd → mailfront), same Go client,
# best of 3 rounds each. Usage: t/bench/starttls.sh [bindir]
# STARTTLS_BENCH_MB sets the size.
set -eu
cd "$(dirname "$0")/../.."
bin=${1:-}
if [ -n "$bin" ]; then export TLSCHAIN_BIN="$bin"; fi
TLSCHAIN_BENCH=1 CGO_ENABLED=0 go test -count=1 -timeout 10m -run '^TestStarttlsThroughput$' -v ./t/ |
	grep -E 'MB|^(ok|FAIL)' | sed 's/^ *starttls_test.go:[0-9]*: //'
