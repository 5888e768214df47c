package ucspi

import "strings"

// Env is an environment being built for the next program: an ordered list
// of NAME=value strings with at most one entry per name. Go's os/exec keeps
// the first of duplicate names and C's getenv finds the first too, so the
// suite never passes duplicates on.
type Env struct {
	vars []string
}

// NewEnv returns an Env holding a copy of envp, keeping the first of
// duplicate names.
func NewEnv(envp []string) *Env {
	e := &Env{vars: make([]string, 0, len(envp)+16)}
	for _, kv := range envp {
		name, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if e.index(name) < 0 {
			e.vars = append(e.vars, kv)
		}
	}
	return e
}

func (e *Env) index(name string) int {
	for i, kv := range e.vars {
		if len(kv) > len(name) && kv[len(name)] == '=' && kv[:len(name)] == name {
			return i
		}
	}
	return -1
}

// Get returns the value of name and whether it is set.
func (e *Env) Get(name string) (string, bool) {
	if i := e.index(name); i >= 0 {
		return e.vars[i][len(name)+1:], true
	}
	return "", false
}

// Set sets name to value, replacing an earlier value in place.
func (e *Env) Set(name, value string) {
	kv := name + "=" + value
	if i := e.index(name); i >= 0 {
		e.vars[i] = kv
		return
	}
	e.vars = append(e.vars, kv)
}

// Unset removes name.
func (e *Env) Unset(names ...string) {
	for _, name := range names {
		if i := e.index(name); i >= 0 {
			e.vars = append(e.vars[:i], e.vars[i+1:]...)
		}
	}
}

// UnsetPrefix removes every variable whose name starts with prefix.
func (e *Env) UnsetPrefix(prefix string) {
	out := e.vars[:0]
	for _, kv := range e.vars {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	e.vars = out
}

// Environ returns the environment as NAME=value strings. The slice is the
// Env's own: do not change it.
func (e *Env) Environ() []string { return e.vars }

// Getenv looks name up in envp, the first entry winning.
func Getenv(envp []string, name string) (string, bool) {
	for _, kv := range envp {
		if len(kv) > len(name) && kv[len(name)] == '=' && kv[:len(name)] == name {
			return kv[len(name)+1:], true
		}
	}
	return "", false
}

// Without returns a copy of envp without the named variables.
func Without(envp []string, names ...string) []string {
	e := NewEnv(envp)
	e.Unset(names...)
	return e.Environ()
}
