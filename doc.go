// Package ipsec is an embeddable library of IPsec primitives: the policy
// database, the SA database, the ESP and AH transforms, authentication, and
// IKE negotiation, as independent packages that callers wire into their own
// packet paths (a TUN device, a raw socket, a gopacket pipeline, a test
// harness). This package joins them: its [Driver] is the IPsec driver.
//
// The system it models is Microsoft's IPsec in Windows Server 2003, which
// follows the IETF RFCs: a Policy Agent delivers a policy list to a driver
// that checks all traffic against it and permits, blocks, or protects it,
// signing with AH or encrypting with ESP; ISAKMP/IKE negotiates the keys
// after mutual authentication and renews them on the fly.
//
// # Packages
//
//   - [github.com/ipsecgo/ipsec/esp]: RFC 4303 ESP: Seal and Open, transport
//     and tunnel mode, IPv4 and IPv6, ESN, anti-replay, UDP encapsulation.
//   - [github.com/ipsecgo/ipsec/ah]: RFC 4302 AH: the ICV over the immutable
//     parts of the IP header and the payload.
//   - [github.com/ipsecgo/ipsec/sad]: the SA database: SAs by SPI,
//     lifetimes, expiry events, SPI allocation, rekey overlap.
//   - [github.com/ipsecgo/ipsec/spd]: the policy database: filters, actions,
//     a compiled matcher, the policy file, the Policy Agent.
//   - [github.com/ipsecgo/ipsec/isakmp]: the wire format of IKEv1 and IKEv2.
//   - [github.com/ipsecgo/ipsec/ike]: IKE negotiation as sans-I/O state
//     machines, key derivation, a UDP endpoint.
//   - [github.com/ipsecgo/ipsec/auth]: pre-shared keys, X.509 certificate
//     chains to trusted roots, Kerberos.
//
// Dependencies point one way: esp, ah, spd, isakmp and auth import none of
// the others; sad stores esp and ah SAs; ike imports isakmp and auth. A
// caller who needs only ESP imports only esp.
//
// # Data flow
//
// Outbound: a packet from the caller is looked up in the SPD by its
// selector (addresses, protocol, ports). BYPASS sends it as is; DISCARD
// drops and counts it; PROTECT asks the SAD for the rule's outbound SA. With
// no SA yet, an acquire event asks IKE to negotiate one, and the packet is
// queued or dropped as policy says. With an SA, ESP Seal (or AH) protects the
// packet and the caller sends it, inside UDP 4500 when NAT traversal is on.
//
// Inbound: an ESP or AH packet is looked up in the SAD by its SPI, then
// opened: the ICV is verified first, then the replay window is updated. The
// inner packet is checked against the SPD (it must match the policy of the
// SA it came through) and delivered. Clear packets are checked against the
// SPD too: a rule that requires protection drops them.
//
// IKE: UDP datagrams on ports 500 and 4500 go to the IKE endpoint, whose
// sans-I/O sessions return datagrams to send and events (IKE SA up, CHILD SA
// up with keys and selectors, rekeyed, deleted, peer dead). The driver (or
// a caller wiring the packages itself) installs CHILD SAs into the SAD and
// retires old ones after the rekey overlap.
//
// # The driver
//
// A [Driver] is built from a [DriverConfig]: an spd.SPD (or an spd.Agent
// that fills it), a sad.DB, and the configuration of the ike.Endpoint it
// makes. Two calls carry the datapath, without allocating when the SA
// exists: [Driver.Outbound] takes an IP packet and returns a [Result]
// (clear, protected with the sealed bytes and where they go, dropped with
// a [DropReason] counted per rule, or held while IKE negotiates);
// [Driver.Inbound] and [Driver.InboundESP] take an ESP or AH packet (or
// the payload of ESP in UDP) or a clear packet and deliver or drop it.
// The pipeline is described stage by stage at the top of driver.go.
//
// Each Negotiate rule becomes an ike.Config (its security methods as
// CHILD SA proposals in order, session key PFS, lifetimes in seconds for
// IKE and kilobytes for the SAD, authentication and identities, key
// exchange settings, tunnel endpoints) whose Tag is the rule's identity;
// CHILD SAs carry it into the SAD, so an SA names its rule. As responder,
// the endpoint's GetConfigForRequest hook picks the rule from the peer and
// the first traffic selectors (the triggering packet's, RFC 7296 2.9).
// A tunnel is written as Windows writes it, one rule per direction: the
// outbound rule (tunnel endpoint: the peer) is negotiated, and the
// inbound rule (tunnel endpoint: this side) admits what its SAs decrypt.
// A policy reload takes effect on the next packet; the SAs of rules that
// disappeared or changed are deleted, with IKE Deletes. IKEv2 negotiates
// one protocol per CHILD SA, so its rules skip AH+ESP security methods.
// A rule whose key exchange settings say IKEv1 (as Windows Server 2003's
// do) negotiates with IKEv1 Main and Quick Mode: its AH+ESP methods
// become an SA bundle (one SAD entry, ESP inside and AH outside, sent as
// raw IP), and its authentication methods are offered in the rule's
// order, Kerberos (DriverConfig.Kerberos, the GSS-API method) included.
//
// # Wiring IKE to the SAD
//
// [ESPConfigs] and [AHConfigs] turn a CHILD SA that package ike negotiated
// into the inbound and outbound esp.Config or ah.Config (keys taken from
// KEYMAT in the order of RFC 7296 section 2.17); [ChildSpecs] wraps them
// as sad.Spec values. An [Installer] keeps a sad.DB in step with ike
// events, make-before-break: on a rekey the new inbound SA is installed at
// once, outbound switches to the new SA when a packet arrives on it (RFC
// 7296 section 2.8) or a settle time after the old SA's Delete, and the
// old inbound SA is retired after a grace period so that packets already
// on the wire still open. The driver uses it. examples/quickstart shows
// the whole path: two drivers on loopback whose policy files decide the
// traffic, ESP in UDP (RFC 3948), a rekey with PFS while packets flow, no
// packet lost.
//
// # Glossary: Windows IPsec terms and RFC 4301 terms
//
//	Windows Server 2003              RFC 4301 / this library
//	-------------------              -----------------------
//	IPsec policy                     SPD contents (spd.Policy)
//	Policy Agent                     SPD management (spd.Agent)
//	IPsec driver                     SPD/SAD processing (section 5): the
//	                                 Driver type, over spd, sad, esp, ah
//	rule                             SPD entry: selectors plus action
//	filter list / filter             traffic selectors (section 4.4.1.1);
//	                                 "mirrored" adds the reverse direction
//	filter action: Permit            BYPASS
//	filter action: Block             DISCARD
//	filter action: Negotiate         PROTECT, with an ordered list of
//	  security                       security methods
//	security method                  an SA proposal: ESP (encryption and
//	                                 integrity) and/or AH (integrity), with
//	                                 lifetimes in seconds and kilobytes
//	session key PFS                  a fresh key exchange on every CHILD SA
//	                                 rekey (RFC 7296 section 1.3)
//	quick mode / main mode           IKEv1 phase 2 / phase 1; in IKEv2,
//	                                 CHILD SA / IKE SA
//	authentication methods           IKE peer authentication, tried in the
//	                                 rule's order (ike.Config.AuthOrder):
//	Kerberos (the default in a       IKEv1 Main Mode with the GSS-API method
//	  domain)                        of draft-ietf-ipsec-isakmp-gss-auth-07
//	                                 (method 65001, GSS token payload 129,
//	                                 MICs over HASH_I/HASH_R), the computer
//	                                 account host/name@REALM from a keytab
//	                                 (auth.LoadKerberosHost, ike.KerberosAuth)
//	certificate from a CA            RSA or ECDSA signatures with X.509
//	                                 chains to a trusted root (package auth)
//	pre-shared key                   PSK (RFC 2409 5, RFC 7296 2.15)
//	accept unsecured communication,  respond to clear traffic, but negotiate
//	  but always respond using IPsec   protection for the replies
//	allow unsecured communication    fall back to clear when the peer does
//	  with non-IPsec-aware computers   not answer IKE
//
// References: RFC 4301 (architecture), RFC 4303 (ESP), RFC 4302 (AH), RFC
// 7296 (IKEv2), RFC 2408/2409 (ISAKMP, IKEv1), RFC 3948 (UDP encapsulation),
// RFC 4121 (Kerberos GSS-API), draft-ietf-ipsec-isakmp-gss-auth-07 (Kerberos
// in IKEv1).
package ipsec
