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
	// cfg is the Config it was negotiated with (the session's, or one
	// from a ChildRequest or GetConfigForRequest); its rekeys use it.
	cfg *Config
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
	cfg       *Config // proposals, selectors, mode, lifetimes and Tag
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

// pfsGroup is the key exchange method for a CREATE_CHILD_SA request with
// cfg's proposals: the old SA's if it had one and it is still configured,
// else the first configured one; GroupNone without PFS.
func pfsGroup(cfg *Config, old *child) isakmp.KEGroup {
	props := cfg.ChildProposals
	if len(props) == 0 || len(props[0].KE) == 0 {
		return isakmp.GroupNone
	}
	if old != nil && old.sa.PFS != isakmp.GroupNone && offersGroup(props, old.sa.PFS) {
		return old.sa.PFS
	}
	return props[0].KE[0]
}

// newChildReq prepares a CHILD SA request with cfg's proposals,
// selectors and mode, or, for a rekey, old's. inAuth: in IKE_AUTH,
// without nonce or key exchange. The selectors of a triggering packet in
// req, if any, go first (RFC 7296 2.9).
func (s *Session) newChildReq(cfg *Config, inAuth bool, old *child, group isakmp.KEGroup, req *ChildRequest) (*childReq, error) {
	spi, err := s.allocSPI()
	if err != nil {
		return nil, err
	}
	r := &childReq{spi: spi, old: old, cfg: cfg, transport: cfg.Mode == Transport,
		tsi: cfg.LocalTS, tsr: cfg.RemoteTS}
	if old != nil {
		r.tsi, r.tsr = old.sa.LocalTS, old.sa.RemoteTS
		r.transport = old.sa.Mode == Transport
	} else if req != nil {
		if req.TriggerLocal != nil {
			r.tsi = append([]isakmp.TrafficSelector{*req.TriggerLocal}, r.tsi...)
		}
		if req.TriggerRemote != nil {
			r.tsr = append([]isakmp.TrafficSelector{*req.TriggerRemote}, r.tsr...)
		}
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
		return nil, nil, nil, nil, ErrNoProposalChosen
	}
	km, err := childKeymat(s.sa.suite.prf, s.sa.keys.d, gir, ni, nr, 2*(el+il))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return km[:el:el], km[el : el+il : el+il], km[el+il : 2*el+il : 2*el+il], km[2*el+il:], nil
}

// newChild builds the CHILD SA negotiated with cfg from the chosen
// proposal and keys, and arms its rekey and expiry timers with jitter (RFC
// 7296 2.8).
func (s *Session) newChild(now time.Time, cfg *Config, c chosen, inbound, outbound uint32, inKeys, outKeys [2][]byte,
	local, remote []isakmp.TrafficSelector, transport bool, ni, nr []byte) *child {
	rekey := cfg.childRekey()
	if j := cfg.jitter(rekey); j > 0 {
		n, err := randInt(s, int64(j))
		if err == nil {
			rekey -= time.Duration(n)
		}
	}
	hard := cfg.childLifetime()
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
			SoftLifetime: rekey, HardLifetime: hard, Established: now,
			Version: IKEv2, Tag: cfg.Tag},
		rekeyAt: now.Add(rekey), expireAt: now.Add(hard),
		ni: bytes.Clone(ni), nr: bytes.Clone(nr), cfg: cfg,
	}
	if c.proto == isakmp.ProtocolAH {
		ch.sa.Encr = Encr{}
	}
	if s.UDPEncap() {
		ch.sa.EncapLocalPort, ch.sa.EncapRemotePort = s.local.Port(), s.remote.Port()
	}
	s.children = append(s.children, ch)
	logChildSAKeys(s.cfg.KeyLogWriter, &ch.sa)
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

// childOffer is a CHILD SA request from the peer, parsed: the payloads
// answerChild needs, found and checked for presence.
type childOffer struct {
	sa        *isakmp.SA
	tsi, tsr  *isakmp.TS
	transport bool
	ke        *isakmp.KE // nil without PFS
	ni        []byte     // the request's nonce (CREATE_CHILD_SA only)
}

