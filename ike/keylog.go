package ike

import (
	"io"
	"sync"

	"github.com/ipsecgo/ipsec/ike/keylog"
	"github.com/ipsecgo/ipsec/isakmp"
)

// keyLogMu serializes writes to every KeyLogWriter, as crypto/tls does, so
// that sessions sharing a writer never interleave lines.
var keyLogMu sync.Mutex

func writeKeyLog(w io.Writer, line []byte) {
	keyLogMu.Lock()
	defer keyLogMu.Unlock()
	_, _ = w.Write(line)
}

// logIKESAKeys writes the IKEV2 line of sa (package keylog documents the
// format) if Config.KeyLogWriter is set. It is called wherever an IKE
// SA's keys are derived: IKE_SA_INIT and IKE SA rekeys (RFC 7296 2.14,
// 2.18).
func (s *Session) logIKESAKeys(sa *ikeSA) {
	w := s.cfg.KeyLogWriter
	if w == nil {
		return
	}
	writeKeyLog(w, keylog.AppendIKEv2(nil, &keylog.IKEv2SA{
		SPIi: sa.spiI, SPIr: sa.spiR,
		Encr: uint16(sa.chosen.encr.ID), SKei: sa.keys.ei, SKer: sa.keys.er,
		Integ: uint16(sa.chosen.integ), SKai: sa.keys.ai, SKar: sa.keys.ar,
	}))
}

// logIKEv1SAKeys writes the IKEV1 line of an ISAKMP SA if w is set: the
// cookies, the IKEv1 Encryption Algorithm attribute value (RFC 2409
// Appendix A) and the key given to the cipher (RFC 2409 Appendix B). The
// IKEv1 session calls it once its phase 1 keys are derived.
func logIKEv1SAKeys(w io.Writer, cookieI, cookieR [8]byte, encr uint16, key []byte) {
	if w == nil {
		return
	}
	writeKeyLog(w, keylog.AppendIKEv1(nil, &keylog.IKEv1SA{CookieI: cookieI, CookieR: cookieR, Encr: encr, Key: key}))
}

// logChildSAKeys writes the two ESP or AH lines of c (inbound, then
// outbound) if w is set. Both IKE versions call it for every CHILD SA
// they make.
func logChildSAKeys(w io.Writer, c *ChildSA) {
	if w == nil {
		return
	}
	proto := uint8(keylog.ProtocolESP)
	if c.Protocol == isakmp.ProtocolAH {
		proto = keylog.ProtocolAH
	}
	in := keylog.ChildSA{Protocol: proto, SPI: c.InboundSPI, Src: c.RemoteAddr, Dst: c.LocalAddr,
		Encr: uint16(c.Encr.ID), Key: c.InboundEncKey, Integ: uint16(c.Integ), IKey: c.InboundIntegKey,
		ESN: c.ESN, EncapSrcPort: c.EncapRemotePort, EncapDstPort: c.EncapLocalPort, Tunnel: c.Mode == Tunnel}
	out := in
	out.SPI, out.Src, out.Dst = c.OutboundSPI, c.LocalAddr, c.RemoteAddr
	out.Key, out.IKey = c.OutboundEncKey, c.OutboundIntegKey
	out.EncapSrcPort, out.EncapDstPort = c.EncapLocalPort, c.EncapRemotePort
	b := keylog.AppendChild(nil, &in)
	writeKeyLog(w, keylog.AppendChild(b, &out))
}
