package main

import (
	"fmt"
	"strings"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
)

// Suite is one security method: ESP with a cipher and an integrity
// algorithm, or AH with an integrity algorithm.
type Suite struct {
	Name   string
	AH     bool
	Cipher esp.Cipher
	Integ  esp.Integrity // ESP
	AHInt  ah.Integrity  // AH
	// Bundle is AH applied over ESP (a policy's "AH and ESP" method,
	// RFC 4301 4.5): ESP's fields plus AHInt.
	Bundle bool
	Legacy bool
	// keyBits, when set, is the cipher key length of a policy's method.
	keyBits int
}

// Suites are the security methods the meter knows, by the names of
// strongSwan proposals (ike.ParseProposals).
var Suites = []Suite{
	{Name: "aes128gcm16", Cipher: esp.CipherAESGCM16},
	{Name: "aes256gcm16", Cipher: esp.CipherAESGCM16},
	{Name: "chacha20poly1305", Cipher: esp.CipherChaCha20Poly1305},
	{Name: "aes128-sha256", Cipher: esp.CipherAESCBC, Integ: esp.IntegHMACSHA256128},
	{Name: "aes256-sha512", Cipher: esp.CipherAESCBC, Integ: esp.IntegHMACSHA512256},
	{Name: "aes128-sha1", Cipher: esp.CipherAESCBC, Integ: esp.IntegHMACSHA196},
	{Name: "aes128ctr-sha256", Cipher: esp.CipherAESCTR, Integ: esp.IntegHMACSHA256128},
	{Name: "aes128gmac", Cipher: esp.CipherNullAuthAESGMAC},
	{Name: "null-sha256", Cipher: esp.CipherNull, Integ: esp.IntegHMACSHA256128},
	{Name: "3des-md5", Cipher: esp.Cipher3DES, Integ: esp.IntegHMACMD596, Legacy: true},
	{Name: "ah-sha256", AH: true, AHInt: ah.IntegHMACSHA256128},
	{Name: "ah-sha1", AH: true, AHInt: ah.IntegHMACSHA196},
	{Name: "ah-aes128gmac", AH: true, AHInt: ah.IntegAES128GMAC},
}

// DefaultSuites is the suite list of the default report.
const DefaultSuites = "aes128gcm16,aes256gcm16,chacha20poly1305,aes128-sha256,aes256-sha512,aes128-sha1,ah-sha256"

// suiteByName returns the suites named in a comma-separated list.
func suitesByName(list string) ([]Suite, error) {
	var out []Suite
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, s := range Suites {
			if s.Name == n {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("overhead: unknown suite %q", n)
		}
	}
	return out, nil
}

// keyLen is the cipher key length (with salt) the suite's name implies.
func (s Suite) keyLen() int {
	switch {
	case s.keyBits != 0:
		n := s.keyBits / 8
		if len(s.Cipher.KeySizes()) > 0 && s.Cipher.KeySizes()[0]%8 == 4 {
			n += 4 // salt (RFC 4106 8.1, RFC 3686 5.1, RFC 7634 2)
		}
		return n
	case s.Cipher == esp.CipherNull:
		return 0
	case strings.HasPrefix(s.Name, "aes256") || strings.HasPrefix(s.Name, "ah-aes256"):
		return s.Cipher.KeySizes()[len(s.Cipher.KeySizes())-1]
	}
	return s.Cipher.KeySizes()[0]
}

// Layout is how a packet is protected.
type Layout struct {
	Tunnel bool
	Encap  bool // RFC 3948 UDP encapsulation (ESP only)
}

func (l Layout) String() string {
	s := "transport"
	if l.Tunnel {
		s = "tunnel"
	}
	if l.Encap {
		s += "+udp"
	}
	return s
}

// Sizes from the RFCs, for IPv4.
const (
	ipv4Header = 20 // RFC 791, no options
	udpHeader  = 8  // RFC 768; RFC 3948 2.1
	espHeader  = 8  // SPI, sequence number (RFC 4303 2)
	espTrailer = 2  // pad length, next header (RFC 4303 2)
	ahFixed    = 12 // next header .. sequence number (RFC 4302 2)
)

