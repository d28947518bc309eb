package ike

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// child is an established CHILD SA and its timers.
type child struct {
	sa       ChildSA
	rekeyAt  time.Time
	expireAt time.Time
	// rekeyed is set once a successor exists; the SA then only waits
	// for its delete.
	rekeyed bool
	// rekeying is set while our rekey request for it is outstanding;
	// collision is the SA the peer created by rekeying it meanwhile.
	rekeying  bool
	collision *child
	// deleting is set while our Delete for it is outstanding.
	deleting bool
	// nonces of the CREATE_CHILD_SA exchange that created it, for the
	// simultaneous-rekey rule of RFC 7296 2.8.1.
	ni, nr []byte
}

// childReq is a CHILD SA request of ours in flight (IKE_AUTH or
// CREATE_CHILD_SA).
type childReq struct {
	spi       uint32
	ni        []byte
	kx        *keyExchange // PFS, or nil
	tsi, tsr  []isakmp.TrafficSelector
	transport bool
	old       *child // the SA being rekeyed, or nil
	keRetries int
}

var errChild = errors.New("ike: CHILD SA negotiation failed")

func (s *Session) findChild(inbound uint32) *child {
	for _, c := range s.children {
		if c.sa.InboundSPI == inbound {
			return c
		}
	}
	return nil
}

func (s *Session) findChildOut(outbound uint32, proto isakmp.ProtocolID) *child {
	for _, c := range s.children {
		if c.sa.OutboundSPI == outbound && c.sa.Protocol == proto {
			return c
		}
	}
	return nil
}

func (s *Session) removeChild(c *child) {
	s.children = slices.DeleteFunc(s.children, func(x *child) bool { return x == c })
}

// allocSPI returns a new inbound CHILD SA SPI: from Config.SPI, or random
// and at least 256 (1-255 are reserved by IANA, RFC 4303 2.1).
func (s *Session) allocSPI() (uint32, error) {
	if s.cfg.SPI != nil {
		return s.cfg.SPI()
	}
	for {
		spi := binary.BigEndian.Uint32(s.random(4))
		if spi >= 256 && s.findChild(spi) == nil {
			return spi, nil
		}
	}
}

// pfsGroup is the key exchange method for a CREATE_CHILD_SA request: the
// old SA's if it had one and it is still configured, else the first
// configured one; GroupNone without PFS.
func (s *Session) pfsGroup(old *child) isakmp.KEGroup {
	props := s.cfg.ChildProposals
	if len(props) == 0 || len(props[0].KE) == 0 {
		return isakmp.GroupNone
	}
	if old != nil && old.sa.PFS != isakmp.GroupNone && offersGroup(props, old.sa.PFS) {
		return old.sa.PFS
	}
	return props[0].KE[0]
}

