package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/google/gopacket/layers"

	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/ike/keylog"
	"github.com/ipsecgo/ipsec/internal/csum"
	"github.com/ipsecgo/ipsec/isakmp"
)

// The per-packet path: link layer -> IPv4/IPv6 -> ESP (protocol 50), or UDP
// 4500 (RFC 3948: ESP, or IKE after the non-ESP marker) or UDP 500 (IKE).
// ESP is opened with esp.SA.OpenESP (ICV first, then the replay window,
// RFC 4303 3.4.3; ESN high bits inferred from the window as a receiver
// does, RFC 4303 Appendix A2.2). IKEv2 Encrypted payloads are opened with
// the IKE SA keys (RFC 7296 3.14).

// Errors of the per-packet path.
var (
	errTruncated   = errors.New("decrypt: truncated packet")
	errLinkType    = errors.New("decrypt: unsupported link type")
	errNoKey       = errors.New("decrypt: no key for this SA")
	errICV         = errors.New("decrypt: ICV check failed")
	errReplay      = errors.New("decrypt: replayed packet")
	errFragment    = errors.New("decrypt: IP fragment (not reassembled)")
	errNotIPsec    = errors.New("decrypt: not IPsec")
	errMalformedIP = errors.New("decrypt: malformed IP header")
)

// IP protocol numbers and ports.
const (
	protoIPv4 = 4
	protoUDP  = 17
	protoIPv6 = 41
	protoESP  = 50
	portIKE   = 500
	portNATT  = 4500
)

// Stats are the counters of one SA.
type Stats struct {
	Packets, Bytes                        uint64
	ICVFailures, Replays, Gaps, Malformed uint64
	highest                               uint64 // highest sequence number seen, 64 bits
	seen                                  bool
}

// childSA is a candidate key set for an ESP SPI.
type childSA struct {
	key   keylog.ChildSA
	sa    *esp.SA
	stats Stats
	src   netip.Addr // outer addresses seen
	dst   netip.Addr
}

// ikeSA is one IKE SA's keys and counters.
type ikeSA struct {
	key                keylog.IKEv2SA
	messages, failures uint64
}

// IKEMessage describes one decrypted IKEv2 message.
type IKEMessage struct {
	SPIi, SPIr [8]byte
	Exchange   isakmp.ExchangeType
	MessageID  uint32
	Response   bool
	Initiator  bool // sent by the original initiator
	Payloads   []isakmp.Payload
}

func (m IKEMessage) String() string {
	kind := "request"
	if m.Response {
		kind = "response"
	}
	var names []string
	for _, p := range m.Payloads {
		names = append(names, p.Type().String())
	}
	return fmt.Sprintf("IKE %x_i %x_r %v %s %d: %s", m.SPIi, m.SPIr, m.Exchange, kind, m.MessageID, strings.Join(names, " "))
}

// Decryptor decrypts the IPsec packets of a capture with the keys of a
// key log. It is not safe for concurrent use.
type Decryptor struct {
	child      map[uint32][]*childSA // by SPI; several candidates until one verifies
	ike        map[[16]byte]*ikeSA
	unboundIKE []*ikeSA
	order      []*childSA
	ikeOrder   []*ikeSA
	buf        []byte

	// Counters of packets the decryptor could not attribute to an SA.
	NoKey, Fragments, OtherIKE uint64
	// IKE lists the decrypted IKEv2 messages, in capture order.
	IKE []IKEMessage
}

// NewDecryptor makes a Decryptor for the SAs of l. ESP SAs whose
// algorithms package esp refuses are an error.
func NewDecryptor(l *keylog.Log) (*Decryptor, error) {
	d := &Decryptor{child: map[uint32][]*childSA{}, ike: map[[16]byte]*ikeSA{}}
	for _, k := range l.Child {
		if k.Protocol != keylog.ProtocolESP {
			continue // AH carries its payload in clear
		}
		sa, err := esp.NewSA(esp.Config{SPI: k.SPI, Cipher: esp.Cipher(k.Encr), CipherKey: k.Key,
			Integrity: esp.Integrity(k.Integ), IntegrityKey: k.IKey, Mode: esp.Transport, ESN: k.ESN,
			AllowLegacy: true})
		if err != nil {
			return nil, fmt.Errorf("decrypt: SA %08x: %w", k.SPI, err)
		}
		c := &childSA{key: k, sa: sa}
		d.child[k.SPI] = append(d.child[k.SPI], c)
		d.order = append(d.order, c)
	}
	for _, k := range l.IKEv2 {
		s := &ikeSA{key: k}
		if k.SPIi == ([8]byte{}) {
			d.unboundIKE = append(d.unboundIKE, s)
		} else {
			d.ike[ikeKey(k.SPIi, k.SPIr)] = s
		}
		d.ikeOrder = append(d.ikeOrder, s)
	}
	return d, nil
}

