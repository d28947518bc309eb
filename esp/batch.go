package esp

import (
	"errors"

	"github.com/ipsecgo/ipsec/internal/ippkt"
)

var errBatchOut = errors.New("esp: SealBatch needs an output buffer for every packet")

// SealBatch seals pkts[i] as Seal does and appends the result to out[i], for
// each packet in order. It reserves the batch's run of sequence numbers with
// one atomic add and counts the batch with one more, where Seal takes two per
// packet; those adds on the SA's shared cache line are what keeps two cores
// sealing on one SA from doing twice the work of one. The packets of a batch
// carry consecutive sequence numbers.
//
// It returns how many packets were sealed, counted from the first. When that
// is fewer than len(pkts), err says why pkts[n] was not: it is not an IP
// packet (or, in transport mode, a fragment), or the sequence number space
// ran out inside the batch (ErrSeqExhausted: RFC 4303 section 3.3.3 forbids
// wrapping; the SA must be rekeyed). Packets are checked before numbers are
// reserved, so a refused packet uses none, and a batch leaves no gap. out
// must be at least as long as pkts; no packet may overlap the spare capacity
// of an out[i]. SealBatch does not allocate when
// every out[i] has room.
func (sa *SA) SealBatch(out, pkts [][]byte) (int, error) {
	if len(out) < len(pkts) {
		return 0, errBatchOut
	}
	n := len(pkts)
	var err error
	for i, p := range pkts {
		if _, err = sa.check(p); err != nil {
			n = i
			break
		}
	}
	first, got := sa.seq.Reserve(uint64(n))
	if got < uint64(n) {
		n, err = int(got), ErrSeqExhausted
	}
	bytes := 0
	for i := range n {
		// Parsed again rather than kept from the check: a second look at
		// a header is cheaper than scratch space per packet.
		in, _ := sa.check(pkts[i])
		out[i] = sa.sealWithSeq(out[i], pkts[i], in, first+uint64(i))
		bytes += in.n
	}
	sa.traffic.AddN(n, bytes)
	return n, err
}

// batchInfo is what checking a packet found out for sealing it: the bytes ESP
// protects, and their next header.
type batchInfo struct {
	ip ipPacket // transport mode
	n  int      // tunnel mode: the inner packet's length; transport: the payload's
	nh uint8
}

// check parses pkt as Seal would, without taking a sequence number.
func (sa *SA) check(pkt []byte) (batchInfo, error) {
	if sa.mode == Tunnel {
		n, nh, ok := innerPacket(pkt)
		if !ok {
			return batchInfo{}, errNotIP
		}
		return batchInfo{n: n, nh: nh}, nil
	}
	h, ok := ippkt.Parse(pkt, ippkt.Insert)
	ip := ipPacket{h}
	if !ok {
		return batchInfo{}, errNotIP
	}
	if ip.fragment() {
		return batchInfo{}, errFragment // RFC 4303 section 3.3
	}
	return batchInfo{ip: ip, n: ip.Total - ip.HdrLen, nh: pkt[ip.NhOff]}, nil
}

// sealWithSeq is Seal of a checked packet with sequence number seq, without
// the counters.
func (sa *SA) sealWithSeq(dst, pkt []byte, in batchInfo, seq uint64) []byte {
	if sa.mode == Tunnel {
		n := in.n
		dst, out := sa.appendESP(dst, sa.outer.hdrLen+sa.udpLen, pkt[:n], max(0, sa.tfcPadTo-n), in.nh, seq)
		sa.writeOuter(out, pkt, seq)
		if sa.udpLen != 0 {
			sa.fillUDP(out, sa.outer.v6, out[sa.outer.hdrLen:])
		}
		return dst
	}
	ip := in.ip
	payload := pkt[ip.HdrLen:ip.Total]
	dst, out := sa.appendESP(dst, ip.HdrLen+sa.udpLen, payload, 0, in.nh, seq)
	proto := uint8(protoESP)
	if sa.udpLen != 0 {
		proto = protoUDP
	}
	ip.writeHeader(out[:ip.HdrLen], pkt[:ip.HdrLen], proto, len(out))
	if sa.udpLen != 0 {
		sa.fillUDP(out, ip.v6(), out[ip.HdrLen:])
	}
	return dst
}
