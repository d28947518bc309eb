package keylog

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Labels of the key log lines.
const (
	LabelIKEv2 = "IKEV2"
	LabelIKEv1 = "IKEV1"
	LabelESP   = "ESP"
	LabelAH    = "AH"
)

// IP protocol numbers of ChildSA.Protocol.
const (
	ProtocolESP = 50
	ProtocolAH  = 51
)

// maxLine bounds one line of a key log (the longest real line is about
// 400 bytes); longer lines are an error, not an allocation.
const maxLine = 4096

// IKEv2SA is one IKE SA's protection keys (RFC 7296 2.14). A zero SPIi
// means the SPIs are not known (strongSwan logs its keys without them);
// a consumer binds such an entry to the first message it authenticates. It
// is a plain value.
type IKEv2SA struct {
	SPIi, SPIr [8]byte
	Encr       uint16 // IKEv2 Transform Type 1 ID
	SKei, SKer []byte // key and, for AEADs, salt
	Integ      uint16 // IKEv2 Transform Type 3 ID; 0 for AEADs
	SKai, SKar []byte
}

// IKEv1SA is one ISAKMP SA's encryption key (RFC 2409 Appendix B). It is
// a plain value.
type IKEv1SA struct {
	CookieI, CookieR [8]byte
	Encr             uint16 // IKEv1 phase 1 Encryption Algorithm attribute value
	Key              []byte
}

// ChildSA is one direction of a CHILD SA: packets from Src to Dst carry
// SPI. Invalid Src or Dst match any address. It is a plain value.
type ChildSA struct {
	Protocol uint8 // ProtocolESP or ProtocolAH
	SPI      uint32
	Src, Dst netip.Addr
	Encr     uint16 // esp.Cipher
	Key      []byte // esp.Config.CipherKey: key and salt
	Integ    uint16 // esp.Integrity
	IKey     []byte
	ESN      bool
	// EncapSrcPort and EncapDstPort are the RFC 3948 UDP ports, zero for
	// bare ESP.
	EncapSrcPort, EncapDstPort uint16
	Tunnel                     bool
}

// Log is the content of a key log. It is a plain value.
type Log struct {
	IKEv2 []IKEv2SA
	IKEv1 []IKEv1SA
	Child []ChildSA
}

// AppendIKEv2 appends the IKEV2 line for sa, newline included.
func AppendIKEv2(b []byte, sa *IKEv2SA) []byte {
	b = append(b, LabelIKEv2...)
	b = appendHex(b, " SPII=", sa.SPIi[:])
	b = appendHex(b, " SPIR=", sa.SPIr[:])
	b = appendUint(b, " ENCR=", uint64(sa.Encr))
	b = appendHex(b, " SK_EI=", sa.SKei)
	b = appendHex(b, " SK_ER=", sa.SKer)
	b = appendUint(b, " INTEG=", uint64(sa.Integ))
	b = appendHex(b, " SK_AI=", sa.SKai)
	b = appendHex(b, " SK_AR=", sa.SKar)
	return append(b, '\n')
}

// AppendIKEv1 appends the IKEV1 line for sa, newline included.
func AppendIKEv1(b []byte, sa *IKEv1SA) []byte {
	b = append(b, LabelIKEv1...)
	b = appendHex(b, " CKYI=", sa.CookieI[:])
	b = appendHex(b, " CKYR=", sa.CookieR[:])
	b = appendUint(b, " ENCR=", uint64(sa.Encr))
	b = appendHex(b, " KEY=", sa.Key)
	return append(b, '\n')
}

// AppendChild appends the ESP or AH line for sa, newline included.
func AppendChild(b []byte, sa *ChildSA) []byte {
	if sa.Protocol == ProtocolAH {
		b = append(b, LabelAH...)
	} else {
		b = append(b, LabelESP...)
	}
	b = fmt.Appendf(b, " SPI=%08x SRC=%s DST=%s", sa.SPI, addrString(sa.Src), addrString(sa.Dst))
	if sa.Protocol != ProtocolAH {
		b = appendUint(b, " ENCR=", uint64(sa.Encr))
		b = appendHex(b, " KEY=", sa.Key)
	}
	b = appendUint(b, " INTEG=", uint64(sa.Integ))
	b = appendHex(b, " IKEY=", sa.IKey)
	esn := 0
	if sa.ESN {
		esn = 1
	}
	b = appendUint(b, " ESN=", uint64(esn))
	if sa.Protocol != ProtocolAH {
		b = fmt.Appendf(b, " ENCAP=%d/%d", sa.EncapSrcPort, sa.EncapDstPort)
	}
	mode := "transport"
	if sa.Tunnel {
		mode = "tunnel"
	}
	b = append(b, " MODE="...)
	b = append(b, mode...)
	return append(b, '\n')
}

// addrString formats an address, "-" for none (any address).
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func appendHex(b []byte, name string, v []byte) []byte {
	b = append(b, name...)
	return hex.AppendEncode(b, v)
}