func ikeKey(i, r [8]byte) [16]byte {
	var k [16]byte
	copy(k[:], i[:])
	copy(k[8:], r[:])
	return k
}

// Packet processes one captured frame of the given link type. It returns
// the decrypted inner IP packet of an ESP packet (a new slice), nil for
// anything else, and an error saying why a frame that is not a decrypted
// ESP or IKE packet was not.
func (d *Decryptor) Packet(link layers.LinkType, frame []byte) ([]byte, error) {
	ip, err := linkPayload(link, frame)
	if err != nil {
		return nil, err
	}
	h, err := parseIP(ip)
	if err != nil {
		if errors.Is(err, errFragment) {
			d.Fragments++
		}
		return nil, err
	}
	payload := ip[h.hdrLen:h.total]
	switch h.proto {
	case protoESP:
		return d.esp(h, ip, payload)
	case protoUDP:
		if len(payload) < 8 {
			return nil, errTruncated
		}
		sport, dport := binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:])
		ulen := int(binary.BigEndian.Uint16(payload[4:]))
		if ulen < 8 || ulen > len(payload) {
			return nil, errTruncated
		}
		data := payload[8:ulen]
		if sport == portNATT || dport == portNATT {
			switch esp.Classify(data) {
			case esp.KindESP:
				return d.esp(h, ip, data)
			case esp.KindIKE:
				return nil, d.ikeMessage(data[4:])
			case esp.KindKeepalive:
				return nil, nil
			}
			return nil, errTruncated
		}
		if sport == portIKE || dport == portIKE {
			return nil, d.ikeMessage(data)
		}
	}
	return nil, errNotIPsec
}

// linkPayload returns the IP packet inside a frame.
func linkPayload(link layers.LinkType, f []byte) ([]byte, error) {
	need := func(n int) error {
		if len(f) < n {
			return errTruncated
		}
		return nil
	}
	switch link {
	case layers.LinkTypeEthernet:
		if err := need(14); err != nil {
			return nil, err
		}
		off, et := 14, binary.BigEndian.Uint16(f[12:])
		for et == 0x8100 || et == 0x88a8 { // 802.1Q / 802.1ad tags
			if err := need(off + 4); err != nil {
				return nil, err
			}
			et = binary.BigEndian.Uint16(f[off+2:])
			off += 4
		}
		if et != 0x0800 && et != 0x86dd {
			return nil, errNotIPsec
		}
		return f[off:], nil
	case layers.LinkTypeRaw, layers.LinkType(12), layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return f, nil
	case layers.LinkTypeLinuxSLL:
		if err := need(16); err != nil {
			return nil, err
		}
		return f[16:], nil
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if err := need(4); err != nil {
			return nil, err
		}
		return f[4:], nil
	}
	return nil, fmt.Errorf("%w %d", errLinkType, link)
}

// ipHeader is what the per-packet path needs of an IP header.
type ipHeader struct {
	v6            bool
	hdrLen, total int
	proto         uint8
	src, dst      netip.Addr
}

// parseIP checks an IPv4 or IPv6 header against the bytes (RFC 791 3.1,
// RFC 8200 3 and 4) and skips IPv6 extension headers.
func parseIP(b []byte) (ipHeader, error) {
	if len(b) < 1 {
		return ipHeader{}, errTruncated
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return ipHeader{}, errTruncated
		}
		hl := int(b[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(b[2:]))
		if hl < 20 || total < hl {
			return ipHeader{}, errMalformedIP
		}
		if total > len(b) {
			return ipHeader{}, errTruncated
		}
		if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
			return ipHeader{}, errFragment
		}
		return ipHeader{hdrLen: hl, total: total, proto: b[9],
			src: netip.AddrFrom4([4]byte(b[12:16])), dst: netip.AddrFrom4([4]byte(b[16:20]))}, nil
	case 6:
		if len(b) < 40 {
			return ipHeader{}, errTruncated
		}
		total := 40 + int(binary.BigEndian.Uint16(b[4:]))
		if total > len(b) {
			return ipHeader{}, errTruncated
		}
		h := ipHeader{v6: true, total: total, hdrLen: 40, proto: b[6],
			src: netip.AddrFrom16([16]byte(b[8:24])), dst: netip.AddrFrom16([16]byte(b[24:40]))}
		for {
			switch h.proto {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if h.hdrLen+8 > total {
					return ipHeader{}, errTruncated
				}
				n := 8 + 8*int(b[h.hdrLen+1])
				h.proto = b[h.hdrLen]
				h.hdrLen += n
				if h.hdrLen > total {
					return ipHeader{}, errTruncated
				}
				continue
			case 44:
				return ipHeader{}, errFragment
			}
			return h, nil
		}
	}
	return ipHeader{}, errMalformedIP
}

