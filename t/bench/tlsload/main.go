// Command tlsload is the benchmark client of make bench (loopback only).
//
//	tlsload hs   addr conc seconds      TLS 1.3 connect-handshake-read-to-EOF, repeated
//	tlsload lat  addr count             connect to first app byte, median and p90 in ms
//	tlsload tcp  addr conc seconds      plain TCP connect-read-to-EOF, repeated
//	tlsload bulk-inproc megabytes       Go's own TLS over loopback TCP in one process, MB/s
//	tlsload send addr megabytes         plain TCP: send, half-close, read the reply to EOF; MB/s
//	tlsload freeport                    print a free loopback port
//	tlsload idle addr n seconds         hold n TLS connections open and idle, then close them
//
// With TLSLOAD_TLS12=1 in the environment, hs and lat speak TLS 1.2
// (ECDHE-ECDSA-AES128-GCM-SHA256), for a peer without TLS 1.3
// (tlswrapper). It prints one line of numbers. Every loop is bounded by
// count or time.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "freeport" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			os.Exit(111)
		}
		os.Stdout.WriteString(strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "\n")
		ln.Close()
		return
	}
	if len(os.Args) < 3 {
		os.Stderr.WriteString("usage: tlsload hs|lat|tcp|bulk-inproc args...\n")
		os.Exit(100)
	}
	switch os.Args[1] {
	case "hs", "tcp":
		conc, _ := strconv.Atoi(os.Args[3])
		secs, _ := strconv.ParseFloat(os.Args[4], 64)
		rate, fails := load(os.Args[1] == "hs", os.Args[2], conc, time.Duration(secs*float64(time.Second)))
		os.Stdout.WriteString(strconv.FormatFloat(rate, 'f', 1, 64) + " " + strconv.Itoa(fails) + "\n")
	case "lat":
		n, _ := strconv.Atoi(os.Args[3])
		med, p90 := latency(os.Args[2], n)
		os.Stdout.WriteString(strconv.FormatFloat(med, 'f', 2, 64) + " " + strconv.FormatFloat(p90, 'f', 2, 64) + "\n")
	case "idle":
		n, _ := strconv.Atoi(os.Args[3])
		secs, _ := strconv.Atoi(os.Args[4])
		os.Stdout.WriteString(strconv.Itoa(idle(os.Args[2], n, time.Duration(secs)*time.Second)) + "\n")
	case "send":
		mb, _ := strconv.Atoi(os.Args[3])
		os.Stdout.WriteString(strconv.FormatFloat(send(os.Args[2], mb), 'f', 0, 64) + "\n")
	case "bulk-inproc":
		mb, _ := strconv.Atoi(os.Args[2])
		os.Stdout.WriteString(strconv.FormatFloat(inproc(mb), 'f', 0, 64) + "\n")
	default:
		os.Exit(100)
	}
}

var clientConf = &tls.Config{
	InsecureSkipVerify: true, // a benchmark of throughput; the tests check verification
	MinVersion:         tls.VersionTLS13,
	ClientSessionCache: nil, // every connection a full handshake
}

func init() {
	if os.Getenv("TLSLOAD_TLS12") == "1" {
		clientConf.MinVersion, clientConf.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		clientConf.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	}
}

// once connects, handshakes (when tlsOn) and reads until EOF.
func once(tlsOn bool, addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var r io.Reader = c
	if tlsOn {
		tc := tls.Client(c, clientConf)
		if err := tc.Handshake(); err != nil {
			return err
		}
		r = tc
	}
	_, err = io.Copy(io.Discard, r)
	return err
}

func load(tlsOn bool, addr string, conc int, d time.Duration) (float64, int) {
	var ok, fails atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 1000000 && time.Now().Before(stop); n++ {
				if once(tlsOn, addr) == nil {
					ok.Add(1)
				} else {
					fails.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), int(fails.Load())
}

func latency(addr string, n int) (median, p90 float64) {
	var ms []float64
	buf := make([]byte, 1)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Client(c, clientConf)
		if _, err := io.ReadFull(tc, buf); err == nil {
			ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
		}
		c.Close()
	}
	if len(ms) == 0 {
		return -1, -1
	}
	sort.Float64s(ms)
	return ms[len(ms)/2], ms[len(ms)*9/10]
}

// inproc measures Go's TLS 1.3 (AES-128-GCM) over loopback TCP inside one
// process: the ceiling the engine's relay is compared with.
func inproc(mb int) float64 {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	srvConf := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return -1
	}
	defer ln.Close()
	done := make(chan int64)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- 0
			return
		}
		n, _ := io.Copy(io.Discard, tls.Server(c, srvConf))
		c.Close()
		done <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return -1
	}
	tc := tls.Client(c, clientConf)
	buf := make([]byte, 256<<10)
	t0 := time.Now()
	total := int64(mb) << 20
	for sent := int64(0); sent < total; sent += int64(len(buf)) {
		if _, err := tc.Write(buf); err != nil {
			return -1
		}
	}
	tc.CloseWrite()
	c.(*net.TCPConn).CloseWrite()
	<-done
	return float64(total) / 1e6 / time.Since(t0).Seconds()
}

// idle opens n TLS connections, says how many handshakes succeeded on
// stderr, holds them for d and closes them.
func idle(addr string, n int, d time.Duration) int {
	var conns []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			continue
		}
		tc := tls.Client(c, clientConf)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if tc.Handshake() != nil {
			c.Close()
			continue
		}
		conns = append(conns, c)
	}
	os.Stderr.WriteString("ready " + strconv.Itoa(len(conns)) + "\n")
	time.Sleep(d)
	for _, c := range conns {
		c.Close()
	}
	return len(conns)
}

// send writes mb MiB of zeros over plain TCP, half-closes, reads the reply
// until EOF and returns MB/s for the whole exchange.
func send(addr string, mb int) float64 {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return -1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	buf := make([]byte, 256<<10)
	total := int64(mb) << 20
	t0 := time.Now()
	for sent := int64(0); sent < total; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			return -1
		}
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
	return float64(total) / 1e6 / time.Since(t0).Seconds()
}
