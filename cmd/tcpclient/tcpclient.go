package main

import (
	"errors"
	"net/netip"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/fdutil"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/privdrop"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

const name = "tcpclient"

const usage = "tcpclient [-46hHdDqQvRU] [-i ip] [-p port] [-T x+y] [-l name] [-u user] [-g group] [-G groups] host port prog..."

const help = "usage: " + usage + `

  -4          connect over IPv4 only
  -6          connect over IPv6 only
  -i ip       bind the local end to ip
  -p port     bind the local end to port (before any id change, so a port below 1024 works)
  -T x+y      connect timeout in seconds: x per address, then y for each address that timed out (default 2+58)
  -h          look up TCPREMOTEHOST (and TCPLOCALHOST unless -l) in DNS; alone, print this help
  -H          no DNS lookups (default)
  -l name     set TCPLOCALHOST to name
  -d          leave Nagle's algorithm on
  -D          set TCP_NODELAY (default)
  -R          no ident lookup (always; accepted for ucspi-tcp compatibility)
  -q          no warnings, fatal errors only
  -Q          a warning for each address that fails (default)
  -v          also an info line when connected
  -u user     run prog as user (a name or a uid); a name also sets the gid and the user's groups
  -g group    run prog with this primary group (a name or a gid)
  -G groups   run prog with exactly these supplementary groups (comma-separated)
  -U          take UID, GID and GIDLIST from the environment, then remove them
  --help      print this help
  --version   print the version
`

// run connects and execs prog. It returns only on failure.
func run(argv, envp []string) int {
	cfg, err := parseArgs(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	// Names first: a bad user is a usage error found before any packet.
	cred, err := cfg.ids.Resolve(envp)
	if err != nil {
		return exitcode.Report(name, err)
	}
	if err := reserveFDs(); err != nil {
		return exitcode.Report(name, exitcode.Temp("prepare", "fds", err))
	}
	log := logline.New(name)
	ips, err := resolve(cfg.host, cfg.family)
	if err != nil {
		return exitcode.Report(name, err)
	}
	fd, err := connectAny(&cfg, ips, log)
	if err != nil {
		return exitcode.Report(name, err)
	}
	local, remote, err := addrs(fd)
	if err != nil {
		return exitcode.Report(name, exitcode.Temp("get addresses of", "the connection", err))
	}
	env := environ(&cfg, envp, local, remote)
	// From here on every line names the connection.
	logline.SetConn(env)
	log.Conn = logline.ProcConn()
	if cfg.verbosity >= verbose {
		log.Info("connect", "localip", local.Addr().String(), "localport", strconv.Itoa(int(local.Port())))
	}
	if err := placeSocket(fd); err != nil {
		return exitcode.Report(name, exitcode.Temp("move socket to", "fd 6 and 7", err))
	}
	// After connect: a port below 1024 (-p) needs the privileges dropped here.
	// This thread only, then exec from it (privdrop.ApplyThread).
	runtime.LockOSThread()
	if err := privdrop.ApplyThread(cred); err != nil {
		return exitcode.Report(name, err)
	}
	return exitcode.Report(name, chain.Exec(cfg.prog, env))
}

// reserveFDs makes every inherited fd from 3 up close-on-exec, so nothing
// leaks into prog but 6 and 7, and occupies 6 and 7 (if free) with
// /dev/null until the socket takes their place: the runtime's poller fds,
// opened by name resolution, must not land there and be overwritten.
func reserveFDs() error {
	if err := fdutil.CloexecFrom(3); err != nil {
		return err
	}
	for _, fd := range []int{ucspi.ClientReadFD, ucspi.ClientWriteFD} {
		if fdutil.Valid(fd) {
			continue
		}
		null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if null != fd {
			err = unix.Dup3(null, fd, unix.O_CLOEXEC)
			unix.Close(null)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// connectAny tries every address with the first timeout, then the ones
// that timed out with the second (ucspi-tcp's -T x+y).
func connectAny(cfg *config, ips []netip.Addr, log *logline.Logger) (int, error) {
	var last error
	var retry []netip.Addr
	for pass, timeout := range []time.Duration{cfg.first, cfg.second} {
		if pass == 1 {
			ips, retry = retry, nil
		}
		if timeout <= 0 {
			break
		}
		for _, ip := range ips {
			fd, err := dial(cfg, ip, timeout)
			if err == nil {
				return fd, nil
			}
			var be *bindError
			if errors.As(err, &be) {
				return -1, exitcode.Temp("bind", localName(cfg), be.errno)
			}
			last = err
			if cfg.verbosity >= normal {
				log.Warn("connect", "conn", strconv.Itoa(unix.Getpid()), "ip", ip.String(), "port", strconv.Itoa(int(cfg.remotePort)), "err", err.Error())
			}
			if err == unix.ETIMEDOUT {
				retry = append(retry, ip)
			}
		}
	}
	return -1, exitcode.Temp("connect to", cfg.host+" port "+cfg.port, last)
}

func localName(cfg *config) string {
	ip := "*"
	if cfg.localIP.IsValid() {
		ip = cfg.localIP.String()
	}
	return ip + " port " + strconv.Itoa(int(cfg.localPort))
}

// environ builds prog's environment: every TCP* variable tcpclient owns is
// set or removed, so nothing stale from an earlier hop survives.
func environ(cfg *config, envp []string, local, remote netip.AddrPort) []string {
	e := ucspi.NewEnv(envp)
	e.Unset(ucspi.TCPVars...)
	e.Set(ucspi.Proto, ucspi.ProtoTCP)
	e.Set(ucspi.TCPLocalIP, local.Addr().String())
	e.Set(ucspi.TCPLocalPort, strconv.Itoa(int(local.Port())))
	e.Set(ucspi.TCPRemoteIP, remote.Addr().String())
	e.Set(ucspi.TCPRemotePort, strconv.Itoa(int(remote.Port())))
	// The connection's id in every log line of the chain is tcpclient's
	// pid, which prog keeps across the exec.
	e.Set(ucspi.ConnPID, strconv.Itoa(unix.Getpid()))
	if cfg.localHostOK {
		e.Set(ucspi.TCPLocalHost, cfg.localHost)
	} else if cfg.lookup {
		if h := reverse(local.Addr()); h != "" {
			e.Set(ucspi.TCPLocalHost, h)
		}
	}
	if cfg.lookup {
		if h := reverse(remote.Addr()); h != "" {
			e.Set(ucspi.TCPRemoteHost, h)
		}
	}
	e.Unset(cfg.ids.EnvToRemove()...)
	return e.Environ()
}

// placeSocket puts the socket on fd 6 and 7 without FD_CLOEXEC and closes
// the original.
func placeSocket(fd int) error {
	if err := fdutil.Dup(fd, ucspi.ClientReadFD); err != nil {
		return err
	}
	if err := fdutil.Dup(fd, ucspi.ClientWriteFD); err != nil {
		return err
	}
	if fd != ucspi.ClientReadFD && fd != ucspi.ClientWriteFD {
		unix.Close(fd)
	}
	return fdutil.SetBlocking(ucspi.ClientReadFD)
}
