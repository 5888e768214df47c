#!/bin/sh
# A tiny SMTP app for the DANE client-authentication tests: it answers
# EHLO with what ucspi-starttls told it about the client certificate.
printf '220 app.test ESMTP\r\n'
while IFS= read -r line; do
	line=$(printf '%s' "$line" | tr -d '\r')
	case $line in
	EHLO*|ehlo*)
		printf '250-app.test\r\n250 X-DANE %s %s %s\r\n' "${SSL_CLIENT_DANE-unset}" "${SSL_CLIENT_DANE_NAME-unset}" "${SSL_CLIENT_VERIFY-unset}" ;;
	QUIT*|quit*) printf '221 bye\r\n'; exit 0 ;;
	*) printf '250 ok\r\n' ;;
	esac
done
