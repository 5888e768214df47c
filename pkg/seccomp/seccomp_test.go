//go:build linux && (amd64 || arm64)

package seccomp

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// probe is read across processes by process_vm_readv: the parent and the
// child run the same (non-PIE) binary, so it is at the same address.
var probe = [8]byte{'p', 'r', 'o', 'b', 'e'}

// TestMain runs the filtered child when asked: the filter is for good, so
// it is installed in a process of its own, the test binary run again.
func TestMain(m *testing.M) {
	if os.Getenv("SECCOMP_TEST_CHILD") == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child installs the filter and tries each call on itself and on its
// parent, one "name result" line each.
func child() int {
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		println("no_new_privs:", e.Error())
		return 1
	}
	if err := Install(); err != nil {
		println("install:", err.Error())
		return 1
	}
	ppid, self := os.Getppid(), os.Getpid()
	say := func(name string, err error) {
		r := "ok"
		if err != nil {
			r = err.Error()
		}
		os.Stdout.WriteString(name + " " + r + "\n")
	}
	var lim unix.Rlimit
	say("kill-self", unix.Kill(self, 0))
	say("kill-parent", unix.Kill(ppid, 0))
	say("kill-group", unix.Kill(0, 0))
	say("kill-all", unix.Kill(-1, 0))
	say("tgkill-parent", unix.Tgkill(ppid, ppid, 0))
	say("prlimit-zero", unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &lim))
	say("prlimit-self", unix.Prlimit(self, unix.RLIMIT_NOFILE, nil, &lim))
	say("prlimit-parent", unix.Prlimit(ppid, unix.RLIMIT_NOFILE, nil, &lim))
	say("setpriority-self", unix.Setpriority(unix.PRIO_PROCESS, 0, 0))
	say("setpriority-user", unix.Setpriority(unix.PRIO_USER, 0, 0))
	var got [8]byte
	local := []unix.Iovec{{Base: &got[0], Len: 8}}
	remote := []unix.RemoteIovec{{Base: uintptr(unsafe.Pointer(&probe[0])), Len: 8}}
	_, err := unix.ProcessVMReadv(ppid, local, remote, 0)
	say("vmread-parent", err)
	say("unshare", unix.Unshare(unix.CLONE_NEWUSER))
	r, _, e := unix.RawSyscall(unix.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0)
	if e == 0 && r == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0) // the fork, had it happened
	}
	if e == 0 {
		say("fork", nil)
	} else {
		say("fork", e)
	}
	// The Go runtime goes on: threads, timers, preemption (tgkill of its
	// own threads), a collection.
	done := make(chan bool)
	go func() {
		deadline := time.Now().Add(50 * time.Millisecond)
		for time.Now().Before(deadline) { // preempted, not parked
		}
		done <- true
	}()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	<-done
	say("runtime", nil)
	return 0
}

func TestFilter(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: the parent's limits and memory are reachable by uid only as root here")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SECCOMP_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "install: "+ErrUnavailable.Error()) {
		t.Skip("no seccomp filters in this kernel")
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	eperm := syscall.EPERM.Error()
	want := map[string]string{
		"kill-self": "ok", "kill-parent": eperm, "kill-group": eperm, "kill-all": eperm,
		"tgkill-parent": eperm,
		"prlimit-zero":  "ok", "prlimit-self": "ok", "prlimit-parent": eperm,
		"setpriority-self": eperm, "setpriority-user": eperm,
		"vmread-parent": eperm, "unshare": eperm, "fork": eperm, "runtime": "ok",
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, " ")
		got[k] = v
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}

// TestJumps: every jump of the program lands inside it, and the program
// ends in returns only.
func TestJumps(t *testing.T) {
	prog, err := filter(4242)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range prog {
		if in.Code&0x07 != unix.BPF_JMP {
			continue
		}
		if i+1+int(in.Jt) >= len(prog) || i+1+int(in.Jf) >= len(prog) {
			t.Errorf("instruction %d jumps out of the program", i)
		}
	}
	if last := prog[len(prog)-1]; last.Code != unix.BPF_RET|unix.BPF_K {
		t.Errorf("the program ends in %#x, not a return", last.Code)
	}
}
