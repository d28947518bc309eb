package isakmp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// capturedDatagram is one IKE message from a capture in testdata.
type capturedDatagram struct {
	file    string
	index   int     // packet number in the file, from 1
	src     [4]byte // IPv4 source address
	sport   uint16
	dport   uint16
	message []byte // the ISAKMP message (non-ESP marker removed)
}

// readCaptures returns the IKE messages of every testdata/*.pcap file.
// The captures were made by strongSwan as described in testdata/README.md.
// Packets are parsed by hand (Ethernet or Linux cooked, IPv4, UDP) so that
// the golden tests do not depend on the gopacket layer they also check.
func readCaptures(t testing.TB) []capturedDatagram {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	return readCapturesFrom(t, files)
}

func readCapturesFrom(t testing.TB, files []string) []capturedDatagram {
	t.Helper()
	var out []capturedDatagram
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			fh.Close()
			t.Fatalf("%s: %v", f, err)
		}
		for i := 1; ; i++ {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			ip := linkPayload(r.LinkType(), data)
			if ip == nil {
				continue
			}
			sport, dport, udp := udpPayload(ip)
			var src [4]byte
			if len(ip) >= 16 {
				copy(src[:], ip[12:16])
			}
			if udp == nil {
				continue
			}
			if sport == 4500 || dport == 4500 {
				if len(udp) < 4 || udp[0]|udp[1]|udp[2]|udp[3] != 0 {
					continue // ESP or keepalive
				}
				udp = udp[4:]
			} else if sport != 500 && dport != 500 {
				continue
			}
			out = append(out, capturedDatagram{file: filepath.Base(f), index: i, src: src, sport: sport, dport: dport, message: udp})
		}
		fh.Close()
	}
	return out
}

func linkPayload(lt layers.LinkType, b []byte) []byte {
	switch lt {
	case layers.LinkTypeEthernet:
		if len(b) < 14 || b[12] != 0x08 || b[13] != 0x00 {
			return nil
		}
		return b[14:]
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 || b[14] != 0x08 || b[15] != 0x00 {
			return nil
		}
		return b[16:]
	case layers.LinkTypeRaw:
		return b
	}
	return nil
}

func udpPayload(ip []byte) (sport, dport uint16, payload []byte) {
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
		return 0, 0, nil
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(ip[2])<<8 | int(ip[3])
	if ihl < 20 || total > len(ip) || total < ihl+8 {
		return 0, 0, nil
	}
	u := ip[ihl:total]
	ulen := int(u[4])<<8 | int(u[5])
	if ulen < 8 || ulen > len(u) {
		return 0, 0, nil
	}
	return uint16(u[0])<<8 | uint16(u[1]), uint16(u[2])<<8 | uint16(u[3]), u[8:ulen]
}

func goldenMessages(t testing.TB) [][]byte {
	var out [][]byte
	for _, d := range readCaptures(t) {
		out = append(out, d.message)
	}
	return out
}
