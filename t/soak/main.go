// Command soak is the load-and-fault soak of make soak (t/soak/run.sh).
//
// It starts two listeners on 127.0.0.1, from a private copy of the suite's
// binaries:
//
//	A  tlsserver -K 10000 -c C -C P 127.0.0.1 0 cat                       (TLS on connect)
//	B  tcpserver -c C -C P 127.0.0.1 0 tlsd -n ucspi-starttls -t 20 smtp \
//	       /usr/sbin/mailfront smtp echo accept                            (STARTTLS)
//
// and runs sessions against both at once, with more workers than -c,
// spread over several source addresses 127.0.0.x so that -C bites: full
// sessions, slow clients, and clients that go away at every stage
// (after connect, mid-handshake, mid-data, before reading the reply). While
// it runs it samples each listener's children (never more than -c, never
// more than -C for one TCPREMOTEIP). At the end it checks that every
// completed session's data came back intact (SHA-256 of the echoed payload
// for A, mailfront's byte count for B), that the listeners hold as many fds
// as before, that their RSS stayed within a bound, that no zombie child is
// left and that no process of the run outlives it. soak is this
// process's subreaper (engines that outlive their app are reparented here
// and reaped, as init would).
//
// Loopback only; bounded by -duration and per-session deadlines. Exit 0:
// every check passed; 1: a check failed; 111: setup failed.
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	bin       string
	duration  time.Duration
	workers   int
	maxConn   int
	perIP     int
	sources   int
	payload   int
	smtpBytes int
	rssSlack  int // KiB
	rssCap    int // KiB
	keep      bool
}

func main() {
	var c config
	flag.StringVar(&c.bin, "bin", "bin", "directory of the suite's binaries")
	flag.DurationVar(&c.duration, "duration", 100*time.Second, "length of the load phase (both listeners at once)")
	flag.IntVar(&c.workers, "workers", 40, "concurrent clients per listener (above -c)")
	flag.IntVar(&c.maxConn, "c", 20, "tcpserver -c")
	flag.IntVar(&c.perIP, "C", 8, "tcpserver -C")
	flag.IntVar(&c.sources, "sources", 4, "source addresses 127.0.0.1 .. 127.0.0.N")
	flag.IntVar(&c.payload, "payload", 64<<10, "largest echo payload in bytes (TLS on connect)")
	flag.IntVar(&c.smtpBytes, "smtp-payload", 16<<10, "largest message in bytes (STARTTLS)")
	flag.IntVar(&c.rssSlack, "rss-slack", 2048, "allowed listener RSS at the end above the first half's maximum, in KiB")
	flag.IntVar(&c.rssCap, "rss-cap", 16384, "allowed listener RSS growth in KiB over the whole run")
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory")
	flag.Parse()
	os.Exit(run(c))
}

// listener is one running tcpserver or tlsserver and what the run saw of it.
type listener struct {
	name  string
	cmd   *exec.Cmd
	addr  string
	log   *logCounter
	stats *stats

	fdBefore, fdAfter   int
	rssBefore, rssAfter int          // KiB
	rssWarm             atomic.Int64 // KiB, a quarter into the load
	fdWarm              atomic.Int64
	fdLinksBefore       []string
	seriesMu            sync.Mutex
	rssSeries           []int // KiB, every tenth of the load
	rssMax              atomic.Int64
	maxKids             atomic.Int64
	maxPerIP            atomic.Int64
	samples             atomic.Int64
	zombiesEnd          int
	done                chan struct{} // closed when the listener exited
}

func (l *listener) exited() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// stats counts session outcomes by kind.
type stats struct {
	mu       sync.Mutex
	outcomes map[string]int // kind/outcome -> n
	bad      []string       // first few failures, for the report
	started  atomic.Int64
	ok       atomic.Int64
	corrupt  atomic.Int64
	refused  atomic.Int64 // failed before the service spoke: -C rejects
	failed   atomic.Int64 // a full or slow session failed after the start
}

func (s *stats) note(kind, outcome string) {
	s.mu.Lock()
	s.outcomes[kind+" "+outcome]++
	s.mu.Unlock()
}

func (s *stats) fail(kind string, err error) {
	s.failed.Add(1)
	s.note(kind, "FAILED")
	s.mu.Lock()
	if len(s.bad) < 8 {
		s.bad = append(s.bad, kind+": "+err.Error())
	}
	s.mu.Unlock()
}

