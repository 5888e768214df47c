// Command hostile is a test double of tlswrap: the engine as an attacker
// who runs code in it would make it. The spawners start it exactly as they
// start the real engine (it is installed as "tlswrap" beside copies of the
// real programs); it speaks the key channel and the control socket with
// the project's own packages and writes what it obtained on stderr, one
// "hostile: " line, for the tests in t/hostile_test.go to read. The
// behaviour is chosen at build time (-ldflags -X main.mode=...), since a
// confined engine can read nothing but its own file.
package main

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/privdrop"
	"github.com/tlschain/tlschain/pkg/seccomp"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

var mode = "oracle"

// target is the pid of another connection's engine, for mode neighbour
// (-X main.target=PID): what a scan of the pid space would find.
var target = ""

// scanPIDs is how far on each side of its own pid mode holder looks.
const scanPIDs = 256

const (
	controlFD = 5
	keysFD    = 6
)

// setupRecorder keeps every byte of the setup the holder sends.
type setupRecorder struct {
	r   io.Reader
	buf []byte
}

func (s *setupRecorder) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.buf = append(s.buf, p[:n]...)
	return n, err
}

func say(words ...string) {
	os.Stderr.WriteString("hostile: " + strings.Join(words, " ") + "\n")
}

func main() {
	for _, a := range os.Args[1:] {
		if a == "--prestarted" { // started ahead: the socket comes on the key channel
			sock, _, err := keysign.RecvNetwork(keysFD)
			if err != nil {
				os.Exit(0)
			}
			unix.Dup3(sock, 0, 0)
			unix.Dup3(sock, 1, 0)
		}
	}
	keys := os.NewFile(keysFD, "keys")
	rec := &setupRecorder{r: keys}
	if _, err := keysign.ReadSetup(rec); err != nil {
		say("setup", err.Error())
		os.Exit(97)
	}
	// The command: the spawner's 'Y' at once, or the app's after STARTTLS.
	var cmd [1]byte
	if n, _ := unix.Read(controlFD, cmd[:]); n != 1 {
		os.Exit(0)
	}
	ch := keysign.NewChannel(keys)
	switch mode {
	case "oracle":
		// As many signatures as the holder gives, then more later.
		n := signatures(ch, 2000, 0)
		time.Sleep(300 * time.Millisecond)
		signatures(ch, 10, n)
		time.Sleep(2 * time.Second) // the spawner kills us, or we go
	case "late":
		// A clean report first, then ask: nothing after the report.
		report(ucspi.Var{Name: ucspi.SSLProtocol, Value: "TLSv1.3"}, ucspi.Var{Name: ucspi.SSLCipher, Value: "TLS_AES_128_GCM_SHA256"})
		time.Sleep(200 * time.Millisecond)
		say("granted", strconv.Itoa(signatures(ch, 10, 0)))
		time.Sleep(2 * time.Second)
	case "tickets":
		say("setup", hex.EncodeToString(rec.buf))
		// Have a recorded ticket opened, then seal states of its
		// choosing: each success is said as it comes (a request beyond
		// the grant may end the engine before it could say more).
		if _, err := ch.Unwrap(make([]byte, 64)); err == nil {
			say("opened", "1")
		}
		for i := 1; i <= 5; i++ {
			if _, err := ch.Wrap([]byte("forged state")); err != nil {
				break
			}
			say("sealed", strconv.Itoa(i))
		}
		say("done", "tickets")
		time.Sleep(2 * time.Second)
	case "report":
		report(ucspi.Var{Name: ucspi.SSLProtocol, Value: "TLSv1.3"},
			ucspi.Var{Name: "RELAYCLIENT"}, ucspi.Var{Name: "TCPREMOTEIP", Value: "10.9.9.9"},
			ucspi.Var{Name: "PATH", Value: "/tmp"}, ucspi.Var{Name: "BASH_ENV", Value: "/tmp/x"},
			ucspi.Var{Name: ucspi.SSLClientVerify, Value: "SUCCESS"})
		say("reported", mode)
		time.Sleep(2 * time.Second)
	case "longvalue":
		report(ucspi.Var{Name: ucspi.SSLClientSDN, Value: strings.Repeat("x", 5000)})
		say("reported", mode)
		time.Sleep(2 * time.Second)
	case "newline":
		report(ucspi.Var{Name: ucspi.SSLClientSDNCN, Value: "admin\nRCPT TO:<x>"})
		say("reported", mode)
		time.Sleep(2 * time.Second)
	case "neighbour":
		// Code in this engine, after the engine's own set-up, turns on
		// the engine of another connection, which runs as the same
		// TLS_UID: its limits, priority, CPUs, signals.
		if err := confine(); err != nil {
			say("confine", err.Error())
			os.Exit(97)
		}
		pid, _ := strconv.Atoi(target)
		lim := unix.Rlimit{Cur: 4242, Max: 4242}
		said("prlimit", unix.Prlimit(pid, unix.RLIMIT_CPU, &lim, nil))
		said("nice", unix.Setpriority(unix.PRIO_PROCESS, pid, 19))
		var cpus unix.CPUSet
		cpus.Set(0)
		said("affinity", unix.SchedSetaffinity(pid, &cpus))
		said("signal", unix.Kill(pid, 0))
		said("group", unix.Kill(0, 0)) // the process group it shares with the listener's other children
		say("done", mode)
		time.Sleep(2 * time.Second)
	case "holder":
		// Delayed mode: the key holder now runs as the engine's uid. Code
		// in the engine looks for it among the pids around its own (it
		// was started right after) and tries to reach it: read its
		// limits, its memory (where the key is), trace it.
		if err := confine(); err != nil {
			say("confine", err.Error())
			os.Exit(97)
		}
		self := os.Getpid()
		var lim unix.Rlimit
		var b [1]byte
		local := []unix.Iovec{{Base: &b[0], Len: 1}}
		remote := []unix.RemoteIovec{{Base: 0x400000, Len: 1}}
		// The pids each call reached (its own threads' ids among them,
		// without the filter: the test tells them apart).
		var limits, memory, traced []string
		for pid := self - scanPIDs; pid <= self+scanPIDs; pid++ {
			if pid <= 1 || pid == self {
				continue
			}
			p := strconv.Itoa(pid)
			if unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &lim) == nil {
				limits = append(limits, p)
			}
			// EFAULT: allowed, at an address not mapped there.
			if _, err := unix.ProcessVMReadv(pid, local, remote, 0); err == nil || err == unix.EFAULT {
				memory = append(memory, p)
			}
			if unix.PtraceSeize(pid) == nil {
				traced = append(traced, p)
				unix.PtraceDetach(pid)
			}
		}
		list := func(pids []string) string {
			if len(pids) == 0 {
				return "-"
			}
			return strings.Join(pids, ",")
		}
		say("reached", "limits="+list(limits), "memory="+list(memory), "traced="+list(traced))
		say("done", mode)
		time.Sleep(2 * time.Second)
	case "silent":
		// Neither a report nor an exit: only the spawner's deadline ends it.
		say("silent", "1")
		time.Sleep(40 * time.Second)
	}
}

