package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/logline"
)

// relayPair runs a server relay over a socketpair: the engine's side is
// an fdConn, the peer a crypto/tls client on the other end, whose raw
// bytes go through hold (when not nil) so a test can cut records. It
// returns the peer, the app's ends (toApp is fd 4's reader, fromApp fd
// 3's writer) and the relay's exit code channel.
func relayPair(t *testing.T, hold func(net.Conn) net.Conn) (peer *tls.Conn, toApp *os.File, fromApp *os.File, done chan int) {
	peer, toApp, fromApp, done, _ = relayPairConn(t, hold)
	return
}

func relayPairConn(t *testing.T, hold func(net.Conn) net.Conn) (peer *tls.Conn, toApp *os.File, fromApp *os.File, done chan int, r *relay) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := newFDConn(fds[0], fds[0])
	if err != nil {
		t.Fatal(err)
	}
	pf := os.NewFile(uintptr(fds[1]), "peer")
	pc, err := net.FileConn(pf)
	pf.Close()
	if err != nil {
		t.Fatal(err)
	}
	if hold != nil {
		pc = hold(pc)
	}
	kp := pair(t, ecKey, "relay.test")
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}})
	peer = tls.Client(pc, &tls.Config{InsecureSkipVerify: true})

	inR, inW, err := os.Pipe() // app -> engine (fd 3)
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe() // engine -> app (fd 4)
	if err != nil {
		t.Fatal(err)
	}
	hs := make(chan error, 1)
	go func() { hs <- tc.Handshake() }()
	peer.SetDeadline(time.Now().Add(10 * time.Second))
	if err := peer.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-hs; err != nil {
		t.Fatal(err)
	}
	peer.SetDeadline(time.Time{})
	e := &engine{o: &options{server: true}, log: logline.New(name)}
	r = &relay{e: e, tc: tc, conn: conn, app: &appFiles{r: inR, w: outW}}
	done = make(chan int, 1)
	go func() { done <- r.run() }()
	t.Cleanup(func() {
		// The peer's end first, seen by the app as EOF, then the app's:
		// the relay's "app gone" watch polls the real fd 4.
		peer.Close()
		outR.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, outR)
		inW.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("relay did not end")
		}
		conn.Close()
		inR.Close()
		outR.Close()
	})
	return peer, outR, inW, done, r
}

// readFull reads len(want) bytes from f within d and compares them.
func readFull(t *testing.T, f *os.File, want string, d time.Duration) {
	t.Helper()
	f.SetReadDeadline(time.Now().Add(d))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(f, got); err != nil {
		t.Fatalf("reading %q: %v (got %q)", want, err, got)
	}
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// An interactive peer: each of its lines reaches the app at once, and
// the app's answer reaches it, while the session stays open.
func TestRelayInteractive(t *testing.T) {
	peer, toApp, fromApp, _ := relayPair(t, nil)
	pingPong(t, peer, toApp, fromApp)
}

// The same when another holder of the socket made it blocking again
// (an app of delayed mode may): the engine never waits in the kernel
// for the network while it holds bytes the app has not had.
func TestRelayBlockingSocket(t *testing.T) {
	peer, toApp, fromApp, _, r := relayPairConn(t, nil)
	if err := unix.SetNonblock(r.conn.rfd, false); err != nil {
		t.Fatal(err)
	}
	pingPong(t, peer, toApp, fromApp)
}

func pingPong(t *testing.T, peer *tls.Conn, toApp, fromApp *os.File) {
	t.Helper()
	for i := 0; i < 20; i++ {
		if _, err := peer.Write([]byte("ping\n")); err != nil {
			t.Fatal(err)
		}
		readFull(t, toApp, "ping\n", 5*time.Second)
		if _, err := fromApp.Write([]byte("pong\n")); err != nil {
			t.Fatal(err)
		}
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, 5)
		if _, err := io.ReadFull(peer, got); err != nil || string(got) != "pong\n" {
			t.Fatalf("peer got %q, %v", got, err)
		}
	}
}

// holdConn passes the peer's writes through, except that once armed it
// sends only the first cut bytes of the next write and keeps the rest
// until released.
type holdConn struct {
	net.Conn
	mu      sync.Mutex
	armed   bool
	cut     int
	rest    []byte
	release chan struct{}
}

