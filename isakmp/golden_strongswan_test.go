package isakmp

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The golden tests read the strongSwan captures in testdata (made by
// TestLiveStrongSwan -isakmp.capture, see testdata/README.md). Every
// message must decode and re-encode byte-exactly. Encrypted parts are
// decrypted with the logged keys, and the payload list of every message,
// inner payloads included, must equal the list charon itself logged when it
// generated or parsed that message: an oracle independent of this package.

// ssNotify is strongSwan's short notify names (its notify_type_short_names)
// for the notifications that occur in the captures.
var ssNotify = map[uint16]string{
	uint16(NotifyNATDetectionSourceIP): "NATD_S_IP", uint16(NotifyNATDetectionDestinationIP): "NATD_D_IP",
	uint16(NotifyIKEv2FragmentationSupported): "FRAG_SUP", uint16(NotifySignatureHashAlgorithms): "HASH_ALG",
	uint16(NotifyRedirectSupported): "REDIR_SUP", uint16(NotifyChildlessIKEv2Supported): "CHDLESS_SUP",
	uint16(NotifyMultipleAuthSupported): "MULT_AUTH", uint16(NotifyInitialContact): "INIT_CONTACT",
	uint16(NotifyMOBIKESupported): "MOBIKE_SUP", uint16(NotifyNoAdditionalAddresses): "NO_ADD_ADDR",
	uint16(NotifyEAPOnlyAuthentication): "EAP_ONLY", uint16(NotifyIKEv2MessageIDSyncSupported): "MSG_ID_SYN_SUP",
	uint16(NotifyRekeySA): "REKEY_SA", uint16(NotifyTSUnacceptable): "TS_UNACCEPT",
	uint16(NotifyUpdateSAAddresses): "UPD_SA_ADDR", uint16(NotifyCookie): "COOKIE",
	uint16(NotifyInvalidKEPayload): "INVAL_KE",
}

var ssV1Notify = map[V1NotifyType]string{
	V1NotifyInitialContact: "INITIAL_CONTACT", V1NotifyRUThere: "DPD", V1NotifyRUThereAck: "DPD_ACK",
}

var ssCfgAttr = map[CfgAttr]string{CfgInternalIP4Address: "ADDR", CfgInternalIP4DNS: "DNS", CfgInternalIP6Address: "ADDR6", CfgInternalIP6DNS: "DNS6"}

// ssSummary renders payloads the way charon's message_t does in its
// "generating"/"parsed" log lines.
func ssSummary(ps []Payload) string {
	var f []string
	for _, p := range ps {
		switch p := p.(type) {
		case *SA, *V1SA:
			f = append(f, "SA")
		case *KE, *V1KE:
			f = append(f, "KE")
		case *Nonce, *V1Nonce:
			f = append(f, "No")
		case *ID:
			f = append(f, p.Type().String())
		case *V1ID:
			f = append(f, "ID")
		case *Auth:
			f = append(f, "AUTH")
		case *Cert, *V1Cert:
			f = append(f, "CERT")
		case *CertReq, *V1CertReq:
			f = append(f, "CERTREQ")
		case *V1Sig:
			f = append(f, "SIG")
		case *V1Hash:
			f = append(f, "HASH")
		case *Notify:
			n, ok := ssNotify[uint16(p.NotifyType)]
			if !ok {
				n = fmt.Sprint(uint16(p.NotifyType))
			}
			f = append(f, "N("+n+")")
		case *V1Notify:
			n, ok := ssV1Notify[p.NotifyType]
			if !ok {
				n = fmt.Sprint(uint16(p.NotifyType))
			}
			f = append(f, "N("+n+")")
		case *Delete, *V1Delete:
			f = append(f, "D")
		case *VendorID, *V1VendorID:
			f = append(f, "V")
		case *TS:
			f = append(f, p.Type().String())
		case *Config:
			kind := map[CfgType]string{CfgRequest: "CPRQ", CfgReply: "CPRP", CfgSet: "CPS", CfgAck: "CPA"}[p.CfgType]
			var as []string
			for _, a := range p.Attributes {
				as = append(as, ssCfgAttr[a.Type])
			}
			f = append(f, kind+"("+strings.Join(as, " ")+")")
		case *V1Attributes:
			kind := map[CfgType]string{CfgRequest: "CPRQ", CfgReply: "CPRP", CfgSet: "CPS", CfgAck: "CPA"}[p.CfgType]
			var as []string
			for _, a := range p.Attributes {
				as = append(as, ssCfgAttr[CfgAttr(a.Type)])
			}
			f = append(f, kind+"("+strings.Join(as, " ")+")")
		case *EAP:
			// charon prints EAP/<code>[/<type>] (RFC 3748 4, 5).
			e := "EAP"
			if len(p.Data) > 0 {
				e += "/" + map[byte]string{1: "REQ", 2: "RES", 3: "SUCC", 4: "FAIL"}[p.Data[0]]
			}
			if len(p.Data) > 4 && (p.Data[0] == 1 || p.Data[0] == 2) {
				e += "/" + map[byte]string{1: "ID", 4: "MD5"}[p.Data[4]]
			}
			f = append(f, e)
		case *V1NATD:
			f = append(f, "NAT-D")
		case *V1NATOA:
			f = append(f, "NAT-OA")
		case *EncryptedFragment:
			f = append(f, fmt.Sprintf("EF(%d/%d)", p.Number, p.Total))
		default:
			f = append(f, p.Type().String())
		}
	}
	if len(f) == 0 {
		return "[ ]"
	}
	return "[ " + strings.Join(f, " ") + " ]"
}

// charonLog is what a scenario's log says about the messages of its
// initiator, in order.
type charonLog struct {
	self  netip.Addr // the initiator's address
	sent  []string   // outer summary of each datagram sent
	recv  []string   // outer summary of each datagram received
	whole []string   // summaries of messages sent or received in fragments
}

var (
	encLine  = regexp.MustCompile(`\[ENC\] (generating|parsed) (\S+) (?:request|response) (\d+) (\[.*\])$`)
	sendLine = regexp.MustCompile(`\[NET\] sending packet: from ([0-9.]+)\[`)
)

func readCharonLog(t *testing.T, path string) charonLog {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cl charonLog
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, "[ENC]") || strings.Contains(l, "[NET]") {
			lines = append(lines, l)
		}
	}
	for i, l := range lines {
		if m := sendLine.FindStringSubmatch(l); m != nil && !cl.self.IsValid() {
			cl.self = netip.MustParseAddr(m[1])
		}
		m := encLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		s := m[2] + " " + m[3] + " " + m[4]
		next, prev := "", ""
		if i+1 < len(lines) {
			next = lines[i+1]
		}
		if i > 0 {
			prev = lines[i-1]
		}
		switch {
		case m[1] == "generating" && strings.Contains(next, "splitting IKE message"):
			cl.whole = append(cl.whole, s)
		case m[1] == "generating":
			cl.sent = append(cl.sent, s)
		case strings.Contains(prev, "received packet"):
			cl.recv = append(cl.recv, s)
		default:
			cl.whole = append(cl.whole, s)
		}
	}
	return cl
}

