package ike

import (
	"bufio"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// The strongSwan 5.9.8 IKEv1 capture of package isakmp's golden tests
// (isakmp/testdata/ikev1.pcap, Main Mode with PSK aes128-sha256-modp2048,
// Quick Mode with PFS, DPD, deletes) and the initiator charon's key log
// beside it are an interop known-answer test for this package's IKEv1
// key schedule, IV chains and hashes: derive from the captured KE, nonces
// and cookies, decrypt charon's messages and check every HASH.

const capturePSKV1 = "swtest-psk-not-a-secret" // isakmp/live_test.go

// readCaptureV1 returns the IKE messages of a pcap in order, without the
// non-ESP marker.
func readCaptureV1(t testing.TB, path string) [][]byte {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok {
			continue
		}
		b := u.Payload
		switch {
		case u.SrcPort == 4500 || u.DstPort == 4500:
			if len(b) < 4 || binary.BigEndian.Uint32(b) != 0 {
				continue
			}
			b = b[4:]
		case u.SrcPort != 500 && u.DstPort != 500:
			continue
		}
		out = append(out, append([]byte(nil), b...))
	}
	return out
}

var keyLineV1 = regexp.MustCompile(`\] (.+?) => (\d+) bytes @`)

// readKeyLogV1 returns the first hex dump logged under each label.
func readKeyLogV1(t testing.TB, path string) map[string][]byte {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	keys := map[string][]byte{}
	label := ""
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		l := sc.Text()
		if m := keyLineV1.FindStringSubmatch(l); m != nil {
			label = m[1]
			if _, seen := keys[label]; seen {
				label = ""
			} else {
				keys[label] = nil
			}
			continue
		}
		i := strings.Index(l, "[IKE] ")
		if label == "" || i < 0 {
			label = ""
			continue
		}
		rest := strings.TrimSpace(l[i+6:])
		j := strings.Index(rest, ": ")
		if j < 0 {
			label = ""
			continue
		}
		for _, f := range strings.Fields(rest[j+2:]) {
			c, err := hex.DecodeString(f)
			if len(f) != 2 || err != nil {
				break
			}
			keys[label] = append(keys[label], c...)
		}
	}
	return keys
}

// captureV1 is a decrypted strongSwan IKEv1 exchange.
type captureV1 struct {
	sa     *isakmpSA
	phase1 int // MM5/MM6 proofs verified
	// plain are the decrypted payload chains (exchange, first payload,
	// plaintext without padding) of every encrypted message.
	plain []capturedPlainV1
}

type capturedPlainV1 struct {
	exch  isakmp.ExchangeType
	first isakmp.PayloadType
	mid   uint32
	plain []byte
}

