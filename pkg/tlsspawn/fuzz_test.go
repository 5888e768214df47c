package tlsspawn

import (
	"bytes"
	"strings"
	"syscall"
	"testing"

	"github.com/tlschain/tlschain/pkg/getopt"
)

// FuzzSplitPEM: the chunks put together are the input, and each fits.
func FuzzSplitPEM(f *testing.F) {
	block := "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	f.Add(strings.Repeat(block, 5), 100)
	f.Add("-----END CERTIFICATE-----\r\n\r\nx", 30)
	f.Add("", 10)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 1 || max > 1<<16 {
			return
		}
		var out []byte
		b := []byte(s)
		for i := 0; len(b) > 0; i++ {
			if i > len(s) {
				t.Fatal("no progress")
			}
			c, rest, err := splitPEM(b, max)
			if err != nil {
				return
			}
			if len(c) > max || len(c) == 0 {
				t.Fatalf("chunk of %d bytes, max %d", len(c), max)
			}
			out = append(out, c...)
			b = rest
		}
		if !bytes.Equal(out, []byte(s)) {
			t.Fatalf("chunks differ from the input")
		}
	})
}

// FuzzNames: SNI pair names and ALPN lists that pass the checks carry no
// byte an engine argument or a log line could be confused by.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"a.example", "*.example.com", "h2,http/1.1", "", "a..b", "x\x00y", "-k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkSNIName(s) == nil && strings.ContainsAny(s, "\x00\n ,=/") {
			t.Fatalf("SNI name %q accepted", s)
		}
		if checkALPN(s) == nil && strings.ContainsAny(s, "\x00\n ") {
			t.Fatalf("ALPN list %q accepted", s)
		}
	})
}

// FuzzChildArgs: whatever command line tlsd or tlsc accepts, the argv it
// builds for the engine and the key holder carries no NUL (exec would
// fail).
func FuzzChildArgs(f *testing.F) {
	f.Add("-k\x00mx.example\x00-y\x00-a\x00smtp\x00prog", true)
	f.Add("-k\x002\x00-O\x00/o.der\x00-Y\x00prog", false)
	f.Fuzz(func(t *testing.T, line string, server bool) {
		args := strings.Split(line, "\x00")
		var c side
		var err error
		own := func(getopt.Opt) error { return nil }
		if server {
			sc := NewServerConfig()
			_, err = sc.Parse(args, "O:", nil, own)
			c = sc
		} else {
			cc := NewClientConfig()
			_, err = cc.Parse(args, "", nil, own)
			c = cc
		}
		if err != nil {
			return
		}
		for _, argv := range [][]string{c.engineArgs(false), c.keyHolderArgs(engineID{Cred: &syscall.Credential{}, UID: 5, GID: 6}, 1)} {
			for _, a := range argv {
				if strings.IndexByte(a, 0) >= 0 {
					t.Fatalf("%q: NUL in argument %q", args, a)
				}
			}
		}
	})
}
