package main

import (
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/listener"
)

const name = "tcpserver"

const usage = "tcpserver [-1UXoDNhHpPqQvRO] [-c n] [-C n] [-b n] [-x rules.cdb] [-B banner] [-d fd] [-l name] [-u user] [-g group] [-G groups] [-t n] [host port] prog..."

// help is what --help prints.
const help = "usage: " + usage + "\n\n" + listener.Help + `  -u user    after binding, run as user (a name also sets its gid and groups)
  -g group   after binding, set the gid (and the groups, without -G) to group
  -G groups  after binding, set exactly these supplementary groups (comma-separated)
  -U         after binding, take the uid, gid and groups from UID, GID and GIDLIST
  --help     print this text
  --version  print the version
`

var long = []string{"help", "version"}

// run listens, then accepts connections and spawns prog for each one,
// until SIGTERM or SIGINT. It returns the exit code.
func run(argv, envp []string) int {
	o, err := listener.Parse(argv[1:], envp, "", long, nil)
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	return listener.Run(name, usage, o, envp, nil)
}