// confine does what tlswrap does to itself before it reads a byte from
// the network, beyond the Landlock domain its spawner started it in:
// no_new_privs and the seccomp filter (cmd/tlswrap/jail.go).
func confine() error {
	if on, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err != nil || on != 1 {
		if err := privdrop.NoNewPrivs(); err != nil {
			return err
		}
	}
	return seccomp.Install()
}

// said says what a call on another process gave: "ok" or its error.
func said(what string, err error) {
	if err != nil {
		say(what, err.Error())
		return
	}
	say(what, "ok")
}

// signatures asks for up to n signatures over digests of its choosing,
// says each success ("granted" and the count so far, from got), and
// returns how many it got.
func signatures(ch *keysign.Channel, n, got int) int {
	s := ch.NewSigner(0, nil)
	for i := 0; i < n; i++ {
		var b [16]byte
		rand.Read(b[:])
		d := sha256.Sum256(b[:])
		if _, err := s.Sign(nil, d[:], crypto.SHA256); err != nil {
			break
		}
		got++
		if n > 10 {
			say("granted", strconv.Itoa(got))
		}
	}
	return got
}

func report(vars ...ucspi.Var) {
	b := ucspi.EncodeReport(vars)
	for len(b) > 0 {
		n, err := syscall.Write(controlFD, b)
		if err != nil {
			return
		}
		b = b[n:]
	}
}
