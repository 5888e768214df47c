#!/bin/sh
# outbound — send one message (stdin) to an MX with STARTTLS, and print
# ucspi-starttls's log line (destination, policy, TLS version, cipher,
# verification result) on stderr.
#
#   FROM=a@example.org TO=b@example.net ./send.sh mx.example.net [policy] < message
#
# policy: none, may, encrypt, verify (default), dane, dane-only. With dane
# the TLSA records are looked up first (tlsa-lookup needs a validating
# resolver on 127.0.0.1, e.g. unbound). CAFILE (PEM) replaces the system
# CAs for verify. CLIENT is the SMTP client on fd 6/7 (qmail-rsmtp, or the
# stand-in ../outbound-smtp/smtp-client). PORT defaults to 25.
# Exit: the client's (0 sent; 111 deferred: 4xx, including ucspi-starttls's
# "421 4.7.0 TLS policy …" when the policy forbids going on).
host=${1:?usage: send.sh host [policy] < message}
policy=${2:-verify}
dir=$(cd "$(dirname "$0")" && pwd) || exit 111
client=${CLIENT:-$dir/../outbound-smtp/smtp-client}
set -- tcpclient -T 10+20 "$host" "${PORT:-25}" \
	tlsc -n -K 30000 -k "$host" --verify-report \
	ucspi-starttls -c -t 300 -p "$policy" smtp "$client"
case $policy in
dane | dane-only) set -- tlsa-lookup "$host" "$@" ;;
esac
exec "$@"