// espParams returns the IV length, the alignment of payload and trailer,
// and the ICV length of an ESP suite (RFC 4303 2.4 and each cipher's RFC).
func espParams(c esp.Cipher, i esp.Integrity) (iv, align, icv int) {
	switch c {
	case esp.Cipher3DES:
		iv, align = 8, 8 // RFC 2451
	case esp.CipherNull:
		iv, align = 0, 4 // RFC 2410
	case esp.CipherAESCBC:
		iv, align = 16, 16 // RFC 3602
	case esp.CipherAESCTR:
		iv, align = 8, 4 // RFC 3686
	case esp.CipherAESGCM8:
		iv, align, icv = 8, 4, 8 // RFC 4106
	case esp.CipherAESGCM12:
		iv, align, icv = 8, 4, 12
	case esp.CipherAESGCM16, esp.CipherNullAuthAESGMAC: // RFC 4106, RFC 4543
		iv, align, icv = 8, 4, 16
	case esp.CipherChaCha20Poly1305:
		iv, align, icv = 8, 4, 16 // RFC 7634
	}
	switch i {
	case esp.IntegHMACMD596, esp.IntegHMACSHA196:
		icv = 12
	case esp.IntegHMACSHA256128:
		icv = 16
	case esp.IntegHMACSHA384192:
		icv = 24
	case esp.IntegHMACSHA512256:
		icv = 32
	}
	return iv, align, icv
}

// Overhead returns the bytes the suite adds, in layout, to an IPv4 packet
// of size bytes (with a 20-byte header), computed from the RFCs: what
// this model says is checked against really sealed packets by the tests.
func Overhead(s Suite, l Layout, size int) int {
	if s.AH || s.Bundle {
		// RFC 4302 2.2: the AH length is a multiple of 32 bits for IPv4.
		n := ahFixed + s.AHInt.ICVSize()
		switch s.AHInt {
		case ah.IntegAES128GMAC, ah.IntegAES192GMAC, ah.IntegAES256GMAC:
			n += 8 // RFC 4543 3.2: the IV precedes the ICV in AH's ICV field
		}
		n = (n + 3) &^ 3
		if s.Bundle {
			// AH in transport mode over the ESP packet.
			esp := s
			esp.Bundle = false
			return n + Overhead(esp, l, size)
		}
		if l.Tunnel {
			n += ipv4Header
		}
		return n
	}
	iv, align, icv := espParams(s.Cipher, s.Integ)
	payload := size - ipv4Header // transport: what follows the header
	if l.Tunnel {
		payload = size
	}
	pad := (align - (payload+espTrailer)%align) % align
	n := espHeader + iv + pad + espTrailer + icv
	if l.Tunnel {
		n += ipv4Header
	}
	if l.Encap {
		n += udpHeader
	}
	return n
}

// Mix is a packet-size mix: sizes and their weights (packet counts).
type Mix struct {
	Name    string
	Sizes   []int
	Weights []int
}

// IMIX is the "simple IMIX" of the traffic-generator literature: 7 parts
// 40-byte, 4 parts 576-byte and 1 part 1500-byte IP packets (Agilent,
// Ixia; the proportions come from backbone measurements of the early
// 2000s, as old as the question).
var IMIX = Mix{Name: "imix", Sizes: []int{40, 576, 1500}, Weights: []int{7, 4, 1}}

// MixOverhead returns the mean bytes added per packet and the added bytes
// as a percentage of the original bytes (the goodput).
func MixOverhead(s Suite, l Layout, m Mix) (perPacket, percent float64) {
	var added, orig, count float64
	for k, size := range m.Sizes {
		w := float64(m.Weights[k])
		added += w * float64(Overhead(s, l, size))
		orig += w * float64(size)
		count += w
	}
	return added / count, 100 * added / orig
}
