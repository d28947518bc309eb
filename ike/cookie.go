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

	"github.com/ipsecgo/ipsec/isakmp"
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

// cookie computes <VersionIDofSecret> | SHA-256(<secret> | Ni | IPi | SPIi)
// (RFC 7296 2.6) into dst without allocating.
func cookieFor(dst *[cookieLen]byte, version uint32, secret *[32]byte, ni []byte, ip netip.Addr, spiI [8]byte) {
	var in [32 + maxNonceLen + 16 + 8]byte
	n := copy(in[:], secret[:])
	n += copy(in[n:], ni)
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		n += copy(in[n:], a[:])
	} else {
		a := ip.As16()
		n += copy(in[n:], a[:])
	}
	n += copy(in[n:], spiI[:])
	binary.BigEndian.PutUint32(dst[:4], version)
	sum := sha256.Sum256(in[:n])
	copy(dst[4:], sum[:])
}

func (j *CookieJar) make(ni []byte, ip netip.Addr, spiI [8]byte) []byte {
	var c [cookieLen]byte
	j.makeInto(&c, ni, ip, spiI)
	return c[:]
}

// makeInto writes the current cookie for (ni, ip, spiI) into c. ni must
// be at most maxNonceLen bytes.
func (j *CookieJar) makeInto(c *[cookieLen]byte, ni []byte, ip netip.Addr, spiI [8]byte) {
	j.mu.Lock()
	v, secret := j.version, j.secret
	j.mu.Unlock()
	cookieFor(c, v, &secret, ni, ip, spiI)
}

func (j *CookieJar) check(c, ni []byte, ip netip.Addr, spiI [8]byte) bool {
	if len(c) != cookieLen || len(ni) > maxNonceLen {
		return false
	}
	v := binary.BigEndian.Uint32(c)
	j.mu.Lock()
	var secret [32]byte
	switch v {
	case j.version:
		secret = j.secret
	case j.version - 1:
		secret = j.prev
	default:
		j.mu.Unlock()
		return false
	}
	j.mu.Unlock()
	var want [cookieLen]byte
	cookieFor(&want, v, &secret, ni, ip, spiI)
	return hmac.Equal(c, want[:])
}

// scanInit finds the Nonce data and the COOKIE notification's data in
// the payloads of an IKE_SA_INIT request (b after the fixed header,
// first the header's Next Payload) by walking the generic payload
// headers (RFC 7296 3.2), without decoding or allocating: the endpoint
// answers floods of requests with cookies this way. ok is false if the
// chain overruns b or has no Nonce. The results alias b.
func scanInit(b []byte, first isakmp.PayloadType) (nonce, cookie []byte, ok bool) {
	next := first
	for next != isakmp.PayloadNone {
		if len(b) < isakmp.GenericHeaderLen {
			return nil, nil, false
		}
		l := int(binary.BigEndian.Uint16(b[2:4]))
		if l < isakmp.GenericHeaderLen || l > len(b) {
			return nil, nil, false
		}
		body := b[isakmp.GenericHeaderLen:l]
		switch next {
		case isakmp.PayloadNonce:
			nonce = body
		case isakmp.PayloadNotify:
			// Protocol ID, SPI Size, Notify Message Type, SPI, data (3.10).
			if len(body) >= 4 && isakmp.NotifyType(binary.BigEndian.Uint16(body[2:4])) == isakmp.NotifyCookie &&
				len(body) >= 4+int(body[1]) {
				cookie = body[4+int(body[1]):]
			}
		}
		next = isakmp.PayloadType(b[0])
		b = b[l:]
	}
	return nonce, cookie, nonce != nil
}

// appendCookieReply appends the stateless COOKIE answer to the
// IKE_SA_INIT request with header h (RFC 7296 2.6: HDR(A,0), N(COOKIE)):
// the same bytes initReply builds, without allocating.
func appendCookieReply(dst []byte, h *isakmp.Header, c *[cookieLen]byte) []byte {
	const notifyLen = isakmp.GenericHeaderLen + 4 + cookieLen
	rh := isakmp.Header{InitiatorSPI: h.InitiatorSPI, NextPayload: isakmp.PayloadNotify, Version: isakmp.VersionIKEv2,
		Exchange: isakmp.ExchangeIKESAInit, MessageID: h.MessageID, Flags: isakmp.FlagResponse,
		Length: isakmp.HeaderLen + notifyLen}
	dst = rh.Append(dst)
	dst = append(dst, byte(isakmp.PayloadNone), 0)
	dst = binary.BigEndian.AppendUint16(dst, notifyLen)
	dst = append(dst, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(isakmp.NotifyCookie))
	return append(dst, c[:]...)
}
