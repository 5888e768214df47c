package listener

import (
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/rules"
)

// start checks the rules and spawns prog for c, or drops c. Either way
// c.fd is closed in the parent when start returns.
func (s *Server) start(c *Conn) {
	defer unix.Close(c.fd)
	ip := c.remote.Addr()
	var ruleEnv []string
	if s.rules != nil {
		res, err := s.rules.check(rules.Query{IP: ip.String(), Host: c.remoteHost})
		if err != nil {
			s.drop(c, err)
			return
		}
		if res.Deny {
			s.lim.release(ip)
			s.log.Info("deny", append(c.Fields(0), "rule", logline.Safe(res.Key))...)
			return
		}
		if res.Found {
			s.log.Debug("allow", append(c.Fields(0), "rule", logline.Safe(res.Key))...)
		}
		ruleEnv = res.Env
	}
	env := connEnv(s.base, c, ruleEnv)
	if s.h != nil {
		s.h.Serve(s, c, env)
		return
	}
	// Looked up per connection, with the child's PATH (a rule may set
	// it), as execvp in ucspi-tcp's child: a prog installed later is found,
	// a missing one costs this connection only.
	path, err := chain.LookPath(s.o.prog[0], env)
	if err != nil {
		s.drop(c, err)
		return
	}
	s.spawn(c, &chain.Child{Path: path, Argv: s.o.prog, Env: env, Files: []int{c.fd, c.fd, 2}})
}

// spawn starts ch as c's child, which holds c's slot until it is reaped.
func (s *Server) spawn(c *Conn, ch *chain.Child) {
	pid, live, err := s.spawnChild(c, ch, 0)
	if err != nil {
		s.drop(c, err)
		return
	}
	s.logAccept(c, pid, live)
}

// SpawnApp starts ch as c's child, which holds c's slot until it is
// reaped; its end line names logPid (the process the accept line named).
func (s *Server) SpawnApp(c *Conn, ch *chain.Child, logPid int) error {
	_, _, err := s.spawnChild(c, ch, logPid)
	return err
}

// spawnChild starts ch and registers it as c's child, its log lines
// naming logPid (0: its own pid). It returns the pid and the live count.
func (s *Server) spawnChild(c *Conn, ch *chain.Child, logPid int) (int, int, error) {
	// Spawn and register while the reaper waits: a child that ends at
	// once is never reaped before its pid is known.
	s.lim.spawning.RLock()
	defer s.lim.spawning.RUnlock()
	pid, err := chain.Spawn(ch)
	if err != nil {
		return 0, 0, err
	}
	if logPid == 0 {
		logPid = pid
	}
	return pid, s.lim.register(pid, c, logPid), nil
}

// SpawnWatched starts ch as a child that holds no slot (an engine); its
// status arrives on the channel, however soon it ends.
func (s *Server) SpawnWatched(ch *chain.Child) (int, <-chan syscall.WaitStatus, error) {
	s.lim.spawning.RLock()
	defer s.lim.spawning.RUnlock()
	pid, err := chain.Spawn(ch)
	if err != nil {
		return 0, nil, err
	}
	return pid, s.lim.watch(pid), nil
}

// LogAccept writes c's accept line, naming pid (0: none, conn=-).
func (s *Server) LogAccept(c *Conn, pid int) {
	s.logAccept(c, pid, s.lim.count())
}

// logAccept writes c's accept line.
func (s *Server) logAccept(c *Conn, pid, live int) {
	if s.log.Level >= logline.Normal {
		s.log.Info("accept", append(c.Fields(pid), "count", strconv.Itoa(live)+s.maxText)...)
	}
}

// End gives back the slot of c, which got no child, and writes its end
// line: pid is the process its accept line named (0: none), code the
// exit code to report.
func (s *Server) End(c *Conn, pid, code int) {
	live := s.lim.release(c.remote.Addr())
	s.wake()
	if s.log.Level >= logline.Normal {
		s.log.Info("end", s.endFields(pid, c.remote, c.start, strconv.Itoa(code), live)...)
	}
}

// endFields are the fields of an end line: the connection, its status
// (an exit code, or signal:N), how long it lasted from its accept in
// seconds, and the live connections.
func (s *Server) endFields(pid int, remote netip.AddrPort, start time.Time, status string, live int) []string {
	d := time.Since(start).Seconds()
	return append(connFields(pid, remote), "status", status,
		"duration", strconv.FormatFloat(d, 'f', 3, 64), "count", strconv.Itoa(live)+s.maxText)
}

// drop gives back c's slot and logs why it was dropped.
func (s *Server) drop(c *Conn, err error) {
	s.lim.release(c.remote.Addr())
	s.wake()
	s.log.Warn("drop", append(c.Fields(0), "err", err.Error())...)
}