// decryptCaptureV1 replays the key schedule of the capture name (ikev1:
// PSK; ikev1_cert: ECDSA certificates) and checks it.
func decryptCaptureV1(t testing.TB, name string) *captureV1 {
	msgs := readCaptureV1(t, "../isakmp/testdata/"+name+".pcap")
	keys := readKeyLogV1(t, "../isakmp/testdata/"+name+".log")
	if len(msgs) < 9 {
		t.Fatalf("%d messages in the capture", len(msgs))
	}
	parse := func(b []byte) *isakmp.Message {
		m, err := isakmp.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	mm1, mm2, mm3, mm4 := parse(msgs[0]), parse(msgs[1]), parse(msgs[2]), parse(msgs[3])
	x, ok := decodePhase1(&find[*isakmp.V1SA](mm2.Payloads).Proposals[0].Transforms[0], false)
	if !ok {
		t.Fatal("charon's phase 1 choice does not decode")
	}
	h := x.hash
	sa := &isakmpSA{initiator: true, ckyI: mm1.Header.InitiatorSPI, ckyR: mm4.Header.ResponderSPI, x: x, method: x.method}
	sa.saIb = rawBody(mm1, msgs[0], isakmp.PayloadV1SA)
	sa.gxi, sa.ni = find[*isakmp.V1KE](mm3.Payloads).Data, find[*isakmp.V1Nonce](mm3.Payloads).Data
	sa.gxr, sa.nr = find[*isakmp.V1KE](mm4.Payloads).Data, find[*isakmp.V1Nonce](mm4.Payloads).Data
	sa.gxy = keys["shared Diffie Hellman secret"]
	var psk *auth.PSK
	if sa.method == isakmp.V1AuthPSK {
		var err error
		if psk, err = auth.NewPSK([]byte(capturePSKV1), auth.PSKOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	skeyid, err := skeyidV1(sa, psk)
	if err != nil {
		t.Fatal(err)
	}
	sa.keys = v1DeriveKeys(h, skeyid, sa.gxy, sa.ckyI, sa.ckyR, x.cipher.keyLen(x.keyBits))
	for label, got := range map[string][]byte{"SKEYID": sa.keys.skeyid, "SKEYID_d": sa.keys.d, "SKEYID_a": sa.keys.a,
		"SKEYID_e": sa.keys.e, "encryption key Ka": sa.keys.enc, "initial IV": v1Phase1IV(h, sa.gxi, sa.gxr, 16)} {
		if want := keys[label]; len(want) == 0 || string(got) != string(want) {
			t.Fatalf("%s: ours %x, charon's %x", label, got, want)
		}
	}
	blk, _ := x.cipher.newCBC(sa.keys.enc)
	sa.cbc = &v1CBC{block: blk}
	sa.iv = v1Phase1IV(h, sa.gxi, sa.gxr, 16)
	c := &captureV1{sa: sa}
	ivs := map[uint32][]byte{}
	var qmNi, qmNr []byte
	for i, b := range msgs[4:] {
		m := parse(b)
		mid := m.Header.MessageID
		iv := sa.iv
		if mid != 0 {
			if ivs[mid] == nil {
				ivs[mid] = v1Phase2IV(h, sa.p1Last, mid, 16)
			}
			iv = ivs[mid]
		}
		ps, plain, next, err := openMessage(sa, m, iv)
		if err != nil {
			t.Fatalf("message %d (%v %d): %v", i+5, m.Header.Exchange, mid, err)
		}
		c.plain = append(c.plain, capturedPlainV1{m.Header.Exchange, m.Header.NextPayload, mid, plain})
		switch {
		case mid == 0:
			// MM5 and MM6: HASH_I and HASH_R over the ID payload body.
			idb := rawPlainBody(t, m.Header.NextPayload, plain, isakmp.PayloadV1ID)
			want := hashIR(sa, i == 0, idb)
			if sa.method == isakmp.V1AuthPSK {
				hp := find[*isakmp.V1Hash](ps)
				if hp == nil || string(hp.Data) != string(want) {
					t.Fatalf("message %d: HASH_%s does not verify", i+5, map[bool]string{true: "I", false: "R"}[i == 0])
				}
			} else {
				cert, sig := find[*isakmp.V1Cert](ps), find[*isakmp.V1Sig](ps)
				if cert == nil || sig == nil {
					t.Fatalf("message %d: no CERT or SIG", i+5)
				}
				leaf, err := x509.ParseCertificate(cert.Data)
				if err != nil {
					t.Fatal(err)
				}
				if err := verifyECDSAV1(leaf.PublicKey, sa.method, want, sig.Data); err != nil {
					t.Fatalf("message %d: charon's SIG: %v", i+5, err)
				}
			}
			c.phase1++
			sa.iv = next
			sa.p1Last = next
		default:
			hash, rest := plain[isakmp.GenericHeaderLen:isakmp.GenericHeaderLen+h.size], plain[isakmp.GenericHeaderLen+h.size:]
			var want []byte
			switch {
			case m.Header.Exchange == isakmp.ExchangeV1Informational:
				want = hashV1(sa, mid32(mid), rest)
			case qmNi == nil:
				qmNi = find[*isakmp.V1Nonce](ps).Data
				want = hashV1(sa, mid32(mid), rest)
			case qmNr == nil:
				qmNr = find[*isakmp.V1Nonce](ps).Data
				want = hashV1(sa, mid32(mid), qmNi, rest)
			default:
				want = hashV1(sa, []byte{0}, mid32(mid), qmNi, qmNr)
			}
			if string(hash) != string(want) {
				t.Fatalf("message %d (%v): HASH does not verify", i+5, m.Header.Exchange)
			}
			ivs[mid] = next
		}
	}
	return c
}

// rawPlainBody returns the body of the first payload of type t in a
// decrypted chain.
func rawPlainBody(t testing.TB, first isakmp.PayloadType, plain []byte, typ isakmp.PayloadType) []byte {
	w := isakmp.NewWalker(isakmp.MajorIKEv1, first, plain)
	var raw isakmp.RawPayload
	for w.Next(&raw) {
		if raw.Type == typ {
			return raw.Body
		}
	}
	t.Fatalf("no %v payload", typ)
	return nil
}

// TestStrongSwanCaptureV1 derives SKEYID (pre-shared key and signature
// modes), SKEYID_d/a/e, the cipher key and the first IV from strongSwan
// Main Modes and compares them with charon's own log, then decrypts every
// encrypted message with this package's IV chains (phase 1, Quick Mode,
// each informational exchange) and checks HASH_I and HASH_R (or charon's
// ECDSA SIG_I and SIG_R over them, RFC 4754), HASH(1), HASH(2), HASH(3)
// and the informational HASHes.
func TestStrongSwanCaptureV1(t *testing.T) {
	for _, c := range []struct {
		name     string
		method   isakmp.V1AuthMethod
		minInfos int
	}{{"ikev1", isakmp.V1AuthPSK, 4}, {"ikev1_cert", isakmp.V1AuthECDSA256, 2}} {
		t.Run(c.name, func(t *testing.T) {
			got := decryptCaptureV1(t, c.name)
			exch := map[isakmp.ExchangeType]int{}
			for _, p := range got.plain {
				exch[p.exch]++
			}
			if got.sa.method != c.method || got.phase1 != 2 || exch[isakmp.ExchangeV1QuickMode] != 3 ||
				exch[isakmp.ExchangeV1Informational] < c.minInfos {
				t.Fatalf("method %v, proofs %d, decrypted %v", got.sa.method, got.phase1, exch)
			}
		})
	}
}
