package ike_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
)

// Two IKEv1 sessions run Main Mode with a pre-shared key and a Quick Mode
// with PFS in memory. The Config is the one IKEv2 uses (KeyExchange says
// which versions it allows), and the events and CHILD SAs are the same
// as IKEv2's: ChildSA.Version tells them apart.
func ExampleNewInitiatorV1() {
	secret := []byte("a long random pre-shared secret")
	config := func(local, remote string, localNet, remoteNet string) *ike.Config {
		key, _ := auth.NewPSK(secret, auth.PSKOptions{})
		peers := auth.NewPSKStore(auth.PSKOptions{})
		peers.Add(auth.FQDN(remote), secret)
		ikeProps, _ := ike.ParseProposals("aes256-sha256-modp2048", isakmp.ProtocolIKE)
		espProps, _ := ike.ParseProposals("aes256gcm16-ecp256", isakmp.ProtocolESP)
		return &ike.Config{
			LocalID: auth.FQDN(local), RemoteID: auth.FQDN(remote),
			Auth: key, PeerAuth: ike.PSKPeers(peers), KeyExchange: ike.KeyExchangeIKEv1,
			IKEProposals: ikeProps, ChildProposals: espProps,
			LocalTS:  []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(localNet))},
			RemoteTS: []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(remoteNet))},
		}
	}
	a := netip.MustParseAddrPort("192.0.2.1:500")
	b := netip.MustParseAddrPort("192.0.2.2:500")
	now := time.Now()

	initiator, err := ike.NewInitiatorV1(config("left.example", "right.example", "10.1.0.0/16", "10.2.0.0/16"), a, b, now, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	responder, err := ike.AcceptV1(config("right.example", "left.example", "10.2.0.0/16", "10.1.0.0/16"), b, a, now,
		initiator.Datagrams()[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	for len(initiator.ChildSAs()) == 0 || len(responder.ChildSAs()) == 0 {
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
			fmt.Println(ev.Kind, c.Version, c.Protocol, c.Mode, c.Encr, c.PFS, c.RemoteTS[0].Start, "-", c.RemoteTS[0].End)
		}
	}
	// Output:
	// ike-up ENCR_AES_CBC_256 PRF_HMAC_SHA2_256 MODP_2048 ID_FQDN:right.example
	// child-up IKEv1 ESP tunnel ENCR_AES_GCM_16_256 ECP_256 10.2.0.0 - 10.2.255.255
}
