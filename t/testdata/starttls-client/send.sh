#!/bin/bash
# A minimal SMTP client for ucspi-starttls -c tests: a UCSPI client app
# (reads fd 6, writes fd 7) that sends one message. Every line it reads is
# printed on stdout as "<- line", every command as "-> line"; the last
# line says "result sent" or "result deferred <code>". Exit 0 sent, 75
# deferred (the server's or ucspi-starttls's 4xx), 1 anything else.
echo "env SSL_PROTOCOL=${SSL_PROTOCOL-unset} SSL_PEER_VERIFY=${SSL_PEER_VERIFY-unset} SSLCTLFD=${SSLCTLFD-unset}"
reply() {
	while IFS= read -r -t 10 line <&6; do
		line=${line%$'\r'}
		echo "<- $line"
		case $line in [0-9][0-9][0-9]-*) continue ;; esac
		code=${line:0:3}
		return 0
	done
	echo "<- EOF"
	code=EOF
	return 1
}
cmd() { printf '%s\r\n' "$1" >&7; echo "-> $1"; reply; }
fail() {
	case $code in
	4*) echo "result deferred $code"; printf 'QUIT\r\n' >&7 2>/dev/null; exit 75 ;;
	esac
	echo "result failed $code"; exit 1
}
reply && [ "$code" = 220 ] || fail
cmd "EHLO client.test" && [ "$code" = 250 ] || fail
cmd "MAIL FROM:<a@example.test>" && [ "$code" = 250 ] || fail
cmd "RCPT TO:<b@example.test>" && [ "$code" = 250 ] || fail
cmd "DATA" && [ "$code" = 354 ] || fail
printf 'Subject: chain test\r\n\r\nhello through ucspi-starttls -c\r\n.\r\n' >&7
reply && [ "$code" = 250 ] || fail
cmd "QUIT"
echo "result sent"
