//go:build linux

package seccomp

import "golang.org/x/sys/unix"

const (
	auditArch     = unix.AUDIT_ARCH_AARCH64
	x32Bit        = 0
	cloneFlagsArg = 0
)

// forks: arm64 has no fork or vfork, only clone.
var forks []uint32
