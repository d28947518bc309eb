package spd

import "sync/atomic"

// SPD is the security policy database in force: it holds the current
// Classifier and swaps it atomically. It is safe for concurrent use;
// Lookup takes no lock, and a lookup sees either the old or the new
// policy, never a mix. The zero value holds no policy and answers every
// lookup with the Windows default, BYPASS.
type SPD struct {
	cur atomic.Pointer[Classifier]
}

var emptyClassifier = func() *Classifier {
	c, err := Compile(&Policy{}, CompileOptions{})
	if err != nil {
		panic(err) // an empty policy always compiles
	}
	return c
}()

// Lookup returns the rule for a packet under the current policy. It does
// not allocate.
func (s *SPD) Lookup(sel Selector, dir Direction) Match {
	return s.Active().Lookup(sel, dir)
}

// Active returns the classifier in force.
func (s *SPD) Active() *Classifier {
	if c := s.cur.Load(); c != nil {
		return c
	}
	return emptyClassifier
}

// Swap installs c (nil restores the empty policy) and returns the
// classifier it replaces (nil if none was installed).
func (s *SPD) Swap(c *Classifier) *Classifier { return s.cur.Swap(c) }
