package main

import (
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/lineproto/linetest"
	"github.com/tlschain/tlschain/pkg/lineproto/smtp"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// degradedSession runs one cleartext SMTP session set up as Main does
// and says whether its MAIL got the 451.
func degradedSession(t *testing.T, cfg *config, envp []string) bool {
	t.Helper()
	sm := smtp.New(lineproto.Config{TLS: true})
	log := logline.New(name)
	log.Level = logline.Quiet
	if err := setupDegrade(sm, cfg, ucspi.NewEnv(envp), log, true); err != nil {
		t.Fatal(err)
	}
	r := linetest.Run(sm, []linetest.Step{{App: "220 mx ESMTP\r\n"}, {Client: "EHLO c\r\n"}, {App: "250-mx\r\n250 8BITMIME\r\n"},
		{Client: "MAIL FROM:<a@b>\r\n"}, {App: "250 ok\r\n"}})
	degraded := strings.Contains(r.ToClient, "451 4.7.0 ")
	if degraded == strings.Contains(r.ToApp, "MAIL") {
		t.Fatalf("451 %v but the app got %q", degraded, r.ToApp)
	}
	return degraded
}

// TestDegradeStatistics: 2000 sessions at 30 % are degraded between 25 %
// and 35 % of the time, in each half too, and the outcomes alternate
// (no constant and no block of one outcome could pass). 2000 rather than
// 1000 keeps the ±5 % band at 4.9 standard deviations: a false failure
// about once in a million runs.
func TestDegradeStatistics(t *testing.T) {
	cfg := &config{degrade: 30}
	const n = 2000
	count, half, changes, run, longest := 0, 0, 0, 0, 0
	prev := false
	for i := 0; i < n; i++ {
		d := degradedSession(t, cfg, nil)
		if d {
			count++
			if i < n/2 {
				half++
			}
		}
		if i > 0 && d != prev {
			changes++
			run = 0
		}
		run++
		longest = max(longest, run)
		prev = d
	}
	if count < n/4 || count > n*35/100 {
		t.Errorf("%d of %d degraded, want 250-350", count, n)
	}
	if half < n/2*20/100 || half > n/2*40/100 || count-half < n/2*20/100 || count-half > n/2*40/100 {
		t.Errorf("halves %d and %d", half, count-half)
	}
	// 2000 draws at p=0.3 give about 840 changes of outcome (sd 20); a
	// run of 60 equal outcomes somewhere has probability about 1e-6.
	if changes < 700 || longest >= 60 {
		t.Errorf("%d changes, longest run %d", changes, longest)
	}
	t.Logf("%d/%d degraded, %d changes, longest run %d", count, n, changes, longest)
}

func TestDegradeFixed(t *testing.T) {
	for _, tc := range []struct {
		name string
		pct  int
		env  []string
		want bool
	}{
		{"0 never", 0, nil, false},
		{"100 always", 100, nil, true},
		{"exempt", 100, []string{"STARTTLS_DEGRADE_EXEMPT="}, false},
		{"env overrides -g to 0", 100, []string{"STARTTLS_DEGRADE=0"}, false},
		{"env overrides -g to 100", 0, []string{"STARTTLS_DEGRADE=100"}, true},
	} {
		for i := 0; i < 50; i++ {
			if got := degradedSession(t, &config{degrade: tc.pct}, tc.env); got != tc.want {
				t.Fatalf("%s: session %d degraded %v", tc.name, i, got)
			}
		}
	}
	// Not offered (no UCSPI-TLS fds): never, whatever the share.
	sm := smtp.New(lineproto.Config{})
	if setupDegrade(sm, &config{degrade: 100}, ucspi.NewEnv(nil), logline.New(name), false); sm.DegradeMail {
		t.Error("degraded without TLS to offer")
	}
	for _, v := range []string{"101", "-1", "x", ""} {
		if _, err := degradePercent(&config{}, ucspi.NewEnv([]string{"STARTTLS_DEGRADE=" + v})); err == nil {
			t.Errorf("STARTTLS_DEGRADE=%q accepted", v)
		}
	}
}
