#!/bin/sh
# make demo: a TLS-on-connect service and a STARTTLS SMTP service on
# 127.0.0.1 with a throwaway certificate. Runs until Ctrl-C (or for
# DEMO_SECONDS seconds). Usage: run.sh BINDIR
set -u
BIN=${1:?usage: run.sh BINDIR}
TLS_PORT=${DEMO_TLS_PORT:-8465}
SMTP_PORT=${DEMO_SMTP_PORT:-8025}
W=$(mktemp -d /tmp/tlschain-demo.XXXXXX)
PIDS=""
stop() { for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$W"; exit 0; }
trap stop INT TERM EXIT
PATH=$BIN:$PATH

# A real SMTP server to put behind ucspi-starttls: Debian's mailfront.
if [ ! -x /usr/sbin/mailfront ] && [ "$(id -u)" = 0 ]; then
	echo "demo: installing mailfront (a small SMTP server) with apt-get"
	apt-get install -y -qq mailfront >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq mailfront >/dev/null; }
fi

go run ./examples/demo/gencert "$W" || exit 111
chmod 0755 "$W"
export CERTFILE="$W/cert.pem" KEYFILE="$W/key.pem"

# 1. TLS on connect (like SMTPS 465), with tlsserver: tcpserver's
# listener with tlsd's work built in (tcpserver … tlsd … is the same
# service as a chain). The app runs as nobody, the engine as a uid of its
# own (65533, no account needed), so neither can signal the other.
TLS_UID=65533 TLS_GID=65533 tlsserver -1 -u 65534 -g 65534 127.0.0.1 "$TLS_PORT" \
	sh -c 'echo "hello from tlschain over $SSL_PROTOCOL ($SSL_CIPHER); type a line, it comes back"; exec cat' \
	>"$W/tls.port" 2>"$W/tls.log" &
PIDS="$PIDS $!"

# 2. STARTTLS SMTP (like port 25): mailfront knows nothing of TLS.
if [ -x /usr/sbin/mailfront ]; then
	UCSPITLS= tcpserver -1 127.0.0.1 "$SMTP_PORT" \
		tlsd -n ucspi-starttls smtp /usr/sbin/mailfront smtp echo accept \
		>"$W/smtp.port" 2>"$W/smtp.log" &
	PIDS="$PIDS $!"
fi

i=0
while [ ! -s "$W/tls.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if [ ! -s "$W/tls.port" ]; then
	echo "demo: the TLS service did not start:"; cat "$W/tls.log"; exit 111
fi

echo
echo "tlschain demo — throwaway CA in $W/ca.pem"
echo
echo "Our own client checks the TLS service (tcpclient → tlsc verifies the certificate):"
CAFILE="$W/ca.pem" tcpclient 127.0.0.1 "$TLS_PORT" tlsc -k localhost sh -c 'head -n 1 <&6' 2>&1 | sed 's/^/    /'
echo
echo "Talk to it:"
echo "    openssl s_client -connect 127.0.0.1:$TLS_PORT -CAfile $W/ca.pem -verify_hostname localhost -quiet"
echo "    gnutls-cli --x509cafile=$W/ca.pem --port=$TLS_PORT localhost"
if [ -s "$W/smtp.port" ] || [ -x /usr/sbin/mailfront ]; then
	echo
	echo "STARTTLS SMTP (mailfront behind ucspi-starttls) on port $SMTP_PORT:"
	echo "    openssl s_client -starttls smtp -connect 127.0.0.1:$SMTP_PORT -CAfile $W/ca.pem -quiet"
	echo "    swaks --server 127.0.0.1:$SMTP_PORT --tls --to you@example.org --from me@example.org"
	echo
	echo "Our own outbound chain sends a message to it (tcpclient → tlsc -n → ucspi-starttls -c -p verify):"
	printf 'Subject: demo\n\nhello over STARTTLS\n' |
		CAFILE="$W/ca.pem" PORT=$SMTP_PORT FROM=me@example.org TO=you@example.org \
		sh examples/outbound/send.sh localhost verify 2>&1 | sed 's/^/    /'
else
	echo
	echo "(install mailfront to get the STARTTLS SMTP service too)"
fi
echo
echo "Connection logs: $W/tls.log $W/smtp.log. Ctrl-C stops the demo."
if [ -n "${DEMO_SECONDS:-}" ]; then sleep "$DEMO_SECONDS"; else wait; fi
