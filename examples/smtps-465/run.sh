#!/bin/sh
# smtps-465 — SMTP submission over TLS on connect, port 465 (RFC 8314)
# The same service for runit or daemontools: copy this file to ./run
# (and a log/run with svlogd -tt or multilog t). Reads ./env as envdir does.
exec 2>&1
for f in ./env/*; do
	n=${f##*/}
	if [ -s "$f" ]; then IFS= read -r v <"$f" || :; export "$n=$v"; else unset "$n"; fi
done
fatal() { echo "smtps-465: fatal: $*"; exit 100; }
[ -r "$CERTFILE" ] || fatal "unable to read CERTFILE $CERTFILE"
[ -r "$KEYFILE" ] || fatal "unable to read KEYFILE $KEYFILE"
id -u "$APPUSER" >/dev/null 2>&1 || fatal "unknown user $APPUSER"
exec tcpserver -c "$MAXCONN" -l "$LOCALNAME" "$IP" "$PORT" tlsd -K 30000 -u "$APPUSER" /usr/sbin/mailfront smtp echo cvm-authenticate require-auth accept-sender relayclient
