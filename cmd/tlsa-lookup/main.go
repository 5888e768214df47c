// Command tlsa-lookup asks the system's resolver for a
// host's TLSA records (RFC 7672 §2.2: _25._tcp.<host>), trusts them only
// when the answer is DNSSEC-secure (the AD bit, from a loopback resolver),
// sets TLSA and TLSA_BASENAME for tlsc and ucspi-starttls -c, and execs
// prog. See doc/tlsa-lookup.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
