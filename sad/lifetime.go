package sad

import (
	"errors"
	"time"
)

// Lifetime bounds an SA by time, bytes and packets (RFC 4301 section
// 4.4.2.1). Soft limits start a rekey (an EventSoftExpire); hard limits end
// the SA (an EventHardExpire, and the SA is removed). A zero field means no
// limit of that kind. Bytes count the IP packets given to Seal or returned
// by Open (the protected traffic, without IPsec overhead). Lifetime is a
// plain value, safe for concurrent use; the database copies it.
type Lifetime struct {
	SoftTime, HardTime       time.Duration
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
}

// DefaultLifetime follows Windows Server 2003's quick-mode default: a new
// key every hour or every 100,000 KB, whichever comes first. The soft
// limits sit at 90% of the hard ones, before jitter moves them earlier.
var DefaultLifetime = Lifetime{
	HardTime:  time.Hour,
	SoftTime:  54 * time.Minute,
	HardBytes: 100000 * 1024,
	SoftBytes: 90000 * 1024,
}

// LifetimeOf returns the lifetime of a security method that rekeys after
// hard time or hardKB kilobytes (1024 bytes, as Windows' "Generate a new
// key every ... KB"), whichever comes first, with the soft limits at 90%
// of the hard ones as in DefaultLifetime. A zero argument means no limit
// of that kind.
func LifetimeOf(hard time.Duration, hardKB uint64) Lifetime {
	return Lifetime{
		HardTime: hard, SoftTime: hard / 10 * 9,
		HardBytes: hardKB * 1024, SoftBytes: hardKB * 1024 / 10 * 9,
	}
}

func (l Lifetime) validate() error {
	if l.SoftTime < 0 || l.HardTime < 0 {
		return errors.New("sad: negative lifetime")
	}
	if l.HardTime != 0 && l.SoftTime > l.HardTime ||
		l.HardBytes != 0 && l.SoftBytes > l.HardBytes ||
		l.HardPackets != 0 && l.SoftPackets > l.HardPackets {
		return errors.New("sad: soft lifetime exceeds hard lifetime")
	}
	return nil
}

// jittered returns l with each soft limit moved earlier by a random
// fraction of itself in [0, frac), so that two peers that installed an SA at
// the same moment do not both start the rekey at the same moment (the
// simultaneous rekey that RFC 7296 section 2.8.1 has to resolve). r returns
// a uniform value in [0, 1).
func (l Lifetime) jittered(frac float64, r func() float64) Lifetime {
	if frac <= 0 {
		return l
	}
	cut := func(v float64) float64 { return v * (1 - frac*r()) }
	l.SoftTime = time.Duration(cut(float64(l.SoftTime)))
	l.SoftBytes = uint64(cut(float64(l.SoftBytes)))
	l.SoftPackets = uint64(cut(float64(l.SoftPackets)))
	return l
}
