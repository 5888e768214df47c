package fdutil

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func flags(t *testing.T, fd int) (cloexec, nonblock bool) {
	t.Helper()
	fdf, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fdf&unix.FD_CLOEXEC != 0, fl&unix.O_NONBLOCK != 0
}

func TestMove(t *testing.T) {
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(w)
	unix.SetNonblock(r, true)
	target := 40
	if err := Move(r, target); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(target)
	if Valid(r) {
		t.Error("Move left the old fd open")
	}
	if c, nb := flags(t, target); c || nb {
		t.Errorf("moved fd: cloexec %v nonblock %v", c, nb)
	}
	// Move onto itself clears the flags in place.
	SetCloexec(w, true)
	unix.SetNonblock(w, true)
	if err := Move(w, w); err != nil {
		t.Fatal(err)
	}
	if c, nb := flags(t, w); c || nb {
		t.Errorf("self-move: cloexec %v nonblock %v", c, nb)
	}
}

func TestCloexecFrom(t *testing.T) {
	var fds []int
	for i := 0; i < 4; i++ {
		r, w, err := Pipe()
		if err != nil {
			t.Fatal(err)
		}
		SetCloexec(r, false)
		SetCloexec(w, false)
		fds = append(fds, r, w)
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	keep := fds[3]
	if err := CloexecFrom(fds[0], keep); err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		c, _ := flags(t, fd)
		if c == (fd == keep) {
			t.Errorf("fd %d: cloexec %v (keep %d)", fd, c, keep)
		}
	}
}

func TestIsSocket(t *testing.T) {
	a, b, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(a)
	defer unix.Close(b)
	r, w, _ := Pipe()
	defer unix.Close(r)
	defer unix.Close(w)
	if !IsSocket(a) || IsSocket(r) {
		t.Error("IsSocket")
	}
	fds, err := OpenFDs()
	if err != nil || len(fds) < 4 {
		t.Errorf("OpenFDs = %v, %v", fds, err)
	}
}

// An unopenable /proc/self/fd is told apart (tlsspawn falls back), and
// keeps the open's errno and text.
func TestNoProcError(t *testing.T) {
	var err error = &noProcError{unix.ENOENT}
	if !errors.Is(err, ErrNoProc) || !errors.Is(err, unix.ENOENT) || err.Error() != unix.ENOENT.Error() {
		t.Errorf("noProcError: %v", err)
	}
}
