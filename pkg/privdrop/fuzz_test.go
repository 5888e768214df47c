package privdrop

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/exitcode"
)

// FuzzFromEnv checks the UID/GID/GIDLIST parser: no panic, only usage
// errors, and an accepted identity formats back to the same variables.
func FuzzFromEnv(f *testing.F) {
	for _, tc := range envTests {
		var u, g, l string
		for _, kv := range tc.env {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "UID":
				u = v
			case "GID":
				g = v
			case "GIDLIST":
				l = v
			}
		}
		f.Add(u, g, l)
	}
	f.Fuzz(func(t *testing.T, u, g, l string) {
		env := []string{"UID=" + u, "GID=" + g, "GIDLIST=" + l}
		c, err := FromEnv(env)
		if err != nil {
			if exitcode.Code(err) != exitcode.Usage {
				t.Fatalf("%q: code %d: %v", env, exitcode.Code(err), err)
			}
			return
		}
		if c.UID < 0 || int64(c.UID) > maxID || c.GID < 0 || int64(c.GID) > maxID {
			t.Fatalf("%q: ids out of range: %+v", env, c)
		}
		list := make([]string, len(c.Groups))
		for i, id := range c.Groups {
			list[i] = strconv.Itoa(id)
		}
		env2 := []string{"UID=" + strconv.Itoa(c.UID), "GID=" + strconv.Itoa(c.GID), "GIDLIST=" + strings.Join(list, ",")}
		c2, err := FromEnv(env2)
		if err != nil || c2.UID != c.UID || c2.GID != c.GID || len(c2.Groups) != len(c.Groups) {
			t.Fatalf("%q: round trip %q gave %+v, %v", env, env2, c2, err)
		}
	})
}
