package ike

import (
	"bytes"
	"encoding/hex"
	"net/netip"

	"github.com/ipsecgo/ipsec/isakmp"
)

// IKEv1 vendor IDs and NAT traversal (RFC 3947, RFC 3706 2).

func vidHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("ike: bad built-in vendor ID") // constant input, checked by TestVendorIDsV1
	}
	return b
}

var (
	// vidRFC3947 is MD5("RFC 3947") (RFC 3947 3.1).
	vidRFC3947 = vidHex("4a131c81070358455c5728f20e95452f")
	// vidNATTDraft02 is MD5("draft-ietf-ipsec-nat-t-ike-02\n"), the draft
	// Windows XP and Server 2003 implement (with payload types 130/131
	// and encapsulation modes 61443/61444).
	vidNATTDraft02 = vidHex("90cb80913ebb696e086381b5ec427b1f")
	// vidDPD announces RFC 3706 dead peer detection (RFC 3706 2; version
	// 1.0 in its last two octets).
	vidDPD = vidHex("afcad71368a1f1c96b8696fc77570100")
	// vidMicrosoft is MD5("MS NT5 ISAKMPOAKLEY") followed by a version:
	// 4 is Windows Server 2003 (the version its own IKE sends), which
	// makes Windows peers treat us as one of theirs.
	vidMicrosoft       = vidHex("1e2b516905991c7d7c96fcbfb587e46100000004")
	vidMicrosoftPrefix = vidMicrosoft[:16]
)

type nattVersion uint8

const (
	nattNone nattVersion = iota
	nattRFC
	nattDraft
)

// vendorIDs returns the Vendor ID payloads this side sends in its first
// phase 1 message.
func vendorIDsV1() []isakmp.Payload {
	return []isakmp.Payload{&isakmp.V1VendorID{Data: vidRFC3947}, &isakmp.V1VendorID{Data: vidNATTDraft02},
		&isakmp.V1VendorID{Data: vidDPD}, &isakmp.V1VendorID{Data: vidMicrosoft}}
}

// noteVendorIDs records what the peer announced. NAT-T is used in the
// RFC 3947 form when the peer sent its vendor ID, else in the draft-02
// form when it sent that one.
func (s *SessionV1) noteVendorIDs(ps []isakmp.Payload) {
	rfc, draft := false, false
	for _, p := range ps {
		v, ok := p.(*isakmp.V1VendorID)
		if !ok {
			continue
		}
		switch {
		case bytes.Equal(v.Data, vidRFC3947):
			rfc = true
		case bytes.Equal(v.Data, vidNATTDraft02):
			draft = true
		case bytes.Equal(v.Data, vidDPD):
			s.peerDPD = true
		case len(v.Data) == 20 && bytes.HasPrefix(v.Data, vidMicrosoftPrefix):
			s.peerMS = true
		case isGSSVendorID(v.Data):
			s.peerGSS = true
		}
	}
	switch {
	case rfc:
		s.natt = nattRFC
	case draft:
		s.natt = nattDraft
	}
}

// natdV1 is the NAT-D hash of RFC 3947 3.2 with the negotiated hash:
//
//	HASH = HASH(CKY-I | CKY-R | IP | Port)
func natdV1(h *v1HashAlg, ckyI, ckyR [8]byte, ap netip.AddrPort) []byte {
	ip := ap.Addr().Unmap().AsSlice()
	return h.sum(ckyI[:], ckyR[:], ip, be16(ap.Port()))
}

func be16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

// natdPayloads returns the NAT-D payloads of MM3/MM4 (AM2/AM3): the
// peer's address first, then ours (RFC 3947 3.2); with ForceUDPEncap our
// own hash is random, faking a NAT as strongSwan's encap=yes does.
func (s *SessionV1) natdPayloads(sa *isakmpSA) []isakmp.Payload {
	if s.natt == nattNone {
		return nil
	}
	draft := s.natt == nattDraft
	mine := natdV1(sa.x.hash, sa.ckyI, sa.ckyR, s.local)
	if s.cfg.ForceUDPEncap {
		mine = s.random(sa.x.hash.size)
	}
	return []isakmp.Payload{
		&isakmp.V1NATD{Draft: draft, Hash: natdV1(sa.x.hash, sa.ckyI, sa.ckyR, s.remote)},
		&isakmp.V1NATD{Draft: draft, Hash: mine},
	}
}

// detectNAT compares the peer's NAT-D payloads with the addresses seen
// (RFC 3947 3.2): the first is the hash of the address the peer sent to
// (ours) and, if it differs, we are behind a NAT; the others are the
// peer's own addresses and, if none is the source we saw, the peer is.
func (s *SessionV1) detectNAT(sa *isakmpSA, ps []isakmp.Payload) {
	if s.natt == nattNone {
		return
	}
	var hashes [][]byte
	for _, p := range ps {
		if n, ok := p.(*isakmp.V1NATD); ok {
			hashes = append(hashes, n.Hash)
		}
	}
	if len(hashes) < 2 {
		// The peer does not do NAT-T after all.
		s.natt = nattNone
		return
	}
	s.localNAT = s.cfg.ForceUDPEncap || !bytes.Equal(hashes[0], natdV1(sa.x.hash, sa.ckyI, sa.ckyR, s.local))
	peer := natdV1(sa.x.hash, sa.ckyI, sa.ckyR, s.remote)
	s.remoteNAT = true
	for _, h := range hashes[1:] {
		if bytes.Equal(h, peer) {
			s.remoteNAT = false
		}
	}
}
