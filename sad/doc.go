// Package sad is the security association database (RFC 4301 section
// 4.4.2): the table of negotiated keys that Windows Server 2003 keeps in its
// IPsec driver. It holds inbound SAs by SPI and protocol (and, for
// multicast, destination) and outbound SAs by the policy rule and traffic
// selector they serve, as *esp.SA, *ah.SA or an AH+ESP bundle.
//
// In the data flow, an outbound packet that spd sends to a PROTECT rule is
// sealed by DB.Outbound(key).Seal; when no SA exists yet, Outbound returns
// nil (a lookup has no side effects) and the caller asks for one with
// DB.Acquire(key, flow), which queues an EventAcquire for IKE once per
// rule and selector, then at most once per Config.AcquireInterval. An
// inbound ESP or AH packet is looked up with DB.Inbound(proto, spi, dst)
// and opened with SA.Open; SA.Allows then checks the inner packet against
// the SA's traffic selectors (RFC 4301 section 5.2). Each SA carries the
// identity of the policy rule it serves (Spec.Rule, SA.Rule, DB.ByRule)
// and its traffic selectors (Spec.LocalTS and RemoteTS), so callers keep
// no table from SA to rule.
//
// Under NAT traversal (RFC 3948) the IKE endpoint carries bare ESP on UDP
// port 4500: SA.SealESP produces it from an IP packet and DB.OpenESP finds
// the SA by SPI and opens it, with the same lifetime accounting as Seal
// and Open; DB.OpenESP uses esp.Classify, the one port 4500
// demultiplexer. Lookups take no lock
// and do not allocate: readers search an open-addressing table whose slots
// are updated atomically, while writers (adds, deletes, expiry) are
// serialised by a mutex that readers never take.
//
// Lifetimes (RFC 4301 section 4.4.2.1) are soft and hard, by time, bytes
// and packets; LifetimeOf turns a security method's seconds and kilobytes
// into one. Soft limits are moved earlier by a random jitter (up to 10%
// by default) so that two peers do not rekey at the same moment; reaching
// one sends EventSoftExpire. Hard limits kill the SA (EventHardExpire) and
// remove it. The defaults follow Windows Server 2003's quick mode: one hour
// or 100,000 KB, soft at 90%. Time is read from a Clock and applied by
// Tick, which Run calls periodically, so tests drive lifetimes with a fake
// clock. Events go to a bounded channel and are dropped (and counted) when
// the consumer is slow: the datapath never blocks on them.
//
// A rekey does not interrupt traffic (make before break): AllocateSPI
// reserves the new inbound SPI while IKE negotiates; AddInbound installs the
// new inbound SA beside the old one; AddOutbound replaces the outbound SA
// for the key atomically, while packets already handed to the old SA are
// still sealed; RetireInbound keeps the old inbound SA accepting packets for
// a grace period, then removes it (or DeleteInbound removes it when the
// peer deletes it).
//
// AH+ESP (an SA bundle, RFC 4301 section 4.3) is an SA with both
// transforms: Seal applies ESP and then AH, Open verifies AH and then opens
// ESP. It lives here rather than in ah because ah must not import esp.
//
// Example:
//
//	db := sad.New(sad.Config{})
//	go db.Run(ctx)
//	spi, _ := db.AllocateSPI(sad.ProtoESP)   // responder's inbound SPI for IKE
//	in, _ := esp.NewSA(esp.Config{Mode: esp.Transport, SPI: spi, ...})
//	db.AddInbound(sad.Spec{ESP: in})
//	out, _ := esp.NewSA(esp.Config{Mode: esp.Transport, SPI: peerSPI, ...})
//	db.AddOutbound(sad.OutboundKey{Rule: 1}, sad.Spec{ESP: out})
//	...
//	if sa := db.Inbound(sad.ProtoESP, spiOf(pkt), dstOf(pkt)); sa != nil {
//		inner, err := sa.Open(pkt)
//	}
//
// References:
//   - RFC 4301 sections 4.4.2 (SAD), 4.4.2.1 (SAD fields, lifetimes),
//     4.1 (SA identification by SPI, protocol and destination), 4.3
//     (combining SAs: bundles), 5.1 and 5.2 (outbound and inbound
//     processing).
//   - RFC 4303 section 2.1 and RFC 4302 section 2.4 (SPI values 1-255
//     reserved, 0 local).
//   - RFC 7296 sections 1.3.2 and 2.8 (rekeying CHILD SAs, deleting the old
//     SA after the new one is in place) and 2.8.1 (simultaneous rekeying,
//     which jitter makes rare).
//   - RFC 2367 (PF_KEY ACQUIRE and EXPIRE, the model for the events).
//   - RFC 3948 (UDP encapsulation of ESP) and RFC 7296 sections 2.9 and
//     3.13.1 (traffic selectors, OPAQUE ports).
package sad
