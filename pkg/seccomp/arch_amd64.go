//go:build linux

package seccomp

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_X86_64
	// x32Bit marks the x32 ABI's call numbers, which reach the same
	// kernel functions under other numbers.
	x32Bit = 0x40000000
	// cloneFlagsArg is the argument of clone that holds its flags.
	cloneFlagsArg = 0
)

var forks = []uint32{unix.SYS_FORK, unix.SYS_VFORK}