// esp opens one ESP packet (SPI through ICV) of the IP packet ip.
func (d *Decryptor) esp(h ipHeader, ip, pkt []byte) ([]byte, error) {
	if len(pkt) < 8 {
		return nil, errTruncated
	}
	spi := binary.BigEndian.Uint32(pkt)
	low := binary.BigEndian.Uint32(pkt[4:])
	cands := d.child[spi]
	if len(cands) == 0 {
		d.NoKey++
		return nil, fmt.Errorf("%w: ESP SPI %08x", errNoKey, spi)
	}
	var firstErr error
	for _, c := range cands {
		d.buf = append(d.buf[:0], pkt...)
		payload, nh, err := c.sa.OpenESP(d.buf)
		if errors.Is(err, esp.ErrAuthFailed) && len(cands) > 1 {
			if firstErr == nil {
				firstErr = err
			}
			continue // another candidate may verify
		}
		if len(cands) > 1 && (err == nil || errors.Is(err, esp.ErrDummy)) {
			d.child[spi] = []*childSA{c} // bound: this is the SA's key
		}
		c.src, c.dst = h.src, h.dst
		st := &c.stats
		switch {
		case errors.Is(err, esp.ErrDummy):
			d.seq(st, c.key.ESN, low)
			return nil, nil
		case errors.Is(err, esp.ErrAuthFailed):
			st.ICVFailures++
			return nil, fmt.Errorf("%w: ESP SPI %08x sequence %d", errICV, spi, low)
		case errors.Is(err, esp.ErrReplay):
			st.Replays++
			return nil, fmt.Errorf("%w: ESP SPI %08x sequence %d", errReplay, spi, low)
		case err != nil:
			st.Malformed++
			return nil, fmt.Errorf("decrypt: ESP SPI %08x: %w", spi, err)
		}
		d.seq(st, c.key.ESN, low)
		st.Packets++
		st.Bytes += uint64(len(payload))
		return inner(h, ip, payload, nh)
	}
	// No candidate verifies: count it against the first one.
	cands[0].stats.ICVFailures++
	return nil, fmt.Errorf("%w: ESP SPI %08x sequence %d (%v)", errICV, spi, low, firstErr)
}

// seq counts the sequence numbers missing between the highest seen and
// low, with the ESN high half inferred (RFC 4303 Appendix A2.2).
func (d *Decryptor) seq(st *Stats, esn bool, low uint32) {
	s := uint64(low)
	if esn && st.seen {
		hi := st.highest >> 32
		s = hi<<32 | uint64(low)
		top := uint32(st.highest)
		if low < top && top-low > 1<<31 {
			s += 1 << 32
		} else if low > top && low-top > 1<<31 && hi > 0 {
			s -= 1 << 32
		}
	}
	if !st.seen {
		st.seen, st.highest = true, s
		return
	}
	if s > st.highest {
		st.Gaps += s - st.highest - 1
		st.highest = s
	}
}

// inner turns the opened ESP payload into the IP packet to deliver: the
// inner packet in tunnel mode (trimmed of TFC padding, RFC 4303 2.4), the
// outer header with the ESP payload in transport mode (RFC 4303
// 3.4.4.1).
func inner(h ipHeader, ip, payload []byte, nh uint8) ([]byte, error) {
	if nh == protoIPv4 || nh == protoIPv6 {
		in, err := parseIP(payload)
		if err != nil && !errors.Is(err, errFragment) {
			return nil, fmt.Errorf("decrypt: inner packet: %w", err)
		}
		n := in.total
		if errors.Is(err, errFragment) {
			n = int(binary.BigEndian.Uint16(payload[2:]))
		}
		return slices.Clone(payload[:n]), nil
	}
	out := make([]byte, 0, h.hdrLen+len(payload))
	out = append(append(out, ip[:h.hdrLen]...), payload...)
	if h.v6 {
		if h.hdrLen != 40 {
			return nil, fmt.Errorf("decrypt: transport mode behind IPv6 extension headers is not rebuilt")
		}
		out[6] = nh
		binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
		return out, nil
	}
	out[9] = nh
	binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
	out[10], out[11] = 0, 0
	binary.BigEndian.PutUint16(out[10:], csum.Checksum(out[:h.hdrLen], 0))
	return out, nil
}

