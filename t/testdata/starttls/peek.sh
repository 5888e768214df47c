#!/bin/sh
# A cleartext SMTP app that looks into its parent, ucspi-starttls, which
# runs under the same uid: EHLO answers whether /proc/<ppid>/fd and
# /proc/<ppid>/environ opened ("open") or not ("denied").
printf '220 peek ESMTP\r\n'
while IFS= read -r line; do
	case $(printf %s "$line" | tr -d '\r' | cut -d' ' -f1 | tr a-z A-Z) in
	EHLO)
		fd=denied; env=denied
		ls /proc/$PPID/fd >/dev/null 2>&1 && fd=open
		cat /proc/$PPID/environ >/dev/null 2>&1 && env=open
		printf '250 PEEK uid=%s fd=%s environ=%s\r\n' "$(id -u)" "$fd" "$env" ;;
	QUIT) printf '221 bye\r\n'; exit 0 ;;
	*) printf '502 no\r\n' ;;
	esac
done