// childAnswer is what this side decided for a CHILD SA request: the chosen
// proposal, the narrowed selectors (from the initiator's point of view),
// the key exchange and nonces, and the SA made from them.
type childAnswer struct {
	c          chosen
	cfg        *Config // the Config the SA is negotiated with
	tsi, tsr   []isakmp.TrafficSelector
	transport  bool
	kx         *keyExchange
	gir        []byte
	ni, nr     []byte
	inboundSPI uint32
	// ei, ai, er, ar are the keys (RFC 7296 2.17), initiator to
	// responder first.
	ei, ai, er, ar []byte
}

// refusal is an error notification to send instead of a CHILD SA (RFC
// 7296 1.3, 2.9).
type refusal struct {
	t    isakmp.NotifyType
	data []byte
}

func refuse(t isakmp.NotifyType, data []byte) *refusal { return &refusal{t, data} }

// answerChild handles a CHILD SA request from the peer (IKE_AUTH or
// CREATE_CHILD_SA) and returns the payloads of the answer:
//
//	[N(USE_TRANSPORT_MODE),] SA, [Nr, [KEr],] TSi, TSr
//
// or a single error notification (NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD,
// TS_UNACCEPTABLE, RFC 7296 1.3, 2.9); the error then wraps ErrChildSA
// and the NotifyError sent. ni and nr are the nonces of IKE_SA_INIT when
// inAuth; otherwise ni is nil and the request's Nonce is used with a
// fresh nr. The steps: parseChildOffer, selectChild, childKeyExchange and
// keymat (decideChild), then installChild and the answer's payloads.
func (s *Session) answerChild(now time.Time, ps []isakmp.Payload, inAuth bool, ni, nr []byte, old *child) ([]isakmp.Payload, *child, error) {
	a, r := s.decideChild(ps, inAuth, ni, nr, old)
	if r != nil {
		return []isakmp.Payload{notify(r.t, r.data)}, nil, fmt.Errorf("%w: %w", ErrChildSA, NotifyError(r.t))
	}
	ch := s.installChild(now, a)
	return a.payloads(inAuth), ch, nil
}

// decideChild runs the responder's steps up to the keys.
func (s *Session) decideChild(ps []isakmp.Payload, inAuth bool, ni, nr []byte, old *child) (*childAnswer, *refusal) {
	o, r := parseChildOffer(ps, inAuth)
	if r != nil {
		return nil, r
	}
	if old == nil && !inAuth && s.atChildLimit() {
		// RFC 7296 1.3: the responder may refuse more CHILD SAs.
		s.stats.NoAdditionalSAs++
		return nil, refuse(isakmp.NotifyNoAdditionalSAs, nil)
	}
	a, r := s.selectChild(o, inAuth, old)
	if r != nil {
		return nil, r
	}
	a.ni, a.nr = ni, nr
	if !inAuth {
		a.ni, a.nr = o.ni, s.random(nonceLen)
		if r := s.childKeyExchange(a, o); r != nil {
			return nil, r
		}
	}
	spi, err := s.allocSPI()
	if err != nil {
		return nil, refuse(isakmp.NotifyNoAdditionalSAs, nil)
	}
	a.inboundSPI = spi
	if a.ei, a.ai, a.er, a.ar, err = s.keymat(a.c, a.gir, a.ni, a.nr); err != nil {
		return nil, refuse(isakmp.NotifyNoProposalChosen, nil)
	}
	return a, nil
}

// parseChildOffer finds the payloads of a CHILD SA request (RFC 7296 1.3.1):
//
//	[N(USE_TRANSPORT_MODE),] SA, [Ni, [KEi],] TSi, TSr
func parseChildOffer(ps []isakmp.Payload, inAuth bool) (*childOffer, *refusal) {
	o := &childOffer{sa: find[*isakmp.SA](ps), tsi: findTS(ps, false), tsr: findTS(ps, true),
		transport: findNotify(ps, isakmp.NotifyUseTransportMode) != nil, ke: find[*isakmp.KE](ps)}
	if o.sa == nil || o.tsi == nil || o.tsr == nil {
		return nil, refuse(isakmp.NotifyInvalidSyntax, nil)
	}
	if !inAuth {
		nonce := find[*isakmp.Nonce](ps)
		if nonce == nil || len(nonce.Data) < minNonceLen || len(nonce.Data) > maxNonceLen {
			return nil, refuse(isakmp.NotifyInvalidSyntax, nil)
		}
		o.ni = nonce.Data
	}
	return o, nil
}

