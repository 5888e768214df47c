#!/bin/sh
# https-cgi — HTTPS in front of a CGI-style app: one HTTP/1.0 request on fd 0, the reply on fd 1
# The same service for runit or daemontools: copy this file to ./run
# (and a log/run with svlogd -tt or multilog t). Reads ./env as envdir does.
exec 2>&1
for f in ./env/*; do
	n=${f##*/}
	if [ -s "$f" ]; then IFS= read -r v <"$f" || :; export "$n=$v"; else unset "$n"; fi
done
# Before it listens it checks what every connection would need
# (tlsserver --check, with the line it runs: the certificate and key,
# TLS_UID/TLS_GID, the engine, the app): a problem ends it with one fatal
# line and the code a connection would get. tlsserver is tcpserver's
# listener with tlsd's work built in; it stays root, the app runs as
# APPUSER.
tlsserver --check -c "$MAXCONN" -l "$LOCALNAME" -K 10000 -I 60 -a http/1.1 -u "$APPUSER" "$IP" "$PORT" ./httpd || exit
exec tlsserver -c "$MAXCONN" -l "$LOCALNAME" -K 10000 -I 60 -a http/1.1 -u "$APPUSER" "$IP" "$PORT" ./httpd
