package ike

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPeerTableDifferential drives the table of IKE SAs by peer identity
// with random adds and removes (removes of sessions never added, or
// already removed, too) against a plain map of sets, and compares what
// others returns after every step.
func TestPeerTableDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var pt peerTable
	pt.init()
	ref := map[string]map[*epSession]bool{}
	ids := []string{"a", "b", "c", "group"}
	idOf := map[*epSession]string{}
	var all []*epSession
	for step := range 20000 {
		switch {
		case rng.IntN(3) != 0 || len(all) == 0:
			es := &epSession{}
			id := ids[rng.IntN(len(ids))]
			pt.add(id, es)
			if ref[id] == nil {
				ref[id] = map[*epSession]bool{}
			}
			ref[id][es], idOf[es] = true, id
			all = append(all, es)
		default:
			es := all[rng.IntN(len(all))]
			id := idOf[es]
			if rng.IntN(10) == 0 {
				id = ids[rng.IntN(len(ids))] // perhaps not its identity
			}
			pt.remove(id, es)
			if ref[id][es] {
				delete(ref[id], es)
				if idOf[es] == id {
					all = slices.DeleteFunc(all, func(x *epSession) bool { return x == es })
				}
			}
		}
		id := ids[rng.IntN(len(ids))]
		var probe *epSession
		if len(all) > 0 {
			probe = all[rng.IntN(len(all))]
		}
		got := pt.others(id, probe)
		want := 0
		for es := range ref[id] {
			if es != probe {
				want++
			}
		}
		if len(got) != want {
			t.Fatalf("step %d: others(%s) has %d sessions, want %d", step, id, len(got), want)
		}
		for _, es := range got {
			if !ref[id][es] || es == probe {
				t.Fatalf("step %d: others(%s) returned a session it should not", step, id)
			}
		}
	}
}
