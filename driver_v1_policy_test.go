package ipsec

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/spd"
)

// TestDriverIKEv1Translation: how a rule's security and authentication
// methods become the IKE configuration, by the rule's IKE versions:
// IKEv1 keeps every usable authentication method in the rule's order
// (ike.Config.AuthOrder) and offers AH+ESP as a bundle; IKEv2 skips
// Kerberos and AH+ESP.
func TestDriverIKEv1Translation(t *testing.T) {
	krb := spd.AuthMethod{Kind: spd.AuthKerberos, Principal: "host/peer.example.com"}
	krbNoName := spd.AuthMethod{Kind: spd.AuthKerberos}
	psk := spd.AuthMethod{Kind: spd.AuthPreSharedKey, PreSharedKey: "a pre-shared key for the translation"}
	cert := spd.AuthMethod{Kind: spd.AuthCertificate, RootCA: "CN=no verifier for this one"}
	espOnly := spd.SecurityMethod{UseESP: true, ESPEncryption: spd.EncryptionAESGCM16, ESPKeyBits: 128}
	bundle := spd.SecurityMethod{UseESP: true, UseAH: true, ESPEncryption: spd.EncryptionAESGCM16, ESPKeyBits: 256,
		AHIntegrity: spd.IntegritySHA256}
	v1 := &spd.KeyExchange{Versions: []spd.IKEVersion{spd.IKEv1}}
	v2 := &spd.KeyExchange{Versions: []spd.IKEVersion{spd.IKEv2}}
	both := &spd.KeyExchange{Versions: []spd.IKEVersion{spd.IKEv2, spd.IKEv1}}
	for _, tc := range []struct {
		name    string
		kx      *spd.KeyExchange
		auth    []spd.AuthMethod
		methods []spd.SecurityMethod
		order   []ike.AuthKind
		protos  []isakmp.ProtocolID
		err     string
	}{
		{"v1 kerberos then psk", v1, []spd.AuthMethod{krb, cert, psk}, []spd.SecurityMethod{espOnly},
			[]ike.AuthKind{ike.AuthKerberos, ike.AuthPSK}, []isakmp.ProtocolID{isakmp.ProtocolESP}, ""},
		{"v1 psk then kerberos", v1, []spd.AuthMethod{psk, krbNoName, krb}, []spd.SecurityMethod{espOnly},
			[]ike.AuthKind{ike.AuthPSK, ike.AuthKerberos}, []isakmp.ProtocolID{isakmp.ProtocolESP}, ""},
		{"v1 kerberos, principal from the remote identity", v1, []spd.AuthMethod{krbNoName, psk}, []spd.SecurityMethod{espOnly},
			[]ike.AuthKind{ike.AuthKerberos, ike.AuthPSK}, []isakmp.ProtocolID{isakmp.ProtocolESP}, ""},
		{"v1 kerberos only", v1, []spd.AuthMethod{krb}, []spd.SecurityMethod{espOnly},
			[]ike.AuthKind{ike.AuthKerberos}, []isakmp.ProtocolID{isakmp.ProtocolESP}, ""},
		{"v2 skips kerberos", v2, []spd.AuthMethod{krb, psk}, []spd.SecurityMethod{espOnly},
			nil, []isakmp.ProtocolID{isakmp.ProtocolESP}, ""},
		{"v2 kerberos only", v2, []spd.AuthMethod{krb}, []spd.SecurityMethod{espOnly}, nil, nil, "no usable authentication"},
		{"v2 and v1 kerberos only", both, []spd.AuthMethod{krb}, []spd.SecurityMethod{espOnly}, nil, nil, "IKEv2 has none"},
		{"v1 bundle", v1, []spd.AuthMethod{psk}, []spd.SecurityMethod{bundle, espOnly, bundle},
			[]ike.AuthKind{ike.AuthPSK}, []isakmp.ProtocolID{isakmp.ProtocolESP, isakmp.ProtocolAH, isakmp.ProtocolESP, isakmp.ProtocolAH}, ""},
		{"v1 bundle in UDP", v1, []spd.AuthMethod{psk}, []spd.SecurityMethod{bundle}, nil, nil, "cannot travel in UDP"},
		{"v2 bundle", v2, []spd.AuthMethod{psk}, []spd.SecurityMethod{bundle}, nil, nil, "need IKEv1"},
		{"v2 bundle, then esp", v2, []spd.AuthMethod{psk}, []spd.SecurityMethod{bundle, espOnly},
			nil, []isakmp.ProtocolID{isakmp.ProtocolESP}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := benchPolicy()
			p.Rules[0].Auth, p.Rules[0].KeyExchange, p.Rules[0].Action.Methods = tc.auth, tc.kx, tc.methods
			if strings.Contains(tc.name, "remote identity") {
				p.Rules[0].RemoteID = spd.Identity{Type: spd.IDFQDN, Value: "peer.example.com"}
			}
			d, _, _ := newTestDriver(t, p, func(c *DriverConfig) {
				c.Kerberos = &auth.KerberosHost{Principal: "host/me.example.com@EXAMPLE.COM"}
				c.ForceUDPEncap = strings.Contains(tc.name, "UDP")
			})
			rs := d.policy().byID["out"]
			if tc.err != "" {
				if rs.cfg != nil || rs.err == nil || !strings.Contains(rs.err.Error(), tc.err) {
					t.Fatalf("cfg %v, err %v; want an error with %q", rs.cfg != nil, rs.err, tc.err)
				}
				return
			}
			if rs.err != nil {
				t.Fatal(rs.err)
			}
			c := rs.cfg
			if !slices.Equal(c.AuthOrder, tc.order) {
				t.Errorf("AuthOrder %v, want %v", c.AuthOrder, tc.order)
			}
			if slices.Contains(tc.order, ike.AuthKerberos) != (c.Kerberos != nil) ||
				c.Kerberos != nil && (c.Kerberos.PeerPrincipal != krb.Principal || c.Kerberos.Host != d.cfg.Kerberos) {
				t.Errorf("Kerberos %+v", c.Kerberos)
			}
			if _, ok := c.Auth.(*auth.PSK); !ok && slices.Contains(tc.order, ike.AuthPSK) {
				t.Errorf("Auth %T, want the pre-shared key", c.Auth)
			}
			var protos []isakmp.ProtocolID
			for _, cp := range c.ChildProposals {
				protos = append(protos, cp.Protocol)
			}
			if !slices.Equal(protos, tc.protos) {
				t.Errorf("CHILD proposals %v, want %v", protos, tc.protos)
			}
		})
	}
}