var mark = "SOAK_MARK=" + strconv.FormatInt(time.Now().UnixNano(), 36)

func run(c config) int {
	// Become the subreaper: engines that outlive their app land here.
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0); e != 0 {
		return fatal("prctl subreaper", e)
	}
	work, err := os.MkdirTemp("", "tlschain-soak-")
	if err != nil {
		return fatal("mkdtemp", err)
	}
	if !c.keep {
		defer os.RemoveAll(work)
	}
	os.Chmod(work, 0o755)
	bin := filepath.Join(work, "bin")
	if err := copyBins(c.bin, bin); err != nil {
		return fatal("copy binaries", err)
	}
	pool, err := makeCert(work)
	if err != nil {
		return fatal("certificate", err)
	}
	env := []string{
		"PATH=" + bin + ":/usr/sbin:/usr/bin:/bin",
		"CERTFILE=" + work + "/cert.pem", "KEYFILE=" + work + "/key.pem",
		"UCSPITLS=", mark,
	}
	lim := []string{"-c", strconv.Itoa(c.maxConn), "-C", strconv.Itoa(c.perIP), "127.0.0.1", "0"}
	a, err := start("tls", bin, "tlsserver", env, append(append([]string{"-K", "10000"}, lim...), "cat")...)
	if err != nil {
		return fatal("start listener A", err)
	}
	b, err := start("starttls", bin, "tcpserver", env, append(lim, "tlsd", "-n", "ucspi-starttls", "-t", "20", "smtp", "/usr/sbin/mailfront", "smtp", "echo", "accept")...)
	if err != nil {
		a.stop()
		return fatal("start listener B", err)
	}
	defer a.stop()
	defer b.stop()
	listeners := []*listener{a, b}
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}

	stopReaper := make(chan struct{})
	var orphans atomic.Int64
	reaperDone := make(chan struct{})
	go func() { reaper(listeners, &orphans, stopReaper); close(reaperDone) }()

	// Warm up (each listener's runtime settles), then the baseline.
	for i := 0; i < 20; i++ {
		src := net.ParseIP("127.0.0.1")
		tlsSession(tlsCfg, a.addr, src, "warmup", c, a.stats)
		smtpSession(tlsCfg, b.addr, src, "warmup", c, b.stats)
	}
	for _, l := range listeners {
		if !drain(l, 20*time.Second) {
			return fatal("warm-up", errors.New(l.name+": children did not end"))
		}
		l.fdBefore, l.rssBefore = fdCount(l.pid()), rss(l.pid())
		l.fdLinksBefore = fdLinks(l.pid())
		l.stats = newStats()
	}

	begin := time.Now()
	deadline := begin.Add(c.duration)
	stopSampling := make(chan struct{})
	var sampWG sync.WaitGroup
	for _, l := range listeners {
		sampWG.Add(1)
		go func() { defer sampWG.Done(); sample(l, stopSampling) }()
	}
	// The runtime's heap grows with the first burst of concurrency; a
	// leak keeps growing after it. RSS a quarter into the load is the
	// reference for the end.
	warmTimer := time.AfterFunc(c.duration/4, func() {
		for _, l := range listeners {
			l.rssWarm.Store(int64(rss(l.pid())))
			l.fdWarm.Store(int64(fdCount(l.pid())))
		}
	})
	defer warmTimer.Stop()
	stopSeries := make(chan struct{})
	go func() {
		tick := time.NewTicker(c.duration / 10)
		defer tick.Stop()
		for {
			select {
			case <-stopSeries:
				return
			case <-tick.C:
			}
			for _, l := range listeners {
				l.seriesMu.Lock()
				l.rssSeries = append(l.rssSeries, rss(l.pid()))
				l.seriesMu.Unlock()
			}
		}
	}()
	var wg sync.WaitGroup
	for _, l := range listeners {
		for w := 0; w < c.workers; w++ {
			src := net.IPv4(127, 0, 0, byte(1+w%c.sources))
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
				for time.Now().Before(deadline) {
					kind := pickKind(rng)
					if l == a {
						tlsSession(tlsCfg, l.addr, src, kind, c, l.stats)
					} else {
						smtpSession(tlsCfg, l.addr, src, kind, c, l.stats)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(stopSeries)
	elapsed := time.Since(begin)
	close(stopSampling)
	sampWG.Wait()

	failedChecks := 0
	check := func(ok bool, what string) {
		if !ok {
			failedChecks++
			fmt.Printf("FAIL: %s\n", what)
		}
	}
	for _, l := range listeners {
		check(drain(l, 30*time.Second), l.name+": children still running 30 s after the load")
	}
	// Engines may outlive their app by up to 5 s (doc/tlswrap.md).
	left := waitLeftovers(bin, listeners, 15*time.Second)
	check(len(left) == 0, "processes of the run still alive after the drain: "+strings.Join(left, ", "))
	for _, l := range listeners {
		l.fdAfter, l.rssAfter = fdCount(l.pid()), rss(l.pid())
		l.zombiesEnd = len(zombies(l.pid()))
	}
	close(stopReaper)
	<-reaperDone

	fmt.Printf("\n## soak: %s load, %d workers per listener, listeners -c %d -C %d, sources 127.0.0.1-%d\n\n",
		elapsed.Round(time.Second), c.workers, c.maxConn, c.perIP, c.sources)
	fmt.Println("| | TLS on connect (tlsd cat) | STARTTLS (tlsd -n ucspi-starttls mailfront) |")
	fmt.Println("|---|---|---|")
	row := func(name string, f func(l *listener) string) {
		fmt.Printf("| %s | %s | %s |\n", name, f(a), f(b))
	}
	row("sessions started", func(l *listener) string { return strconv.FormatInt(l.stats.started.Load(), 10) })
	row("sessions/s", func(l *listener) string {
		return strconv.FormatFloat(float64(l.stats.started.Load())/elapsed.Seconds(), 'f', 1, 64)
	})
	row("completed, data intact", func(l *listener) string { return strconv.FormatInt(l.stats.ok.Load(), 10) })
	row("completed, data corrupt", func(l *listener) string { return strconv.FormatInt(l.stats.corrupt.Load(), 10) })
	row("refused at -C (client side)", func(l *listener) string { return strconv.FormatInt(l.stats.refused.Load(), 10) })
	row("`reject` lines (-C)", func(l *listener) string { return strconv.Itoa(l.log.count("reject")) })
	row("full/slow sessions failed", func(l *listener) string { return strconv.FormatInt(l.stats.failed.Load(), 10) })
	row("max children seen (-c)", func(l *listener) string { return strconv.FormatInt(l.maxKids.Load(), 10) })
	row("max children of one IP (-C)", func(l *listener) string { return strconv.FormatInt(l.maxPerIP.Load(), 10) })
	row("samples", func(l *listener) string { return strconv.FormatInt(l.samples.Load(), 10) })
	row("listener fds before/at 25%/after", func(l *listener) string {
		return strconv.Itoa(l.fdBefore) + " / " + strconv.FormatInt(l.fdWarm.Load(), 10) + " / " + strconv.Itoa(l.fdAfter)
	})
	row("listener RSS KiB before/at 25%/max/after", func(l *listener) string {
		return strconv.Itoa(l.rssBefore) + " / " + strconv.FormatInt(l.rssWarm.Load(), 10) + " / " +
			strconv.FormatInt(l.rssMax.Load(), 10) + " / " + strconv.Itoa(l.rssAfter)
	})
	row("listener RSS KiB every 10% of the load", func(l *listener) string {
		l.seriesMu.Lock()
		defer l.seriesMu.Unlock()
		var b []string
		for _, v := range l.rssSeries {
			b = append(b, strconv.Itoa(v))
		}
		return strings.Join(b, " ")
	})
	row("zombie children at end", func(l *listener) string { return strconv.Itoa(l.zombiesEnd) })
	row("child exit codes", func(l *listener) string { return l.log.exitCodes() })
	row("warning/fatal lines", func(l *listener) string {
		return strconv.Itoa(l.log.count("warning")) + " / " + strconv.Itoa(l.log.count("fatal"))
	})
	fmt.Printf("\norphans reaped by soak (engines that outlived their app): %d; leftovers after drain: %d\n\n", orphans.Load(), len(left))
	for _, l := range listeners {
		keys := make([]string, 0, len(l.stats.outcomes))
		for k := range l.stats.outcomes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Printf("%s outcomes:", l.name)
		for _, k := range keys {
			fmt.Printf(" [%s %d]", k, l.stats.outcomes[k])
		}
		fmt.Println()
		if l.fdAfter != l.fdBefore || l.fdWarm.Load() != int64(l.fdBefore) {
			fmt.Printf("  fds before: %s\n  fds after:  %s\n", strings.Join(l.fdLinksBefore, " "), strings.Join(fdLinks(l.pid()), " "))
		}
		for _, s := range l.stats.bad {
			fmt.Printf("  failure: %s\n", s)
		}
		for _, s := range l.log.samples() {
			fmt.Printf("  log: %s\n", s)
		}
	}
	fmt.Println()

	for _, l := range listeners {
		check(l.stats.corrupt.Load() == 0, l.name+": corrupt data in a completed session")
		check(l.stats.failed.Load() == 0, l.name+": full or slow sessions failed")
		check(l.stats.refused.Load() <= int64(l.log.count("reject")), l.name+": more sessions refused than -C reject lines")
		check(l.stats.ok.Load() > 0, l.name+": no session completed")
		check(l.maxKids.Load() <= int64(c.maxConn), l.name+": more children than -c")
		check(l.maxPerIP.Load() <= int64(c.perIP), l.name+": more children of one IP than -C")
		// The Go runtime opens its netpoller (one epoll, one eventfd)
		// lazily, once, at some point of the run: not a leak. Any other
		// fd more after the load than before is.
		own, runtime := splitRuntimeFDs(fdLinks(l.pid()))
		ownBefore, _ := splitRuntimeFDs(l.fdLinksBefore)
		check(len(own) == len(ownBefore), l.name+": listener fd count changed (beyond the runtime's netpoller)")
		check(len(runtime) <= 2, l.name+": more than one epoll and one eventfd in the listener")
		// Go's collector first runs at a 4 MiB heap: until then a
		// listener's RSS climbs with garbage, then levels off (seen: about
		// 8 MiB). Growth in the second half is a leak only above that.
		check(int64(l.rssAfter) <= firstHalfMax(l)+int64(c.rssSlack) || l.rssAfter-l.rssBefore <= 6144,
			l.name+": listener RSS still growing in the second half (above the first half's maximum plus -rss-slack, and 6 MiB over the start)")
		check(l.rssAfter-l.rssBefore <= c.rssCap, l.name+": listener RSS grew by more than -rss-cap")
		check(l.zombiesEnd == 0, l.name+": zombie children at the end")
		check(l.log.count("fatal") == 0, l.name+": fatal lines in the log")
		check(!l.exited(), l.name+": listener exited during the run")
	}
	if failedChecks > 0 {
		fmt.Printf("soak: %d check(s) failed\n", failedChecks)
		return 1
	}
	fmt.Println("soak: all checks passed")
	return 0
}

func fatal(what string, err error) int {
	os.Stderr.WriteString("soak: fatal: " + what + ": " + err.Error() + "\n")
	return 111
}

func newStats() *stats { return &stats{outcomes: map[string]int{}} }

// Session kinds and their weights.
var kinds = []struct {
	name string
	w    int
}{
	{"full", 55}, {"slow", 10}, {"drop-connect", 7}, {"drop-handshake", 10},
	{"drop-data", 10}, {"drop-read", 8},
}

func pickKind(rng *mrand.Rand) string {
	n := rng.IntN(100)
	for _, k := range kinds {
		if n < k.w {
			return k.name
		}
		n -= k.w
	}
	return "full"
}

// dialFrom connects to addr from source address src.
func dialFrom(addr string, src net.IP) (*net.TCPConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// cutConn writes at most left bytes, then closes: a client that goes away
// in the middle of its ClientHello.
type cutConn struct {
	net.Conn
	left int
}

func (c *cutConn) Write(p []byte) (int, error) {
	if len(p) > c.left {
		c.Conn.Write(p[:c.left])
		c.Conn.Close()
		return c.left, errors.New("cut")
	}
	c.left -= len(p)
	return c.Conn.Write(p)
}

// abort closes with a reset half of the time, with a FIN otherwise.
func abort(c *net.TCPConn, rng *mrand.Rand) {
	if rng.IntN(2) == 0 {
		c.SetLinger(0)
	}
	c.Close()
}

// tlsSession runs one session of kind against the TLS-on-connect listener
// (the app is cat: it echoes what it reads).
func tlsSession(cfg *tls.Config, addr string, src net.IP, kind string, c config, st *stats) {
	st.started.Add(1)
	rng := mrand.New(mrand.NewPCG(mrand.Uint64(), 1))
	raw, err := dialFrom(addr, src)
	if err != nil {
		st.fail(kind, err)
		return
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(40 * time.Second))
	switch kind {
	case "drop-connect":
		abort(raw, rng)
		st.note(kind, "done")
		return
	case "drop-handshake":
		tls.Client(&cutConn{Conn: raw, left: 1 + rng.IntN(300)}, cfg).Handshake()
		st.note(kind, "done")
		return
	}
	conn := tls.Client(raw, cfg)
	if err := conn.Handshake(); err != nil {
		// tcpserver closes a connection over -C before any TLS.
		st.refused.Add(1)
		st.note(kind, "refused")
		return
	}
	size := 1 + rng.IntN(c.payload)
	if kind == "slow" {
		size = 1 + rng.IntN(8192)
	}
	payload := make([]byte, size)
	rand.Read(payload)
	switch kind {
	case "drop-data":
		conn.Write(payload[:size/2])
		abort(raw, rng)
		st.note(kind, "done")
		return
	case "drop-read":
		go func() { conn.Write(payload); raw.CloseWrite() }()
		io.ReadFull(conn, make([]byte, size/3))
		abort(raw, rng)
		st.note(kind, "done")
		return
	}
	werr := make(chan error, 1)
	go func() {
		var err error
		if kind == "slow" {
			for off := 0; off < size && err == nil; {
				n := min(size-off, 1+rng.IntN(512))
				_, err = conn.Write(payload[off : off+n])
				off += n
				time.Sleep(time.Duration(5+rng.IntN(40)) * time.Millisecond)
			}
		} else {
			_, err = conn.Write(payload)
		}
		if err == nil {
			err = raw.CloseWrite()
		}
		werr <- err
	}()
	h := sha256.New()
	var n int64
	if kind == "slow" {
		buf := make([]byte, 700)
		for {
			m, err := conn.Read(buf)
			h.Write(buf[:m])
			n += int64(m)
			if err != nil {
				break
			}
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		}
	} else {
		n, _ = io.Copy(h, conn)
	}
	if err := <-werr; err != nil {
		st.fail(kind, errors.New("write: "+err.Error()))
		return
	}
	want := sha256.Sum256(payload)
	if n != int64(size) || string(h.Sum(nil)) != string(want[:]) {
		st.corrupt.Add(1)
		st.fail(kind, errors.New("echo: got "+strconv.FormatInt(n, 10)+" bytes of "+strconv.Itoa(size)+" or a different hash"))
		return
	}
	st.ok.Add(1)
	st.note(kind, "ok")
}

// smtpConn is the client side of one SMTP dialogue.
type smtpConn struct {
	r *bufio.Reader
	w io.Writer
}

// reply reads one (multi-line) reply and returns its lines.
func (s *smtpConn) reply() ([]string, error) {
	var out []string
	for len(out) < 100 {
		l, err := s.r.ReadString('\n')
		if err != nil {
			return out, err
		}
		l = strings.TrimRight(l, "\r\n")
		out = append(out, l)
		if len(l) < 4 || l[3] != '-' {
			return out, nil
		}
	}
	return out, errors.New("reply too long")
}

// cmd sends line and expects a reply starting with code.
func (s *smtpConn) cmd(line, code string) ([]string, error) {
	if line != "" {
		if _, err := io.WriteString(s.w, line+"\r\n"); err != nil {
			return nil, errors.New("sending " + line + ": " + err.Error())
		}
	}
	r, err := s.reply()
	if err != nil {
		return r, errors.New(line + ": " + err.Error())
	}
	if !strings.HasPrefix(r[len(r)-1], code) {
		return r, errors.New(line + ": got " + strings.Join(r, " | "))
	}
	return r, nil
}

// smtpSession runs one session of kind against the STARTTLS listener.
// mailfront's echo backend answers "250 Received N bytes." with N the
// message's length in LF line ends, which is checked.
func smtpSession(cfg *tls.Config, addr string, src net.IP, kind string, c config, st *stats) {
	st.started.Add(1)
	rng := mrand.New(mrand.NewPCG(mrand.Uint64(), 2))
	raw, err := dialFrom(addr, src)
	if err != nil {
		st.fail(kind, err)
		return
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(60 * time.Second))
	if kind == "drop-connect" {
		abort(raw, rng)
		st.note(kind, "done")
		return
	}
	s := &smtpConn{r: bufio.NewReader(raw), w: raw}
	if _, err := s.cmd("", "220 "); err != nil {
		// tcpserver closes a connection over -C before the greeting.
		st.refused.Add(1)
		st.note(kind, "refused")
		return
	}
	pause := func() {
		if kind == "slow" {
			time.Sleep(time.Duration(20+rng.IntN(80)) * time.Millisecond)
		}
	}
	ehlo, err := s.cmd("EHLO soak.test", "250 ")
	if err != nil {
		st.fail(kind, err)
		return
	}
	if !hasLine(ehlo, "STARTTLS") {
		st.fail(kind, errors.New("no STARTTLS in "+strings.Join(ehlo, " | ")))
		return
	}
	pause()
	if _, err := s.cmd("STARTTLS", "220 "); err != nil {
		st.fail(kind, err)
		return
	}
	if kind == "drop-handshake" {
		tls.Client(&cutConn{Conn: raw, left: 1 + rng.IntN(300)}, cfg).Handshake()
		st.note(kind, "done")
		return
	}
	conn := tls.Client(raw, cfg)
	if err := conn.Handshake(); err != nil {
		st.fail(kind, errors.New("handshake: "+err.Error()))
		return
	}
	s = &smtpConn{r: bufio.NewReader(conn), w: conn}
	pause()
	ehlo, err = s.cmd("EHLO soak.test", "250 ")
	if err != nil {
		st.fail(kind, err)
		return
	}
	if hasLine(ehlo, "STARTTLS") {
		st.fail(kind, errors.New("STARTTLS offered inside TLS"))
		return
	}
	for _, l := range [][2]string{{"MAIL FROM:<a@soak.test>", "250 "}, {"RCPT TO:<b@soak.test>", "250 "}, {"DATA", "354 "}} {
		pause()
		if _, err := s.cmd(l[0], l[1]); err != nil {
			st.fail(kind, err)
			return
		}
	}
	// The message: lines of printable text (none starting with a dot).
	size := 1 + rng.IntN(c.smtpBytes)
	var msg strings.Builder
	want := 0
	for want < size {
		n := 1 + rng.IntN(120)
		line := make([]byte, n)
		for i := range line {
			line[i] = byte('a' + rng.IntN(26))
		}
		msg.Write(line)
		msg.WriteString("\r\n")
		want += n + 1
	}
	body := msg.String()
	if kind == "drop-data" {
		io.WriteString(conn, body[:len(body)/2])
		abort(raw, rng)
		st.note(kind, "done")
		return
	}
	if kind == "slow" {
		for off := 0; off < len(body); {
			n := min(len(body)-off, 1+rng.IntN(600))
			if _, err := io.WriteString(conn, body[off:off+n]); err != nil {
				st.fail(kind, errors.New("sending the message: "+err.Error()))
				return
			}
			off += n
			time.Sleep(time.Duration(5+rng.IntN(30)) * time.Millisecond)
		}
	} else if _, err := io.WriteString(conn, body); err != nil {
		st.fail(kind, errors.New("sending the message: "+err.Error()))
		return
	}
	if kind == "drop-read" {
		io.WriteString(conn, ".\r\n")
		abort(raw, rng)
		st.note(kind, "done")
		return
	}
	r, err := s.cmd(".", "250 ")
	if err != nil {
		st.fail(kind, err)
		return
	}
	if r[len(r)-1] != "250 Received "+strconv.Itoa(want)+" bytes." {
		st.corrupt.Add(1)
		st.fail(kind, errors.New("sent "+strconv.Itoa(want)+" bytes, got "+r[len(r)-1]))
		return
	}
	if _, err := s.cmd("QUIT", "221 "); err != nil {
		st.fail(kind, err)
		return
	}
	if rest, err := io.ReadAll(s.r); len(rest) > 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		st.fail(kind, errors.New("after QUIT: "+strconv.Quote(string(rest))))
		return
	}
	st.ok.Add(1)
	st.note(kind, "ok")
}

func hasLine(reply []string, kw string) bool {
	for _, l := range reply {
		if len(l) > 4 && strings.EqualFold(strings.TrimSpace(l[4:]), kw) {
			return true
		}
	}
	return false
}

// start runs prog (tcpserver or tlsserver) -1 args... from bin and reads
// its port.
func start(name, bin, prog string, env []string, args ...string) (*listener, error) {
	cmd := exec.Command(filepath.Join(bin, prog), append([]string{"-1", "-b", "256"}, args...)...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	lc := &logCounter{counts: map[string]int{}, codes: map[string]int{}}
	errp, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	l := &listener{name: name, cmd: cmd, log: lc, stats: newStats()}
	go lc.consume(errp)
	l.done = make(chan struct{})
	go func() { cmd.Wait(); close(l.done) }()
	line, err := bufio.NewReader(out).ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		cmd.Process.Kill()
		return nil, errors.New("no port from " + prog + ": " + strconv.Quote(line))
	}
	l.addr = "127.0.0.1:" + strconv.Itoa(port)
	return l, nil
}

func (l *listener) pid() int { return l.cmd.Process.Pid }

func (l *listener) stop() {
	l.cmd.Process.Signal(syscall.SIGTERM)
}

// logCounter reads a listener's stderr: counts line classes and child exit
// codes, keeps a few warning lines.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
	codes  map[string]int
	keep   []string
}

func (lc *logCounter) consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		lc.mu.Lock()
		for _, k := range []string{"warning", "fatal", "reject"} {
			if strings.Contains(l, ": "+k+":") || (k == "reject" && strings.Contains(l, "warning: reject")) {
				lc.counts[k]++
			}
		}
		if strings.HasPrefix(l, "tcpserver: info: end ") || strings.HasPrefix(l, "tlsserver: info: end ") {
			if i := strings.Index(l, " status="); i >= 0 {
				f := strings.Fields(l[i+8:])
				if len(f) > 0 {
					lc.codes[f[0]]++
				}
			}
		}
		if (strings.Contains(l, ": warning:") || strings.Contains(l, ": fatal:")) && !strings.Contains(l, "warning: reject") && len(lc.keep) < 6 {
			lc.keep = append(lc.keep, l)
		}
		lc.mu.Unlock()
	}
}

