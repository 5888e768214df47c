#!/bin/sh
# A tiny IMAP responder for ucspi-starttls tests. PREAUTH set: it greets
# with * PREAUTH.
if [ -n "${PREAUTH+x}" ]; then printf '* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n'
else printf '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] test ready\r\n'; fi
while IFS= read -r line; do
	line=$(printf %s "$line" | tr -d '\r')
	tag=${line%% *}
	rest=${line#* }
	verb=$(printf %s "$rest" | cut -d' ' -f1 | tr a-z A-Z)
	case $verb in
	CAPABILITY) printf '* CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS IDLE\r\n%s OK done\r\n' "$tag" ;;
	NOOP) printf '%s OK NOOP-ANSWERED\r\n' "$tag" ;;
	LOGIN) printf '%s OK [CAPABILITY IMAP4rev1 IDLE] logged in\r\n' "$tag" ;;
	XENV) printf '* XENV SSL_PROTOCOL=%s\r\n%s OK done\r\n' "${SSL_PROTOCOL-unset}" "$tag" ;;
	LOGOUT) printf '* BYE bye\r\n%s OK done\r\n' "$tag"; exit 0 ;;
	*) printf '%s BAD unknown %s\r\n' "$tag" "$verb" ;;
	esac
done
