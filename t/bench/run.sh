#!/bin/sh
# make bench: every benchmark, side by side with the peers, in one run.
set -u
cd "$(dirname "$0")/../.."
for b in tcpserver hop engine tls starttls; do
	if [ -x "t/bench/$b.sh" ] || [ -f "t/bench/$b.sh" ]; then
		echo "# $b"
		echo
		sh "t/bench/$b.sh" || echo "(bench $b failed: exit $?)"
		echo
	fi
done
