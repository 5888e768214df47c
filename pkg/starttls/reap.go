package starttls

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// reapInherited waits, in the background, for the children this process
// inherited across exec: under tlsd -n those are the TLS engine and the
// key holder, spawned by tlsd before it exec'd the chain (DESIGN §3.3:
// the app reaps the engine). Each is waited for by its own pid, so the
// waits for the apps we spawn ourselves never lose their status to a
// catch-all wait(-1).
func reapInherited() {
	for _, pid := range inheritedChildren() {
		go func(pid int) {
			var ws syscall.WaitStatus
			for {
				if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
					return
				}
			}
		}(pid)
	}
}

// inheritedChildren lists the pids in /proc/self/task/*/children: a
// child belongs to the thread that forked it, or to another thread of
// the group once that one is gone.
func inheritedChildren() []int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil
	}
	var pids []int
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
