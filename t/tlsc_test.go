package t

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sServer starts openssl s_server -www on a free loopback port with the
// given certificate stem (server, roguesrv, ...) and returns the port. It
// serves until the test ends.
func sServer(t *testing.T, dir, stem string, extra ...string) int {
	t.Helper()
	need(t, "openssl")
	port := freePort(t, "tcp4", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"s_server", "-accept", "127.0.0.1:" + strconv.Itoa(port), "-cert", dir + "/" + stem + ".crt",
		"-key", dir + "/" + stem + ".key", "-www"}, extra...)
	cmd := exec.CommandContext(ctx, "openssl", args...)
	out, _ := cmd.StdoutPipe()
	var se syncBuffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "ACCEPT") {
				ready <- true
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("s_server did not start: %s", se.String())
	}
	return port
}

// tlscRun runs tcpclient 127.0.0.1 port tlsc args... (args end with the
// app).
func tlscRun(t *testing.T, env []string, port int, args ...string) result {
	t.Helper()
	return run(t, env, "", bin("tcpclient"), append([]string{"127.0.0.1", strconv.Itoa(port), "tlsc"}, args...)...)
}

const appGet = `printf 'GET / HTTP/1.0\r\n\r\n' >&7; cat <&6; env`

func TestTLSCOpenSSLServer(t *testing.T) {
	dir := certDir(t)
	port := sServer(t, dir, "server")
	env := baseEnv("CAFILE=" + dir + "/ca.crt")
	r := tlscRun(t, env, port, "-k", "localhost", "sh", "-c", appGet)
	if r.Code != 0 || !strings.Contains(r.Stdout, "HTTP/1.0 200 ok") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
	}
	m := envMap(r.Stdout)
	if m["SSL_PROTOCOL"] != "TLSv1.3" || m["SSL_CIPHER"] == "" || m["SSL_PEER_CERT_HASH"] != certs(t).Server.Hash() {
		t.Errorf("SSL_PROTOCOL %q SSL_CIPHER %q SSL_PEER_CERT_HASH %q", m["SSL_PROTOCOL"], m["SSL_CIPHER"], m["SSL_PEER_CERT_HASH"])
	}
	if !strings.Contains(m["SSL_PEER_CERT_SUBJECT"], "CN=localhost") {
		t.Errorf("SSL_PEER_CERT_SUBJECT %q", m["SSL_PEER_CERT_SUBJECT"])
	}
	if _, ok := m["CAFILE"]; ok {
		t.Error("CAFILE reached the app")
	}
	// Without CAFILE/CADIR: the system's CAs, SSL_CERT_FILE first.
	sys := baseEnv("SSL_CERT_FILE=" + dir + "/ca.crt")
	if r := tlscRun(t, sys, port, "-k", "localhost", "sh", "-c", appGet); r.Code != 0 {
		t.Errorf("SSL_CERT_FILE: exit %d %s", r.Code, r.Stderr)
	}
	sys = baseEnv("SSL_CERT_FILE=" + dir + "/rogue.crt")
	if r := tlscRun(t, sys, port, "-k", "localhost", "true"); r.Code != 98 {
		t.Errorf("SSL_CERT_FILE without our CA: exit %d %s", r.Code, r.Stderr)
	}
	// -m 1.3 against a server that stops at 1.2 fails; TLS 1.2 works.
	port12 := sServer(t, dir, "server", "-tls1_2")
	if r := tlscRun(t, env, port12, "-k", "localhost", "sh", "-c", appGet); r.Code != 0 || !strings.Contains(r.Stdout, "SSL_PROTOCOL=TLSv1.2") {
		t.Errorf("TLS 1.2 server: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := tlscRun(t, env, port12, "-m", "1.3", "-k", "localhost", "sh", "-c", appGet); r.Code != 98 {
		t.Errorf("-m 1.3 against a TLS 1.2 server: exit %d", r.Code)
	}
}

