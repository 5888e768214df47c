//go:build linux && (amd64 || arm64)

// Package seccomp holds the TLS engine's seccomp filter: the engine acts
// on no process but itself. Every engine of a server runs as the same
// TLS_UID by default, and the kernel lets a process change another of its
// uid in ways that neither the dumpable flag nor Landlock stop: its
// resource limits (prlimit), its priority, CPUs and I/O class, and before
// Landlock ABI 6 (Linux 6.12) its signals. A compromised engine could
// then kill or starve the engines of other connections. The filter
// refuses (EPERM) every system call that names another process, and the
// few that share state between processes of one uid (System V IPC, the
// user keyring) or leave one behind (a fork): none of them is one the
// engine or the Go runtime makes.
package seccomp

import (
	"errors"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrUnavailable: the kernel has no seccomp filters.
var ErrUnavailable = errors.New("seccomp filters are not available")

// never are the calls the engine never makes, whatever their arguments:
// they reach another process (ptrace, process_vm_*, kcmp, pidfd_*,
// perf_event_open, the scheduler and I/O priority setters, page
// migration), share state with the other processes of the uid (System V
// IPC, the keyrings), or change namespaces.
var never = append([]uint32{
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV, unix.SYS_KCMP,
	unix.SYS_PIDFD_OPEN, unix.SYS_PIDFD_GETFD, unix.SYS_PIDFD_SEND_SIGNAL,
	unix.SYS_PROCESS_MADVISE, unix.SYS_PROCESS_MRELEASE, unix.SYS_PERF_EVENT_OPEN,
	unix.SYS_TKILL, unix.SYS_SETPRIORITY, unix.SYS_SCHED_SETAFFINITY, unix.SYS_SCHED_SETSCHEDULER,
	unix.SYS_SCHED_SETPARAM, unix.SYS_SCHED_SETATTR, unix.SYS_IOPRIO_SET,
	unix.SYS_MIGRATE_PAGES, unix.SYS_MOVE_PAGES,
	unix.SYS_SHMGET, unix.SYS_SHMAT, unix.SYS_MSGGET, unix.SYS_SEMGET,
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_UNSHARE, unix.SYS_SETNS,
}, forks...)

// selfOnly are the signal calls; the engine may signal itself (the Go
// runtime preempts its own threads with tgkill) and nothing else: not
// another pid, not its process group (0) nor every process it may
// signal (-1).
var selfOnly = []uint32{unix.SYS_KILL, unix.SYS_TGKILL, unix.SYS_RT_SIGQUEUEINFO, unix.SYS_RT_TGSIGQUEUEINFO}

// selfOrZero are the calls where pid 0 means the caller: prlimit.
var selfOrZero = []uint32{unix.SYS_PRLIMIT64}

// Install puts every thread of the process under the filter, for good.
// no_new_privs must be set on every thread first.
func Install() error {
	prog, err := filter(uint32(unix.Getpid()))
	if err != nil {
		return err
	}
	// Asked first, so that an EINVAL below is a filter the kernel
	// refused (a bug here), never mistaken for a kernel without filters.
	action := uint32(unix.SECCOMP_RET_ERRNO)
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action))); e != 0 {
		return ErrUnavailable
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	switch {
	case e != 0:
		return errors.New("seccomp: " + e.Error())
	case r != 0:
		// TSYNC could not put thread r under the filter: none is.
		return errors.New("seccomp: thread " + strconv.Itoa(int(r)) + " cannot take the filter")
	}
	return nil
}

// The layout of struct seccomp_data: the call's number, the audit
// architecture, then the arguments, 8 bytes each. A pid is an int: the
// kernel reads the argument's low 32 bits (the first word on these
// little-endian machines), and so does the filter.
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16
)

const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retEPERM = unix.SECCOMP_RET_ERRNO | uint32(syscall.EPERM)
	// clone3 passes its flags in memory, out of the filter's sight:
	// ENOSYS makes a caller fall back to clone, whose flags it sees.
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(syscall.ENOSYS)
)

// filter returns the program for the process self.
func filter(self uint32) ([]unix.SockFilter, error) {
	var a asm
	a.load(offArch)
	a.jeq(auditArch, "", "deny") // another ABI's numbers mean other calls
	a.load(offNr)
	if x32Bit != 0 {
		a.jset(x32Bit, "deny", "") // amd64's x32 calls
	}
	for _, nr := range never {
		a.jeq(nr, "deny", "")
	}
	for _, nr := range selfOnly {
		a.jeq(nr, "self", "")
	}
	for _, nr := range selfOrZero {
		a.jeq(nr, "selforzero", "")
	}
	a.jeq(unix.SYS_CLONE3, "nosys", "")
	a.jeq(unix.SYS_CLONE, "clone", "")
	a.ret(retAllow)

	// clone makes a thread of this process (the Go runtime's), never a
	// process: a process could outlive the engine's connection.
	a.label("clone")
	a.load(offArg0 + cloneFlagsArg*8)
	a.jset(unix.CLONE_THREAD, "", "deny")
	a.ret(retAllow)

	a.label("selforzero")
	a.load(offArg0)
	a.jeq(0, "allow", "")
	a.label("self")
	a.load(offArg0)
	a.jeq(self, "allow", "deny")
	a.label("allow")
	a.ret(retAllow)
	a.label("deny")
	a.ret(retEPERM)
	a.label("nosys")
	a.ret(retENOSYS)
	return a.assemble()
}

// asm assembles a classic BPF program with named jump targets.
type asm struct {
	ins    []unix.SockFilter
	labels map[string]int
	jumps  []jump
}

// jump is a conditional jump whose targets are labels ("": the next
// instruction).
type jump struct {
	at     int
	jt, jf string
}

func (a *asm) load(off uint32) {
	a.ins = append(a.ins, unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off})
}

func (a *asm) ret(k uint32) {
	a.ins = append(a.ins, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k})
}

func (a *asm) jeq(k uint32, jt, jf string) { a.cond(unix.BPF_JEQ, k, jt, jf) }

// jset jumps to jt when the accumulator has a bit of k set.
func (a *asm) jset(k uint32, jt, jf string) { a.cond(unix.BPF_JSET, k, jt, jf) }

func (a *asm) cond(op uint16, k uint32, jt, jf string) {
	a.jumps = append(a.jumps, jump{len(a.ins), jt, jf})
	a.ins = append(a.ins, unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k})
}

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.ins)
}

// assemble resolves the jumps: classic BPF jumps forward only, at most
// 255 instructions.
func (a *asm) assemble() ([]unix.SockFilter, error) {
	for _, j := range a.jumps {
		jt, err := a.offset(j.at, j.jt)
		if err != nil {
			return nil, err
		}
		jf, err := a.offset(j.at, j.jf)
		if err != nil {
			return nil, err
		}
		a.ins[j.at].Jt, a.ins[j.at].Jf = jt, jf
	}
	return a.ins, nil
}

func (a *asm) offset(at int, label string) (uint8, error) {
	if label == "" {
		return 0, nil
	}
	to, ok := a.labels[label]
	if !ok || to <= at || to-at-1 > 255 {
		return 0, errors.New("seccomp: bad jump to " + label)
	}
	return uint8(to - at - 1), nil
}
