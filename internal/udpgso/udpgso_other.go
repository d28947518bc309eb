//go:build !linux

package udpgso

// Enable: UDP GSO and GRO are Linux's.
func Enable(fd uintptr) (gso bool) { return false }

// OOBLen is the room SegmentOOB needs.
const OOBLen = 24

// SegmentOOB is never called without GSO.
func SegmentOOB(b []byte, seg int) []byte { return nil }

// GROSize: no GRO trains.
func GROSize([]byte) int { return 0 }

// EnableDrops: the drop count is Linux's.
func EnableDrops(fd uintptr) bool { return false }

// Parse: no control data is read elsewhere.
func Parse([]byte) (seg int, drops uint32, ok bool) { return 0, 0, false }
