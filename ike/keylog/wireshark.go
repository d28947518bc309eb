package keylog

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Wireshark's user tables ("UAT" files in a profile directory, or
// tshark -o uat:NAME:RECORD): one record per line, fields separated by
// commas, text fields in double quotes, byte fields as bare hex. The
// algorithm names are the exact strings of Wireshark's value tables
// (epan/dissectors/packet-isakmp.c and packet-ipsec.c, Wireshark 4.0).
const (
	// IKEv2TableName is the file name of the IKEv2 decryption table.
	IKEv2TableName = "ikev2_decryption_table"
	// IKEv1TableName is the file name of the IKEv1 decryption table.
	IKEv1TableName = "ikev1_decryption_table"
	// ESPTableName is the file name of the ESP SA table.
	ESPTableName = "esp_sa"
)

var wsIKEv2Encr = map[[2]int]string{ // {transform ID, key bits}
	{3, 192}:  "3DES [RFC2451]",
	{11, 0}:   "NULL [RFC2410]",
	{12, 128}: "AES-CBC-128 [RFC3602]", {12, 192}: "AES-CBC-192 [RFC3602]", {12, 256}: "AES-CBC-256 [RFC3602]",
	{13, 128}: "AES-CTR-128 [RFC5930]", {13, 192}: "AES-CTR-192 [RFC5930]", {13, 256}: "AES-CTR-256 [RFC5930]",
	{18, 128}: "AES-GCM-128 with 8 octet ICV [RFC5282]", {18, 192}: "AES-GCM-192 with 8 octet ICV [RFC5282]",
	{18, 256}: "AES-GCM-256 with 8 octet ICV [RFC5282]",
	{19, 128}: "AES-GCM-128 with 12 octet ICV [RFC5282]", {19, 192}: "AES-GCM-192 with 12 octet ICV [RFC5282]",
	{19, 256}: "AES-GCM-256 with 12 octet ICV [RFC5282]",
	{20, 128}: "AES-GCM-128 with 16 octet ICV [RFC5282]", {20, 192}: "AES-GCM-192 with 16 octet ICV [RFC5282]",
	{20, 256}: "AES-GCM-256 with 16 octet ICV [RFC5282]",
}

var wsIKEv2Integ = map[uint16]string{
	0: "NONE [RFC4306]", 1: "HMAC_MD5_96 [RFC2403]", 2: "HMAC_SHA1_96 [RFC2404]",
	12: "HMAC_SHA2_256_128 [RFC4868]", 13: "HMAC_SHA2_384_192 [RFC4868]", 14: "HMAC_SHA2_512_256 [RFC4868]",
}

var wsESPEncr = map[uint16]string{
	3: "TripleDES-CBC [RFC2451]", 11: "NULL", 12: "AES-CBC [RFC3602]", 13: "AES-CTR [RFC3686]",
	18: "AES-GCM with 8 octet ICV [RFC4106]", 19: "AES-GCM with 12 octet ICV [RFC4106]",
	20: "AES-GCM with 16 octet ICV [RFC4106]",
}

var wsESPInteg = map[uint16]string{
	0: "NULL", 1: "HMAC-MD5-96 [RFC2403]", 2: "HMAC-SHA-1-96 [RFC2404]",
	12: "HMAC-SHA-256-128 [RFC4868]", 13: "HMAC-SHA-384-192 [RFC4868]", 14: "HMAC-SHA-512-256 [RFC4868]",
}

// saltLen is the salt at the end of an IKEv2 AEAD or CTR key (RFC 5282
// 7.1, RFC 5930 2).
func ikeKeyBits(encr uint16, key []byte) int {
	switch encr {
	case 13, 18, 19, 20:
		return (len(key) - 4) * 8
	case 11:
		return 0
	}
	return len(key) * 8
}