// ikeMessage decrypts an IKEv2 message's Encrypted payload, if any.
func (d *Decryptor) ikeMessage(b []byte) error {
	var m isakmp.Message
	b = slices.Clone(b)
	if err := m.Decode(b); err != nil {
		return fmt.Errorf("decrypt: IKE message: %w", err)
	}
	h := &m.Header
	if h.Major() != isakmp.MajorIKEv2 {
		d.OtherIKE++
		return nil
	}
	msg := IKEMessage{SPIi: h.InitiatorSPI, SPIr: h.ResponderSPI, Exchange: h.Exchange, MessageID: h.MessageID,
		Response: h.Flags&isakmp.FlagResponse != 0, Initiator: h.Flags&isakmp.FlagInitiator != 0}
	if len(m.Payloads) == 0 {
		d.IKE = append(d.IKE, msg)
		return nil
	}
	sk, ok := m.Payloads[len(m.Payloads)-1].(*isakmp.Encrypted)
	if !ok {
		msg.Payloads = m.Payloads // IKE_SA_INIT: in clear
		d.IKE = append(d.IKE, msg)
		return nil
	}
	bodyOff := len(b) - len(sk.Data)
	sa := d.ike[ikeKey(h.InitiatorSPI, h.ResponderSPI)]
	var inner []byte
	var err error
	if sa != nil {
		inner, err = openIKE(&sa.key, msg.Initiator, b, bodyOff)
	} else {
		err = errNoKey
		for k, c := range d.unboundIKE {
			if inner, err = openIKE(&c.key, msg.Initiator, b, bodyOff); err == nil {
				// Bound: these keys belong to these SPIs.
				sa = c
				sa.key.SPIi, sa.key.SPIr = h.InitiatorSPI, h.ResponderSPI
				d.ike[ikeKey(h.InitiatorSPI, h.ResponderSPI)] = sa
				d.unboundIKE = slices.Delete(d.unboundIKE, k, k+1)
				break
			}
		}
		if sa == nil {
			return fmt.Errorf("%w: IKE SA %x_i %x_r", errNoKey, h.InitiatorSPI, h.ResponderSPI)
		}
	}
	if err != nil {
		sa.failures++
		return fmt.Errorf("decrypt: IKE SA %x_i %x_r %v %d: %w", h.InitiatorSPI, h.ResponderSPI, h.Exchange, h.MessageID, err)
	}
	sa.messages++
	ps, n, err := isakmp.DecodePayloads(nil, isakmp.MajorIKEv2, sk.Inner, inner)
	if err != nil || n != len(inner) {
		return fmt.Errorf("decrypt: IKE SA %x_i %x_r: inner payloads: %v", h.InitiatorSPI, h.ResponderSPI, err)
	}
	msg.Payloads = append(m.Payloads[:len(m.Payloads)-1:len(m.Payloads)-1], ps...)
	d.IKE = append(d.IKE, msg)
	return nil
}

// SASummary is the summary of one SA.
type SASummary struct {
	SPI      uint32
	Src, Dst netip.Addr
	Cipher   esp.Cipher
	Integ    esp.Integrity
	ESN      bool
	Stats
}

// Summary returns the ESP SAs that saw packets (or failures), by SPI.
func (d *Decryptor) Summary() []SASummary {
	var out []SASummary
	seen := map[uint32]bool{}
	for _, c := range d.order {
		st := c.stats
		if st.Packets+st.ICVFailures+st.Replays+st.Malformed == 0 || seen[c.key.SPI] {
			continue
		}
		seen[c.key.SPI] = true
		out = append(out, SASummary{SPI: c.key.SPI, Src: c.src, Dst: c.dst, Cipher: esp.Cipher(c.key.Encr),
			Integ: esp.Integrity(c.key.Integ), ESN: c.key.ESN, Stats: st})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SPI < out[j].SPI })
	return out
}

// WriteSummary prints the per-SA table: ESP SAs, then IKE SAs.
func (d *Decryptor) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "%-10s %-30s %-26s %8s %10s %6s %7s %6s\n", "SPI", "src -> dst", "suite", "packets", "bytes", "icv", "replays", "gaps")
	for _, s := range d.Summary() {
		suite := s.Cipher.String()
		if s.Integ != esp.IntegNone {
			suite += "/" + s.Integ.String()
		}
		if s.ESN {
			suite += "/esn"
		}
		fmt.Fprintf(w, "0x%08x %-30s %-26s %8d %10d %6d %7d %6d\n", s.SPI, s.Src.String()+" -> "+s.Dst.String(), suite,
			s.Packets, s.Bytes, s.ICVFailures, s.Replays, s.Gaps)
	}
	for _, s := range d.ikeOrder {
		if s.messages+s.failures == 0 {
			continue
		}
		fmt.Fprintf(w, "IKE SA %x_i %x_r: %d messages decrypted, %d integrity failures\n", s.key.SPIi, s.key.SPIr, s.messages, s.failures)
	}
	if d.NoKey+d.Fragments+d.OtherIKE > 0 {
		fmt.Fprintf(w, "not decrypted: %d ESP packets without a key, %d fragments, %d IKEv1 messages\n", d.NoKey, d.Fragments, d.OtherIKE)
	}
}