// TestDriverIKEv1ResponderRule: an IKEv1 Main Mode gets its rule at the
// first message, by the peer's address, because the pre-shared key
// enters SKEYID before the peer's identity arrives (RFC 2409 5.4).
// Before this, the responder kept its placeholder Config, derived other
// keys than the initiator, and MM5 decrypted to garbage ("isakmp:
// truncated: ID_V1 payload needs 9229 bytes"). Rules whose versions do
// not allow the peer's are not chosen.
func TestDriverIKEv1ResponderRule(t *testing.T) {
	v1 := &spd.KeyExchange{Versions: []spd.IKEVersion{spd.IKEv1}}
	peer := netip.AddrPortFrom(benchPeer, 500)
	for _, tc := range []struct {
		name string
		kx   *spd.KeyExchange
		ver  ike.Version
		rule bool // the rule's Config is returned
		err  bool
	}{
		{"v1 rule, v1 peer", v1, ike.IKEv1, true, false},
		{"v1 rule, v2 peer", v1, ike.IKEv2, false, false}, // IKEv2 waits for the peer's ID
		{"v2 rule, v1 peer", nil, ike.IKEv1, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := benchPolicy()
			p.Rules[0].KeyExchange = tc.kx
			d, _, _ := newTestDriver(t, p, nil)
			rs := d.policy().byID["out"]
			c, err := d.configForRequest(&ike.ConfigRequest{Version: tc.ver, Local: netip.AddrPortFrom(drvMe, 500), Remote: peer})
			if (err != nil) != tc.err || (c != nil && c == rs.cfg) != tc.rule {
				t.Fatalf("Config %p (rule's %p), err %v", c, rs.cfg, err)
			}
			if tc.rule {
				if _, ok := c.Auth.(*auth.PSK); !ok || c.KeyExchange != ike.KeyExchangeIKEv1 {
					t.Fatalf("Config %+v", c)
				}
			}
		})
	}
	d, _, _ := newTestDriver(t, benchPolicy(), nil)
	if c, err := d.responderConfig(); err != nil || !c.KeyExchange.Allows(ike.IKEv1) || !c.KeyExchange.Allows(ike.IKEv2) {
		t.Fatalf("responder Config allows %v (%v)", c.KeyExchange, err)
	}
}