// IKEv2Record returns the ikev2_decryption_table record for sa, or an
// error if Wireshark 4.0 cannot decrypt its algorithms (ChaCha20-Poly1305,
// AES-XCBC).
func IKEv2Record(sa *IKEv2SA) (string, error) {
	encr, ok := wsIKEv2Encr[[2]int{int(sa.Encr), ikeKeyBits(sa.Encr, sa.SKei)}]
	if !ok {
		return "", fmt.Errorf("keylog: Wireshark has no IKEv2 decryption for encryption transform %d with a %d-byte key", sa.Encr, len(sa.SKei))
	}
	integ, ok := wsIKEv2Integ[sa.Integ]
	if !ok {
		return "", fmt.Errorf("keylog: Wireshark has no IKEv2 integrity transform %d", sa.Integ)
	}
	return fmt.Sprintf("%x,%x,%x,%x,%q,%x,%x,%q", sa.SPIi, sa.SPIr, sa.SKei, sa.SKer, encr, sa.SKai, sa.SKar, integ), nil
}

// IKEv1Record returns the ikev1_decryption_table record for sa.
func IKEv1Record(sa *IKEv1SA) string {
	return fmt.Sprintf("%x,%x", sa.CookieI, sa.Key)
}

// ESPRecord returns the esp_sa record for an ESP SA, or an error for AH
// or for algorithms Wireshark 4.0 cannot decrypt (ChaCha20-Poly1305,
// AES-GMAC). Wireshark 4.0 has no ESN setting: an ESN SA decrypts only
// while the high half of its sequence number is zero.
func ESPRecord(sa *ChildSA) (string, error) {
	if sa.Protocol != ProtocolESP {
		return "", fmt.Errorf("keylog: SPI %08x is not ESP", sa.SPI)
	}
	encr, ok := wsESPEncr[sa.Encr]
	if !ok {
		return "", fmt.Errorf("keylog: Wireshark 4.0 cannot decrypt ESP cipher %d (SPI %08x)", sa.Encr, sa.SPI)
	}
	integ, ok := wsESPInteg[sa.Integ]
	if !ok {
		return "", fmt.Errorf("keylog: Wireshark has no ESP integrity algorithm %d (SPI %08x)", sa.Integ, sa.SPI)
	}
	proto, src, dst := "Any", "*", "*"
	if sa.Src.IsValid() && sa.Dst.IsValid() {
		proto = "IPv4"
		if sa.Src.Is6() && !sa.Src.Is4In6() {
			proto = "IPv6"
		}
		src, dst = sa.Src.String(), sa.Dst.String()
	}
	return fmt.Sprintf("%q,%q,%q,\"0x%08x\",%q,\"0x%x\",%q,\"0x%x\"",
		proto, src, dst, sa.SPI, encr, sa.Key, integ, sa.IKey), nil
}

const tableHeader = "# This file holds IPsec secrets: whoever reads it can decrypt the traffic.\n"

// WriteIKEv2Table writes the ikev2_decryption_table file for the IKE SAs
// of l whose SPIs are known. SAs whose algorithms Wireshark cannot handle
// become comment lines saying why.
func WriteIKEv2Table(w io.Writer, l *Log) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(tableHeader)
	for i := range l.IKEv2 {
		sa := &l.IKEv2[i]
		if sa.SPIi == ([8]byte{}) {
			continue
		}
		rec, err := IKEv2Record(sa)
		if err != nil {
			fmt.Fprintf(bw, "# skipped %x_i %x_r: %v\n", sa.SPIi, sa.SPIr, err)
			continue
		}
		bw.WriteString(rec + "\n")
	}
	return bw.Flush()
}

// WriteIKEv1Table writes the ikev1_decryption_table file for the ISAKMP
// SAs of l.
func WriteIKEv1Table(w io.Writer, l *Log) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(tableHeader)
	for i := range l.IKEv1 {
		bw.WriteString(IKEv1Record(&l.IKEv1[i]) + "\n")
	}
	return bw.Flush()
}

