package main

import (
	"encoding/binary"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/lineproto/smtp"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Gradual cleartext degradation (-g percent, STARTTLS_DEGRADE; server
// mode, SMTP): in that share of sessions, MAIL before TLS is answered
// 451 4.7.0 (temporary: the client retries later, and a client that can
// do STARTTLS is pushed to use it), so cleartext delivery becomes slower
// step by step instead of stopping on one day. Never after TLS, never
// when TLS is not offered, never for a client a rule exempts
// (STARTTLS_DEGRADE_EXEMPT). The roll is once per session: a degraded
// session refuses every cleartext MAIL, so a retry in the same session
// cannot get past it.

// degradePercent returns the share to use: STARTTLS_DEGRADE when set (a
// rule's per-network value), else -g; outside 0-100 is a usage error.
func degradePercent(cfg *config, env *ucspi.Env) (int, error) {
	v, ok := env.Get(ucspi.StarttlsDegrade)
	if !ok {
		return cfg.degrade, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 100 {
		return 0, exitcode.UsageError(ucspi.StarttlsDegrade + " must be a percentage 0-100, not " + logline.Quote(v, 40))
	}
	return n, nil
}

// setupDegrade decides whether this session is degraded and arms sm.
func setupDegrade(sm *smtp.Session, cfg *config, env *ucspi.Env, log *logline.Logger, offered bool) error {
	pct, err := degradePercent(cfg, env)
	if err != nil {
		return err
	}
	if _, exempt := env.Get(ucspi.StarttlsDegradeExempt); exempt || !offered || !roll(pct) {
		return nil
	}
	p := strconv.Itoa(pct)
	sm.DegradeMail = true
	sm.OnDegrade = func() {
		log.Info("degrade", "percent", p, "reason", "mail-refused-in-cleartext")
	}
	return nil
}

// roll returns true with probability pct/100, from the kernel's random
// numbers (one getrandom(2) per session, only for 0 < pct < 100).
func roll(pct int) bool {
	switch {
	case pct <= 0:
		return false
	case pct >= 100:
		return true
	}
	var b [4]byte
	if n, err := unix.Getrandom(b[:], 0); err != nil || n != 4 {
		return false // no randomness: do not degrade
	}
	// 2^32 mod 100 = 96: a bias below 3e-8, invisible here.
	return binary.LittleEndian.Uint32(b[:])%100 < uint32(pct)
}
