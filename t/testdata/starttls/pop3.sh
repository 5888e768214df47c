#!/bin/sh
# A tiny POP3 responder for ucspi-starttls tests: CAPA lists STLS itself
# (to be stripped after TLS) unless NOCAPA is set (then -ERR, like popa3d).
printf '+OK pop3 test ready\r\n'
while IFS= read -r line; do
	line=$(printf %s "$line" | tr -d '\r')
	verb=$(printf %s "$line" | cut -d' ' -f1 | tr a-z A-Z)
	case $verb in
	CAPA)
		if [ -n "${NOCAPA+x}" ]; then printf -- '-ERR unknown command\r\n'
		else printf '+OK\r\nUSER\r\nSTLS\r\nSASL PLAIN\r\nUIDL\r\n.\r\n'; fi ;;
	USER) printf '+OK\r\n' ;;
	PASS) printf '+OK logged in\r\n' ;;
	XENV) printf '+OK SSL_PROTOCOL=%s\r\n' "${SSL_PROTOCOL-unset}" ;;
	LIST) printf '+OK\r\n1 10\r\n.\r\n' ;;
	QUIT) printf '+OK bye\r\n'; exit 0 ;;
	*) printf -- '-ERR unknown %s\r\n' "$verb" ;;
	esac
done
