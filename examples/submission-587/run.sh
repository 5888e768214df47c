#!/bin/sh
# submission-587 — message submission on port 587: STARTTLS mandatory, then AUTH (RFC 6409, RFC 3207)
# The same service for runit or daemontools: copy this file to ./run
# (and a log/run with svlogd -tt or multilog t). Reads ./env as envdir does.
exec 2>&1
for f in ./env/*; do
	n=${f##*/}
	if [ -s "$f" ]; then IFS= read -r v <"$f" || :; export "$n=$v"; else unset "$n"; fi
done
fatal() { echo "submission-587: fatal: $*"; exit 100; }
[ -r "$CERTFILE" ] || fatal "unable to read CERTFILE $CERTFILE"
[ -r "$KEYFILE" ] || fatal "unable to read KEYFILE $KEYFILE"
id -u "$APPUSER" >/dev/null 2>&1 || fatal "unknown user $APPUSER"
exec tcpserver -c "$MAXCONN" -l "$LOCALNAME" "$IP" "$PORT" tlsd -n -K 30000 -u "$APPUSER" ucspi-starttls -m smtp /usr/sbin/mailfront smtp echo cvm-authenticate require-auth accept-sender relayclient
