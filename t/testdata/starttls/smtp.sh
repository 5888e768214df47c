#!/bin/sh
# A tiny SMTP responder for ucspi-starttls tests. Its greeting is
# multi-line (ucspi-starttls must swallow all of it after TLS); it
# advertises STARTTLS itself when UCSPITLS is set (as mailfront does);
# XENV shows what the environment says; RSET answers with a marker the
# injection tests look for. Each start is logged on stderr, so that tests
# can count the instances ucspi-starttls ran.
echo "smtp.sh: start ${SSL_PROTOCOL-cleartext}" >&2
printf '220-test.example ESMTP\r\n220 pid %s\r\n' "$$"
while IFS= read -r line; do
	line=$(printf %s "$line" | tr -d '\r')
	verb=$(printf %s "$line" | cut -d' ' -f1 | tr a-z A-Z)
	case $verb in
	EHLO)
		printf '250-test.example hello %s\r\n250-PIPELINING\r\n' "${SSL_PROTOCOL-cleartext}"
		[ -n "${UCSPITLS+x}" ] && printf '250-STARTTLS\r\n'
		printf '250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n' ;;
	HELO) printf '250 test.example\r\n' ;;
	NOOP) printf '250 2.0.0 ok\r\n' ;;
	RSET) printf '250 2.0.0 RSET-ANSWERED\r\n' ;;
	XENV) printf '250 SSL_PROTOCOL=%s SSL_CIPHER=%s SSL_TLS_SNI_SERVERNAME=%s UCSPITLS=%s SSLCTLFD=%s\r\n' \
		"${SSL_PROTOCOL-unset}" "${SSL_CIPHER-unset}" "${SSL_TLS_SNI_SERVERNAME-unset}" "${UCSPITLS-unset}" "${SSLCTLFD-unset}" ;;
	MAIL|RCPT) printf '250 2.1.0 ok\r\n' ;;
	AUTH) printf '235 2.7.0 authenticated\r\n' ;;
	DATA)
		printf '354 go ahead\r\n'
		n=0
		while IFS= read -r l; do
			l=$(printf %s "$l" | tr -d '\r')
			[ "$l" = . ] && break
			n=$((n+1))
		done
		printf '250 2.0.0 got %s lines\r\n' "$n" ;;
	QUIT) printf '221 2.0.0 bye\r\n'; exit 0 ;;
	*) printf '502 5.5.1 unknown %s\r\n' "$verb" ;;
	esac
done
