#!/bin/sh
# An SMTP sink for throughput tests: after DATA it counts the bytes of
# the message (up to the end of the connection) and reports them on
# stderr.
printf '220 sink\r\n'
while IFS= read -r l; do
	case $l in
	DATA*) printf '354 go\r\n'; n=$(wc -c); echo "sink.sh: $n bytes" >&2; exit 0 ;;
	*) printf '250 ok\r\n' ;;
	esac
done
