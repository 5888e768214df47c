#!/bin/sh
# A response-injection probe: an SMTP app whose cleartext instance writes
# replies nobody asked for at the STARTTLS switch, which must never reach
# the client: one when the test says so through the FIFO $LATE_DIR/go
# (the client has had the 220 and not begun its handshake; the file
# $LATE_DIR/written says the reply is in the pipe), one when its input
# ends. The restarted instance (SSL_PROTOCOL set) answers every line with
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
if [ -n "${LATE_DIR:-}" ]; then
	read x <"$LATE_DIR/go"
	printf '250 QUEUED-INJECTED\r\n'
	: >"$LATE_DIR/written"
fi
read l
printf '250 QUEUED-INJECTED-AT-EOF\r\n'
sleep 1
