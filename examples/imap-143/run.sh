#!/bin/sh
# imap-143 — IMAP on port 143 with STARTTLS, mandatory before LOGIN (RFC 3501 §6.2.1)
# The same service for runit or daemontools: copy this file to ./run
# (and a log/run with svlogd -tt or multilog t). Reads ./env as envdir does.
exec 2>&1
for f in ./env/*; do
	n=${f##*/}
	if [ -s "$f" ]; then IFS= read -r v <"$f" || :; export "$n=$v"; else unset "$n"; fi
done
fatal() { echo "imap-143: fatal: $*"; exit 100; }
[ -r "$CERTFILE" ] || fatal "unable to read CERTFILE $CERTFILE"
[ -r "$KEYFILE" ] || fatal "unable to read KEYFILE $KEYFILE"
exec tcpserver -c "$MAXCONN" -l "$LOCALNAME" "$IP" "$PORT" tlsd -n -K 30000 ucspi-starttls -m imap /usr/sbin/imapfront-auth "$IMAPD"
