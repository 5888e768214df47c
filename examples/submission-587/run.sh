#!/bin/sh
# submission-587 — message submission on port 587: STARTTLS mandatory, then AUTH (RFC 6409, RFC 3207)
# The same service for runit or daemontools: copy this file to ./run
# (and a log/run with svlogd -tt or multilog t). Reads ./env as envdir does.
exec 2>&1
for f in ./env/*; do
	n=${f##*/}
	if [ -s "$f" ]; then IFS= read -r v <"$f" || :; export "$n=$v"; else unset "$n"; fi
done
# Before it listens it checks what every connection would need (tlsd
# --check: the certificate and key, TLS_UID/TLS_GID, the engine,
# ucspi-starttls), the app and the password file as APPUSER (cvm-pwfile
# runs as APPUSER): a problem ends it with one fatal line and the code a
# connection would get.
fatal() { c=$1; shift; echo "submission-587: fatal: exit status=$c err=\"$*\""; exit "$c"; }
app=/usr/sbin/mailfront
tlsd --check -n -K 30000 -u "$APPUSER" ucspi-starttls || exit
[ -e "$app" ] || fatal 127 "unable to run $app: no such file or directory"
privdrop -u "$APPUSER" test -x "$app" || fatal 126 "unable to run $app as $APPUSER: permission denied"
privdrop -u "$APPUSER" test -r "$CVM_PWFILE_PATH" || fatal 100 "$APPUSER cannot read CVM_PWFILE_PATH $CVM_PWFILE_PATH: cvm-pwfile runs as APPUSER"
exec tcpserver -c "$MAXCONN" -l "$LOCALNAME" "$IP" "$PORT" tlsd -n -K 30000 -u "$APPUSER" ucspi-starttls -m smtp "$app" smtp echo cvm-authenticate require-auth accept-sender relayclient
