package main

import (
	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/landlock"
	"github.com/tlschain/tlschain/pkg/privdrop"
	"github.com/tlschain/tlschain/pkg/seccomp"
)

// confine runs once the keys are in memory, before the first byte from
// the engine: the holder reads no file again and starts nothing, so it
// gives up what a compromise through the key channel could use. It takes
// as, the engine's uid and gid (root is needed for nothing more; a holder
// not started as root keeps its own), no other group; it becomes not
// dumpable and takes no_new_privs; then, where the kernel has them, the
// engine's own jail: a Landlock domain without any file system access and
// the seccomp filter that acts on no process but itself (pkg/seccomp),
// so that it and the engine, now of one uid, cannot reach each other.
func confine(as *privdrop.Cred) error {
	if as != nil && unix.Geteuid() == 0 {
		if err := privdrop.Apply(*as); err != nil {
			return err
		}
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return exitcode.New(exitcode.TLSSetup, "clear", "the dumpable flag", err)
	}
	if err := privdrop.NoNewPrivs(); err != nil {
		return err
	}
	r, err := landlock.Deny("")
	switch {
	case err == nil:
		err = r.Restrict()
		r.Close()
		if err != nil {
			return exitcode.New(exitcode.TLSSetup, "enter", "a Landlock domain", err)
		}
	case err != landlock.ErrUnavailable:
		return exitcode.New(exitcode.TLSSetup, "make", "a Landlock domain", err)
	}
	if err := seccomp.Install(); err != nil && err != seccomp.ErrUnavailable {
		return exitcode.New(exitcode.TLSSetup, "enter", "the seccomp filter", err)
	}
	return nil
}
