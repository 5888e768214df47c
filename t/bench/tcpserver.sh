#!/bin/sh
# tcpserver benchmark of make bench: connections/s through a server that
# spawns /bin/true per connection (client: connect, read EOF, repeat), for
# tlschain's tcpserver, ucspi-tcp's /usr/bin/tcpserver and socat's fork
# mode, side by side in one run, interleaved rounds, median shown.
# Loopback only; each run is bounded by BENCH_N connections and BENCH_SECS.
set -u
cd "$(dirname "$0")/../.."
BIN=${TLSCHAIN_BIN:-}
SECS=${BENCH_SECS:-4}
N=${BENCH_N:-20000}
ROUNDS=${BENCH_ROUNDS:-3}
W=$(mktemp -d /tmp/tlschain-bench-tcpserver.XXXXXX)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null; done; sleep 0.2; rm -rf "$W"; }
trap cleanup EXIT INT TERM

if [ -z "$BIN" ]; then
	BIN=$W/bin
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$BIN/" ./cmd/tcpserver || exit 111
fi
CGO_ENABLED=0 go build -o "$W/connload" ./t/bench/connload || exit 111
TRUE=$(command -v true)
[ "$TRUE" = true ] && TRUE=/bin/true

# start NAME CMD...: run a server printing its port (or on a chosen port).
port_of() {
	i=0; while [ ! -s "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
	head -n 1 "$1"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$BIN/tcpserver" -1 127.0.0.1 0 "$TRUE" >"$W/p.ours" 2>/dev/null &
PIDS="$PIDS $!"
"$BIN/tcpserver" -q -1 127.0.0.1 0 "$TRUE" >"$W/p.oursq" 2>/dev/null &
PIDS="$PIDS $!"
HAVE_UCSPI=0
if [ -x /usr/bin/tcpserver ]; then
	HAVE_UCSPI=1
	# -R -H -l0: no ident, no DNS (tlschain's defaults); -1 prints the port.
	/usr/bin/tcpserver -RHl0 -1 127.0.0.1 0 "$TRUE" >"$W/p.ucspi" 2>/dev/null &
	PIDS="$PIDS $!"
fi
HAVE_SOCAT=0
if command -v socat >/dev/null; then
	HAVE_SOCAT=1
	free_port >"$W/p.socat"
	socat TCP-LISTEN:"$(cat "$W/p.socat")",bind=127.0.0.1,fork,reuseaddr EXEC:"$TRUE" 2>/dev/null &
	PIDS="$PIDS $!"
fi
sleep 0.3

names="ours oursq"
[ $HAVE_UCSPI = 1 ] && names="$names ucspi"
[ $HAVE_SOCAT = 1 ] && names="$names socat"
for n in $names; do eval "port_$n=$(port_of "$W/p.$n")"; done

for c in 1 8; do
	r=1
	while [ $r -le "$ROUNDS" ]; do
		for n in $names; do
			eval "p=\$port_$n"
			set -- $("$W/connload" -a "127.0.0.1:$p" -c "$c" -n "$N" -t "${SECS}s")
			echo "$1" >>"$W/r.$n.$c"
			[ "${3:-0}" != 0 ] && echo "($n c=$c: $3 errors)" >&2
		done
		r=$((r+1))
	done
done

median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
label() {
	case $1 in
	ours) echo "tlschain tcpserver (default: start+end log line per connection)" ;;
	oursq) echo "tlschain tcpserver -q" ;;
	ucspi) echo "ucspi-tcp 0.88 tcpserver -RHl0" ;;
	socat) echo "socat TCP-LISTEN,fork EXEC:true" ;;
	esac
}
echo "connections/s, app $TRUE, median of $ROUNDS rounds of ${SECS}s or $N connections"
echo
echo "| server | c=1 | c=8 |"
echo "|---|---|---|"
for n in $names; do
	echo "| $(label $n) | $(median "$W/r.$n.1") | $(median "$W/r.$n.8") |"
done
if [ $HAVE_UCSPI = 1 ]; then
	echo
	for c in 1 8; do
		awk -v a="$(median "$W/r.ours.$c")" -v b="$(median "$W/r.ucspi.$c")" -v c=$c \
			'BEGIN { if (b > 0) printf "tlschain/ucspi-tcp at c=%d: %.0f%%\n", c, 100*a/b }'
	done
fi
