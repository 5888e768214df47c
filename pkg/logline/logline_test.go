package logline

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "-",
		"mail.example.com":       "mail.example.com",
		"evil\r\nINJECT: x":      "evil??INJECT:?x",
		"\x00\xff\x7f":           "???",
		strings.Repeat("a", 101): strings.Repeat("a", 100) + "...",
	} {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"", 40, `""`},
		{"may be", 40, `"may be"`},
		{"a\x00b\r\nc\x7f\xc3\xa9", 40, `"a?b??c???"`},
		{strings.Repeat("x", 41), 40, `"` + strings.Repeat("x", 40) + `..."`},
		{strings.Repeat("x", 60), 60, `"` + strings.Repeat("x", 60) + `"`},
	} {
		if got := Quote(tc.in, tc.max); got != tc.want {
			t.Errorf("Quote(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"a\x00b\tc\x7f", 200, "a?b?c?"},
		{"10.0.0.1:allow,X=\"caf\xc3\xa9 noir\"", 200, "10.0.0.1:allow,X=\"caf\xc3\xa9 noir\""},
		{strings.Repeat("x", 300), 200, strings.Repeat("x", 200) + "..."},
		{"ab\ncd", 3, "ab?..."},
	} {
		if got := Printable(tc.in, tc.max); got != tc.want {
			t.Errorf("Printable(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		level, verb string
		conn, kv    []string
		want        string
	}{
		{"info", "start", nil, []string{"localip", "0.0.0.0", "localport", "25"}, "p: info: start localip=0.0.0.0 localport=25\n"},
		{"info", "tls", []string{"conn", "42", "ip", "192.0.2.7", "port", "50124"}, []string{"sni", "-"},
			"p: info: tls conn=42 ip=192.0.2.7 port=50124 sni=-\n"},
		{"fatal", "exit", nil, []string{"status", "96", "err", `unable to read "x": no such file`},
			`p: fatal: exit status=96 err="unable to read \"x\": no such file"` + "\n"},
		{"warning", "drop", nil, []string{"err", "a\nb\x00c", "rule", "", "x", "a=b", "y", `back\slash`, "z", "caf\xc3\xa9"},
			`p: warning: drop err="a\nb\x00c" rule="" x="a=b" y="back\\slash" z="café"` + "\n"},
	} {
		if got := Format("p", tc.level, tc.verb, tc.conn, tc.kv); got != tc.want {
			t.Errorf("Format(%q, %q) = %q, want %q", tc.verb, tc.kv, got, tc.want)
		}
	}
}

func TestConnFields(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, ""},
		{[]string{"PATH=/bin"}, ""},
		{[]string{"TCPREMOTEIP=192.0.2.7", "TCPREMOTEPORT=25"}, "conn " + pid + " ip 192.0.2.7 port 25"},
		{[]string{"CONNPID=42", "TCPREMOTEIP=::1", "TCPREMOTEPORT=1"}, "conn 42 ip ::1 port 1"},
		{[]string{"CONNPID=42"}, "conn 42 ip - port -"},
		{[]string{"CONNPID=4 2", "TCPREMOTEIP=a\nb"}, "conn 4?2 ip a?b port -"},
	} {
		if got := strings.Join(ConnFields(tc.env), " "); got != tc.want {
			t.Errorf("ConnFields(%q) = %q, want %q", tc.env, got, tc.want)
		}
	}
	defer SetConn(nil)
	env := SetConn([]string{"TCPREMOTEIP=192.0.2.7"})
	if strings.Join(env, " ") != "TCPREMOTEIP=192.0.2.7 CONNPID="+pid || New("p").Conn == nil || ProcConn()[1] != pid {
		t.Errorf("SetConn: %q, %q", env, ProcConn())
	}
	if env := SetConn([]string{"CONNPID=7", "TCPREMOTEIP=192.0.2.7"}); len(env) != 2 || ProcConn()[1] != "7" {
		t.Errorf("SetConn with CONNPID: %q, %q", env, ProcConn())
	}
}
