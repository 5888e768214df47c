package main

import (
	"errors"
	"io"
	"os"
	"strings"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/rules"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

const name = "tcprulescheck"

const usage = "tcprulescheck rules.cdb [ip [host]]"

const helpText = "usage: " + usage + `

  -h, --help  print this help and exit
  --version   print the version
`

// run checks the client named by argv or by TCPREMOTEIP, TCPREMOTEHOST
// and TCPREMOTEINFO in envp; it returns the exit code.
func run(argv, envp []string) int {
	args, err := getopt.HelpOnly(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, helpText, err); done {
		return code
	}
	if len(args) < 1 || len(args) > 3 || args[0] == "" {
		return exitcode.ReportUsage(name, usage, errors.New("need rules.cdb"))
	}
	var q rules.Query
	var ok bool
	if q.IP, ok = ucspi.Getenv(envp, ucspi.TCPRemoteIP); !ok {
		q.IP = "0.0.0.0" // as ucspi-tcp
	}
	q.Host, _ = ucspi.Getenv(envp, ucspi.TCPRemoteHost)
	q.Info, _ = ucspi.Getenv(envp, ucspi.TCPRemoteInfo)
	if len(args) > 1 {
		q.IP = args[1]
	}
	if len(args) > 2 {
		q.Host = args[2]
	}
	out, err := Check(args[0], q)
	if err != nil {
		return exitcode.Report(name, err)
	}
	if _, err := io.WriteString(os.Stdout, out); err != nil {
		return exitcode.Report(name, exitcode.Temp("write", "standard output", err))
	}
	return exitcode.OK
}

// Check looks q up in the database at path and returns what ucspi-tcp's
// tcprulescheck prints: "rule KEY:", one "set environment variable
// NAME=value" per assignment, then "allow connection" or "deny
// connection"; "default:" and "allow connection" when no rule matches.
func Check(path string, q rules.Query) (string, error) {
	db, err := rules.Open(path)
	if err != nil {
		return "", err
	}
	defer db.Close()
	r, err := db.Lookup(q)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if !r.Found {
		return "default:\nallow connection\n", nil
	}
	b.WriteString("rule " + r.Key + ":\n")
	for _, e := range r.Env {
		b.WriteString("set environment variable " + e + "\n")
	}
	if r.Deny {
		b.WriteString("deny connection\n")
	} else {
		b.WriteString("allow connection\n")
	}
	return b.String(), nil
}
