package keysign

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// grantChannel serves keys under g on a socketpair whose holder end is
// pollable (as tlsd's is), reads the setup, and returns the engine's end.
func grantChannel(t *testing.T, keys *Keys, setup *Setup, g Grant) (*Channel, *os.File, chan error) {
	t.Helper()
	p, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.SetNonblock(p[0], true)
	holder := os.NewFile(uintptr(p[0]), "holder")
	engine := os.NewFile(uintptr(p[1]), "engine")
	done := make(chan error, 1)
	go func() { done <- ServeStream(holder, keys, setup, g); holder.Close() }()
	t.Cleanup(func() { engine.Close() })
	if _, err := ReadSetup(engine); err != nil {
		t.Fatal(err)
	}
	return NewChannel(engine), engine, done
}

func served(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the holder did not stop")
	}
	return nil
}

func ticketKeys(t *testing.T, seed ...byte) []byte {
	var b []byte
	for _, s := range seed {
		b = append(b, bytes.Repeat([]byte{s}, 32)...)
	}
	return b
}

// TestGrantOneSignature: the engine of a server gets one signature; a
// second is refused, ends the channel, and says why, whether or not
// tickets are still to seal.
func TestGrantOneSignature(t *testing.T) {
	pairs := []Pair{testPair(t, ecKey, "SEC1")}
	keys, _ := LoadKeys(pairs)
	d := sha256.Sum256([]byte("first"))
	ch, _, done := grantChannel(t, keys, &Setup{Pairs: pairs}, ServerGrant(0, false))
	s := ch.NewSigner(0, ecKey.Public())
	if _, err := s.Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatalf("first signature: %v", err)
	}
	if _, err := s.Sign(nil, d[:], crypto.SHA256); err != ErrRefused {
		t.Fatalf("a signature after the grant was spent: %v", err)
	}
	if err := served(t, done); !errors.Is(err, ErrOverGrant) {
		t.Fatalf("holder: %v, want ErrOverGrant", err)
	}

	keys.Tickets, _ = NewSealer(ticketKeys(t, 1))
	ch, _, done = grantChannel(t, keys, &Setup{Pairs: pairs, Tickets: true}, ServerGrant(0, true))
	s = ch.NewSigner(0, ecKey.Public())
	if _, err := s.Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatalf("first signature: %v", err)
	}
	if _, err := s.Sign(nil, d[:], crypto.SHA256); err != ErrRefused {
		t.Fatalf("second signature: %v, want ErrRefused", err)
	}
	if err := served(t, done); !errors.Is(err, ErrOverGrant) {
		t.Fatalf("holder: %v, want ErrOverGrant", err)
	}
}

// TestGrantNoTickets: without ticket keys, a wrap or unwrap is beyond
// the grant, as the setup offered none.
func TestGrantNoTickets(t *testing.T) {
	pairs := []Pair{testPair(t, ecKey, "SEC1")}
	keys, _ := LoadKeys(pairs)
	for _, ask := range []func(*Channel) error{
		func(c *Channel) error { _, err := c.Wrap([]byte("state")); return err },
		func(c *Channel) error { _, err := c.Unwrap([]byte("ticket")); return err },
	} {
		ch, _, done := grantChannel(t, keys, &Setup{Pairs: pairs}, ServerGrant(0, true))
		if err := ask(ch); err != ErrRefused {
			t.Errorf("ticket request without tickets: %v", err)
		}
		if err := served(t, done); !errors.Is(err, ErrOverGrant) {
			t.Errorf("holder: %v, want ErrOverGrant", err)
		}
	}
}

// TestGrantSpent: a server's whole grant (its signature, one unwrap, two
// wraps) is served, and the engine's close then ends the holder with no
// error.
func TestGrantSpent(t *testing.T) {
	pairs := []Pair{testPair(t, ecKey, "SEC1")}
	keys, _ := LoadKeys(pairs)
	keys.Tickets, _ = NewSealer(ticketKeys(t, 1))
	ch, engine, done := grantChannel(t, keys, &Setup{Pairs: pairs, Tickets: true}, ServerGrant(0, true))
	d := sha256.Sum256([]byte("x"))
	if _, err := ch.NewSigner(0, ecKey.Public()).Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if st, err := ch.Unwrap([]byte("not a ticket of ours, long enough")); st != nil || err != nil {
		t.Fatalf("unwrap of a foreign ticket: %q, %v", st, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := ch.Wrap([]byte("state")); err != nil {
			t.Fatalf("wrap %d: %v", i, err)
		}
	}
	engine.Close()
	if err := served(t, done); err != nil {
		t.Fatalf("holder after the grant: %v", err)
	}
}

// TestGrantWindow: the holder stops by itself when the window from the
// first request runs out, however the engine behaves.
func TestGrantWindow(t *testing.T) {
	pairs := []Pair{testPair(t, ecKey, "SEC1")}
	keys, _ := LoadKeys(pairs)
	keys.Tickets, _ = NewSealer(ticketKeys(t, 1))
	ch, _, done := grantChannel(t, keys, &Setup{Pairs: pairs, Tickets: true}, ServerGrant(50*time.Millisecond, true))
	if _, err := ch.Wrap([]byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := served(t, done); !errors.Is(err, ErrWindow) {
		t.Fatalf("holder: %v, want ErrWindow", err)
	}
}

// TestSealer: a ticket opens with the keys that sealed it, after a
// rotation too (the old key second), not with other keys, and not once
// altered.
func TestSealer(t *testing.T) {
	old, _ := NewSealer(ticketKeys(t, 1))
	rotated, _ := NewSealer(ticketKeys(t, 2, 1))
	other, _ := NewSealer(ticketKeys(t, 3))
	state := []byte("session state")
	tk := old.Seal(state)
	if bytes.Contains(tk, state) {
		t.Fatal("the ticket shows the state")
	}
	for name, s := range map[string]*Sealer{"same": old, "rotated": rotated} {
		if got, ok := s.Open(tk); !ok || !bytes.Equal(got, state) {
			t.Errorf("%s keys: %q, %v", name, got, ok)
		}
	}
	if _, ok := other.Open(tk); ok {
		t.Error("another service's keys opened the ticket")
	}
	for i := range tk {
		bad := bytes.Clone(tk)
		bad[i] ^= 1
		if _, ok := old.Open(bad); ok {
			t.Fatalf("a ticket altered at byte %d opened", i)
		}
	}
	if _, ok := old.Open(tk[:10]); ok {
		t.Error("a short ticket opened")
	}
	if t2 := rotated.Seal(state); bytes.Equal(t2[:ticketName], tk[:ticketName]) {
		t.Error("a rotation did not change the sealing key")
	}
	if _, err := NewSealer(make([]byte, 33)); err == nil {
		t.Error("a key file of 33 bytes")
	}
}

// BenchmarkNewSealer is what a connection with TLS_TICKETKEYS pays to
// derive the sealer from a full key file (8 keys).
func BenchmarkNewSealer(b *testing.B) {
	file := bytes.Repeat([]byte{7}, 8*32)
	for i := 0; i < b.N; i++ {
		if _, err := NewSealer(file); err != nil {
			b.Fatal(err)
		}
	}
}
