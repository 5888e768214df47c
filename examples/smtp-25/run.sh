#!/bin/sh
# smtp-25 — SMTP on port 25, opportunistic STARTTLS (public MX: never mandatory, RFC 3207 §4)
# The same service for runit or daemontools: copy this file to ./run
# (and a log/run with svlogd -tt or multilog t). Reads ./env as envdir does.
exec 2>&1
for f in ./env/*; do
	n=${f##*/}
	if [ -s "$f" ]; then IFS= read -r v <"$f" || :; export "$n=$v"; else unset "$n"; fi
done
fatal() { echo "smtp-25: fatal: $*"; exit 100; }
[ -r "$CERTFILE" ] || fatal "unable to read CERTFILE $CERTFILE"
[ -r "$KEYFILE" ] || fatal "unable to read KEYFILE $KEYFILE"
id -u "$APPUSER" >/dev/null 2>&1 || fatal "unknown user $APPUSER"
exec tcpserver -c "$MAXCONN" -l "$LOCALNAME" "$IP" "$PORT" tlsd -n -K 30000 -u "$APPUSER" ucspi-starttls smtp /usr/sbin/mailfront smtp echo accept