// selectChild checks the mode, chooses a proposal (RFC 7296 2.7) and
// narrows the selectors to the configured ones (2.9).
func (s *Session) selectChild(o *childOffer, inAuth bool, old *child) (*childAnswer, *refusal) {
	cfg, t := s.childConfig(o.tsi.Selectors, o.tsr.Selectors, old)
	if t != 0 {
		return nil, refuse(t, nil)
	}
	if len(cfg.ChildProposals) == 0 {
		return nil, refuse(isakmp.NotifyNoProposalChosen, nil)
	}
	want := cfg.Mode == Transport
	if old != nil {
		want = old.sa.Mode == Transport
	}
	if o.transport != want {
		return nil, refuse(isakmp.NotifyNoProposalChosen, nil)
	}
	prefer := isakmp.GroupNone
	if o.ke != nil {
		prefer = o.ke.Group
	}
	c, ok := selectProposal(cfg.ChildProposals, o.sa.Proposals, !inAuth, prefer)
	if !ok || len(c.spi) != 4 || binary.BigEndian.Uint32(c.spi) < 256 {
		return nil, refuse(isakmp.NotifyNoProposalChosen, nil)
	}
	if !inAuth && c.ke != isakmp.GroupNone && (o.ke == nil || o.ke.Group != c.ke) {
		return nil, refuse(isakmp.NotifyInvalidKEPayload, u16(uint16(c.ke)))
	}
	a := &childAnswer{c: c, cfg: cfg, transport: o.transport,
		tsi: narrow(o.tsi.Selectors, cfg.RemoteTS), tsr: narrow(o.tsr.Selectors, cfg.LocalTS)}
	if len(a.tsi) == 0 || len(a.tsr) == 0 {
		return nil, refuse(isakmp.NotifyTSUnacceptable, nil)
	}
	return a, nil
}

// childKeyExchange does the PFS key exchange of CREATE_CHILD_SA when the
// chosen proposal names a group (RFC 7296 1.3.1).
func (s *Session) childKeyExchange(a *childAnswer, o *childOffer) *refusal {
	if a.c.ke == isakmp.GroupNone {
		return nil
	}
	var err error
	if a.kx, err = dhGroupByID(a.c.ke).generate(s.rand); err != nil {
		return refuse(isakmp.NotifyNoProposalChosen, nil)
	}
	if a.gir, err = a.kx.sharedSecret(o.ke.Data); err != nil {
		return refuse(isakmp.NotifyInvalidSyntax, nil)
	}
	return nil
}

// installChild makes the SA. The peer initiated this exchange: its keys
// (i->r) are our inbound.
func (s *Session) installChild(now time.Time, a *childAnswer) *child {
	return s.newChild(now, a.cfg, a.c, a.inboundSPI, binary.BigEndian.Uint32(a.c.spi), [2][]byte{a.ei, a.ai}, [2][]byte{a.er, a.ar},
		a.tsr, a.tsi, a.transport, a.ni, a.nr)
}

