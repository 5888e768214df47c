#!/bin/sh
# An SMTP app that writes a reply nobody asked for the moment its input
# ends — which, for the cleartext instance, is the STARTTLS switch: a
# response-injection probe (that reply must never reach the client inside
# TLS). The restarted instance (SSL_PROTOCOL set) answers every line with
# "250 fresh".
if [ -n "${SSL_PROTOCOL+x}" ]; then
	printf '220 late ESMTP\r\n'
	while IFS= read -r l; do
		case $l in
		QUIT*) printf '221 bye\r\n'; exit 0 ;;
		*) printf '250 fresh %s\r\n' "$SSL_PROTOCOL" ;;
		esac
	done
	exit 0
fi
printf '220 late ESMTP\r\n'
read l
printf '250 ok\r\n'
read l
printf '250 QUEUED-INJECTED\r\n'
sleep 1
