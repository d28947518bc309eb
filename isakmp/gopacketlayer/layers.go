package gopacketlayer

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ipsecgo/ipsec/isakmp"
)

// Layer type numbers, chosen from the RFC numbers and far above gopacket's
// own (below 200).
var (
	// LayerTypeISAKMP is an ISAKMP/IKE message.
	LayerTypeISAKMP = gopacket.RegisterLayerType(2408, gopacket.LayerTypeMetadata{
		Name: "ISAKMP", Decoder: gopacket.DecodeFunc(decodeISAKMP)})
	// LayerTypeUDPEncap is the content of a UDP datagram on port 4500:
	// the non-ESP marker before IKE, nothing before ESP, or a NAT
	// keepalive.
	LayerTypeUDPEncap = gopacket.RegisterLayerType(3948, gopacket.LayerTypeMetadata{
		Name: "UDPEncap", Decoder: gopacket.DecodeFunc(decodeUDPEncap)})
)

// Ports (RFC 7296 2.23, RFC 3948 2).
const (
	PortIKE  = 500
	PortNATT = 4500
)

func init() {
	layers.RegisterUDPPortLayerType(PortIKE, LayerTypeISAKMP)
	layers.RegisterUDPPortLayerType(PortNATT, LayerTypeUDPEncap)
}

// ISAKMP is the gopacket layer of one ISAKMP/IKE message. Message aliases
// the packet data (see isakmp.Message.Decode). An ISAKMP value is not safe
// for concurrent use; reuse it with DecodeFromBytes.
type ISAKMP struct {
	layers.BaseLayer
	Message isakmp.Message
}

// LayerType implements gopacket.Layer.
func (*ISAKMP) LayerType() gopacket.LayerType { return LayerTypeISAKMP }

// CanDecode implements gopacket.DecodingLayer.
func (*ISAKMP) CanDecode() gopacket.LayerClass { return LayerTypeISAKMP }

// NextLayerType implements gopacket.DecodingLayer: an ISAKMP message is
// the last layer.
func (*ISAKMP) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// DecodeFromBytes implements gopacket.DecodingLayer. data must be one
// whole message, as a UDP payload is.
func (i *ISAKMP) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := i.Message.Decode(data); err != nil {
		if errors.Is(err, isakmp.ErrTruncated) {
			df.SetTruncated()
		}
		return err
	}
	i.BaseLayer = layers.BaseLayer{Contents: data}
	return nil
}

func decodeISAKMP(data []byte, p gopacket.PacketBuilder) error {
	i := &ISAKMP{}
	if err := i.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(i)
	p.SetApplicationLayer(i)
	return nil
}

// Payload implements gopacket.ApplicationLayer: the whole message.
func (i *ISAKMP) Payload() []byte { return i.Contents }

// UDPEncap is the layer of a UDP datagram on port 4500 (RFC 3948 2.2):
// Contents is the four-byte non-ESP marker before an IKE message (then
// NextLayerType is LayerTypeISAKMP), empty before ESP (then
// layers.LayerTypeIPSecESP), or the 0xff byte of a NAT keepalive (then
// Keepalive is set and there is no next layer). Not safe for concurrent
// use.
type UDPEncap struct {
	layers.BaseLayer
	Keepalive bool
	next      gopacket.LayerType
}

// LayerType implements gopacket.Layer.
func (*UDPEncap) LayerType() gopacket.LayerType { return LayerTypeUDPEncap }

// CanDecode implements gopacket.DecodingLayer.
func (*UDPEncap) CanDecode() gopacket.LayerClass { return LayerTypeUDPEncap }

// NextLayerType implements gopacket.DecodingLayer.
func (u *UDPEncap) NextLayerType() gopacket.LayerType { return u.next }

// Sizes from RFC 3948 2.1-2.3 and RFC 4303 2.
const (
	markerLen = 4
	espMinLen = 8 // SPI and sequence number
)

// errShort reports a datagram on port 4500 that is neither a keepalive,
// nor an IKE message behind a marker, nor long enough for an ESP header.
var errShort = errors.New("gopacketlayer: UDP-encapsulated datagram too short")

// DecodeFromBytes implements gopacket.DecodingLayer.
func (u *UDPEncap) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	*u = UDPEncap{}
	switch {
	case len(data) == 1 && data[0] == 0xff:
		u.Keepalive = true
		u.Contents, u.next = data, gopacket.LayerTypeZero
	case len(data) >= markerLen && binary.BigEndian.Uint32(data) == 0:
		u.Contents, u.Payload, u.next = data[:markerLen], data[markerLen:], LayerTypeISAKMP
	case len(data) >= espMinLen:
		u.Contents, u.Payload, u.next = data[:0], data, layers.LayerTypeIPSecESP
	default:
		df.SetTruncated()
		return fmt.Errorf("%w: %d bytes", errShort, len(data))
	}
	return nil
}

func decodeUDPEncap(data []byte, p gopacket.PacketBuilder) error {
	u := &UDPEncap{}
	if err := u.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(u)
	switch u.next {
	case LayerTypeISAKMP:
		return p.NextDecoder(LayerTypeISAKMP)
	case layers.LayerTypeIPSecESP:
		// Built here rather than by gopacket's ESP decoder, which slices
		// without checking the length (the length was checked above).
		esp := &layers.IPSecESP{
			BaseLayer: layers.BaseLayer{Contents: u.Payload},
			SPI:       binary.BigEndian.Uint32(u.Payload[0:4]),
			Seq:       binary.BigEndian.Uint32(u.Payload[4:8]),
			Encrypted: u.Payload[8:],
		}
		p.AddLayer(esp)
	}
	return nil
}
