// Package meter counts packets and bytes for the per-SA counters of esp and
// ah with one atomic add per packet: both counts share one 64-bit word, which
// is folded into wide totals before either field can overflow.
package meter