func appendUint(b []byte, name string, v uint64) []byte {
	b = append(b, name...)
	return strconv.AppendUint(b, v, 10)
}

// ErrSyntax is wrapped by the errors of Parse for lines it cannot read.
var ErrSyntax = errors.New("keylog: syntax error")

// Parse reads a key log in this package's format. Unknown labels and
// fields are skipped; a known line with a missing or malformed field is an
// error naming the line.
func Parse(r io.Reader) (*Log, error) {
	l := &Log{}
	err := eachLine(r, func(n int, line string) error {
		if err := l.parseLine(line); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		return nil
	})
	return l, err
}

// eachLine calls f for every line of r (without its end of line), numbered
// from 1, refusing lines longer than maxLine.
func eachLine(r io.Reader, f func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxLine)
	n := 0
	for sc.Scan() {
		n++
		if err := f(n, strings.TrimRight(sc.Text(), "\r")); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("keylog: line %d: %w", n+1, err)
	}
	return nil
}

// fields splits a line into its label and NAME=VALUE map.
func fields(line string) (string, map[string]string, error) {
	parts := strings.Fields(line)
	if len(parts) == 0 {
		return "", nil, nil
	}
	m := make(map[string]string, len(parts)-1)
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return "", nil, fmt.Errorf("%w: field %q is not NAME=VALUE", ErrSyntax, p)
		}
		m[k] = v
	}
	return parts[0], m, nil
}

func (l *Log) parseLine(line string) error {
	if strings.HasPrefix(strings.TrimSpace(line), "#") {
		return nil
	}
	label, m, err := fields(line)
	if err != nil || label == "" {
		return err
	}
	p := fieldParser{m: m}
	switch label {
	case LabelIKEv2:
		sa := IKEv2SA{SPIi: p.spi8("SPII"), SPIr: p.spi8("SPIR"), Encr: p.u16("ENCR"),
			SKei: p.hex("SK_EI"), SKer: p.hex("SK_ER"), Integ: p.u16("INTEG"),
			SKai: p.hex("SK_AI"), SKar: p.hex("SK_AR")}
		if p.err == nil {
			l.IKEv2 = append(l.IKEv2, sa)
		}
	case LabelIKEv1:
		sa := IKEv1SA{CookieI: p.spi8("CKYI"), CookieR: p.spi8("CKYR"), Encr: p.u16("ENCR"), Key: p.hex("KEY")}
		if p.err == nil {
			l.IKEv1 = append(l.IKEv1, sa)
		}
	case LabelESP, LabelAH:
		sa := ChildSA{Protocol: ProtocolESP, SPI: p.spi4("SPI"), Src: p.addr("SRC"), Dst: p.addr("DST"),
			Integ: p.u16("INTEG"), IKey: p.hex("IKEY"), ESN: p.u16("ESN") == 1, Tunnel: p.str("MODE") == "tunnel"}
		if label == LabelAH {
			sa.Protocol = ProtocolAH
		} else {
			sa.Encr, sa.Key = p.u16("ENCR"), p.hex("KEY")
			sa.EncapSrcPort, sa.EncapDstPort = p.ports("ENCAP")
		}
		if p.err == nil {
			l.Child = append(l.Child, sa)
		}
	}
	return p.err
}

// fieldParser reads the fields of one line, keeping the first error.
type fieldParser struct {
	m   map[string]string
	err error
}

func (p *fieldParser) str(name string) string {
	v, ok := p.m[name]
	if !ok && p.err == nil {
		p.err = fmt.Errorf("%w: field %s missing", ErrSyntax, name)
	}
	return v
}

func (p *fieldParser) fail(name, v string) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: bad %s %q", ErrSyntax, name, v)
	}
}

func (p *fieldParser) hex(name string) []byte {
	v := p.str(name)
	b, err := hex.DecodeString(v)
	if err != nil {
		p.fail(name, v)
	}
	return b
}

func (p *fieldParser) spi8(name string) [8]byte {
	b := p.hex(name)
	if len(b) != 8 {
		p.fail(name, p.m[name])
		return [8]byte{}
	}
	return [8]byte(b)
}

func (p *fieldParser) spi4(name string) uint32 {
	b := p.hex(name)
	if len(b) != 4 {
		p.fail(name, p.m[name])
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (p *fieldParser) u16(name string) uint16 {
	v := p.str(name)
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		p.fail(name, v)
	}
	return uint16(n)
}

func (p *fieldParser) addr(name string) netip.Addr {
	v := p.str(name)
	if v == "-" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		p.fail(name, v)
	}
	return a
}

func (p *fieldParser) ports(name string) (uint16, uint16) {
	v := p.str(name)
	s, d, ok := strings.Cut(v, "/")
	sp, err1 := strconv.ParseUint(s, 10, 16)
	dp, err2 := strconv.ParseUint(d, 10, 16)
	if !ok || err1 != nil || err2 != nil || (sp == 0) != (dp == 0) {
		p.fail(name, v)
	}
	return uint16(sp), uint16(dp)
}
