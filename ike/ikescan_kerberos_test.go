package ike

import (
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

// TestIkeScanKerberos: ike-scan's GSS-API probe, a Windows-style Main
// Mode offer of authentication method 65001 with a GSS identity attribute
// (draft-ietf-ipsec-isakmp-gss-auth-07, ike-scan --gssid), is answered
// with that transform by a responder configured for Kerberos, and our
// answer carries the GSS-API vendor IDs; without the GSS identity, 65001
// is XAUTH and is refused.
func TestIkeScanKerberos(t *testing.T) {
	e := newIkeScanEnv(t, func(c *Config) {
		c.Kerberos = &KerberosAuth{Host: offlineKerberosHost(t, "host/right.example"), PeerPrincipal: "host/left.example"}
		c.AuthOrder = []AuthKind{AuthKerberos, AuthPSK}
	})
	gssid := hex.EncodeToString([]byte("host/left.example@OFFLINE.TEST"))
	// ike-scan applies --gssid to the --trans options that follow it.
	r := e.scan(t, "--gssid="+gssid, "--trans=7/128,4,65001,14")
	checkSA(t, r, "Main Mode Handshake", map[string]string{"Enc": "AES", "KeyLength": "128", "Hash": "SHA2-256", "Group": "14:modp2048"})
	// ike-scan names method 65001 by its XAUTH meaning; the GSS identity
	// it shows is our principal, which only a Kerberos answer carries.
	if a := r.SA["Auth"]; a != "XAUTH_PSK" {
		t.Errorf("Auth %q, want method 65001 (ike-scan: XAUTH_PSK)", a)
	}
	if g := r.SA["GSSIdentityName(31)"]; g != "0x"+hex.EncodeToString([]byte("host/right.example@OFFLINE.TEST")) {
		t.Errorf("GSS identity %q, want our principal (SA %v)", g, r.SA)
	}
	for _, vid := range []string{"A GSS-API Authentication Method for IKE", "GSSAPI", "Windows-2003-or-XP-SP2"} {
		if !slices.Contains(r.VIDs, vid) {
			t.Errorf("no %s vendor ID in %q", vid, r.VIDs)
		}
	}
	// The same offer without the GSS identity means XAUTH_INIT_PSK.
	r = e.scan(t, "--trans=7/128,4,65001,14")
	if r.Kind != "Notify" || !strings.HasPrefix(r.Notify, "14 ") {
		t.Fatalf("got %q %q, want Notify 14 (NO-PROPOSAL-CHOSEN)", r.Kind, r.Notify)
	}
}
