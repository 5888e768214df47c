#!/bin/sh
# make soak: both listeners (TLS on connect, STARTTLS) under load, early
# disconnects and slow clients on loopback, then the checks (no zombie,
# no fd growth, stable RSS, data intact, -c/-C held). About 2 minutes.
#   SOAK_DURATION   length of the load phase (default 100s)
#   TLSCHAIN_BIN    the binaries (default ./bin, built when missing)
# Extra arguments go to the soak program (t/soak/main.go: -workers, -c, -C,
# -sources, -payload, -smtp-payload, -rss-slack, -rss-cap, -keep).
set -eu
cd "$(dirname "$0")/../.."
BIN=${TLSCHAIN_BIN:-$PWD/bin}
if [ ! -x "$BIN/tcpserver" ]; then
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$BIN/" ./cmd/...
fi
[ -x /usr/sbin/mailfront ] || { echo "soak: mailfront is not installed (make deps)" >&2; exit 111; }
W=$(mktemp -d /tmp/tlschain-soakbin.XXXXXX)
trap 'rm -rf "$W"' EXIT INT TERM
CGO_ENABLED=0 go build -o "$W/soak" ./t/soak
"$W/soak" -bin "$BIN" -duration "${SOAK_DURATION:-100s}" "$@"