func TestTLSCOwnServer(t *testing.T) {
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir, "CAFILE="+dir+"/ca.crt"), "-Y", "sh", "-c", `echo hello; cat; echo "CN=$SSL_CLIENT_S_DN_CN"`)
	app := `echo ping >&7; exec 7>&-; cat <&6`
	env := baseEnv("CAFILE=" + dir + "/ca.crt")
	r := tlscRun(t, env, s.Port, "-k", "localhost", "sh", "-c", app)
	if r.Code != 0 || r.Stdout != "hello\nping\nCN=\n" {
		t.Fatalf("exit %d stdout %q stderr %s", r.Code, r.Stdout, r.Stderr)
	}
	// -y sends CERTFILE/KEYFILE.
	env = baseEnv("CAFILE="+dir+"/ca.crt", "CERTFILE="+dir+"/client.crt", "KEYFILE="+dir+"/client.key")
	r = tlscRun(t, env, s.Port, "-y", "-k", "localhost", "sh", "-c", app)
	if r.Code != 0 || r.Stdout != "hello\nping\nCN=client.test\n" {
		t.Fatalf("-y: exit %d stdout %q stderr %s", r.Code, r.Stdout, r.Stderr)
	}
	// An IP address is verified against the certificate's IP SANs.
	r = tlscRun(t, env, s.Port, "-k", "127.0.0.1", "sh", "-c", app)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "hello\nping\n") {
		t.Fatalf("-k 127.0.0.1: exit %d stdout %q stderr %s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestTLSCVerify: a server the CA did not sign, or a name the
// certificate does not carry, fails the handshake (98) and the app never
// starts; --no-verify-cert connects anyway.
func TestTLSCVerify(t *testing.T) {
	dir := certDir(t)
	rogue := sServer(t, dir, "roguesrv")
	good := sServer(t, dir, "server")
	env := baseEnv("CAFILE=" + dir + "/ca.crt")
	marker := t.TempDir() + "/ran"
	for _, tc := range []struct {
		name string
		port int
		args []string
	}{
		{"untrusted CA", rogue, []string{"-k", "localhost"}},
		{"wrong name", good, []string{"-k", "other.test"}},
		{"wrong IP", good, []string{"-k", "127.0.0.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tlscRun(t, env, tc.port, append(tc.args, "touch", marker)...)
			if r.Code != 98 {
				t.Errorf("exit %d; stderr %s", r.Code, r.Stderr)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the app ran")
			}
		})
	}
	r := tlscRun(t, env, rogue, "--no-verify-cert", "sh", "-c", appGet)
	if r.Code != 0 || !strings.Contains(r.Stdout, "HTTP/1.0 200 ok") {
		t.Errorf("--no-verify-cert: exit %d %s", r.Code, r.Stderr)
	}
	r = tlscRun(t, env, good, "true")
	if r.Code != 100 || !strings.Contains(r.Stderr, `err="no server name to verify: give -k name (or --no-verify-cert)"`) {
		t.Errorf("no -k: exit %d %q", r.Code, r.Stderr)
	}
}

// TestTLSCFDs: -6/-7 take the network from other fds; the app gets its
// cleartext on 6/7 and none of the network fds.
func TestTLSCFDs(t *testing.T) {
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir), "sh", "-c", "echo hello")
	env := baseEnv("CAFILE=" + dir + "/ca.crt")
	app := `cat <&6; ls /proc/self/fd | sort -n | tr '\n' ' '`
	wrap := `exec 3<&6 4>&7 6<&- 7>&-; exec tlsc -6 3 -7 4 -k localhost sh -c "$1"`
	r := run(t, env, "", bin("tcpclient"), "127.0.0.1", strconv.Itoa(s.Port), "sh", "-c", wrap, "sh", app)
	// ls's own directory fd is the lowest free one: 3, unless a network
	// fd leaked into the app.
	if r.Code != 0 || r.Stdout != "hello\n0 1 2 3 6 7 " {
		t.Errorf("exit %d stdout %q stderr %s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestTLSCDelayed: tlsc -n gives the app the raw connection and the
// UCSPI-TLS fds; its 'Y' starts TLS with the server's certificate
// verified, and the report comes back on SSLCTLFD.
func TestTLSCDelayed(t *testing.T) {
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir), "-n", "bash", "-c", `echo greeting; printf y >&$SSLCTLFD; echo hello >&$SSLWRITEFD`)
	app := `read g <&6; echo "plain $g"; printf Y >&$SSLCTLFD; tr '\0' '\n' <&$SSLCTLFD; cat <&$SSLREADFD`
	r := tlscRun(t, baseEnv("CAFILE="+dir+"/ca.crt"), s.Port, "-n", "-k", "localhost", "bash", "-c", app)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "plain greeting\n") || !strings.Contains(r.Stdout, "SSL_PROTOCOL=TLSv1.3\n") ||
		!strings.HasSuffix(r.Stdout, "\nhello\n") || !strings.Contains(r.Stdout, "SSL_PEER_CERT_HASH="+certs(t).Server.Hash()) {
		t.Errorf("exit %d stdout %q stderr %s", r.Code, r.Stdout, r.Stderr)
	}
	// Verification still applies: a wrong name gives an empty report.
	r = tlscRun(t, baseEnv("CAFILE="+dir+"/ca.crt"), s.Port, "-n", "-k", "other.test", "bash", "-c", app)
	if strings.Contains(r.Stdout, "SSL_PROTOCOL") || strings.Contains(r.Stdout, "hello") {
		t.Errorf("-k other.test: stdout %q", r.Stdout)
	}
}
