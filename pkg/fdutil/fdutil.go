// Package fdutil keeps file descriptors in order across exec: an fd is
// passed on only on purpose, in blocking mode, at the number the next
// program expects.
package fdutil

import (
	"errors"

	"golang.org/x/sys/unix"
)

// SetCloexec sets or clears FD_CLOEXEC on fd.
func SetCloexec(fd int, on bool) error {
	flag := 0
	if on {
		flag = unix.FD_CLOEXEC
	}
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flag)
	return err
}

// SetBlocking clears O_NONBLOCK on fd. The flag lives on the open file
// description, so a Go runtime that polled the fd leaves it set for every
// holder: clear it before passing the fd to a program that expects blocking
// reads.
func SetBlocking(fd int) error { return unix.SetNonblock(fd, false) }

// Move puts fd at number to, without FD_CLOEXEC, in blocking mode, and
// closes fd. If fd == to it only clears FD_CLOEXEC and O_NONBLOCK.
func Move(fd, to int) error {
	if fd == to {
		if err := SetCloexec(fd, false); err != nil {
			return err
		}
		return SetBlocking(fd)
	}
	if err := unix.Dup3(fd, to, 0); err != nil {
		return err
	}
	unix.Close(fd)
	return SetBlocking(to)
}

// Dup puts a copy of fd at number to, without FD_CLOEXEC, keeping fd.
func Dup(fd, to int) error {
	if fd == to {
		return SetCloexec(fd, false)
	}
	return unix.Dup3(fd, to, 0)
}

// CloexecFrom marks every fd >= low close-on-exec, except those in keep,
// so that nothing inherited by accident reaches the next program.
func CloexecFrom(low int, keep ...int) error {
	start := low
	for {
		next := -1
		for _, k := range keep {
			if k >= start && (next < 0 || k < next) {
				next = k
			}
		}
		end := ^uint(0)
		if next >= 0 {
			end = uint(next - 1)
		}
		if next != start {
			if err := closeRangeCloexec(uint(start), end); err != nil {
				return err
			}
		}
		if next < 0 {
			return nil
		}
		start = next + 1
	}
}

func closeRangeCloexec(first, last uint) error {
	err := unix.CloseRange(first, last, unix.CLOSE_RANGE_CLOEXEC)
	if err != unix.ENOSYS && err != unix.EINVAL {
		return err
	}
	// Kernels before 5.11: walk /proc/self/fd.
	fds, err := OpenFDs()
	if err != nil {
		return err
	}
	for _, fd := range fds {
		if uint(fd) >= first && uint(fd) <= last {
			SetCloexec(fd, true)
		}
	}
	return nil
}

// ErrNoProc matches OpenFDs's error when /proc/self/fd cannot be opened
// (no /proc mounted): the caller may fall back to treating every fd alike.
var ErrNoProc = errors.New("/proc/self/fd cannot be opened")

// noProcError is the open's error, matching ErrNoProc too.
type noProcError struct{ err error }

func (e *noProcError) Error() string   { return e.err.Error() }
func (e *noProcError) Unwrap() []error { return []error{e.err, ErrNoProc} }

// OpenFDs lists the process's open fds, read from /proc/self/fd, without
// the one it reads them through.
func OpenFDs() ([]int, error) {
	d, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &noProcError{err}
	}
	defer unix.Close(d)
	var fds []int
	buf := make([]byte, 4096)
	for {
		n, err := unix.ReadDirent(d, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			fd := 0
			for i := 0; i < len(name); i++ {
				fd = fd*10 + int(name[i]-'0')
			}
			if fd != d {
				fds = append(fds, fd)
			}
		}
	}
	return fds, nil
}

// Pipe returns a pipe (read end, write end), both close-on-exec.
func Pipe() (r, w int, err error) {
	var p [2]int
	err = unix.Pipe2(p[:], unix.O_CLOEXEC)
	return p[0], p[1], err
}

// Socketpair returns a connected AF_UNIX stream socket pair, both ends
// close-on-exec.
func Socketpair() (a, b int, err error) {
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	return p[0], p[1], err
}

// IsSocket says whether fd is a socket.
func IsSocket(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK
}

// Valid says whether fd is open.
func Valid(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// GrowPipe asks the kernel for a pipe buffer of size bytes, so a bulk
// writer and reader wake each other less often. It is best effort: an
// unprivileged user past fs.pipe-user-pages-soft keeps the default.
func GrowPipe(fd, size int) {
	unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, size)
}
