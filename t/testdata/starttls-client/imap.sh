#!/bin/bash
# A minimal IMAP client for ucspi-starttls -c tests: a UCSPI client app
# (reads fd 6, writes fd 7) that logs in as alice/secret. Every line it
# reads is printed as "<- line", every command as "-> line"; the last line
# says "result ok", "result deferred" (a * BYE [UNAVAILABLE] greeting,
# exit 75) or "result failed" (exit 1).
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
# tagged reads up to the tagged reply to $1.
tagged() {
	local n=0
	while line && [ $n -lt 50 ]; do
		case $l in "$1 "*) return 0 ;; esac
		n=$((n + 1))
	done
	return 1
}
send() { printf '%s\r\n' "$1" >&7; echo "-> $1"; }
fail() { echo "result failed"; exit 1; }
line || fail
case $l in
"* BYE [UNAVAILABLE] "*) line; echo "result deferred"; exit 75 ;;
"* OK"* | "* PREAUTH"*) ;;
*) fail ;;
esac
send "a CAPABILITY"
tagged a || fail
send "b LOGIN alice secret"
tagged b && [[ $l == "b OK"* ]] || fail
send "c LOGOUT"
tagged c
echo "result ok"
