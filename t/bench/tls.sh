#!/bin/sh
# TLS benchmarks of make bench, side by side with stunnel4 in one run
# (loopback only; every step bounded). Prints markdown tables.
#   handshakes/s (TLS 1.3, ECDSA P-256, new connection each, app /bin/true) at c=1,4,8
#   connect -> first app byte latency (app: echo x)
#   bulk app-to-app 1 GiB (AES-128-GCM) client chain -> server chain, and Go in-process
#   engine Private_Dirty per idle connection (10 idle connections)
set -u
BIN=${TLSCHAIN_BIN:?set TLSCHAIN_BIN}
SECS=${BENCH_SECS:-5}
BULK_MB=${BENCH_BULK_MB:-1024}
W=$(mktemp -d /tmp/tlschain-bench.XXXXXX)
PIDS=""
# Servers started inside $(...) run in a subshell: their pids go to a file.
cleanup() { for p in $PIDS $(cat "$W/pids" 2>/dev/null); do kill "$p" 2>/dev/null; done; sleep 0.2; rm -rf "$W"; }
trap cleanup EXIT INT TERM

go run ./examples/demo/gencert "$W" || exit 111
CGO_ENABLED=0 go build -o "$W/tlsload" ./t/bench/tlsload || exit 111
L=$W/tlsload
chmod 0755 "$W"; chmod 0644 "$W/key.pem"  # the stunnel user and our engine read nothing else
export CERTFILE=$W/cert.pem KEYFILE=$W/key.pem