// newChildReq prepares a CHILD SA request. inAuth: in IKE_AUTH, without
// nonce or key exchange.
func (s *Session) newChildReq(inAuth bool, old *child, group isakmp.KEGroup) (*childReq, error) {
	spi, err := s.allocSPI()
	if err != nil {
		return nil, err
	}
	r := &childReq{spi: spi, old: old, transport: s.cfg.Mode == Transport,
		tsi: s.cfg.LocalTS, tsr: s.cfg.RemoteTS}
	if old != nil {
		r.tsi, r.tsr = old.sa.LocalTS, old.sa.RemoteTS
		r.transport = old.sa.Mode == Transport
	}
	if !inAuth {
		r.ni = s.random(nonceLen)
		if group != isakmp.GroupNone {
			if r.kx, err = dhGroupByID(group).generate(s.rand); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// payloads returns the request payloads for the CHILD SA (RFC 7296 1.2,
// 1.3.1, 1.3.3):
//
//	[N(REKEY_SA),] [N(USE_TRANSPORT_MODE),] SA, [Ni, [KEi],] TSi, TSr
func (r *childReq) payloads(props []Proposal, inAuth bool) []isakmp.Payload {
	var ps []isakmp.Payload
	if r.old != nil {
		ps = append(ps, &isakmp.Notify{Protocol: r.old.sa.Protocol, SPI: be32(r.old.sa.InboundSPI),
			NotifyType: isakmp.NotifyRekeySA})
	}
	if r.transport {
		ps = append(ps, notify(isakmp.NotifyUseTransportMode, nil))
	}
	saPay := &isakmp.SA{}
	for i := range props {
		saPay.Proposals = append(saPay.Proposals, props[i].wireProposal(uint8(i+1), be32(r.spi), !inAuth))
	}
	ps = append(ps, saPay)
	if !inAuth {
		ps = append(ps, &isakmp.Nonce{Data: r.ni})
		if r.kx != nil {
			ps = append(ps, &isakmp.KE{Group: r.kx.group.id, Data: r.kx.public()})
		}
	}
	return append(ps,
		&isakmp.TS{Selectors: r.tsi},
		&isakmp.TS{Responder: true, Selectors: r.tsr})
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// keymat derives the CHILD SA keys (RFC 7296 2.17) and returns them split
// as initiator-to-responder encryption and integrity keys, then
// responder-to-initiator, where "initiator" is the initiator of the
// exchange that created the SA.
func (s *Session) keymat(c chosen, gir, ni, nr []byte) (ei, ai, er, ar []byte, err error) {
	el := childEncrKeyLen(c.encr)
	if c.proto == isakmp.ProtocolAH {
		el = 0
	}
	il := childIntegKeyLen(c.integ)
	if el < 0 || il < 0 {
		return nil, nil, nil, nil, errNoProposal
	}
	km, err := childKeymat(s.sa.suite.prf, s.sa.keys.d, gir, ni, nr, 2*(el+il))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return km[:el:el], km[el : el+il : el+il], km[el+il : 2*el+il : 2*el+il], km[2*el+il:], nil
}

// newChild builds the CHILD SA from the chosen proposal and keys, and
// arms its rekey and expiry timers with jitter (RFC 7296 2.8).
func (s *Session) newChild(now time.Time, c chosen, inbound, outbound uint32, inKeys, outKeys [2][]byte,
	local, remote []isakmp.TrafficSelector, transport bool, ni, nr []byte) *child {
	rekey := s.cfg.childRekey()
	if j := s.cfg.jitter(rekey); j > 0 {
		n, err := randInt(s, int64(j))
		if err == nil {
			rekey -= time.Duration(n)
		}
	}
	hard := s.cfg.childLifetime()
	mode := Tunnel
	if transport {
		mode = Transport
	}
	ch := &child{
		sa: ChildSA{Protocol: c.proto, Mode: mode, InboundSPI: inbound, OutboundSPI: outbound,
			Encr: c.encr, Integ: c.integ, ESN: c.esn == isakmp.ESNYes, PFS: c.ke,
			InboundEncKey: inKeys[0], InboundIntegKey: inKeys[1],
			OutboundEncKey: outKeys[0], OutboundIntegKey: outKeys[1],
			LocalTS: slices.Clone(local), RemoteTS: slices.Clone(remote),
			LocalAddr: s.local.Addr(), RemoteAddr: s.remote.Addr(),
			SoftLifetime: rekey, HardLifetime: hard, Established: now},
		rekeyAt: now.Add(rekey), expireAt: now.Add(hard),
		ni: bytes.Clone(ni), nr: bytes.Clone(nr),
	}
	if c.proto == isakmp.ProtocolAH {
		ch.sa.Encr = Encr{}
	}
	if s.UDPEncap() {
		ch.sa.EncapLocalPort, ch.sa.EncapRemotePort = s.local.Port(), s.remote.Port()
	}
	s.children = append(s.children, ch)
	return ch
}

func randInt(s *Session, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	v, err := randBig(s, big.NewInt(n))
	if err != nil {
		return 0, err
	}
	return v.Int64(), nil
}

func randBig(s *Session, max *big.Int) (*big.Int, error) {
	b := s.random((max.BitLen()+7)/8 + 8)
	return new(big.Int).Mod(new(big.Int).SetBytes(b), max), nil
}

// answerChild handles a CHILD SA request from the peer (IKE_AUTH or
// CREATE_CHILD_SA) and returns the payloads of the answer:
//
//	[N(USE_TRANSPORT_MODE),] SA, [Nr, [KEr],] TSi, TSr
//
// or a single error notification (NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD,
// TS_UNACCEPTABLE, RFC 7296 1.3, 2.9). ni and nr are the nonces of
// IKE_SA_INIT when inAuth; otherwise ni is nil and the request's Nonce is
// used with a fresh nr.
func (s *Session) answerChild(now time.Time, ps []isakmp.Payload, inAuth bool, ni, nr []byte, old *child) ([]isakmp.Payload, *child, error) {
	refuse := func(t isakmp.NotifyType, data []byte) ([]isakmp.Payload, *child, error) {
		return []isakmp.Payload{notify(t, data)}, nil, fmt.Errorf("%w: %v", errChild, t)
	}
	saPay := find[*isakmp.SA](ps)
	tsi, tsr := findTS(ps, false), findTS(ps, true)
	if saPay == nil || tsi == nil || tsr == nil {
		return refuse(isakmp.NotifyInvalidSyntax, nil)
	}
	if len(s.cfg.ChildProposals) == 0 {
		return refuse(isakmp.NotifyNoProposalChosen, nil)
	}
	if old == nil && !inAuth && s.atChildLimit() {
		// RFC 7296 1.3: the responder may refuse more CHILD SAs.
		s.stats.NoAdditionalSAs++
		return refuse(isakmp.NotifyNoAdditionalSAs, nil)
	}
	transport := findNotify(ps, isakmp.NotifyUseTransportMode) != nil
	want := s.cfg.Mode == Transport
	if old != nil {
		want = old.sa.Mode == Transport
	}
	if transport != want {
		return refuse(isakmp.NotifyNoProposalChosen, nil)
	}
	ke := find[*isakmp.KE](ps)
	prefer := isakmp.GroupNone
	if ke != nil {
		prefer = ke.Group
	}
	c, ok := selectProposal(s.cfg.ChildProposals, saPay.Proposals, !inAuth, prefer)
	if !ok || len(c.spi) != 4 || binary.BigEndian.Uint32(c.spi) < 256 {
		return refuse(isakmp.NotifyNoProposalChosen, nil)
	}
	if !inAuth && c.ke != isakmp.GroupNone && (ke == nil || ke.Group != c.ke) {
		return refuse(isakmp.NotifyInvalidKEPayload, u16(uint16(c.ke)))
	}
	ntsi := narrow(tsi.Selectors, s.cfg.RemoteTS)
	ntsr := narrow(tsr.Selectors, s.cfg.LocalTS)
	if len(ntsi) == 0 || len(ntsr) == 0 {
		return refuse(isakmp.NotifyTSUnacceptable, nil)
	}
	var gir []byte
	var kx *keyExchange
	if !inAuth {
		nonce := find[*isakmp.Nonce](ps)
		if nonce == nil || len(nonce.Data) < minNonceLen || len(nonce.Data) > maxNonceLen {
			return refuse(isakmp.NotifyInvalidSyntax, nil)
		}
		ni, nr = nonce.Data, s.random(nonceLen)
		if c.ke != isakmp.GroupNone {
			var err error
			if kx, err = dhGroupByID(c.ke).generate(s.rand); err != nil {
				return refuse(isakmp.NotifyNoProposalChosen, nil)
			}
			if gir, err = kx.sharedSecret(ke.Data); err != nil {
				return refuse(isakmp.NotifyInvalidSyntax, nil)
			}
		}
	}
	spi, err := s.allocSPI()
	if err != nil {
		return refuse(isakmp.NotifyNoAdditionalSAs, nil)
	}
	ei, ai, er, ar, err := s.keymat(c, gir, ni, nr)
	if err != nil {
		return refuse(isakmp.NotifyNoProposalChosen, nil)
	}
	// The peer initiated this exchange: its keys (i->r) are our inbound.
	ch := s.newChild(now, c, spi, binary.BigEndian.Uint32(c.spi), [2][]byte{ei, ai}, [2][]byte{er, ar},
		ntsr, ntsi, transport, ni, nr)
	var out []isakmp.Payload
	if transport {
		out = append(out, notify(isakmp.NotifyUseTransportMode, nil))
	}
	out = append(out, &isakmp.SA{Proposals: []isakmp.Proposal{c.wire(be32(spi))}})
	if !inAuth {
		out = append(out, &isakmp.Nonce{Data: nr})
		if kx != nil {
			out = append(out, &isakmp.KE{Group: c.ke, Data: kx.public()})
		}
	}
	out = append(out, &isakmp.TS{Selectors: ntsi}, &isakmp.TS{Responder: true, Selectors: ntsr})
	return out, ch, nil
}

// atChildLimit reports whether the IKE SA has Config.MaxChildSAs CHILD
// SAs (rekeyed ones waiting for their Delete not counted).
func (s *Session) atChildLimit() bool {
	limit := s.cfg.maxChildSAs()
	if limit == 0 {
		return false
	}
	n := 0
	for _, c := range s.children {
		if !c.rekeyed {
			n++
		}
	}
	return n >= limit
}

// finishChild handles the answer to our CHILD SA request: checks that the
// responder chose one of our proposals and only narrowed our selectors,
// then derives the keys. ni and nr are the IKE_SA_INIT nonces when inAuth.
func (s *Session) finishChild(now time.Time, r *childReq, ps []isakmp.Payload, inAuth bool, ni, nr []byte) (*child, error) {
	if n := errorNotify(ps); n != nil {
		return nil, NotifyError(n.NotifyType)
	}
	c, ok := checkAccepted(s.cfg.ChildProposals, find[*isakmp.SA](ps), !inAuth)
	if !ok || len(c.spi) != 4 || binary.BigEndian.Uint32(c.spi) < 256 {
		return nil, fmt.Errorf("%w: the responder's SA payload is not one of ours", errChild)
	}
	tsi, tsr := findTS(ps, false), findTS(ps, true)
	if tsi == nil || tsr == nil || !covered(tsi.Selectors, r.tsi) || !covered(tsr.Selectors, r.tsr) {
		return nil, fmt.Errorf("%w: traffic selectors not a subset of ours", errChild)
	}
	if (findNotify(ps, isakmp.NotifyUseTransportMode) != nil) != r.transport {
		return nil, fmt.Errorf("%w: mode mismatch", errChild)
	}
	var gir []byte
	if !inAuth {
		nonce := find[*isakmp.Nonce](ps)
		if nonce == nil || len(nonce.Data) < minNonceLen || len(nonce.Data) > maxNonceLen {
			return nil, fmt.Errorf("%w: bad or missing nonce", errChild)
		}
		ni, nr = r.ni, nonce.Data
		want := isakmp.GroupNone
		if r.kx != nil {
			want = r.kx.group.id
		}
		if c.ke != want {
			return nil, fmt.Errorf("%w: responder chose %v, we sent KE for %v", errChild, c.ke, want)
		}
		if r.kx != nil {
			ke := find[*isakmp.KE](ps)
			if ke == nil || ke.Group != want {
				return nil, fmt.Errorf("%w: missing KE payload", errChild)
			}
			var err error
			if gir, err = r.kx.sharedSecret(ke.Data); err != nil {
				return nil, err
			}
		}
	}
	ei, ai, er, ar, err := s.keymat(c, gir, ni, nr)
	if err != nil {
		return nil, err
	}
	return s.newChild(now, c, r.spi, binary.BigEndian.Uint32(c.spi), [2][]byte{er, ar}, [2][]byte{ei, ai},
		tsi.Selectors, tsr.Selectors, r.transport, ni, nr), nil
}
