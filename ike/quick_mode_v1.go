package ike

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// Quick Mode (RFC 2409 5.5) makes the CHILD SAs (IPsec SAs):
//
//	QM1  HDR*, HASH(1), SA, Ni, [KE,] [IDci, IDcr,] [NAT-OAi, NAT-OAr] ->
//	QM2      <- HDR*, HASH(2), SA, Nr, [KE,] [IDci, IDcr,] [NAT-OAi, NAT-OAr,] [N(RESPONDER-LIFETIME)]
//	QM3  HDR*, HASH(3)                                                 ->
//
//	HASH(1) = prf(SKEYID_a, M-ID | <the message after HASH(1)>)
//	HASH(2) = prf(SKEYID_a, M-ID | Ni_b | <the message after HASH(2)>)
//	HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)
//
// The commit bit (RFC 2408 3.1): this initiator sets it on QM1 with
// Config.QuickModeCommit; when the initiator sets it on QM1, this
// responder sets it on QM2 and, after QM3, sends CONNECTED in an
// informational exchange; when a responder sets it on QM2, this initiator
// reports the CHILD SA only once that CONNECTED arrives.

// quickMode is one Quick Mode in progress.
type quickMode struct {
	initiator bool
	mid       uint32
	cfg       *Config
	spi       uint32 // our inbound SPI
	peerSPI   uint32
	ni, nr    []byte
	kx        *keyExchange
	gqm       []byte
	offer     *isakmp.V1SA
	local     isakmp.TrafficSelector
	remote    isakmp.TrafficSelector
	mode      Mode
	x         v1Phase2
	life      time.Duration
	lifeKB    uint64
	old       *child // the SA this Quick Mode rekeys, or nil
	// ah is the AH part of an AH+ESP bundle (q itself being the ESP
	// part), or nil.
	ah *quickMode
	// req is the request with trigger selectors this Quick Mode serves;
	// narrowed is set once the IDs are the trigger packet's flow.
	req      *ChildRequest
	narrowed bool
	commit   bool   // the responder set the commit bit: wait for CONNECTED
	ch       *child // made, waiting for QM3 (responder) or CONNECTED
}

// selectorFromIDV1 turns an IKEv1 client identity (RFC 2407 4.6.2) into a
// traffic selector.
func selectorFromIDV1(id *isakmp.V1ID) (isakmp.TrafficSelector, bool) {
	start, end, ok := id.AddrRange()
	if !ok {
		return isakmp.TrafficSelector{}, false
	}
	t := isakmp.TSIPv4AddrRange
	if start.Is6() {
		t = isakmp.TSIPv6AddrRange
	}
	ts := isakmp.TrafficSelector{TSType: t, IPProtocol: id.IPProtocol, Start: start, End: end, StartPort: 0, EndPort: 0xffff}
	if id.Port != 0 {
		ts.StartPort, ts.EndPort = id.Port, id.Port
	}
	return ts, true
}

// idFromSelectorV1 is the IKEv1 client identity of a selector: a single
// address, a subnet when the range is one, else a range. IKEv1 carries
// one port, so a port range other than "any" becomes any.
func idFromSelectorV1(ts isakmp.TrafficSelector) *isakmp.V1ID {
	id := &isakmp.V1ID{IPProtocol: ts.IPProtocol}
	if ts.StartPort == ts.EndPort {
		id.Port = ts.StartPort
	}
	v6 := ts.Start.Is6()
	switch {
	case ts.Start == ts.End:
		id.IDType = isakmp.IDIPv4Addr
		if v6 {
			id.IDType = isakmp.IDIPv6Addr
		}
		id.Data = ts.Start.AsSlice()
	default:
		if p, ok := prefixOf(ts.Start, ts.End); ok {
			id.IDType = isakmp.IDIPv4AddrSubnet
			if v6 {
				id.IDType = isakmp.IDIPv6AddrSubnet
			}
			mask := netMask(p.Bits(), ts.Start.BitLen())
			id.Data = append(p.Addr().AsSlice(), mask...)
		} else {
			id.IDType = isakmp.IDIPv4AddrRange
			if v6 {
				id.IDType = isakmp.IDIPv6AddrRange
			}
			id.Data = append(ts.Start.AsSlice(), ts.End.AsSlice()...)
		}
	}
	return id
}

