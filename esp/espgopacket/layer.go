package espgopacket

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ipsecgo/ipsec/esp"
)

// LayerTypeESPDecrypted is the layer type of a decrypted ESP packet. The
// number is RFC 4303's, far above gopacket's own.
var LayerTypeESPDecrypted = gopacket.RegisterLayerType(4303, gopacket.LayerTypeMetadata{
	Name: "ESPDecrypted", Decoder: gopacket.DecodeFunc(func([]byte, gopacket.PacketBuilder) error {
		return errors.New("espgopacket: decoding needs a Decrypter: use Decrypter.Decoder")
	})})

// ErrUnknownSPI: no SA of the Decrypter has the packet's SPI.
var ErrUnknownSPI = errors.New("espgopacket: no SA for this SPI")

// espHeaderLen is the SPI and the sequence number (RFC 4303 2).
const espHeaderLen = 8

// Decrypter holds the inbound SAs, by SPI. It is immutable after
// NewDecrypter and safe for concurrent use (esp.SA is); the layers it
// makes are not.
type Decrypter struct {
	sas map[uint32]*esp.SA
}

// NewDecrypter returns a Decrypter for the given inbound SAs. A later SA
// with the SPI of an earlier one replaces it.
func NewDecrypter(sas ...*esp.SA) *Decrypter {
	d := &Decrypter{sas: make(map[uint32]*esp.SA, len(sas))}
	for _, sa := range sas {
		d.sas[sa.SPI()] = sa
	}
	return d
}

// SA returns the SA for spi, or nil.
func (d *Decrypter) SA(spi uint32) *esp.SA { return d.sas[spi] }

// NewLayer returns a decoding layer that decrypts with d's SAs.
func (d *Decrypter) NewLayer() *ESP { return &ESP{d: d} }

// Decoder returns a gopacket.Decoder for layers.LayerTypeIPSecESP
// positions, for gopacket.NewPacket pipelines: it adds the decrypted ESP
// layer and continues with the inner packet's decoder. Each call of the
// decoder allocates its layer.
func (d *Decrypter) Decoder() gopacket.Decoder {
	return gopacket.DecodeFunc(func(data []byte, p gopacket.PacketBuilder) error {
		e := d.NewLayer()
		if err := e.DecodeFromBytes(data, p); err != nil {
			return err
		}
		p.AddLayer(e)
		return p.NextDecoder(e.NextLayerType())
	})
}

// ESP is one decrypted ESP packet. Contents is the ESP header (SPI and
// sequence number); Payload is the decrypted inner data, which belongs to
// the layer and is overwritten by the next DecodeFromBytes. Not safe for
// concurrent use.
type ESP struct {
	layers.BaseLayer
	SPI uint32
	// Seq is the low 32 bits of the sequence number, as sent.
	Seq        uint32
	NextHeader layers.IPProtocol
	d          *Decrypter
	buf        []byte
}

// LayerType implements gopacket.Layer.
func (*ESP) LayerType() gopacket.LayerType { return LayerTypeESPDecrypted }

// CanDecode implements gopacket.DecodingLayer: the layer decodes what
// gopacket calls ESP.
func (*ESP) CanDecode() gopacket.LayerClass { return layers.LayerTypeIPSecESP }

// NextLayerType implements gopacket.DecodingLayer: the inner packet's
// layer (RFC 4303 2.6, Next Header).
func (e *ESP) NextLayerType() gopacket.LayerType {
	switch e.NextHeader {
	case layers.IPProtocolIPv4:
		return layers.LayerTypeIPv4
	case layers.IPProtocolIPv6:
		return layers.LayerTypeIPv6
	case layers.IPProtocolTCP:
		return layers.LayerTypeTCP
	case layers.IPProtocolUDP:
		return layers.LayerTypeUDP
	case layers.IPProtocolICMPv4:
		return layers.LayerTypeICMPv4
	case layers.IPProtocolICMPv6:
		return layers.LayerTypeICMPv6
	}
	return gopacket.LayerTypePayload
}

// DecodeFromBytes implements gopacket.DecodingLayer: it verifies and
// decrypts data (SPI through ICV) into the layer's own buffer, leaving
// data unchanged.
func (e *ESP) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	e.BaseLayer = layers.BaseLayer{}
	if len(data) < espHeaderLen {
		df.SetTruncated()
		return fmt.Errorf("%w: %d bytes", esp.ErrMalformed, len(data))
	}
	e.SPI = binary.BigEndian.Uint32(data)
	e.Seq = binary.BigEndian.Uint32(data[4:])
	sa := e.d.sas[e.SPI]
	if sa == nil {
		return fmt.Errorf("%w: %08x", ErrUnknownSPI, e.SPI)
	}
	e.buf = append(e.buf[:0], data...)
	payload, nh, err := sa.OpenESP(e.buf)
	if err != nil {
		return err
	}
	e.NextHeader = layers.IPProtocol(nh)
	e.Contents, e.Payload = data[:espHeaderLen], payload
	return nil
}
