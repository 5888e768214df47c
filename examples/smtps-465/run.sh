#!/bin/sh
# smtps-465 — SMTP submission over TLS on connect, port 465 (RFC 8314)
# The same service for runit or daemontools: copy this file to ./run
# (and a log/run with svlogd -tt or multilog t). Reads ./env as envdir does.
exec 2>&1
for f in ./env/*; do
	n=${f##*/}
	if [ -s "$f" ]; then IFS= read -r v <"$f" || :; export "$n=$v"; else unset "$n"; fi
done
# Before it listens it checks what every connection would need (tlsd
# --check: the certificate and key, TLS_UID/TLS_GID, the engine, the
# app), the password file as APPUSER (cvm-pwfile runs as APPUSER): a
# problem ends it with one fatal line and the code a connection would
# get.
fatal() { c=$1; shift; echo "smtps-465: fatal: exit status=$c err=\"$*\""; exit "$c"; }
tlsd --check -K 30000 -u "$APPUSER" /usr/sbin/mailfront || exit
privdrop -u "$APPUSER" test -r "$CVM_PWFILE_PATH" || fatal 100 "$APPUSER cannot read CVM_PWFILE_PATH $CVM_PWFILE_PATH: cvm-pwfile runs as APPUSER"
exec tcpserver -c "$MAXCONN" -l "$LOCALNAME" "$IP" "$PORT" tlsd -K 30000 -u "$APPUSER" /usr/sbin/mailfront smtp echo cvm-authenticate require-auth accept-sender relayclient
