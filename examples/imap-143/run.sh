#!/bin/sh
# imap-143 — IMAP on port 143 with STARTTLS, mandatory before LOGIN (RFC 3501 §6.2.1)
# The same service for runit or daemontools: copy this file to ./run
# (and a log/run with svlogd -tt or multilog t). Reads ./env as envdir does.
exec 2>&1
for f in ./env/*; do
	n=${f##*/}
	if [ -s "$f" ]; then IFS= read -r v <"$f" || :; export "$n=$v"; else unset "$n"; fi
done
# Before it listens it checks what every connection would need (tlsd
# --check: the certificate and key, TLS_UID/TLS_GID, the engine,
# ucspi-starttls), the app, the password file: a problem ends it with
# one fatal line and the code a connection would get.
fatal() { c=$1; shift; echo "imap-143: fatal: exit status=$c err=\"$*\""; exit "$c"; }
app=/usr/sbin/imapfront-auth
tlsd --check -n -K 30000 ucspi-starttls || exit
[ -e "$app" ] || fatal 127 "unable to run $app: no such file or directory"
[ -x "$app" ] || fatal 126 "unable to run $app: permission denied"
[ -r "$CVM_PWFILE_PATH" ] || fatal 100 "unable to read CVM_PWFILE_PATH $CVM_PWFILE_PATH"
exec tcpserver -c "$MAXCONN" -l "$LOCALNAME" "$IP" "$PORT" tlsd -n -K 30000 ucspi-starttls -m imap "$app" "$IMAPD"