// payloads returns the answer to the CHILD SA request (RFC 7296 1.3.1):
//
//	[N(USE_TRANSPORT_MODE),] SA, [Nr, [KEr],] TSi, TSr
func (a *childAnswer) payloads(inAuth bool) []isakmp.Payload {
	var out []isakmp.Payload
	if a.transport {
		out = append(out, notify(isakmp.NotifyUseTransportMode, nil))
	}
	out = append(out, &isakmp.SA{Proposals: []isakmp.Proposal{a.c.wire(be32(a.inboundSPI))}})
	if !inAuth {
		out = append(out, &isakmp.Nonce{Data: a.nr})
		if a.kx != nil {
			out = append(out, &isakmp.KE{Group: a.c.ke, Data: a.kx.public()})
		}
	}
	return append(out, &isakmp.TS{Selectors: a.tsi}, &isakmp.TS{Responder: true, Selectors: a.tsr})
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
	c, ok := checkAccepted(r.cfg.ChildProposals, find[*isakmp.SA](ps), !inAuth)
	if !ok || len(c.spi) != 4 || binary.BigEndian.Uint32(c.spi) < 256 {
		return nil, fmt.Errorf("%w: the responder's SA payload is not one of ours", ErrChildSA)
	}
	tsi, tsr := findTS(ps, false), findTS(ps, true)
	if tsi == nil || tsr == nil || !covered(tsi.Selectors, r.tsi) || !covered(tsr.Selectors, r.tsr) {
		return nil, fmt.Errorf("%w: traffic selectors not a subset of ours", ErrChildSA)
	}
	if (findNotify(ps, isakmp.NotifyUseTransportMode) != nil) != r.transport {
		return nil, fmt.Errorf("%w: mode mismatch", ErrChildSA)
	}
	var gir []byte
	if !inAuth {
		nonce := find[*isakmp.Nonce](ps)
		if nonce == nil || len(nonce.Data) < minNonceLen || len(nonce.Data) > maxNonceLen {
			return nil, fmt.Errorf("%w: bad or missing nonce", ErrChildSA)
		}
		ni, nr = r.ni, nonce.Data
		want := isakmp.GroupNone
		if r.kx != nil {
			want = r.kx.group.id
		}
		if c.ke != want {
			return nil, fmt.Errorf("%w: responder chose %v, we sent KE for %v", ErrChildSA, c.ke, want)
		}
		if r.kx != nil {
			ke := find[*isakmp.KE](ps)
			if ke == nil || ke.Group != want {
				return nil, fmt.Errorf("%w: missing KE payload", ErrChildSA)
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
	ch := s.newChild(now, r.cfg, c, r.spi, binary.BigEndian.Uint32(c.spi), [2][]byte{er, ar}, [2][]byte{ei, ai},
		tsi.Selectors, tsr.Selectors, r.transport, ni, nr)
	ch.sa.Initiator = true
	return ch, nil
}

// childConfig returns the Config for the peer's CHILD SA request with
// selectors tsi and tsr: the old SA's for a rekey; otherwise the one the
// responder's GetConfigForRequest hook chooses (RFC 7296 2.9 leaves the
// choice of policy to the responder), or the session's. A refusal is
// returned as the notification to answer with: the hook's NotifyError if
// it returned one, else TS_UNACCEPTABLE.
func (s *Session) childConfig(tsi, tsr []isakmp.TrafficSelector, old *child) (*Config, isakmp.NotifyType) {
	if old != nil && old.cfg != nil {
		return old.cfg, 0
	}
	cfg, err := s.chooseConfig(tsi, tsr)
	if err != nil {
		s.log.Debug("ike: CHILD SA request refused by GetConfigForRequest", "err", err)
		var ne NotifyError
		if errors.As(err, &ne) {
			return nil, isakmp.NotifyType(ne)
		}
		return nil, isakmp.NotifyTSUnacceptable
	}
	return cfg, 0
}

// chooseConfig asks the responder's GetConfigForRequest hook for the
// Config of a request, with what the session knows: the addresses, the
// peer's identity once it arrived, and a CHILD SA request's selectors
// (nil outside one). Without a hook, or when the hook returns nil, the
// session's Config stays.
func (s *Session) chooseConfig(tsi, tsr []isakmp.TrafficSelector) (*Config, error) {
	if s.hook == nil {
		return s.cfg, nil
	}
	c, err := s.hook(&ConfigRequest{Version: IKEv2, Local: s.local, Remote: s.remote,
		PeerID: s.peerID, TSi: tsi, TSr: tsr})
	if err != nil {
		return nil, err
	}
	if c == nil {
		return s.cfg, nil
	}
	if tsi == nil {
		err = c.check()
	} else {
		err = c.checkChild()
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}
