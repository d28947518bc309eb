package ike_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
)

// Two sessions negotiate an IKE SA and a CHILD SA with a pre-shared key,
// passing datagrams to each other in memory. A real program sends them
// over UDP (see Endpoint) and installs the CHILD SA's keys in its ESP path.
func Example() {
	secret := []byte("a long random pre-shared secret")
	config := func(local, remote string, localNet, remoteNet string) *ike.Config {
		key, _ := auth.NewPSK(secret, auth.PSKOptions{})
		peers := auth.NewPSKStore(auth.PSKOptions{})
		peers.Add(auth.FQDN(remote), secret)
		ikeProps, _ := ike.ParseProposals("aes256gcm16-prfsha256-x25519", isakmp.ProtocolIKE)
		espProps, _ := ike.ParseProposals("aes256gcm16-x25519", isakmp.ProtocolESP)
		return &ike.Config{
			LocalID: auth.FQDN(local), RemoteID: auth.FQDN(remote),
			Auth: key, PeerAuth: ike.PSKPeers(peers),
			IKEProposals: ikeProps, ChildProposals: espProps,
			LocalTS:  []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(localNet))},
			RemoteTS: []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(remoteNet))},
		}
	}
	a := netip.MustParseAddrPort("192.0.2.1:500")
	b := netip.MustParseAddrPort("192.0.2.2:500")
	now := time.Now()

	initiator, err := ike.NewInitiator(config("left.example", "right.example", "10.1.0.0/16", "10.2.0.0/16"), a, b, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	first := initiator.Datagrams()[0]
	responder, err := ike.Accept(config("right.example", "left.example", "10.2.0.0/16", "10.1.0.0/16"), b, a, now, first)
	if err != nil {
		fmt.Println(err)
		return
	}
	for !initiator.Established() || !responder.Established() {
		for _, d := range responder.Datagrams() {
			initiator.Receive(now, d)
		}
		for _, d := range initiator.Datagrams() {
			responder.Receive(now, d)
		}
	}
	for _, ev := range initiator.Events() {
		switch ev.Kind {
		case ike.EventIKEUp:
			fmt.Println(ev.Kind, ev.IKE.Encr, ev.IKE.PRF, ev.IKE.KE, ev.IKE.RemoteID)
		case ike.EventChildUp:
			c := ev.Child
			fmt.Println(ev.Kind, c.Protocol, c.Mode, c.Encr, len(c.OutboundEncKey), "key bytes", c.RemoteTS[0].Start, "-", c.RemoteTS[0].End)
		}
	}
	// Output:
	// ike-up ENCR_AES_GCM_16_256 PRF_HMAC_SHA2_256 CURVE_25519 ID_FQDN:right.example
	// child-up ESP tunnel ENCR_AES_GCM_16_256 36 key bytes 10.2.0.0 - 10.2.255.255
}