type goldenMsg struct {
	d     capturedDatagram
	m     *Message
	inner []Payload // decrypted inner payloads (of the whole message, for the last fragment)
	// decrypted is set when inner holds the message's decrypted payloads.
	decrypted bool
}

// decodeGolden decodes the capture of one scenario, checks the byte-exact
// round trips and decrypts what is encrypted.
func decodeGolden(t *testing.T, name string) ([]goldenMsg, charonLog) {
	t.Helper()
	pcap := filepath.Join("testdata", name+".pcap")
	logPath := filepath.Join("testdata", name+".log")
	keys := readKeyLog(t, logPath)
	cl := readCharonLog(t, logPath)
	var out []goldenMsg
	var v1Earlier [][]byte
	frags := map[string][][]byte{}
	for _, d := range readCapturesFrom(t, []string{pcap}) {
		checkRoundTrip(t, d)
		m, err := Parse(d.message)
		if err != nil {
			t.Fatalf("%s #%d: %v", name, d.index, err)
		}
		g := goldenMsg{d: d, m: m}
		switch {
		case m.Ciphertext != nil:
			pt, n, ok := decryptV1(keys, &m.Header, m.Ciphertext, v1Earlier)
			if !ok {
				t.Fatalf("%s #%d: no logged key or IV decrypts the IKEv1 body", name, d.index)
			}
			v1Earlier = append(v1Earlier, m.Ciphertext)
			g.inner = decodeInner(t, name, d, MajorIKEv1, m.Header.NextPayload, pt[:n])
			g.decrypted = true
		case len(m.Payloads) > 0:
			last := m.Payloads[len(m.Payloads)-1]
			if last.Type() != PayloadSK && last.Type() != PayloadSKF {
				break
			}
			inner, ok := decryptV2(t, keys, d.message, last)
			if !ok {
				t.Fatalf("%s #%d: no logged key verifies the ICV", name, d.index)
			}
			if sk, isSK := last.(*Encrypted); isSK {
				g.inner = decodeInner(t, name, d, MajorIKEv2, sk.Inner, inner)
				g.decrypted = true
				break
			}
			// RFC 7383 2.6: reassemble the plaintexts of all fragments in
			// order of their numbers, then decode with the first
			// fragment's inner type.
			skf := last.(*EncryptedFragment)
			key := fmt.Sprint(d.src, m.Header.MessageID, m.Header.Flags&FlagResponse)
			if frags[key] == nil {
				frags[key] = make([][]byte, skf.Total+1)
			}
			frags[key][skf.Number] = inner
			if skf.Number == 1 {
				frags[key][0] = []byte{byte(skf.Inner)}
			}
			complete := true
			for _, f := range frags[key] {
				complete = complete && f != nil
			}
			if complete {
				whole := bytes.Join(frags[key][1:], nil)
				ps := decodeInner(t, name, d, MajorIKEv2, PayloadType(frags[key][0][0]), whole)
				s := fmt.Sprintf("%v %d %s", m.Header.Exchange, m.Header.MessageID, ssSummary(ps))
				if !contains(cl.whole, s) {
					t.Errorf("%s #%d: reassembled message %q not among charon's %q", name, d.index, s, cl.whole)
				}
				g.inner, g.decrypted = ps, true
			}
		}
		out = append(out, g)
	}
	return out, cl
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func decodeInner(t *testing.T, name string, d capturedDatagram, major uint8, first PayloadType, b []byte) []Payload {
	t.Helper()
	ps, n, err := DecodePayloads(nil, major, first, b)
	if err != nil {
		t.Fatalf("%s #%d: inner payloads: %v\n%x", name, d.index, err, b)
	}
	out, err := AppendPayloads(nil, major, ps)
	if err != nil || !bytes.Equal(out, b[:n]) {
		t.Fatalf("%s #%d: inner payloads re-encode to\n%x (%v)\nwant\n%x", name, d.index, out, err, b[:n])
	}
	if major == MajorIKEv2 && n != len(b) {
		t.Fatalf("%s #%d: %d bytes after the inner payloads", name, d.index, len(b)-n)
	}
	return ps
}

// TestGoldenStrongSwan compares every captured message with charon's own
// description of it.
func TestGoldenStrongSwan(t *testing.T) {
	for _, name := range []string{"ikev2", "ikev2_frag", "ikev2_eap", "ikev1", "ikev1_aggr", "ikev2_cert", "ikev1_cert"} {
		t.Run(name, func(t *testing.T) {
			msgs, cl := decodeGolden(t, name)
			if len(msgs) == 0 {
				t.Fatal("empty capture")
			}
			var si, ri int
			var lastSent, lastRecv []byte
			for _, g := range msgs {
				// charon logs a fragment as EF(n/t), an encrypted message by
				// its inner payloads, anything else by its payloads.
				ps := g.m.Payloads
				if n := len(ps); n > 0 && ps[n-1].Type() == PayloadSKF {
					ps = ps[n-1:]
				} else if g.decrypted {
					ps = g.inner
				}
				got := fmt.Sprintf("%v %d %s", g.m.Header.Exchange, g.m.Header.MessageID, ssSummary(ps))
				var want string
				if netip.AddrFrom4(g.d.src) == cl.self {
					// A retransmission repeats the bytes of the previous
					// datagram; charon logs no new "generating" line.
					if bytes.Equal(g.d.message, lastSent) {
						continue
					}
					lastSent = g.d.message
					if si >= len(cl.sent) {
						t.Fatalf("#%d: more datagrams sent than charon logged", g.d.index)
					}
					want, si = cl.sent[si], si+1
				} else {
					if bytes.Equal(g.d.message, lastRecv) {
						continue
					}
					lastRecv = g.d.message
					if ri >= len(cl.recv) {
						t.Fatalf("#%d: more datagrams received than charon logged", g.d.index)
					}
					want, ri = cl.recv[ri], ri+1
				}
				if got != want {
					t.Errorf("#%d: decoded %q, charon logged %q", g.d.index, got, want)
				}
			}
			if si != len(cl.sent) || ri != len(cl.recv) {
				t.Errorf("capture has %d sent and %d received messages, charon logged %d and %d", si, ri, len(cl.sent), len(cl.recv))
			}
		})
	}
}

// TestGoldenValues checks field values of the captured messages against
// the swanctl.conf that produced them (live_test.go), which fixes them
// independently of this package.
func TestGoldenValues(t *testing.T) {
	find := func(msgs []goldenMsg, ex ExchangeType, resp bool, pt PayloadType) []Payload {
		var out []Payload
		for _, g := range msgs {
			if g.m.Header.Exchange != ex || (g.m.Header.Flags&FlagResponse != 0) != resp {
				continue
			}
			ps := g.m.Payloads
			if g.decrypted {
				ps = g.inner
			}
			for _, p := range ps {
				if p.Type() == pt {
					out = append(out, p)
				}
			}
		}
		return out
	}
	t.Run("ikev2", func(t *testing.T) {
		msgs, _ := decodeGolden(t, "ikev2")
		// proposals = aes256gcm16-prfsha256-x25519
		sa := find(msgs, ExchangeIKESAInit, false, PayloadSA)[0].(*SA)
		p := sa.Proposals[0]
		if p.Protocol != ProtocolIKE || len(p.SPI) != 0 {
			t.Errorf("IKE proposal %+v", p)
		}
		var got []string
		for _, tr := range p.Transforms {
			kl, _ := tr.KeyLength()
			got = append(got, fmt.Sprintf("%v:%d/%d", tr.Type, tr.ID, kl))
		}
		if want := "ENCR:20/256 PRF:5/0 KE:31/0"; strings.Join(got, " ") != want {
			t.Errorf("IKE_SA_INIT transforms %s, want %s", strings.Join(got, " "), want)
		}
		ke := find(msgs, ExchangeIKESAInit, false, PayloadKE)[0].(*KE)
		if ke.Group != GroupCurve25519 || len(ke.Data) != 32 {
			t.Errorf("KE group %v, %d bytes", ke.Group, len(ke.Data))
		}
		// local id = left@test (ID_RFC822_ADDR), remote id = right.test (ID_FQDN).
		idi := find(msgs, ExchangeIKEAuth, false, PayloadIDi)[0].(*ID)
		idr := find(msgs, ExchangeIKEAuth, true, PayloadIDr)[0].(*ID)
		if idi.IDType != IDRFC822Addr || string(idi.Data) != "left@test" || idr.IDType != IDFQDN || string(idr.Data) != "right.test" {
			t.Errorf("IDi %v %q, IDr %v %q", idi.IDType, idi.Data, idr.IDType, idr.Data)
		}
		if a := find(msgs, ExchangeIKEAuth, false, PayloadAUTH)[0].(*Auth); a.Method != AuthSharedKeyMIC || len(a.Data) != 32 {
			t.Errorf("AUTH %v, %d bytes", a.Method, len(a.Data))
		}
		// vips = 0.0.0.0 on the left, pool 10.98.0.0/28 on the right.
		cp := find(msgs, ExchangeIKEAuth, true, PayloadCP)[0].(*Config)
		if cp.CfgType != CfgReply || cp.Attributes[0].Type != CfgInternalIP4Address || !bytes.Equal(cp.Attributes[0].Value, []byte{10, 98, 0, 1}) {
			t.Errorf("CP reply %+v", cp)
		}
		// remote_ts = 10.99.0.0/24,fd00:99::/64
		tsr := find(msgs, ExchangeIKEAuth, true, PayloadTSr)[0].(*TS)
		if len(tsr.Selectors) != 2 {
			t.Fatalf("TSr %+v", tsr)
		}
		s4, s6 := tsr.Selectors[0], tsr.Selectors[1]
		if s4.TSType != TSIPv4AddrRange || s4.Start != netip.MustParseAddr("10.99.0.0") || s4.End != netip.MustParseAddr("10.99.0.255") || !s4.AnyPort() ||
			s6.TSType != TSIPv6AddrRange || s6.Start != netip.MustParseAddr("fd00:99::") || s6.End != netip.MustParseAddr("fd00:99::ffff:ffff:ffff:ffff") {
			t.Errorf("TSr %+v", tsr.Selectors)
		}
		// esp_proposals = aes256gcm16-x25519; CHILD SA SPIs are 4 bytes.
		child := find(msgs, ExchangeIKEAuth, false, PayloadSA)[0].(*SA).Proposals[0]
		if child.Protocol != ProtocolESP || len(child.SPI) != 4 {
			t.Errorf("ESP proposal %+v", child)
		}
		// The IKE SA rekey carries an IKE proposal with an 8-byte SPI
		// (RFC 7296 1.3.2); the CHILD_SA rekey a REKEY_SA notify.
		var ikeRekey, childRekey bool
		for _, p := range find(msgs, ExchangeCreateChildSA, false, PayloadSA) {
			pr := p.(*SA).Proposals[0]
			ikeRekey = ikeRekey || (pr.Protocol == ProtocolIKE && len(pr.SPI) == 8)
		}
		for _, p := range find(msgs, ExchangeCreateChildSA, false, PayloadNotify) {
			n := p.(*Notify)
			childRekey = childRekey || (n.NotifyType == NotifyRekeySA && n.Protocol == ProtocolESP && len(n.SPI) == 4)
		}
		if !ikeRekey || !childRekey {
			t.Errorf("IKE SA rekey %v, CHILD_SA rekey %v", ikeRekey, childRekey)
		}
		var delESP, delIKE bool
		for _, p := range find(msgs, ExchangeInformational, false, PayloadDelete) {
			d := p.(*Delete)
			delESP = delESP || (d.Protocol == ProtocolESP && d.Len() == 1 && len(d.SPI(0)) == 4)
			delIKE = delIKE || (d.Protocol == ProtocolIKE && d.Len() == 0)
		}
		if !delESP || !delIKE {
			t.Errorf("delete ESP %v, delete IKE %v", delESP, delIKE)
		}
	})
	t.Run("ikev2_frag", func(t *testing.T) {
		msgs, _ := decodeGolden(t, "ikev2_frag")
		n := 0
		for _, g := range msgs {
			for _, p := range g.m.Payloads {
				if f, ok := p.(*EncryptedFragment); ok {
					n++
					if (f.Number == 1) != (f.Inner != PayloadNone) {
						t.Errorf("#%d: fragment %d/%d with inner type %v (RFC 7383 2.5)", g.d.index, f.Number, f.Total, f.Inner)
					}
				}
			}
		}
		if n < 4 {
			t.Errorf("%d fragments, want at least 4", n)
		}
	})
	t.Run("ikev2_eap", func(t *testing.T) {
		msgs, _ := decodeGolden(t, "ikev2_eap")
		// RFC 7296 1.2, 3.10.1: INVALID_KE_PAYLOAD carries the group the
		// responder accepts (modp2048) as two octets.
		n := find(msgs, ExchangeIKESAInit, true, PayloadNotify)[0].(*Notify)
		if n.NotifyType != NotifyInvalidKEPayload || !bytes.Equal(n.Data, []byte{0, byte(GroupMODP2048)}) {
			t.Errorf("first IKE_SA_INIT response %+v", n)
		}
		kes := find(msgs, ExchangeIKESAInit, false, PayloadKE)
		if len(kes) != 2 || kes[0].(*KE).Group != GroupECP256 || kes[1].(*KE).Group != GroupMODP2048 || len(kes[1].(*KE).Data) != 256 {
			t.Errorf("KE of the two IKE_SA_INIT requests: %+v", kes)
		}
		// RFC 3748 4: each EAP message's Length field is its full length.
		eaps := append(find(msgs, ExchangeIKEAuth, false, PayloadEAP), find(msgs, ExchangeIKEAuth, true, PayloadEAP)...)
		if len(eaps) != 5 {
			t.Fatalf("%d EAP payloads, want 5", len(eaps))
		}
		for _, p := range eaps {
			d := p.(*EAP).Data
			if len(d) < 4 || int(d[2])<<8|int(d[3]) != len(d) {
				t.Errorf("EAP message %x", d)
			}
		}
	})
	t.Run("ikev2_cert", func(t *testing.T) {
		msgs, _ := decodeGolden(t, "ikev2_cert")
		for _, p := range find(msgs, ExchangeIKEAuth, false, PayloadCERT) {
			checkCert(t, p.(*Cert).Encoding, p.(*Cert).Data, "left.test")
		}
		for _, p := range find(msgs, ExchangeIKEAuth, true, PayloadCERT) {
			checkCert(t, p.(*Cert).Encoding, p.(*Cert).Data, "right.test")
		}
		// RFC 7296 3.7: X.509 CERTREQ data is a list of 20-byte SHA-1
		// hashes of CA public keys.
		reqs := append(find(msgs, ExchangeIKESAInit, true, PayloadCERTREQ), find(msgs, ExchangeIKEAuth, false, PayloadCERTREQ)...)
		if len(reqs) != 2 {
			t.Fatalf("%d CERTREQ payloads", len(reqs))
		}
		for _, p := range reqs {
			if c := p.(*CertReq); c.Encoding != CertX509Sig || len(c.Data) == 0 || len(c.Data)%20 != 0 {
				t.Errorf("CERTREQ %v with %d bytes", c.Encoding, len(c.Data))
			}
		}
		// RFC 7427 3: AUTH method 14 carries the length of the
		// AlgorithmIdentifier, the AlgorithmIdentifier (ecdsa-with-SHA256,
		// RFC 7427 A.3.2, from testdata/rfc7427_algorithm_identifiers.json)
		// and the signature.
		algID := rfc7427Vector(t, "rfc7427-a32")
		for _, p := range append(find(msgs, ExchangeIKEAuth, false, PayloadAUTH), find(msgs, ExchangeIKEAuth, true, PayloadAUTH)...) {
			a := p.(*Auth)
			if a.Method != AuthDigitalSignature || len(a.Data) < 1+len(algID) || int(a.Data[0]) != len(algID) || !bytes.Equal(a.Data[1:1+len(algID)], algID) {
				t.Errorf("AUTH %v %x", a.Method, a.Data)
			}
		}
	})
	t.Run("ikev1_aggr", func(t *testing.T) {
		msgs, _ := decodeGolden(t, "ikev1_aggr")
		// Aggressive Mode: SA, KE, Nonce and ID in the first message
		// (RFC 2409 5), aes256-sha1-modp2048 with PSK.
		first := msgs[0]
		if first.m.Header.Exchange != ExchangeV1Aggressive || first.m.Ciphertext != nil {
			t.Fatalf("first message %+v", first.m.Header)
		}
		sa := first.m.Payloads[0].(*V1SA)
		tr := sa.Proposals[0].Transforms[0]
		for a, v := range map[V1Attr]uint16{V1AttrEncryption: uint16(V1EncrAESCBC), V1AttrKeyLength: 256,
			V1AttrHash: uint16(V1HashSHA1), V1AttrGroupDesc: uint16(GroupMODP2048), V1AttrAuthMethod: uint16(V1AuthPSK)} {
			if got, ok := tr.Attr(uint16(a)); !ok || got.Value != v {
				t.Errorf("%v = %+v, want %d", a, got, v)
			}
		}
		// Mode Config: the reply carries INTERNAL_IP4_ADDRESS from the
		// pool 10.98.0.0/28 and the identifier of the request
		// (draft-ietf-ipsec-isakmp-mode-cfg-05 3.2).
		var req, rep *V1Attributes
		for _, g := range msgs {
			for _, p := range g.inner {
				if a, ok := p.(*V1Attributes); ok {
					switch a.CfgType {
					case CfgRequest:
						req = a
					case CfgReply:
						rep = a
					}
				}
			}
		}
		if req == nil || rep == nil {
			t.Fatal("no Mode Config request and reply")
		}
		if rep.Identifier != req.Identifier || len(rep.Attributes) != 1 || rep.Attributes[0].Type != uint16(CfgInternalIP4Address) ||
			rep.Attributes[0].TV || !bytes.Equal(rep.Attributes[0].Data, []byte{10, 98, 0, 1}) {
			t.Errorf("Mode Config request %+v, reply %+v", req, rep)
		}
	})
	t.Run("ikev1_cert", func(t *testing.T) {
		msgs, _ := decodeGolden(t, "ikev1_cert")
		var certs, sigs, reqs int
		for _, g := range msgs {
			for _, p := range g.inner {
				switch p := p.(type) {
				case *V1Cert:
					certs++
					checkCert(t, p.Encoding, p.Data, "")
				case *V1Sig:
					sigs++
					// RFC 4754 7: r and s of 32 bytes each for P-256.
					if len(p.Data) != 64 {
						t.Errorf("SIG of %d bytes", len(p.Data))
					}
				}
			}
			for _, p := range append(append([]Payload(nil), g.m.Payloads...), g.inner...) {
				if c, ok := p.(*V1CertReq); ok {
					reqs++
					if c.Encoding != CertX509Sig {
						t.Errorf("CR type %v", c.Encoding)
					}
				}
			}
		}
		if certs != 2 || sigs != 2 || reqs != 2 {
			t.Errorf("%d CERT, %d SIG, %d CR payloads; want 2 each", certs, sigs, reqs)
		}
		sa := find(msgs, ExchangeV1MainMode, false, PayloadV1SA)[0].(*V1SA)
		if a, ok := sa.Proposals[0].Transforms[0].Attr(uint16(V1AttrAuthMethod)); !ok || V1AuthMethod(a.Value) != V1AuthECDSA256 {
			t.Errorf("Main Mode authentication method %+v, want ECDSA_SHA256_P256 (RFC 4754)", a)
		}
	})
	t.Run("ikev1", func(t *testing.T) {
		msgs, _ := decodeGolden(t, "ikev1")
		// proposals = aes128-sha256-modp2048, PSK.
		sa := find(msgs, ExchangeV1MainMode, false, PayloadV1SA)[0].(*V1SA)
		if sa.DOI != DOIIPsec || sa.Situation != SitIdentityOnly || sa.Proposals[0].Protocol != ProtocolIKE {
			t.Fatalf("Main Mode SA %+v", sa)
		}
		tr := sa.Proposals[0].Transforms[0]
		want := map[V1Attr]uint64{V1AttrEncryption: uint64(V1EncrAESCBC), V1AttrKeyLength: 128,
			V1AttrHash: uint64(V1HashSHA2256), V1AttrAuthMethod: uint64(V1AuthPSK), V1AttrGroupDesc: uint64(GroupMODP2048)}
		for a, v := range want {
			got, ok := tr.Attr(uint16(a))
			if !ok {
				t.Errorf("attribute %v missing", a)
				continue
			}
			if u, _ := got.Uint(); u != v {
				t.Errorf("%v = %d, want %d", a, u, v)
			}
		}
		if tr.ID != V1TransformKeyIKE {
			t.Errorf("transform ID %d", tr.ID)
		}
		natd := find(msgs, ExchangeV1MainMode, false, PayloadV1NATD)
		if len(natd) != 4 || len(natd[0].(*V1NATD).Hash) != 32 {
			t.Errorf("NAT-D payloads %d", len(natd))
		}
		id := find(msgs, ExchangeV1MainMode, false, PayloadV1ID)[0].(*V1ID)
		if id.IDType != IDRFC822Addr || string(id.Data) != "left@test" {
			t.Errorf("Main Mode ID %v %q", id.IDType, id.Data)
		}
		// Quick Mode: esp_proposals = aes128-sha256-modp2048; charon
		// fakes NAT so the mode is UDP-encapsulated tunnel (RFC 3947 5.1).
		qsa := find(msgs, ExchangeV1QuickMode, false, PayloadV1SA)[0].(*V1SA)
		qp := qsa.Proposals[0]
		qt := qp.Transforms[0]
		mode, _ := qt.Attr(uint16(V1IPsecEncapMode))
		auth, _ := qt.Attr(uint16(V1IPsecAuthAlg))
		grp, _ := qt.Attr(uint16(V1IPsecGroupDesc))
		if qp.Protocol != ProtocolESP || len(qp.SPI) != 4 || EncrID(qt.ID) != EncrAESCBC ||
			mode == nil || V1EncapMode(mode.Value) != V1EncapUDPTunnel || auth == nil || V1AuthAlg(auth.Value) != V1AuthAlgHMACSHA256 ||
			grp == nil || KEGroup(grp.Value) != GroupMODP2048 {
			t.Errorf("Quick Mode proposal %+v", qp)
		}
		ids := find(msgs, ExchangeV1QuickMode, false, PayloadV1ID)
		if len(ids) < 2 || ids[0].(*V1ID).IDType != IDIPv4AddrSubnet || !bytes.Equal(ids[0].(*V1ID).Data, []byte{10, 97, 0, 0, 255, 255, 255, 0}) {
			t.Fatalf("Quick Mode IDci %+v", ids)
		}
		// local_ts = 10.97.0.0/24, remote_ts = 10.99.0.0/24
		for i, want := range []string{"10.97.0.0-10.97.0.255", "10.99.0.0-10.99.0.255"} {
			s, e, ok := ids[i].(*V1ID).AddrRange()
			if got := fmt.Sprintf("%v-%v", s, e); !ok || got != want {
				t.Errorf("Quick Mode ID %d covers %s, want %s", i, got, want)
			}
		}
		// DPD (RFC 3706 5): R-U-THERE carries both cookies as SPI and a
		// 4-byte sequence number.
		var dpd int
		for _, g := range msgs {
			for _, p := range g.inner {
				if n, ok := p.(*V1Notify); ok && (n.NotifyType == V1NotifyRUThere || n.NotifyType == V1NotifyRUThereAck) {
					dpd++
					if len(n.SPI) != 16 || len(n.Data) != 4 || !bytes.Equal(n.SPI[:8], g.m.Header.InitiatorSPI[:]) {
						t.Errorf("DPD notify %+v", n)
					}
				}
			}
		}
		if dpd == 0 {
			t.Error("no DPD notifications")
		}
	})
}

// TestGoldenCorruptLengths corrupts the generic length of every payload of
// every captured message that is not IKEv1-encrypted.
func TestGoldenCorruptLengths(t *testing.T) {
	for _, d := range readCaptures(t) {
		if isV1Encrypted(d.message) {
			continue
		}
		m, err := Parse(d.message)
		if err != nil {
			t.Fatal(err)
		}
		corruptEveryLength(t, d.message, len(m.Payloads))
	}
}

// checkCert checks that a CERT payload holds an X.509 certificate
// (RFC 7296 3.6 encoding 4) for name, or any name when name is empty.
func checkCert(t *testing.T, enc CertEncoding, der []byte, name string) {
	t.Helper()
	if enc != CertX509Sig {
		t.Errorf("certificate encoding %v", enc)
		return
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Errorf("CERT data: %v", err)
		return
	}
	if name != "" && (len(c.DNSNames) != 1 || c.DNSNames[0] != name) {
		t.Errorf("certificate for %v, want %s", c.DNSNames, name)
	}
}

// rfc7427Vector returns the DER AlgorithmIdentifier of one vector of
// testdata/rfc7427_algorithm_identifiers.json (copied from
// /work/shared/vectors; the source of each vector is named inside).
func rfc7427Vector(t *testing.T, id string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "rfc7427_algorithm_identifiers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []struct {
			ID  string `json:"id"`
			DER string `json:"der"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for _, v := range f.Vectors {
		if v.ID == id {
			d, err := hex.DecodeString(v.DER)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("vector %s not found", id)
	return nil
}
