package main

import (
	"errors"
	"github.com/tlschain/tlschain/pkg/privdrop"
	"runtime"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

const name = "privdrop"

const usage = "privdrop [-0nU] [-u user] [-g group] [-G groups] [-c dir] prog..."

const help = "usage: " + usage + `

  -u user     run as user (a name or a uid); a name also sets the gid and the user's groups
  -g group    run with this primary group (a name or a gid)
  -G groups   set exactly these supplementary groups (comma-separated names or gids)
  -U          take UID, GID and GIDLIST from the environment, then remove them
  -c dir      chroot to dir before changing ids; prog is looked up inside it
  -n          set no_new_privs: setuid programs run by prog gain nothing
  -0          allow uid 0 (refused otherwise)
  -h          print this help (also --help)
  --version   print the version
`

// config is a parsed command line.
type config struct {
	ids        privdrop.Options
	root       string // -c
	noNewPrivs bool   // -n
	prog       []string
}

func parseArgs(args []string) (config, error) {
	var cfg config
	p := getopt.New(args, "0nhc:"+privdrop.Letters, "help", "version")
	for {
		o, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return cfg, err
		}
		if ok, err := cfg.ids.Take(o); ok {
			if err != nil {
				return cfg, err
			}
			continue
		}
		switch o.Name {
		case "0":
			cfg.ids.AllowRoot = true
		case "n":
			cfg.noNewPrivs = true
		case "c":
			if o.Arg == "" {
				return cfg, errors.New("option -c needs a directory")
			}
			cfg.root = o.Arg
		case "h", "help":
			return cfg, getopt.ErrHelp
		case "version":
			return cfg, getopt.ErrVersion
		}
	}
	cfg.prog = p.Rest()
	if len(cfg.prog) == 0 {
		return cfg, errors.New("no program to run")
	}
	return cfg, nil
}

// run resolves the ids, chroots, drops privileges and execs the rest of
// argv. It returns only on failure.
func run(argv, envp []string) int {
	cfg, err := parseArgs(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	logline.SetConn(envp) // in a connection's chain, its lines name it
	// Names are looked up before the chroot, in the system's files.
	cred, err := cfg.ids.Resolve(envp)
	if err != nil {
		return exitcode.Report(name, err)
	}
	if cfg.root != "" {
		if err := privdrop.Chroot(cfg.root); err != nil {
			return exitcode.Report(name, err)
		}
	}
	// Drop on this thread only and exec from it: execve passes on the
	// calling thread's credentials and ends the others (see privdrop.ApplyThread).
	runtime.LockOSThread()
	if err := privdrop.ApplyThread(cred); err != nil {
		return exitcode.Report(name, err)
	}
	if cfg.noNewPrivs {
		if err := privdrop.NoNewPrivsThread(); err != nil {
			return exitcode.Report(name, err)
		}
	}
	env := envp
	if rm := cfg.ids.EnvToRemove(); rm != nil {
		env = ucspi.Without(envp, rm...)
	}
	return exitcode.Report(name, chain.Exec(cfg.prog, env))
}
