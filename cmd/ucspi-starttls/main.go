// Command ucspi-starttls speaks the cleartext part of
// SMTP, POP3 or IMAP for an unmodified app, advertises and performs
// STARTTLS through the UCSPI-TLS control fd of tlsd -n, then restarts the
// app fresh on the encrypted channel. See doc/ucspi-starttls.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
