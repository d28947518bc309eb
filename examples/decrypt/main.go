// Command decrypt decrypts the IPsec traffic of a capture offline, as an
// analyst does in Wireshark, but scriptable: it reads a pcap or pcapng
// file and a key log, opens every ESP packet (bare or inside UDP 4500)
// whose SA the key log names, with any suite package esp supports,
// verifies its ICV and the replay window, decrypts the Encrypted payloads
// of IKEv2 messages, writes the inner packets to a pcap file and prints a
// summary per SA: packets, bytes, ICV failures, replays and gaps in the
// sequence numbers.
//
//	decrypt -r capture.pcapng -k keys.log -w inner.pcap [-v]
//	decrypt -k keys.log -wireshark DIR
//
// The key log is the file ike.Config's KeyLogWriter writes (package
// ike/keylog documents it), Wireshark's esp_sa table, or a strongSwan
// charon log written with "ike = 4" and "chd = 4" (whose keys come
// without SPIs or directions: each is tried until one verifies). With
// -wireshark the key log is converted into Wireshark's tables
// (ikev2_decryption_table, ikev1_decryption_table, esp_sa) in DIR, a
// Wireshark profile or configuration directory.
//
// Key logs hold secrets: whoever reads them can decrypt (and forge) the
// traffic of their SAs. Keep them private and delete them after use.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ipsecgo/ipsec/ike/keylog"
)

func main() {
	var in, keys, out, wsDir string
	var verbose bool
	flag.StringVar(&in, "r", "", "capture to read (pcap or pcapng)")
	flag.StringVar(&keys, "k", "", "key log: ours, Wireshark's esp_sa table, or a strongSwan log at ike/chd level 4")
	flag.StringVar(&out, "w", "", "pcap file for the decrypted inner packets (raw IP)")
	flag.StringVar(&wsDir, "wireshark", "", "write the key log as Wireshark tables into this directory")
	flag.BoolVar(&verbose, "v", false, "print every decrypted IKE message and every packet error")
	flag.Parse()
	if err := run(in, keys, out, wsDir, verbose, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// loadKeys reads a key log in any of the three formats.
func loadKeys(b []byte) (*keylog.Log, error) {
	s := string(b)
	switch {
	case strings.Contains(s, keylog.LabelIKEv2+" SPII=") || strings.Contains(s, keylog.LabelESP+" SPI=") ||
		strings.Contains(s, keylog.LabelIKEv1+" CKYI="):
		return keylog.Parse(bytes.NewReader(b))
	case strings.Contains(s, " => ") && strings.Contains(s, " bytes @ "):
		return keylog.ParseStrongSwan(bytes.NewReader(b))
	}
	return keylog.ParseESPTable(bytes.NewReader(b))
}

func run(in, keys, out, wsDir string, verbose bool, stdout io.Writer) error {
	if keys == "" {
		return errors.New("decrypt: -k is required")
	}
	kb, err := os.ReadFile(keys)
	if err != nil {
		return err
	}
	l, err := loadKeys(kb)
	if err != nil {
		return err
	}
	if wsDir != "" {
		if err := writeTables(wsDir, l); err != nil {
			return err
		}
	}
	if in == "" {
		if wsDir == "" {
			return errors.New("decrypt: -r or -wireshark is required")
		}
		return nil
	}
	d, err := NewDecryptor(l)
	if err != nil {
		return err
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	var w *pcapgo.Writer
	if out != "" {
		of, err := os.Create(out)
		if err != nil {
			return err
		}
		defer of.Close()
		bw := bufio.NewWriter(of)
		defer bw.Flush()
		w = pcapgo.NewWriter(bw)
		if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
			return err
		}
	}
	errs, err := decryptCapture(d, f, func(ci gopacket.CaptureInfo, pkt []byte) error {
		if w == nil {
			return nil
		}
		ci.CaptureLength, ci.Length = len(pkt), len(pkt)
		return w.WritePacket(ci, pkt)
	})
	if verbose {
		for _, m := range d.IKE {
			fmt.Fprintln(stdout, m)
		}
		for _, e := range errs {
			fmt.Fprintln(stdout, e)
		}
	}
	d.WriteSummary(stdout)
	return err
}

// packetReader is what pcapgo's pcap and pcapng readers share.
type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// ngReader adapts pcapgo.NgReader, whose link type is per interface.
type ngReader struct{ *pcapgo.NgReader }

func (r ngReader) LinkType() layers.LinkType { return r.NgReader.LinkType() }

// decryptCapture runs every frame of the capture r through d and hands
// the decrypted inner packets to emit. It returns the per-packet errors
// (frames that are not decrypted IPsec, each with its frame number) and
// an error if the capture itself cannot be read to its end.
func decryptCapture(d *Decryptor, r io.Reader, emit func(gopacket.CaptureInfo, []byte) error) ([]error, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("decrypt: not a capture file: %w", err)
	}
	var pr packetReader
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("decrypt: pcapng: %w", err)
		}
		pr = ngReader{ng}
	} else {
		p, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("decrypt: pcap: %w", err)
		}
		pr = p
	}
	var errs []error
	for n := 1; ; n++ {
		data, ci, err := pr.ReadPacketData()
		if err == io.EOF {
			return errs, nil
		}
		if err != nil {
			return errs, fmt.Errorf("decrypt: frame %d: %w", n, err)
		}
		link := pr.LinkType()
		if ci.InterfaceIndex > 0 {
			if ng, ok := pr.(ngReader); ok {
				if intf, err := ng.Interface(ci.InterfaceIndex); err == nil {
					link = intf.LinkType
				}
			}
		}
		pkt, err := d.Packet(link, data)
		if err != nil {
			if !errors.Is(err, errNotIPsec) {
				errs = append(errs, fmt.Errorf("frame %d: %w", n, err))
			}
			continue
		}
		if pkt != nil {
			if err := emit(ci, pkt); err != nil {
				return errs, err
			}
		}
	}
}

// writeTables writes Wireshark's three tables for l into dir.
func writeTables(dir string, l *keylog.Log) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer, *keylog.Log) error{
		keylog.IKEv2TableName: keylog.WriteIKEv2Table,
		keylog.IKEv1TableName: keylog.WriteIKEv1Table,
		keylog.ESPTableName:   keylog.WriteESPTable,
	} {
		var b bytes.Buffer
		if err := write(&b, l); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o600); err != nil {
			return err
		}
	}
	return nil
}
