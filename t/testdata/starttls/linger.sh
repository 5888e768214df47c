#!/bin/sh
# A cleartext SMTP app that leaves processes behind, for the STARTTLS
# sweep: one plain background child, one double-forked, one in a new
# session (setsid -f); the last two are orphans, so they belong to
# ucspi-starttls, the subreaper. Each writes its pid to
# $LINGER_DIR/pid-<kind>, then for at most ~20 s watches for the fresh
# app's pid in $LINGER_DIR/fresh.pid; once it is there, it writes
# "250-INJECTED-<kind>" into that app's stdout through /proc/<pid>/fd/1
# (same uid) and marks $LINGER_DIR/alive-<kind>. None of them may live to
# see the fresh app. The fresh instance (SSL_PROTOCOL set) greets,
# publishes its pid at EHLO and answers it once each lingerer has written
# or is gone; ORPHAN leaves two orphans that exit at once; any other
# line gets "250 fresh", until QUIT.
if [ "${1-}" = --linger ]; then
	echo $$ >"$LINGER_DIR/pid-$2"
	i=0
	while [ $i -lt 400 ]; do
		if [ -s "$LINGER_DIR/fresh.pid" ]; then
			p=$(cat "$LINGER_DIR/fresh.pid")
			printf '250-INJECTED-%s\r\n' "$2" >"/proc/$p/fd/1" 2>/dev/null
			: >"$LINGER_DIR/alive-$2"
		fi
		sleep 0.05
		i=$((i+1))
	done
	exit 0
fi
if [ -n "${SSL_PROTOCOL+x}" ]; then
	printf '220 fresh ESMTP\r\n'
	while IFS= read -r l; do
		case $l in
		QUIT*) printf '221 bye\r\n'; exit 0 ;;
		EHLO*)
			# Show the lingerers our pid and answer once each of them
			# has either written into our stdout or is gone, so that an
			# injected line comes before this reply.
			echo $$ >"$LINGER_DIR/fresh.pid"
			i=0
			while [ $i -lt 400 ]; do
				n=0
				for k in plain double setsid; do
					if [ -e "$LINGER_DIR/alive-$k" ] || ! kill -0 "$(cat "$LINGER_DIR/pid-$k")" 2>/dev/null; then
						n=$((n+1))
					fi
				done
				[ $n = 3 ] && break
				sleep 0.05
				i=$((i+1))
			done
			printf '250 fresh\r\n' ;;
		ORPHAN*)
			# Two orphans that end at once: zombies for ucspi-starttls
			# to reap during the session.
			( sh -c 'exit 0' & )
			( sh -c 'exit 0' & )
			printf '250 orphaned\r\n' ;;
		*) printf '250 fresh\r\n' ;;
		esac
	done
	exit 0
fi
"$0" --linger plain </dev/null >/dev/null &
( "$0" --linger double </dev/null >/dev/null & )
setsid -f "$0" --linger setsid </dev/null >/dev/null
# Greet only once all three have written their pid: the test reads them
# before STARTTLS.
i=0
while [ $i -lt 200 ]; do
	[ -s "$LINGER_DIR/pid-plain" ] && [ -s "$LINGER_DIR/pid-double" ] && [ -s "$LINGER_DIR/pid-setsid" ] && break
	sleep 0.05
	i=$((i+1))
done
printf '220 linger ESMTP\r\n'
while IFS= read -r l; do
	case $l in
	QUIT*) printf '221 bye\r\n'; exit 0 ;;
	*) printf '250 ok\r\n' ;;
	esac
done
