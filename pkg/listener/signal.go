package listener

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/logline"
)

// signals handles SIGCHLD (reap), SIGHUP (re-open the rules) and
// SIGTERM/SIGINT (stop accepting; children live on).
func (s *Server) signals(ch <-chan os.Signal) {
	for sig := range ch {
		switch sig {
		case syscall.SIGCHLD:
			s.reap()
		case syscall.SIGHUP:
			if s.rules != nil {
				s.rules.hup()
			}
			s.log.Debug("hup")
		case syscall.SIGTERM, syscall.SIGINT:
			s.stop()
		}
	}
}

// reap collects every ended child (signals coalesce: loop until none is
// left), frees their slots and logs one end line each.
func (s *Server) reap() {
	var lines [][]string
	s.lim.spawning.Lock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			break
		}
		live, c, ok := s.lim.reaped(pid)
		if !ok {
			s.lim.engineEnded(pid, syscall.WaitStatus(ws))
			continue
		}
		if s.log.Level < logline.Normal {
			continue
		}
		status := strconv.Itoa(ws.ExitStatus())
		if ws.Signaled() {
			status = "signal:" + strconv.Itoa(int(ws.Signal()))
		}
		lines = append(lines, s.endFields(c.logPid, c.remote, c.start, status, live))
	}
	s.lim.spawning.Unlock()
	s.wake()
	for _, l := range lines {
		s.log.Info("end", l...)
	}
}
