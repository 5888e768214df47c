//go:build !linux || !(amd64 || arm64)

package seccomp

import "errors"

// ErrUnavailable: this architecture has no filter here.
var ErrUnavailable = errors.New("seccomp filters are not built for this architecture")

// Install does nothing here: see ErrUnavailable.
func Install() error { return ErrUnavailable }
