package keysign

import (
	"io"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestNetworkHandover(t *testing.T) {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	vars := []string{"TCPREMOTEIP=192.0.2.7", "TCPREMOTEPORT=50124"}
	if err := SendNetwork(sp[0], p[1], vars); err != nil {
		t.Fatal(err)
	}
	// A setup message right behind it must stay for ReadSetup.
	if err := WriteMessage(fdio(sp[0]), TypeEnd, nil); err != nil {
		t.Fatal(err)
	}
	fd, got, err := RecvNetwork(sp[1])
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if !reflect.DeepEqual(got, vars) {
		t.Errorf("vars %q, want %q", got, vars)
	}
	// The fd received is the pipe's write end: bytes written there come
	// out of p[0].
	if _, err := unix.Write(fd, []byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if n, _ := unix.Read(p[0], b); n != 1 || b[0] != 'x' {
		t.Errorf("the received fd is not the one sent")
	}
	if typ, _, err := ReadMessage(fdio(sp[1])); err != nil || typ != TypeEnd {
		t.Errorf("next message %q %v", typ, err)
	}
}

func TestNetworkHandoverEOFAndBad(t *testing.T) {
	sp, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	unix.Close(sp[0])
	if _, _, err := RecvNetwork(sp[1]); err != io.EOF {
		t.Errorf("closed channel: %v, want io.EOF", err)
	}
	unix.Close(sp[1])

	// A message without a socket, and a socket with the wrong type.
	sp, _ = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(sp[1])
	WriteMessage(fdio(sp[0]), TypeNetwork, []byte("A=b\x00"))
	unix.Close(sp[0])
	if _, _, err := RecvNetwork(sp[1]); err != ErrNoSocket {
		t.Errorf("no socket: %v, want ErrNoSocket", err)
	}
	sp2, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(sp2[1])
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	// A pipe, not a copy of the channel: that would keep the channel open
	// and turn a wrong answer into a hang.
	b := []byte{TypeSign, 0, 0, 0, 0}
	unix.SendmsgN(sp2[0], b, unix.UnixRights(p[1]), nil, 0)
	unix.Close(sp2[0])
	if _, _, err := RecvNetwork(sp2[1]); err != ErrUnexpected {
		t.Errorf("wrong type: %v, want ErrUnexpected", err)
	}
}
