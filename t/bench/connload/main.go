// Command connload measures connections per second against a loopback
// server: each worker connects, reads until EOF, closes, and repeats,
// until -n connections are done or -t passes. It prints
// "<conns/s> <done> <errors>" on one line. Loopback addresses only.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("a", "127.0.0.1:0", "server address (loopback only)")
	conc := flag.Int("c", 1, "concurrent clients")
	total := flag.Int("n", 2000, "connections to make at most")
	limit := flag.Duration("t", 10*time.Second, "time to run at most")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "connload: need a loopback address, not", *addr)
		os.Exit(100)
	}
	if *conc < 1 || *conc > 256 || *total < 1 {
		fmt.Fprintln(os.Stderr, "connload: bad -c or -n")
		os.Exit(100)
	}
	var next, done, errs atomic.Int64
	start := time.Now()
	deadline := start.Add(*limit)
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for next.Add(1) <= int64(*total) && time.Now().Before(deadline) {
				c, err := net.DialTimeout("tcp", *addr, 5*time.Second)
				if err != nil {
					errs.Add(1)
					continue
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				for {
					if _, err = c.Read(buf); err != nil {
						break
					}
				}
				c.Close()
				if err == io.EOF {
					done.Add(1)
				} else {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Printf("%.0f %d %d\n", float64(done.Load())/el, done.Load(), errs.Load())
}