// prefixOf reports whether start-end is exactly one prefix.
func prefixOf(start, end netip.Addr) (netip.Prefix, bool) {
	for bits := 0; bits <= start.BitLen(); bits++ {
		p := netip.PrefixFrom(start, bits).Masked()
		if p.Addr() == start && lastAddr(p) == end {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func netMask(bits, total int) []byte {
	m := make([]byte, total/8)
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return m
}

func idFromV1(idp *isakmp.V1ID) auth.Identity {
	return auth.Identity{Type: auth.IDType(idp.IDType), Data: bytes.Clone(idp.Data)}
}

func hostSelector(a netip.Addr) isakmp.TrafficSelector {
	return SelectorFromPrefix(netip.PrefixFrom(a, a.BitLen()))
}

// allocSPIV1 returns a new inbound SPI: from Config.SPI or random, at
// least 256 (RFC 4303 2.1).
func (s *SessionV1) allocSPIV1(cfg *Config) (uint32, error) {
	if cfg.SPI != nil {
		return cfg.SPI()
	}
	for {
		spi := binary.BigEndian.Uint32(s.random(4))
		if spi >= 256 && s.findChild(spi) == nil {
			return spi, nil
		}
	}
}

// hashPayloadsV1 computes prf(SKEYID_a, prefix... | rest).
func hashV1(sa *isakmpSA, parts ...[]byte) []byte { return sa.x.hash.prf(sa.keys.a, parts...) }

// sealProtected builds an encrypted message whose first payload is a HASH
// computed by hash over the encoded payloads after it (RFC 2409 5.5, 5.7),
// chained from ex.iv.
func (s *SessionV1) sealProtected(sa *isakmpSA, exch isakmp.ExchangeType, ex *v1Exchange, flags isakmp.Flags,
	rest []isakmp.Payload, hash func(rest []byte) []byte) ([]byte, error) {
	restB, err := isakmp.AppendPayloads(nil, isakmp.MajorIKEv1, rest)
	if err != nil {
		return nil, err
	}
	h := hash(restB)
	plain := make([]byte, 0, isakmp.GenericHeaderLen+len(h)+len(restB))
	next := isakmp.PayloadNone
	if len(rest) > 0 {
		next = rest[0].Type()
	}
	plain = append(plain, byte(next), 0)
	plain = binary.BigEndian.AppendUint16(plain, uint16(isakmp.GenericHeaderLen+len(h)))
	plain = append(append(plain, h...), restB...)
	out, iv, err := sealMessage(sa, v1Header(sa, exch, ex.mid, false), isakmp.PayloadV1Hash, plain, ex.iv, flags)
	if err != nil {
		return nil, err
	}
	ex.iv = iv
	return out, nil
}

// openProtected decrypts a message of exchange ex and checks that it
// starts with a HASH payload; it returns the payloads after the HASH, the
// HASH value, the encoded bytes after it and the next IV (not yet
// committed).
func openProtected(sa *isakmpSA, m *isakmp.Message, iv []byte) (ps []isakmp.Payload, hash, rest, next []byte, err error) {
	all, plain, next, err := openMessage(sa, m, iv)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	hp, ok := firstHash(all)
	if !ok {
		return nil, nil, nil, nil, fmt.Errorf("%w: protected message without leading HASH", errBadMessage)
	}
	return all[1:], hp.Data, plain[isakmp.GenericHeaderLen+len(hp.Data):], next, nil
}

func firstHash(ps []isakmp.Payload) (*isakmp.V1Hash, bool) {
	if len(ps) == 0 {
		return nil, false
	}
	h, ok := ps[0].(*isakmp.V1Hash)
	return h, ok
}

func mid32(mid uint32) []byte { return binary.BigEndian.AppendUint32(nil, mid) }

// childConfig returns the Config a CHILD SA was made with.
func (s *SessionV1) childConfig(c *child) *Config {
	if cfg := s.childCfg[c]; cfg != nil {
		return cfg
	}
	return s.cfg
}

// startQuickMode sends QM1 for a new CHILD SA (req) or to rekey old.
func (s *SessionV1) startQuickMode(now time.Time, req *ChildRequest, old *child) error {
	return s.startQuickModeFor(now, req, old, false)
}

// startQuickModeFor is startQuickMode; narrowed asks for the flow of
// req's trigger packet instead of the configured selectors.
func (s *SessionV1) startQuickModeFor(now time.Time, req *ChildRequest, old *child, narrowed bool) error {
	sa := s.sa
	if sa.state != v1Established {
		return ErrNotEstablished
	}
	cfg := s.cfg
	if req != nil && req.Config != nil {
		cfg = req.Config
	}
	if old != nil {
		cfg = s.childConfig(old)
		if o := s.sibling[old]; o != nil && old.sa.Protocol == isakmp.ProtocolAH {
			old = o // a bundle is rekeyed as one, led by its ESP part
		}
	}
	if len(cfg.ChildProposals) == 0 {
		return ErrNoChild
	}
	spi, err := s.allocSPIV1(cfg)
	if err != nil {
		return err
	}
	var ahSPI uint32
	if bundleV1(cfg) {
		if ahSPI, err = s.allocSPIV1(cfg); err != nil || ahSPI == spi {
			return fmt.Errorf("%w: no second SPI for the bundle", ErrChildSA)
		}
	}
	q := &quickMode{initiator: true, mid: s.newMessageID(), cfg: cfg, spi: spi, old: old, mode: cfg.childMode(),
		ni: s.random(nonceLenV1)}
	if len(cfg.LocalTS) == 0 || len(cfg.RemoteTS) == 0 {
		return fmt.Errorf("%w: no selectors", errConfig)
	}
	q.local, q.remote = cfg.LocalTS[0], cfg.RemoteTS[0]
	if req != nil && req.TriggerLocal != nil && req.TriggerRemote != nil {
		// IKEv1 IDs carry one selector each: a trigger packet outside the
		// first configured pair asks for its own flow, and so does the
		// retry after a peer refused the configured pair (narrowed).
		q.req, q.narrowed = req, narrowed
		if narrowed || !covered([]isakmp.TrafficSelector{*req.TriggerLocal}, []isakmp.TrafficSelector{q.local}) ||
			!covered([]isakmp.TrafficSelector{*req.TriggerRemote}, []isakmp.TrafficSelector{q.remote}) {
			q.local, q.remote, q.narrowed = *req.TriggerLocal, *req.TriggerRemote, true
		}
	}
	group := isakmp.GroupNone
	if ke := cfg.ChildProposals[0].KE; len(ke) > 0 {
		group = ke[0]
	}
	if old != nil {
		q.local, q.remote, q.mode = old.sa.LocalTS[0], old.sa.RemoteTS[0], old.sa.Mode
		if old.sa.PFS != isakmp.GroupNone {
			group = old.sa.PFS
		}
	}
	if group != isakmp.GroupNone {
		g := v1Group(group, cfg.AllowLegacyV1)
		if g == nil {
			return fmt.Errorf("%w: PFS group %v", errConfig, group)
		}
		if q.kx, err = g.generate(s.rand); err != nil {
			return err
		}
	}
	if q.offer, err = v1Phase2Offer(cfg, spi, ahSPI, q.mode, s.UDPEncap(), s.natt == nattDraft, group); err != nil {
		return err
	}
	if ahSPI != 0 {
		q.ah = &quickMode{initiator: true, mid: q.mid, cfg: cfg, spi: ahSPI, mode: q.mode, ni: q.ni,
			local: q.local, remote: q.remote}
		if old != nil {
			q.ah.old = s.sibling[old]
		}
	}
	rest := []isakmp.Payload{q.offer, &isakmp.V1Nonce{Data: q.ni}}
	if q.kx != nil {
		rest = append(rest, &isakmp.V1KE{Data: q.kx.public()})
	}
	rest = append(rest, idFromSelectorV1(q.local), idFromSelectorV1(q.remote))
	rest = append(rest, s.natOA(q.mode)...)
	ex := &v1Exchange{mid: q.mid, iv: v1Phase2IV(sa.x.hash, sa.p1Last, q.mid, sa.cbc.block.BlockSize()), qm: q}
	var flags isakmp.Flags
	if cfg.QuickModeCommit {
		flags = isakmp.FlagCommit
	}
	msg, err := s.sealProtected(sa, isakmp.ExchangeV1QuickMode, ex, flags, rest, func(r []byte) []byte {
		return hashV1(sa, mid32(q.mid), r)
	})
	if err != nil {
		return err
	}
	if old != nil {
		old.rekeying = true
	}
	if q.ah != nil && q.ah.old != nil {
		q.ah.old.rekeying = true
	}
	s.exchs[q.mid] = ex
	ex.onGiveUp = func(now time.Time) { s.quickModeFailed(q, fmt.Errorf("%w: no answer to Quick Mode", ErrChildSA)) }
	s.arm(now, ex, msg, true)
	return nil
}

// natOA returns NAT-OAi and NAT-OAr for UDP-encapsulated transport mode
// (RFC 3947 5.1): the original addresses, for the peer's checksum fix-up.
func (s *SessionV1) natOA(m Mode) []isakmp.Payload {
	if m != Transport || !s.UDPEncap() {
		return nil
	}
	draft := s.natt == nattDraft
	return []isakmp.Payload{&isakmp.V1NATOA{Draft: draft, Addr: s.local.Addr().Unmap()},
		&isakmp.V1NATOA{Draft: draft, Addr: s.remote.Addr().Unmap()}}
}

func (s *SessionV1) quickModeFailed(q *quickMode, err error) {
	if q.old != nil {
		q.old.rekeying = false
	}
	if q.ah != nil && q.ah.old != nil {
		q.ah.old.rekeying = false
	}
	s.emit(Event{Kind: EventChildFailed, Err: err})
}

// receiveQuickMode dispatches a Quick Mode message.
func (s *SessionV1) receiveQuickMode(now time.Time, sa *isakmpSA, m *isakmp.Message, sum [32]byte) error {
	if sa != s.sa || sa.state != v1Established || m.Header.MessageID == 0 {
		return fmt.Errorf("%w: Quick Mode outside an established ISAKMP SA", errBadMessage)
	}
	ex := s.exchs[m.Header.MessageID]
	if ex == nil {
		return s.respondQM1(now, sa, m, sum)
	}
	q := ex.qm
	switch {
	case q == nil:
		return fmt.Errorf("%w: message ID of another exchange", errBadMessage)
	case q.initiator && q.nr == nil:
		return s.receiveQM2(now, sa, ex, m, sum)
	case !q.initiator && q.ch != nil:
		return s.receiveQM3(now, sa, ex, m, sum)
	}
	return fmt.Errorf("%w: unexpected Quick Mode message", errBadMessage)
}

// respondQM1 checks HASH(1), chooses a transform, narrows the identities
// and answers QM2 (RFC 2409 5.5).
func (s *SessionV1) respondQM1(now time.Time, sa *isakmpSA, m *isakmp.Message, sum [32]byte) error {
	mid := m.Header.MessageID
	ex := &v1Exchange{mid: mid, iv: v1Phase2IV(sa.x.hash, sa.p1Last, mid, sa.cbc.block.BlockSize())}
	ps, h, rest, next, err := openProtected(sa, m, ex.iv)
	if err != nil {
		return err
	}
	if !hmac.Equal(h, hashV1(sa, mid32(mid), rest)) {
		s.stats.IntegrityFailures++
		return fmt.Errorf("%w: HASH(1) does not verify", errBadMessage)
	}
	ex.iv = next
	s.lastRecv = now
	q, reply, refusal := s.decideQuickMode(now, sa, mid, ps)
	if refusal != 0 {
		// The notification names the initiator's SPI, so that it knows
		// which Quick Mode was refused (RFC 2408 3.14).
		var spi []byte
		proto := isakmp.ProtocolESP
		if sp := find[*isakmp.V1SA](ps); sp != nil && len(sp.Proposals) > 0 && len(sp.Proposals[0].SPI) == 4 {
			spi, proto = sp.Proposals[0].SPI, sp.Proposals[0].Protocol
		}
		s.sendNotifyV1(now, sa, refusal, proto, spi, nil)
		err := fmt.Errorf("%w: %w", ErrChildSA, NotifyError(isakmp.NotifyType(refusal)))
		s.emit(Event{Kind: EventChildFailed, Err: err})
		return nil
	}
	flags := m.Header.Flags & isakmp.FlagCommit
	ex.qm = q
	msg, err := s.sealProtected(sa, isakmp.ExchangeV1QuickMode, ex, flags, reply, func(r []byte) []byte {
		return hashV1(sa, mid32(mid), q.ni, r)
	})
	if err != nil {
		return err
	}
	q.commit = flags != 0
	s.exchs[mid] = ex
	ex.received(sum)
	s.arm(now, ex, msg, true)
	ex.onGiveUp = func(time.Time) {
		s.emit(Event{Kind: EventChildFailed, Err: fmt.Errorf("%w: no QM3", ErrChildSA)})
	}
	return nil
}

// decideQuickMode is the responder's Quick Mode: parse, select, narrow, key
// exchange and keys. It returns the QM2 payloads after HASH(2), or the
// notification to refuse with.
func (s *SessionV1) decideQuickMode(now time.Time, sa *isakmpSA, mid uint32, ps []isakmp.Payload) (*quickMode, []isakmp.Payload, isakmp.V1NotifyType) {
	saPay := find[*isakmp.V1SA](ps)
	nonce := find[*isakmp.V1Nonce](ps)
	if saPay == nil || nonce == nil || len(nonce.Data) < minNonceLenV1 || len(nonce.Data) > maxNonceLenV1 {
		return nil, nil, isakmp.V1NotifyPayloadMalformed
	}
	var ids []*isakmp.V1ID
	for _, p := range ps {
		if id, ok := p.(*isakmp.V1ID); ok {
			ids = append(ids, id)
		}
	}
	// Without IDs the client identities are the ISAKMP peers (RFC 2409
	// 5.5).
	peerTS, ourTS := hostSelector(s.remote.Addr()), hostSelector(s.local.Addr())
	switch len(ids) {
	case 0:
	case 2:
		var ok1, ok2 bool
		peerTS, ok1 = selectorFromIDV1(ids[0])
		ourTS, ok2 = selectorFromIDV1(ids[1])
		if !ok1 || !ok2 {
			return nil, nil, isakmp.V1NotifyInvalidIDInformation
		}
	default:
		return nil, nil, isakmp.V1NotifyInvalidIDInformation
	}
	cfg := s.cfg
	if cfg.GetConfigForRequest != nil {
		c, err := cfg.GetConfigForRequest(&ConfigRequest{Version: IKEv1, Local: s.local, Remote: s.remote, PeerID: s.peerID,
			TSi: []isakmp.TrafficSelector{peerTS}, TSr: []isakmp.TrafficSelector{ourTS}})
		if err != nil {
			return nil, nil, isakmp.V1NotifyInvalidIDInformation
		}
		if c != nil {
			cfg = c
		}
	}
	if len(cfg.ChildProposals) == 0 {
		return nil, nil, isakmp.V1NotifyNoProposalChosen
	}
	q := &quickMode{mid: mid, cfg: cfg, ni: append([]byte(nil), nonce.Data...), mode: cfg.childMode()}
	// Narrowing: the responder may answer with a subset of the offered
	// identities that its policy allows; one selector each (IKEv1 IDs).
	ni := narrow([]isakmp.TrafficSelector{peerTS}, cfg.RemoteTS)
	nr := narrow([]isakmp.TrafficSelector{ourTS}, cfg.LocalTS)
	if len(ni) == 0 || len(nr) == 0 {
		return nil, nil, isakmp.V1NotifyInvalidIDInformation
	}
	q.remote, q.local = ni[0], nr[0]
	// Proposals sharing a number form one bundle (RFC 2408 4.2: logical
	// AND), as Windows offers AH+ESP; a bundle is accepted when each part
	// is, and the ESP part of AH+ESP is q, the AH part q.ah.
	udp := s.UDPEncap()
	type pick struct {
		p *isakmp.V1Proposal
		t *isakmp.V1Transform
		x v1Phase2
	}
	choose := func(p *isakmp.V1Proposal) (pick, bool) {
		if len(p.SPI) != 4 || binary.BigEndian.Uint32(p.SPI) < 256 {
			return pick{}, false
		}
		for j := range p.Transforms {
			x, ok := decodePhase2(p.Protocol, &p.Transforms[j], cfg.AllowLegacyV1)
			if ok && udpEncapMode(x.encap) == udp && acceptsPhase2(cfg, &x, q.mode) {
				return pick{p, &p.Transforms[j], x}, true
			}
		}
		return pick{}, false
	}
	var picks []pick
	for i := 0; i < len(saPay.Proposals) && picks == nil; {
		j := i
		for j < len(saPay.Proposals) && saPay.Proposals[j].Number == saPay.Proposals[i].Number {
			j++
		}
		var got []pick
		for k := i; k < j; k++ {
			pk, ok := choose(&saPay.Proposals[k])
			if !ok {
				got = nil
				break
			}
			got = append(got, pk)
		}
		i = j
		if len(got) == 2 && (got[0].p.Protocol == got[1].p.Protocol || got[0].x.group != got[1].x.group ||
			got[0].x.encap != got[1].x.encap) || len(got) > 2 {
			got = nil
		}
		picks = got
	}
	if len(picks) == 0 || saPay.DOI != isakmp.DOIIPsec {
		return nil, nil, isakmp.V1NotifyNoProposalChosen
	}
	main, ahPick := picks[0], pick{}
	if len(picks) == 2 {
		main, ahPick = picks[1], picks[0]
		if main.p.Protocol == isakmp.ProtocolAH {
			main, ahPick = ahPick, main
		}
	}
	chosen, ct := main.p, main.t
	q.x = main.x
	q.peerSPI = binary.BigEndian.Uint32(chosen.SPI)
	if q.x.group != isakmp.GroupNone {
		ke := find[*isakmp.V1KE](ps)
		if ke == nil {
			return nil, nil, isakmp.V1NotifyInvalidKeyInformation
		}
		var err error
		if q.kx, err = v1Group(q.x.group, cfg.AllowLegacyV1).generate(s.rand); err != nil {
			return nil, nil, isakmp.V1NotifyNoProposalChosen
		}
		if q.gqm, err = q.kx.sharedSecret(ke.Data); err != nil {
			return nil, nil, isakmp.V1NotifyInvalidKeyInformation
		}
	}
	spi, err := s.allocSPIV1(cfg)
	if err != nil {
		return nil, nil, isakmp.V1NotifyNoProposalChosen
	}
	q.spi, q.nr = spi, s.random(nonceLenV1)
	// Lifetimes: the shorter of the offer (RFC 2407 4.5: 28800 seconds
	// when none is offered) and ours; RESPONDER-LIFETIME tells the
	// initiator when ours is shorter (RFC 2407 4.6.3.1).
	ours := cfg.childLifetime()
	offered := q.x.life
	if offered == 0 && q.x.lifeKB == 0 {
		offered = 8 * time.Hour
	}
	q.life = offered
	var notifyLife, notifyKB bool
	if offered == 0 || ours < offered {
		q.life, notifyLife = ours, true
	}
	q.lifeKB = q.x.lifeKB
	if cfg.ChildLifetimeKilobytes > 0 && (q.lifeKB == 0 || cfg.ChildLifetimeKilobytes < q.lifeKB) {
		q.lifeKB, notifyKB = cfg.ChildLifetimeKilobytes, true
	}
	replySA := &isakmp.V1SA{DOI: saPay.DOI, Situation: saPay.Situation, Proposals: []isakmp.V1Proposal{{
		Number: chosen.Number, Protocol: chosen.Protocol, SPI: be32(spi), Transforms: []isakmp.V1Transform{*ct}}}}
	if ahPick.p != nil {
		ahSPI, err := s.allocSPIV1(cfg)
		if err != nil || ahSPI == spi {
			return nil, nil, isakmp.V1NotifyNoProposalChosen
		}
		ah := *q
		ah.x, ah.spi, ah.peerSPI = ahPick.x, ahSPI, binary.BigEndian.Uint32(ahPick.p.SPI)
		q.ah = &ah
		// The reply keeps the offer's order of the bundle's proposals.
		ahProp := isakmp.V1Proposal{Number: ahPick.p.Number, Protocol: ahPick.p.Protocol, SPI: be32(ahSPI),
			Transforms: []isakmp.V1Transform{*ahPick.t}}
		if ahPick.p == picks[0].p {
			replySA.Proposals = append([]isakmp.V1Proposal{ahProp}, replySA.Proposals...)
		} else {
			replySA.Proposals = append(replySA.Proposals, ahProp)
		}
	}
	reply := []isakmp.Payload{replySA, &isakmp.V1Nonce{Data: q.nr}}
	if q.kx != nil {
		reply = append(reply, &isakmp.V1KE{Data: q.kx.public()})
	}
	if len(ids) > 0 {
		reply = append(reply, idFromSelectorV1(q.remote), idFromSelectorV1(q.local))
	}
	reply = append(reply, s.natOA(q.mode)...)
	if notifyLife || notifyKB {
		var life time.Duration
		var kb uint64
		if notifyLife {
			life = q.life
		}
		if notifyKB {
			kb = q.lifeKB
		}
		reply = append(reply, &isakmp.V1Notify{DOI: isakmp.DOIIPsec, Protocol: chosen.Protocol, SPI: be32(spi),
			NotifyType: isakmp.V1NotifyResponderLifetime, Data: attrBytes(lifeAttrs(uint16(isakmp.V1IPsecLifeType),
				uint16(isakmp.V1IPsecLifeDuration), life, kb))})
	}
	q.ch = s.makeChildV1(now, sa, q)
	if q.ah != nil {
		q.ah.ch = s.makeChildV1(now, sa, q.ah)
	}
	return q, reply, 0
}

func attrBytes(attrs []isakmp.Attribute) []byte {
	// Encode as the attributes of a transform: reuse the SA encoder and
	// cut the 8-byte transform header.
	p := isakmp.V1SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly, Proposals: []isakmp.V1Proposal{{
		Number: 1, Protocol: isakmp.ProtocolESP, Transforms: []isakmp.V1Transform{{Attributes: attrs}}}}}
	b, err := payloadBody(&p)
	if err != nil {
		return nil
	}
	return b[8+8+8:]
}

func parseAttrs(data []byte) ([]isakmp.Attribute, bool) {
	// Wrap them into a transform and decode with package isakmp.
	body := make([]byte, 0, 24+len(data))
	body = binary.BigEndian.AppendUint32(body, uint32(isakmp.DOIIPsec))
	body = binary.BigEndian.AppendUint32(body, uint32(isakmp.SitIdentityOnly))
	body = append(body, 0, 0)
	body = binary.BigEndian.AppendUint16(body, uint16(16+len(data)))
	body = append(body, 1, byte(isakmp.ProtocolESP), 0, 1, 0, 0)
	body = binary.BigEndian.AppendUint16(body, uint16(8+len(data)))
	body = append(body, 1, 0, 0, 0)
	body = append(body, data...)
	msg := make([]byte, 0, 4+len(body))
	msg = append(msg, 0, 0)
	msg = binary.BigEndian.AppendUint16(msg, uint16(4+len(body)))
	msg = append(msg, body...)
	ps, _, err := isakmp.DecodePayloads(nil, isakmp.MajorIKEv1, isakmp.PayloadV1SA, msg)
	if err != nil || len(ps) != 1 {
		return nil, false
	}
	sa := ps[0].(*isakmp.V1SA)
	return sa.Proposals[0].Transforms[0].Attributes, true
}

// makeChildV1 derives the KEYMAT of both directions (RFC 2409 5.5: each
// direction's key uses the SPI of its receiver) and builds the CHILD SA;
// it is not yet installed.
func (s *SessionV1) makeChildV1(now time.Time, sa *isakmpSA, q *quickMode) *child {
	el := childEncrKeyLen(q.x.encr)
	if q.x.proto == isakmp.ProtocolAH {
		el = 0
	}
	il := childIntegKeyLen(q.x.integ)
	ni, nr := q.ni, q.nr
	in := v1Keymat(sa.x.hash, sa.keys.d, q.gqm, q.x.proto, q.spi, ni, nr, el+il)
	out := v1Keymat(sa.x.hash, sa.keys.d, q.gqm, q.x.proto, q.peerSPI, ni, nr, el+il)
	life := q.life
	if life <= 0 {
		life = q.cfg.childLifetime()
	}
	rekey := min(q.cfg.childRekey(), life*9/10)
	if j := q.cfg.jitter(rekey); j > 0 {
		rekey -= time.Duration(binary.BigEndian.Uint64(s.random(8)) % uint64(j))
	}
	c := &child{
		sa: ChildSA{Protocol: q.x.proto, Mode: q.mode, InboundSPI: q.spi, OutboundSPI: q.peerSPI,
			Encr: q.x.encr, Integ: q.x.integ, ESN: q.x.esn, PFS: q.x.group,
			InboundEncKey: in[:el:el], InboundIntegKey: in[el:], OutboundEncKey: out[:el:el], OutboundIntegKey: out[el:],
			LocalTS: []isakmp.TrafficSelector{q.local}, RemoteTS: []isakmp.TrafficSelector{q.remote},
			LocalAddr: s.local.Addr(), RemoteAddr: s.remote.Addr(),
			SoftLifetime: rekey, HardLifetime: life, Established: now,
			Version: IKEv1, Tag: q.cfg.Tag, LifetimeKilobytes: q.lifeKB, Initiator: q.initiator},
		rekeyAt: now.Add(rekey), expireAt: now.Add(life),
	}
	s.childCfg[c] = q.cfg
	if q.x.proto == isakmp.ProtocolAH {
		c.sa.Encr = Encr{}
	}
	if udpEncapMode(q.x.encap) {
		c.sa.EncapLocalPort, c.sa.EncapRemotePort = s.local.Port(), s.remote.Port()
	}
	// Only the responder of the rekeying Quick Mode starts a rekey of its
	// own late, so that both sides rarely rekey the same SA at once.
	if !q.initiator {
		c.rekeyAt = now.Add(rekey + (life-rekey)/2)
	}
	return c
}

// receiveQM2 checks HASH(2) and the responder's choice, sends QM3 and
// installs the CHILD SA.
func (s *SessionV1) receiveQM2(now time.Time, sa *isakmpSA, ex *v1Exchange, m *isakmp.Message, sum [32]byte) error {
	q := ex.qm
	ps, h, rest, next, err := openProtected(sa, m, ex.iv)
	if err != nil {
		return err
	}
	if !hmac.Equal(h, hashV1(sa, mid32(q.mid), q.ni, rest)) {
		s.stats.IntegrityFailures++
		return fmt.Errorf("%w: HASH(2) does not verify", errBadMessage)
	}
	ex.iv = next
	s.lastRecv = now
	if err := s.checkQM2(q, ps); err != nil {
		delete(s.exchs, q.mid)
		s.quickModeFailed(q, err)
		return nil
	}
	msg, err := s.sealProtected(sa, isakmp.ExchangeV1QuickMode, ex, 0, nil, func([]byte) []byte {
		return hashV1(sa, []byte{0}, mid32(q.mid), q.ni, q.nr)
	})
	if err != nil {
		return err
	}
	ex.received(sum)
	s.arm(now, ex, msg, false)
	ex.onGiveUp = nil
	c := s.makeChildV1(now, sa, q)
	if q.ah != nil {
		q.ah.ch = s.makeChildV1(now, sa, q.ah)
	}
	if m.Header.Flags&isakmp.FlagCommit != 0 {
		q.commit, q.ch = true, c
		ex.waiting = true // until CONNECTED; QM3 is resent on timeout
		ex.onGiveUp = func(time.Time) {
			s.quickModeFailed(q, fmt.Errorf("%w: no CONNECTED after the commit bit", ErrChildSA))
		}
		return nil
	}
	s.installBundleV1(now, q, c)
	return nil
}

// installBundleV1 installs the CHILD SA c of q and, for an AH+ESP bundle,
// its AH part, and pairs the two for rekeying.
func (s *SessionV1) installBundleV1(now time.Time, q *quickMode, c *child) {
	if a := q.ah; a != nil && a.ch != nil {
		pairBundleV1(c, a.ch)
	}
	s.installChildV1(now, q, c)
	if a := q.ah; a != nil && a.ch != nil {
		s.installChildV1(now, a, a.ch)
		s.sibling[c], s.sibling[a.ch] = a.ch, c
	}
}

// pairBundleV1 links the ESP and AH parts of a bundle in their ChildSA
// values (ChildSA.Bundle), before either is reported.
func pairBundleV1(esp, ah *child) {
	e, a := esp.sa, ah.sa
	e.Bundle, a.Bundle = nil, nil
	esp.sa.Bundle, ah.sa.Bundle = &a, &e
}

// checkQM2 checks that the responder chose one of our transforms
// unchanged and only narrowed our identities, and applies
// RESPONDER-LIFETIME.
func (s *SessionV1) checkQM2(q *quickMode, ps []isakmp.Payload) error {
	if n := errorNotifyV1(ps); n != nil {
		return fmt.Errorf("%w: %w", ErrChildSA, NotifyError(isakmp.NotifyType(n.NotifyType)))
	}
	saPay := find[*isakmp.V1SA](ps)
	nonce := find[*isakmp.V1Nonce](ps)
	want := 1
	if q.ah != nil {
		want = 2 // AH and ESP with one number (RFC 2408 4.2)
	}
	if saPay == nil || len(saPay.Proposals) != want || nonce == nil ||
		len(nonce.Data) < minNonceLenV1 || len(nonce.Data) > maxNonceLenV1 {
		return fmt.Errorf("%w: malformed QM2", ErrChildSA)
	}
	for i := range saPay.Proposals {
		p := &saPay.Proposals[i]
		part := q
		if p.Protocol == isakmp.ProtocolAH && q.ah != nil {
			part = q.ah
		}
		x, err := matchQM2(q, p)
		if err != nil || p.Number != saPay.Proposals[0].Number {
			return fmt.Errorf("%w: the responder's SA payload is not one of ours", ErrChildSA)
		}
		part.x, part.peerSPI = x, binary.BigEndian.Uint32(p.SPI)
	}
	if q.ah != nil && (q.x.proto != isakmp.ProtocolESP || q.ah.x.proto != isakmp.ProtocolAH) {
		return fmt.Errorf("%w: the responder did not accept the whole bundle", ErrChildSA)
	}
	x := q.x
	q.nr = append([]byte(nil), nonce.Data...)
	if q.kx != nil {
		ke := find[*isakmp.V1KE](ps)
		if ke == nil || x.group != q.kx.group.id {
			return fmt.Errorf("%w: PFS key exchange missing", ErrChildSA)
		}
		var err error
		if q.gqm, err = q.kx.sharedSecret(ke.Data); err != nil {
			return fmt.Errorf("%w: %w", ErrChildSA, err)
		}
	} else if x.group != isakmp.GroupNone {
		return fmt.Errorf("%w: responder chose PFS we did not offer", ErrChildSA)
	}
	var ids []*isakmp.V1ID
	for _, p := range ps {
		if id, ok := p.(*isakmp.V1ID); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 2 {
		li, ok1 := selectorFromIDV1(ids[0])
		ri, ok2 := selectorFromIDV1(ids[1])
		if !ok1 || !ok2 || !covered([]isakmp.TrafficSelector{li}, []isakmp.TrafficSelector{q.local}) ||
			!covered([]isakmp.TrafficSelector{ri}, []isakmp.TrafficSelector{q.remote}) {
			return fmt.Errorf("%w: identities not a subset of ours", ErrChildSA)
		}
		q.local, q.remote = li, ri
	} else if len(ids) != 0 {
		return fmt.Errorf("%w: %d ID payloads", ErrChildSA, len(ids))
	}
	q.life, q.lifeKB = x.life, x.lifeKB
	if q.life == 0 && q.lifeKB == 0 {
		q.life = 8 * time.Hour
	}
	for _, n := range notifiesV1(ps) {
		if n.NotifyType != isakmp.V1NotifyResponderLifetime {
			continue
		}
		attrs, ok := parseAttrs(n.Data)
		if !ok {
			continue
		}
		var lt isakmp.V1LifeType
		var life time.Duration
		var kb uint64
		for i := range attrs {
			parseLife(attrs, i, uint16(isakmp.V1IPsecLifeType), uint16(isakmp.V1IPsecLifeDuration), &lt, &life, &kb)
		}
		if life > 0 && (q.life == 0 || life < q.life) {
			q.life = life
		}
		if kb > 0 && (q.lifeKB == 0 || kb < q.lifeKB) {
			q.lifeKB = kb
		}
	}
	if a := q.ah; a != nil {
		a.nr, a.gqm, a.local, a.remote, a.life, a.lifeKB = q.nr, q.gqm, q.local, q.remote, q.life, q.lifeKB
	}
	return nil
}

// matchQM2 checks one proposal of the responder's SA payload: one
// transform, one of ours for its protocol, and a usable SPI.
func matchQM2(q *quickMode, p *isakmp.V1Proposal) (v1Phase2, error) {
	if len(p.Transforms) != 1 || len(p.SPI) != 4 || binary.BigEndian.Uint32(p.SPI) < 256 {
		return v1Phase2{}, errBadMessage
	}
	t := &p.Transforms[0]
	x, good := decodePhase2(p.Protocol, t, q.cfg.AllowLegacyV1)
	if !good {
		return x, errBadMessage
	}
	for _, op := range q.offer.Proposals {
		if op.Number != p.Number || op.Protocol != p.Protocol {
			continue
		}
		for i := range op.Transforms {
			// Compared by meaning, not by bytes: strongSwan sends the
			// chosen transform's attributes in its own order (RFC 2407
			// 4.5 fixes none), with a lifetime no longer than ours
			// (the shorter of its own and ours).
			if ot, ok := decodePhase2(op.Protocol, &op.Transforms[i], q.cfg.AllowLegacyV1); ok &&
				op.Transforms[i].ID == t.ID && sameButLifetime(ot, x) {
				return x, nil
			}
		}
	}
	return x, errBadMessage
}

// sameButLifetime reports whether the responder's transform r is our
// offered transform o, with lifetimes no longer than ours.
func sameButLifetime(o, r v1Phase2) bool {
	notLonger := func(ours, theirs uint64) bool { return ours == 0 || theirs != 0 && theirs <= ours }
	if !notLonger(uint64(o.life), uint64(r.life)) || !notLonger(o.lifeKB, r.lifeKB) {
		return false
	}
	o.life, r.life, o.lifeKB, r.lifeKB = 0, 0, 0, 0
	return o == r
}

// receiveQM3 checks HASH(3) and installs the CHILD SA (and, if the
// initiator set the commit bit, confirms it with CONNECTED).
func (s *SessionV1) receiveQM3(now time.Time, sa *isakmpSA, ex *v1Exchange, m *isakmp.Message, sum [32]byte) error {
	q := ex.qm
	_, h, _, next, err := openProtected(sa, m, ex.iv)
	if err != nil {
		return err
	}
	if !hmac.Equal(h, hashV1(sa, []byte{0}, mid32(q.mid), q.ni, q.nr)) {
		s.stats.IntegrityFailures++
		return fmt.Errorf("%w: HASH(3) does not verify", errBadMessage)
	}
	ex.iv = next
	s.lastRecv = now
	ex.received(sum)
	ex.lastOut = nil
	ex.until = now.Add(s.retransmitSchedule())
	c := q.ch
	q.ch = nil
	ex.qm = nil
	// A Quick Mode for the selectors of an SA we already have is the
	// peer's rekey of it (IKEv1 has no REKEY_SA: the selectors say it).
	for _, o := range s.children {
		if !o.rekeyed && o.sa.Protocol == c.sa.Protocol && sameSelectors(o.sa.LocalTS, c.sa.LocalTS) &&
			sameSelectors(o.sa.RemoteTS, c.sa.RemoteTS) {
			q.old = o
			break
		}
	}
	if q.ah != nil && q.ah.ch != nil {
		pairBundleV1(c, q.ah.ch)
	}
	s.installChildV1(now, q, c)
	if q.ah != nil {
		a := q.ah
		a.old = nil
		for _, o := range s.children {
			if !o.rekeyed && o != c && o.sa.Protocol == isakmp.ProtocolAH && sameSelectors(o.sa.LocalTS, a.ch.sa.LocalTS) &&
				sameSelectors(o.sa.RemoteTS, a.ch.sa.RemoteTS) {
				a.old = o
				break
			}
		}
		s.installChildV1(now, a, a.ch)
		s.sibling[c], s.sibling[a.ch] = a.ch, c
	}
	if q.commit {
		// CONNECTED is also the cached answer to a retransmitted QM3, so
		// that a lost CONNECTED is sent again.
		n := &isakmp.V1Notify{DOI: isakmp.DOIIPsec, Protocol: c.sa.Protocol, SPI: be32(c.sa.InboundSPI),
			NotifyType: isakmp.V1NotifyConnected}
		if info, err := s.sendInfoV1(now, sa, []isakmp.Payload{n}); err == nil {
			ex.lastOut = info.lastOut
		}
	}
	return nil
}

func sameSelectors(a, b []isakmp.TrafficSelector) bool {
	return len(a) == len(b) && (len(a) == 0 || sameSelector(a[0], b[0]))
}

// installChildV1 reports the new CHILD SA; for a rekey by this side the
// old SA is deleted at once (make-before-break: the new SA is installed
// first), for a rekey by the peer the old one waits for the peer's Delete
// or its expiry.
func (s *SessionV1) installChildV1(now time.Time, q *quickMode, c *child) {
	s.children = append(s.children, c)
	logChildSAKeys(s.cfg.KeyLogWriter, &c.sa)
	nc := c.sa
	if q.old == nil {
		s.emit(Event{Kind: EventChildUp, Child: &nc})
		return
	}
	old := q.old
	old.rekeyed, old.rekeying = true, false
	oc := old.sa
	s.emit(Event{Kind: EventChildRekeyed, Child: &nc, Old: &oc})
	if q.initiator && s.findChild(old.sa.InboundSPI) == old {
		s.deleteChild(now, old)
	}
}

func notifiesV1(ps []isakmp.Payload) []*isakmp.V1Notify {
	var out []*isakmp.V1Notify
	for _, p := range ps {
		if n, ok := p.(*isakmp.V1Notify); ok {
			out = append(out, n)
		}
	}
	return out
}

// errorNotifyV1 returns the first error notification (types below 8192,
// RFC 2408 3.14.1).
func errorNotifyV1(ps []isakmp.Payload) *isakmp.V1Notify {
	for _, n := range notifiesV1(ps) {
		if n.NotifyType < 8192 {
			return n
		}
	}
	return nil
}
