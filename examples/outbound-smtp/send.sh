#!/bin/sh
# outbound-smtp — the same as ./send, in sh: ./send.sh < message
cd "$(dirname "$0")" || exit 111
for f in ./env/*; do
	n=${f##*/}
	if [ -s "$f" ]; then IFS= read -r v <"$f" || :; export "$n=$v"; else unset "$n"; fi
done
exec tcpclient -T 10+20 "$HOST" "$PORT" tlsc -K 30000 -k "$SERVERNAME" ./smtp-client
