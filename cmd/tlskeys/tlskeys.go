package main

import (
	"errors"
	"strconv"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/ticketkeys"
)

const name = "tlskeys"

const usage = "tlskeys new file | tlskeys rotate file [ n ]"

const helpText = "usage: " + usage + `

  new file         write file with one fresh random key (replacing it)
  rotate file [n]  put a fresh key in front, keep at most n keys (1 to 8, default 3)
  -h, --help       print this help and exit
  --version        print the version
`

// DefaultKeep is how many keys rotate keeps by default: the current one
// and two before it, so a ticket survives two rotations.
const DefaultKeep = 3

// run runs tlskeys and returns its exit code.
func run(argv, envp []string) int {
	args, err := getopt.HelpOnly(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, helpText, err); done {
		return code
	}
	if len(args) < 2 {
		return exitcode.ReportUsage(name, usage, errors.New("need a command and a file"))
	}
	file := args[1]
	switch {
	case args[0] == "new" && len(args) == 2:
		if err := ticketkeys.New(file); err != nil {
			return exitcode.Report(name, exitcode.Temp("write", file, err))
		}
	case args[0] == "rotate" && len(args) <= 3:
		n := DefaultKeep
		if len(args) == 3 {
			k, err := getopt.Int(getopt.Opt{Name: "n", Arg: args[2]}, 1, ticketkeys.MaxKeys)
			if err != nil {
				return exitcode.ReportUsage(name, usage, errors.New("n must be a number from 1 to "+strconv.Itoa(ticketkeys.MaxKeys)+", not "+strconv.Quote(args[2])))
			}
			n = k
		}
		if err := ticketkeys.Rotate(file, n); err != nil {
			return exitcode.Report(name, exitcode.Temp("rotate", file, err))
		}
	default:
		return exitcode.ReportUsage(name, usage, errors.New("unknown command "+strconv.Quote(args[0])+" or wrong number of arguments"))
	}
	return exitcode.OK
}
