// Command ucspi-starttls speaks the cleartext part of SMTP, POP3 or IMAP
// for an unmodified app and performs STARTTLS under tlsd -n.
// See doc/ucspi-starttls.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/starttls"
)

func main() { os.Exit(starttls.Main(os.Args, os.Environ())) }
