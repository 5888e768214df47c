#!/bin/sh
# imaps-993 — IMAP over TLS on connect, port 993 (RFC 8314)
# The same service for runit or daemontools: copy this file to ./run
# (and a log/run with svlogd -tt or multilog t). Reads ./env as envdir does.
exec 2>&1
for f in ./env/*; do
	n=${f##*/}
	if [ -s "$f" ]; then IFS= read -r v <"$f" || :; export "$n=$v"; else unset "$n"; fi
done
fatal() { echo "imaps-993: fatal: $*"; exit 100; }
[ -r "$CERTFILE" ] || fatal "unable to read CERTFILE $CERTFILE"
[ -r "$KEYFILE" ] || fatal "unable to read KEYFILE $KEYFILE"
exec tcpserver -c "$MAXCONN" -l "$LOCALNAME" "$IP" "$PORT" tlsd -K 30000 /usr/sbin/imapfront-auth "$IMAPD"