// WriteESPTable writes the esp_sa file for the ESP SAs of l. SAs that
// Wireshark cannot decrypt become comment lines saying why.
func WriteESPTable(w io.Writer, l *Log) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(tableHeader)
	for i := range l.Child {
		sa := &l.Child[i]
		if sa.Protocol != ProtocolESP {
			continue
		}
		rec, err := ESPRecord(sa)
		if err != nil {
			fmt.Fprintf(bw, "# skipped: %v\n", err)
			continue
		}
		bw.WriteString(rec + "\n")
	}
	return bw.Flush()
}

// ParseESPTable reads Wireshark's esp_sa file (the format ESPRecord
// writes, as Wireshark saves it). Records with a wildcard SPI or an
// algorithm without a number here are errors. Wireshark records say
// nothing about ESN, mode or encapsulation: ESN is false, Tunnel false and
// the encapsulation ports zero (a decryptor recognises the mode from the
// next header and encapsulation from the packet).
func ParseESPTable(r io.Reader) (*Log, error) {
	l := &Log{}
	encr := invert(wsESPEncr)
	integ := invert(wsESPInteg)
	err := eachLine(r, func(n int, line string) error {
		if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
			return nil
		}
		f, err := splitUAT(line)
		if err != nil || len(f) < 8 {
			return fmt.Errorf("%w: esp_sa line %d: want 8 fields", ErrSyntax, n)
		}
		sa := ChildSA{Protocol: ProtocolESP}
		if f[0] != "Any" {
			if sa.Src, err = netip.ParseAddr(f[1]); err != nil && f[1] != "*" {
				return fmt.Errorf("%w: esp_sa line %d: source %q", ErrSyntax, n, f[1])
			}
			if sa.Dst, err = netip.ParseAddr(f[2]); err != nil && f[2] != "*" {
				return fmt.Errorf("%w: esp_sa line %d: destination %q", ErrSyntax, n, f[2])
			}
		}
		spi, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(f[3]), "0x"), 16, 32)
		if err != nil {
			return fmt.Errorf("%w: esp_sa line %d: SPI %q", ErrSyntax, n, f[3])
		}
		sa.SPI = uint32(spi)
		var ok1, ok2 bool
		sa.Encr, ok1 = encr[f[4]]
		sa.Integ, ok2 = integ[f[6]]
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: esp_sa line %d: unknown algorithm %q or %q", ErrSyntax, n, f[4], f[6])
		}
		if sa.Key, err = uatHex(f[5]); err != nil {
			return fmt.Errorf("%w: esp_sa line %d: encryption key", ErrSyntax, n)
		}
		if sa.IKey, err = uatHex(f[7]); err != nil {
			return fmt.Errorf("%w: esp_sa line %d: authentication key", ErrSyntax, n)
		}
		l.Child = append(l.Child, sa)
		return nil
	})
	return l, err
}

func invert(m map[uint16]string) map[string]uint16 {
	out := make(map[string]uint16, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// uatHex decodes a Wireshark key: "0x" and hex digits, or empty.
func uatHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
}

// splitUAT splits one UAT record into its fields, unquoting quoted ones
// (Wireshark escapes with \xNN and backslash).
func splitUAT(line string) ([]string, error) {
	var out []string
	for len(line) > 0 {
		if line[0] == '"' {
			var sb strings.Builder
			i := 1
			for ; i < len(line) && line[i] != '"'; i++ {
				c := line[i]
				if c == '\\' && i+1 < len(line) {
					if line[i+1] == 'x' && i+3 < len(line) {
						v, err := strconv.ParseUint(line[i+2:i+4], 16, 8)
						if err != nil {
							return nil, ErrSyntax
						}
						sb.WriteByte(byte(v))
						i += 3
						continue
					}
					i++
					c = line[i]
				}
				sb.WriteByte(c)
			}
			if i >= len(line) {
				return nil, ErrSyntax
			}
			out = append(out, sb.String())
			line = line[i+1:]
		} else {
			f, _, _ := strings.Cut(line, ",")
			out = append(out, f)
			line = line[len(f):]
		}
		if len(line) > 0 {
			if line[0] != ',' {
				return nil, ErrSyntax
			}
			line = line[1:]
			if len(line) == 0 {
				out = append(out, "")
			}
		}
	}
	return out, nil
}
