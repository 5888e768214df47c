#!/bin/sh
# pop3s-995 — POP3 over TLS on connect, port 995 (RFC 8314)
# The same service for runit or daemontools: copy this file to ./run
# (and a log/run with svlogd -tt or multilog t). Reads ./env as envdir does.
exec 2>&1
for f in ./env/*; do
	n=${f##*/}
	if [ -s "$f" ]; then IFS= read -r v <"$f" || :; export "$n=$v"; else unset "$n"; fi
done
# Before it listens it checks what every connection would need (tlsd
# --check: the certificate and key, TLS_UID/TLS_GID, the engine, the
# app), the password file: a problem ends it with one fatal line and the
# code a connection would get.
fatal() { c=$1; shift; echo "pop3s-995: fatal: exit status=$c err=\"$*\""; exit "$c"; }
tlsd --check -K 30000 /usr/sbin/pop3front-auth || exit
[ -r "$CVM_PWFILE_PATH" ] || fatal 100 "unable to read CVM_PWFILE_PATH $CVM_PWFILE_PATH"
exec tcpserver -c "$MAXCONN" -l "$LOCALNAME" "$IP" "$PORT" tlsd -K 30000 /usr/sbin/pop3front-auth "$CVM" /usr/sbin/pop3front-maildir "$MAILDIR"