func (h *holdConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	armed := h.armed
	h.armed = false
	h.mu.Unlock()
	if !armed {
		return h.Conn.Write(p)
	}
	if _, err := h.Conn.Write(p[:h.cut]); err != nil {
		return 0, err
	}
	<-h.release
	if _, err := h.Conn.Write(p[h.cut:]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Whole records that came before a record cut in half reach the app
// while the engine waits for the rest of it: it must not hold them back
// waiting for the network.
func TestRelayPartialRecord(t *testing.T) {
	var h *holdConn
	peer, toApp, _, _ := relayPair(t, func(c net.Conn) net.Conn {
		h = &holdConn{Conn: c, cut: 7, release: make(chan struct{})}
		return h
	})
	// Several whole records in a row, then a cut one.
	for i := 0; i < 5; i++ {
		if _, err := peer.Write([]byte("whole ")); err != nil {
			t.Fatal(err)
		}
	}
	h.mu.Lock()
	h.armed = true
	h.mu.Unlock()
	wrote := make(chan error, 1)
	go func() {
		_, err := peer.Write([]byte("second half"))
		wrote <- err
	}()
	readFull(t, toApp, "whole whole whole whole whole ", 5*time.Second)
	close(h.release)
	readFull(t, toApp, "second half", 5*time.Second)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}

// Bulk data arrives whole and in order, and the peer's close_notify
// closes the app's pipe after the last byte.
func TestRelayBulk(t *testing.T) {
	peer, toApp, _, done := relayPair(t, nil)
	data := make([]byte, 3<<20+12345)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	go func() {
		for b := data; len(b) > 0; {
			n := min(len(b), 100000)
			if _, err := peer.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
		peer.CloseWrite()
	}()
	toApp.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(toApp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want %d (equal prefix or not)", len(got), len(data))
	}
	select {
	case code := <-done:
		t.Fatalf("relay ended early with %d", code)
	default:
	}
}

// Bulk both ways at once, twice: data moves whole and in order.
func TestRelayBothWays(t *testing.T) {
	peer, toApp, fromApp, _, _ := relayPairConn(t, nil)
	data := make([]byte, 1<<20+777)
	for i := range data {
		data[i] = byte(i*13 + i>>9)
	}
	for round := 0; round < 2; round++ {
		bothWays(t, peer, toApp, fromApp, data)
	}
}

// bothWays sends data from the peer to the app and from the app to the
// peer at once and checks both arrive whole.
func bothWays(t *testing.T, peer *tls.Conn, toApp, fromApp *os.File, data []byte) {
	t.Helper()
	errc := make(chan error, 3)
	go func() { _, err := peer.Write(data); errc <- err }()
	go func() { _, err := fromApp.Write(data); errc <- err }()
	go func() {
		got := make([]byte, len(data))
		peer.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := io.ReadFull(peer, got)
		if err == nil && !bytes.Equal(got, data) {
			err = io.ErrShortBuffer
		}
		errc <- err
	}()
	got := make([]byte, len(data))
	toApp.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(toApp, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("app got %d bytes, equal %v, err %v", len(got), bytes.Equal(got, data), err)
	}
	for i := 0; i < 3; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestWaitGone: waitGone returns when the pipe's reader closes, not when
// the pipe merely becomes writable again (a drained full pipe), and writes
// through the same fd go on while it waits.
func TestWaitGone(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	r, w := p[0], p[1]
	wf := os.NewFile(uintptr(w), "w")
	defer wf.Close()
	rc, err := wf.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	gone := make(chan struct{})
	go func() {
		if waitGone(rc) {
			close(gone)
		}
	}()
	quiet := func(what string) {
		select {
		case <-gone:
			t.Fatalf("waitGone returned %s, with the reader still there", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
	quiet("at once")
	// Fill the pipe through the poller, as the relay writes to the app,
	// then drain it: the writer is woken, the reader stays.
	buf := make([]byte, 64<<10)
	wrote := make(chan int)
	go func() {
		n := 0
		rc.Write(func(fd uintptr) bool {
			for {
				m, err := unix.Write(int(fd), buf)
				if err != nil {
					return true // full (EAGAIN)
				}
				n += m
			}
		})
		wrote <- n
	}()
	select {
	case n := <-wrote:
		if n == 0 {
			t.Fatal("nothing written to the pipe")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write through the poller waited for waitGone")
	}
	for {
		if _, err := unix.Read(r, buf); err != nil {
			break
		}
	}
	quiet("after the pipe drained")
	unix.Close(r)
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("waitGone did not return after the reader closed")
	}
	// A reader gone before the wait begins: the poller's wake-up came
	// and went, and waitGone must still see it.
	if !waitGone(rc) {
		t.Fatal("waitGone after the reader had gone: false")
	}
}
