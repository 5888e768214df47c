// Package linetest drives a lineproto.Session the way ucspi-starttls does,
// without processes or sockets, for the protocol packages' table tests and
// fuzz targets.
package linetest

import (
	"bytes"
	"io"

	"github.com/tlschain/tlschain/pkg/lineproto"
)

// Step is one flight of bytes: from the app, or from the client. TLS
// marks the client bytes that arrive after the switch.
type Step struct {
	App    string
	Client string
}

// Result is what the session did.
type Result struct {
	ToClient string // everything written to the client
	AfterTLS string // the part written after the switch
	ToApp    string // everything the app (old and fresh) received
	TLS      bool   // the switch happened
	Refused  bool   // STARTTLS was refused for pipelined bytes
	Closed   bool   // the session ended by policy
}

// Run feeds steps to s. Client bytes of one step are one flight: what is
// still buffered when a STARTTLS comes to rest counts as pipelined.
func Run(s lineproto.Session, steps []Step) Result {
	var r Result
	var out bytes.Buffer
	rd := lineproto.NewReader(bytes.NewReader(nil), 0)
	var pending []byte
	flush := func() {
		r.ToApp += string(s.TakeApp())
		out.Write(s.TakeClient())
	}
	event := func() bool {
		switch s.Event() {
		case lineproto.StartTLS:
			if rd.Buffered() > 0 || len(pending) > 0 {
				out.Write(s.Refuse())
				r.Refused, r.Closed = true, true
				return true
			}
			out.Write(s.Ready())
			r.TLS = true
			r.ToClient = out.String()
			out.Reset()
			s.Started()
		case lineproto.Close:
			flush()
			r.Closed = true
			return true
		}
		return false
	}
	pump := func() bool {
		for i := 0; i < 1<<20; i++ {
			flush()
			if event() {
				return true
			}
			want, max := s.WantClient()
			if !want || rd.Buffered() == 0 && len(pending) == 0 {
				return false
			}
			if rd.Buffered() == 0 {
				rd = lineproto.NewReader(bytes.NewReader(pending), 0)
				pending = nil
			}
			b, c, err := rd.Read(max)
			if len(b) > 0 && err != lineproto.ErrTruncated {
				s.Client(b, c)
			}
			if err == io.EOF {
				return false
			}
		}
		return false
	}
	for _, st := range steps {
		if st.App != "" {
			a := lineproto.NewReader(bytes.NewReader([]byte(st.App)), 0)
			for {
				b, c, err := a.Fragment(0)
				if len(b) > 0 {
					s.App(b, c)
				}
				if pump() {
					goto done
				}
				if err != nil {
					break
				}
			}
		}
		if st.Client != "" {
			pending = append(pending, st.Client...)
		}
		if pump() {
			goto done
		}
	}
done:
	flush()
	if r.TLS {
		r.AfterTLS = out.String()
	} else {
		r.ToClient = out.String()
	}
	return r
}
