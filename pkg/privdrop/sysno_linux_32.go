//go:build linux && (386 || arm)

package privdrop

import "golang.org/x/sys/unix"

// The 32-bit-id calls; the plain numbers take 16-bit ids on these.
const (
	sysSetresuid = unix.SYS_SETRESUID32
	sysSetresgid = unix.SYS_SETRESGID32
)