func (lc *logCounter) count(k string) int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.counts[k]
}

func (lc *logCounter) exitCodes() string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	var ks []string
	for k := range lc.codes {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { a, _ := strconv.Atoi(ks[i]); b, _ := strconv.Atoi(ks[j]); return a < b })
	var b strings.Builder
	for _, k := range ks {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + ":" + strconv.Itoa(lc.codes[k]))
	}
	return b.String()
}

func (lc *logCounter) samples() []string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return append([]string(nil), lc.keep...)
}

// proc is what /proc/PID/stat says of one process.
type proc struct {
	pid, ppid int
	state     byte
}

func procs() []proc {
	ents, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) S ppid ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+4 >= len(b) {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		out = append(out, proc{pid, ppid, f[0][0]})
	}
	return out
}

func children(pid int) []proc {
	var out []proc
	for _, p := range procs() {
		if p.ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// Under tlsserver, tlsd's work is done in-process: the engines are
// tlsserver's children beside the apps, and one engine waits, started
// ahead, for the next connection.

// comm is p's program name, or "" when p is gone (a busy listener's
// children come and go while /proc is read).
func comm(p proc) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// isEngine says whether p is a TLS engine (tlswrap).
func isEngine(p proc) bool { return comm(p) == "tlswrap" }

// fdTarget is where pid's fd n points, or "".
func fdTarget(pid, n int) string {
	t, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(n))
	return t
}

// isWarm says whether p is the engine started ahead: no connection yet.
func isWarm(p proc) bool {
	return isEngine(p) && fdTarget(p.pid, 0) == "/dev/null"
}

// live returns pid's children but the engine started ahead.
func live(pid int) []proc {
	var out []proc
	for _, p := range children(pid) {
		if !isWarm(p) {
			out = append(out, p)
		}
	}
	return out
}

// connections returns one process per connection that holds a slot of
// the listener: the app, or, while there is none yet, the engine in its
// handshake (its control socket, fd 5, still open; its fd 4 not yet the
// pipe on an app's fd 0). An engine still flushing after its app ended
// holds no slot, as the listener counts.
func connections(pid int) []proc {
	kids := live(pid)
	apps := map[string]bool{}
	var out []proc
	for _, p := range kids {
		if c := comm(p); c != "" && c != "tlswrap" {
			apps[fdTarget(p.pid, 0)] = true
			out = append(out, p)
		}
	}
	for _, p := range kids {
		if isEngine(p) && fdTarget(p.pid, 5) != "" && !apps[fdTarget(p.pid, 4)] {
			out = append(out, p)
		}
	}
	return out
}

func zombies(pid int) []proc {
	var out []proc
	for _, p := range children(pid) {
		if p.state == 'Z' {
			out = append(out, p)
		}
	}
	return out
}

// sample records the listener's children count and the largest number of
// children of one TCPREMOTEIP, every 50 ms until stop.
func sample(l *listener, stop chan struct{}) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		kids := connections(l.pid())
		setMax(&l.maxKids, int64(len(kids)))
		per := map[string]int64{}
		for _, k := range kids {
			env, err := os.ReadFile("/proc/" + strconv.Itoa(k.pid) + "/environ")
			if err != nil {
				continue
			}
			for _, kv := range strings.Split(string(env), "\x00") {
				if ip, ok := strings.CutPrefix(kv, "TCPREMOTEIP="); ok {
					per[ip]++
					setMax(&l.maxPerIP, per[ip])
				}
			}
		}
		setMax(&l.rssMax, int64(rss(l.pid())))
		l.samples.Add(1)
	}
}

func setMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// drain waits until the listener has no children left.
func drain(l *listener, d time.Duration) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if len(live(l.pid())) == 0 {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return len(live(l.pid())) == 0
}

// reaper waits for orphans reparented to soak (it is their subreaper):
// only those pids, never the listeners (os/exec waits for them).
func reaper(ls []*listener, n *atomic.Int64, stop chan struct{}) {
	own := map[int]bool{}
	for _, l := range ls {
		own[l.pid()] = true
	}
	self := os.Getpid()
	for {
		for _, p := range children(self) {
			if own[p.pid] || p.state != 'Z' {
				continue
			}
			var ws syscall.WaitStatus
			if got, _ := syscall.Wait4(p.pid, &ws, syscall.WNOHANG, nil); got == p.pid {
				n.Add(1)
			}
		}
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitLeftovers waits until no process of the run is left but the
// listeners: none running a binary from bin, none with the run's mark in
// its environment. It returns what is left after d.
func waitLeftovers(bin string, ls []*listener, d time.Duration) []string {
	own := map[int]bool{os.Getpid(): true}
	for _, l := range ls {
		own[l.pid()] = true
	}
	find := func() []string {
		var out []string
		for _, p := range procs() {
			if own[p.pid] || p.state == 'Z' && p.ppid == os.Getpid() || own[p.ppid] && isWarm(p) {
				continue
			}
			ps := strconv.Itoa(p.pid)
			exe, _ := os.Readlink("/proc/" + ps + "/exe")
			env, _ := os.ReadFile("/proc/" + ps + "/environ")
			if strings.HasPrefix(exe, bin+"/") || strings.Contains(string(env), mark+"\x00") {
				out = append(out, ps+"("+filepath.Base(exe)+" "+string(p.state)+")")
			}
		}
		return out
	}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if len(find()) == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return find()
}

// firstHalfMax is the largest RSS sampled in the first half of the load.
func firstHalfMax(l *listener) int64 {
	l.seriesMu.Lock()
	defer l.seriesMu.Unlock()
	m := l.rssWarm.Load()
	for i, v := range l.rssSeries {
		if i < len(l.rssSeries)/2 && int64(v) > m {
			m = int64(v)
		}
	}
	return m
}

// splitRuntimeFDs separates the Go runtime's netpoller fds from the rest.
func splitRuntimeFDs(links []string) (own, runtime []string) {
	for _, l := range links {
		if strings.HasSuffix(l, "=anon_inode:[eventpoll]") || strings.HasSuffix(l, "=anon_inode:[eventfd]") {
			runtime = append(runtime, l)
		} else {
			own = append(own, l)
		}
	}
	return own, runtime
}

// fdLinks lists pid's fds as fd=target.
func fdLinks(pid int) []string {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		t, _ := os.Readlink(dir + e.Name())
		out = append(out, e.Name()+"="+t)
	}
	return out
}

func fdCount(pid int) int {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(ents)
}

// rss is VmRSS in KiB.
func rss(pid int) int {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// copyBins copies the suite's binaries into dir (0755), so that every
// process of this run is recognisable by its executable's path.
func copyBins(from, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range []string{"tcpserver", "tlsserver", "tlsd", "tlswrap", "tlskeyholder", "ucspi-starttls"} {
		b, err := os.ReadFile(filepath.Join(from, p))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, p), b, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// makeCert writes a self-signed ECDSA certificate for localhost (cert.pem,
// key.pem) and returns a pool that trusts it.
func makeCert(dir string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(dir+"/cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(dir+"/key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}
