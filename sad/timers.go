package sad

import "time"

type timerKind uint8

const (
	timerSoft timerKind = iota
	timerHard
	timerLarval
	timerGrace
)

// timer is a deadline in the database's heap. Timers are not cancelled:
// when one fires, it acts only if its SA is still in the state (and
// installation, gen) it was set for.
type timer struct {
	at   time.Time
	sa   *SA
	gen  uint64
	kind timerKind
}

// timerHeap is a min-heap of timers by deadline (container/heap).
type timerHeap []timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = timer{}
	*h = old[:len(old)-1]
	return t
}