# ours [--exec] TLSD-OPTS... APP... : start tlsserver TLSD-OPTS with APP
# (or, with --exec, tcpserver → tlsd TLSD-OPTS APP), print the port.
# TLSD-OPTS are -u/-g pairs only: they go before host and port in
# tlsserver's line.
ours() {
	if [ "$1" = --exec ]; then
		shift
		"$BIN/tcpserver" -q -1 -c 200 127.0.0.1 0 "$BIN/tlsd" "$@" >"$W/port.$$" 2>>"$W/ours.log" &
	else
		o=""
		while [ "$1" = -u ] || [ "$1" = -g ]; do o="$o $1 $2"; shift 2; done
		"$BIN/tlsserver" -q -1 -c 200 $o 127.0.0.1 0 "$@" >"$W/port.$$" 2>>"$W/ours.log" &
	fi
	echo $! >>"$W/pids"
	i=0; while [ ! -s "$W/port.$$" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
	cat "$W/port.$$"; rm -f "$W/port.$$"
}
# plain APP... : a plain ucspi-tcp backend for stunnel, on a free port.
# plain PROG...: ucspi-tcp's tcpserver in front of PROG, with -D
# (TCP_NODELAY): without it a peer that writes its handshake in pieces
# waits out delayed ACKs (tlswrapper: 18 hs/s at c=1 against 70 with -D).
plain() {
	p=$($L freeport)
	/usr/bin/tcpserver -RHl0 -D -q -c 200 127.0.0.1 "$p" "$@" 2>>"$W/plain.log" &
	echo $! >>"$W/pids"
	echo "$p"
}
# stunnel ACCEPT CONNECT [client]: one stunnel service.
stun() {
	n=$W/stunnel.$1.conf
	{
		echo "foreground = yes"; echo "pid ="; echo "debug = 3"
		echo "[s]"; echo "accept = 127.0.0.1:$1"; echo "connect = 127.0.0.1:$2"
		if [ "${3:-}" = client ]; then echo "client = yes"; echo "verifyChain = no"
		else echo "cert = $CERTFILE"; echo "key = $KEYFILE"; fi
		echo "ciphersuites = TLS_AES_128_GCM_SHA256"
	} >"$n"
	stunnel4 "$n" 2>>"$W/stunnel.log" &
	PIDS="$PIDS $!"
	i=0; while ! $L tcp "127.0.0.1:$1" 1 0.01 >/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
}
waitport() { i=0; while [ $i -lt 100 ]; do $L tcp "127.0.0.1:$1" 1 0.01 2>/dev/null | grep -qv '^0.0 ' && return; sleep 0.05; i=$((i+1)); done; }

ROUNDS=${BENCH_ROUNDS:-2}
echo "## TLS handshakes per second (TLS 1.3, P-256, app /bin/true, ${SECS}s each, mean of $ROUNDS interleaved rounds)"
echo
p_ours=$(ours -u 65534 -g 65534 /bin/true)
p_exec=$(ours --exec -u 65534 -g 65534 /bin/true)
b=$(plain /bin/true); s=$($L freeport); stun "$s" "$b"
# hs_table OUT "chain=port ..." BASE: handshakes/s of each chain at 1, 4
# and 8 clients, and ours/BASE. The chains take turns at each
# concurrency, round after round, so a machine whose speed drifts during
# the run (a shared VM) weighs on all of them alike. TLSLOAD_TLS12 in the
# environment reaches tlsload.
hs_table() {
	for c in 1 4 8; do
		r=0
		while [ $r -lt "$ROUNDS" ]; do
			for cp in $2; do
				x=$($L hs "127.0.0.1:${cp#*=}" $c "$SECS")
				echo "${cp%%=*} $c ${x%% *}" >>"$1"
			done
			r=$((r + 1))
		done
	done
	printf '| chain | c=1 | c=4 | c=8 |\n|---|---|---|---|\n'
	awk -v chains="$(for cp in $2; do printf '%s ' "${cp%%=*}"; done)" -v base="$3" '
	{sum[$1" "$2] += $3; n[$1" "$2]++}
	END {
		k = split(chains, ch, " ")
		for (i = 1; i <= k; i++) {
			row = "| " ch[i]
			for (c = 1; c <= 8; c *= 2) { if (c == 2) continue; row = row sprintf(" | %.0f", sum[ch[i] " " c] / n[ch[i] " " c]) }
			print row " |"
		}
		row = "| ours / " base
		for (c = 1; c <= 8; c *= 2) { if (c == 2) continue; row = row sprintf(" | %.2f", sum["ours " c] / sum[base " " c]) }
		print row " |"
	}' "$1"
}
hs_table "$W/hs" "ours=$p_ours ours-exec=$p_exec stunnel=$s" stunnel
echo "(ours = tlsserver -u 65534 → /bin/true: tlsd's work done in the listener, key kept there, engine unprivileged: 1 Go exec per connection (the engine); ours-exec = tcpserver → tlsd -u 65534 → /bin/true: tlsd exec'd per connection, 2 Go execs; stunnel = stunnel4 connect= to ucspi-tcp tcpserver -D → /bin/true)"
echo

# TLS 1.2: the isolating peer, tlswrapper (BearSSL, its key in a separate
# jailed process, as ours keeps it out of the engine), has no TLS 1.3.
# Run as its manual shows: tcpserver … tlswrapper -f keycert prog.
if command -v tlswrapper >/dev/null; then
	echo "## TLS 1.2 handshakes per second (ECDHE-ECDSA-AES128-GCM, P-256, app /bin/true, ${SECS}s each, mean of $ROUNDS interleaved rounds)"
	echo
	cat "$KEYFILE" "$CERTFILE" >"$W/keycert.pem"; chmod 0644 "$W/keycert.pem"
	tw=$(plain tlswrapper -f "$W/keycert.pem" /bin/true)
	# Ready once a handshake succeeds (waitport's plain connection would
	# wait for tlswrapper's 30 s handshake timeout).
	i=0; while [ $i -lt 50 ]; do TLSLOAD_TLS12=1 $L hs "127.0.0.1:$tw" 1 0.2 | grep -qv '^0.0 ' && break; sleep 0.1; i=$((i+1)); done
	TLSLOAD_TLS12=1 hs_table "$W/hs12" "ours=$p_ours ours-exec=$p_exec tlswrapper=$tw stunnel=$s" tlswrapper
	echo "(tlswrapper = ucspi-tcp tcpserver -D → tlswrapper -f keycert → /bin/true, Debian's package; the other chains as above)"
	echo
fi

echo "## Connect to first app byte, ms (200 connections, app: echo x)"
echo
p_ours=$(ours -u 65534 -g 65534 /bin/echo x)
p_exec=$(ours --exec -u 65534 -g 65534 /bin/echo x)
b=$(plain /bin/echo x); s=$($L freeport); stun "$s" "$b"
printf '| chain | median | p90 |\n|---|---|---|\n'
r=$($L lat "127.0.0.1:$p_ours" 200); echo "| ours | ${r% *} | ${r#* } |"
r=$($L lat "127.0.0.1:$p_exec" 200); echo "| ours-exec | ${r% *} | ${r#* } |"
r=$($L lat "127.0.0.1:$s" 200); echo "| stunnel | ${r% *} | ${r#* } |"
echo

BULK_ROUNDS=${BENCH_BULK_ROUNDS:-5}
echo "## Bulk ${BULK_MB} MiB app to app (AES-128-GCM), MB/s, median of $BULK_ROUNDS interleaved rounds"
echo
sink='wc -c'
p_ours=$(ours sh -c "$sink")
bytes=$((BULK_MB * 1048576))
# The sender writes 256 KiB at a time, as tlsload's sender to stunnel and
# the Go loopback do (head -c writes 8 KiB at a time: 8% slower here).
send="dd if=/dev/zero bs=256k count=$((BULK_MB * 4)) status=none >&7; exec 7>&-; cat <&6 >/dev/null"
b=$(plain sh -c "$sink"); s=$($L freeport); stun "$s" "$b"
c=$($L freeport); stun "$c" "$s" client
r=0
while [ $r -lt "$BULK_ROUNDS" ]; do
	t0=$(date +%s.%N)
	"$BIN/tcpclient" 127.0.0.1 "$p_ours" "$BIN/tlsc" -q --no-verify-cert sh -c "$send"
	t1=$(date +%s.%N)
	o=$(echo "$bytes $t0 $t1" | awk '{printf "%.0f", $1/1e6/($3-$2)}')
	# tcpclient's fd 6 and 7 are one socket, so closing 7 would not end the
	# stream: a plain TCP sender that half-closes feeds the stunnel client.
	st=$($L send "127.0.0.1:$c" "$BULK_MB")
	g=$($L bulk-inproc "$BULK_MB")
	echo "ours $o" >>"$W/bulk"
	echo "stunnel $st" >>"$W/bulk"
	echo "go $g" >>"$W/bulk"
	# The ratios of one round, whose three runs are a few seconds apart,
	# are less moved by a machine whose speed drifts than ratios of
	# medians taken across rounds.
	echo "$o $st $g" | awk '{printf "st %.4f\ngo %.4f\n", $1 / $2, $1 / $3}' >>"$W/ratio"
	r=$((r + 1))
done
med() { awk -v k="$1" '$1 == k {print $2}' "$2" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ours_mbs=$(med ours "$W/bulk"); st_mbs=$(med stunnel "$W/bulk"); go_mbs=$(med go "$W/bulk")
printf '| path | MB/s |\n|---|---|\n| ours (tcpclient+tlsc → tlsserver) | %s |\n| stunnel client → stunnel server | %s |\n| Go crypto/tls in one process, loopback | %s |\n' "$ours_mbs" "$st_mbs" "$go_mbs"
echo "$(med st "$W/ratio") $(med go "$W/ratio")" | awk '{printf "ours/stunnel %.2f, ours/Go %.0f%% (medians of the rounds'"'"' own ratios)\n\n", $1, 100 * $2}'

echo "## Engine memory, 10 idle connections"
echo
p_ours=$(ours sh -c 'exec cat')
$L idle "127.0.0.1:$p_ours" 10 4 >/dev/null 2>"$W/idle.err" &
idle=$!
i=0; while ! grep -q ready "$W/idle.err" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
sleep 1  # idle: the engines trim their memory 200 ms into a session
tot=0; n=0
for pid in $(pgrep -x tlswrap); do
	# Engines of a connection only, not the ones started ahead (fd 0 /dev/null).
	case $(readlink /proc/$pid/fd/0 2>/dev/null) in socket:*) ;; *) continue ;; esac
	kb=$(awk '/^Private_Dirty/ {print $2}' /proc/$pid/smaps_rollup 2>/dev/null)
	[ -n "$kb" ] && { tot=$((tot + kb)); n=$((n + 1)); }
done
if [ $n -gt 0 ]; then echo "| engines | mean Private_Dirty KiB |"; echo "|---|---|"; echo "| $n | $((tot / n)) |"; fi
wait $idle  # not a bare wait: the servers run until cleanup
