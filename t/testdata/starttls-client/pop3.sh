#!/bin/bash
# A minimal POP3 client for ucspi-starttls -c tests: a UCSPI client app
# (reads fd 6, writes fd 7) that logs in as alice/secret. Every line it
# reads is printed as "<- line", every command as "-> line"; the last line
# says "result ok", "result deferred" (a -ERR [SYS/TEMP] greeting, exit 75)
# or "result failed" (exit 1).
echo "env SSL_PROTOCOL=${SSL_PROTOCOL-unset} SSL_PEER_VERIFY=${SSL_PEER_VERIFY-unset} SSLCTLFD=${SSLCTLFD-unset}"
line() {
	if IFS= read -r -t 10 l <&6; then
		l=${l%$'\r'}
		echo "<- $l"
		return 0
	fi
	echo "<- EOF"
	l=EOF
	return 1
}
cmd() { printf '%s\r\n' "$1" >&7; echo "-> $1"; line; }
fail() { echo "result failed"; exit 1; }
line || fail
case $l in
"-ERR [SYS/TEMP] "*) line; echo "result deferred"; exit 75 ;;
"+OK"*) ;;
*) fail ;;
esac
if cmd CAPA && [[ $l == +OK* ]]; then
	n=0
	while line && [ "$l" != . ] && [ $n -lt 50 ]; do n=$((n + 1)); done
fi
cmd "USER alice" && [[ $l == +OK* ]] || fail
cmd "PASS secret" && [[ $l == +OK* ]] || fail
cmd QUIT
echo "result ok"
