package ike

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
)

const cookieLen = 4 + sha256.Size // VersionIDofSecret | Hash (RFC 7296 2.6)

// CookieJar makes and checks the stateless cookies with which a responder
// under load makes initiators prove that they receive at their address
// (RFC 7296 2.6): once Threshold IKE SAs are half-open (IKE_SA_INIT
// answered, IKE_AUTH not yet received), a new IKE_SA_INIT is answered with
// a COOKIE and no state until it comes back with that cookie. Share one
// CookieJar among all responder sessions through Config.Cookies. It is
// safe for concurrent use.
type CookieJar struct {
	threshold int64
	halfOpen  atomic.Int64

	mu      sync.Mutex
	version uint32
	secret  [32]byte
	prev    [32]byte // the secret before the last Rotate, still accepted
}

// NewCookieJar returns a jar that demands cookies once threshold SAs are
// half-open (0: always). r is the source of secrets (nil: crypto/rand).
func NewCookieJar(threshold int, r io.Reader) (*CookieJar, error) {
	j := &CookieJar{threshold: int64(max(threshold, 0))}
	if err := j.Rotate(r); err != nil {
		return nil, err
	}
	j.prev = j.secret
	return j, nil
}

// Rotate replaces the secret (RFC 7296 2.6 suggests doing so
// periodically); cookies made with the previous secret stay valid until
// the next Rotate.
func (j *CookieJar) Rotate(r io.Reader) error {
	if r == nil {
		r = rand.Reader
	}
	var s [32]byte
	if _, err := io.ReadFull(r, s[:]); err != nil {
		return err
	}
	j.mu.Lock()
	j.prev = j.secret
	j.secret = s
	j.version++
	j.mu.Unlock()
	return nil
}

// HalfOpen returns the number of half-open responder SAs.
func (j *CookieJar) HalfOpen() int { return int(j.halfOpen.Load()) }

func (j *CookieJar) needed() bool { return j.halfOpen.Load() >= j.threshold }

// cookie computes <VersionIDofSecret> | SHA-256(<secret> | Ni | IPi | SPIi).
func cookieFor(version uint32, secret *[32]byte, ni []byte, ip netip.Addr, spiI [8]byte) []byte {
	h := sha256.New()
	h.Write(secret[:])
	h.Write(ni)
	h.Write(ip.Unmap().AsSlice())
	h.Write(spiI[:])
	return h.Sum(binary.BigEndian.AppendUint32(make([]byte, 0, cookieLen), version))
}

func (j *CookieJar) make(ni []byte, ip netip.Addr, spiI [8]byte) []byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	return cookieFor(j.version, &j.secret, ni, ip, spiI)
}

func (j *CookieJar) check(c, ni []byte, ip netip.Addr, spiI [8]byte) bool {
	if len(c) != cookieLen {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	v := binary.BigEndian.Uint32(c)
	switch v {
	case j.version:
		return hmac.Equal(c, cookieFor(v, &j.secret, ni, ip, spiI))
	case j.version - 1:
		return hmac.Equal(c, cookieFor(v, &j.prev, ni, ip, spiI))
	}
	return false
}
