package keylog

import (
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// strongSwan's charon logs the keys it derives when the log level of its
// "ike" group (IKE SA keys, keymat_v2.c) and "chd" group (CHILD SA keys)
// is 4: a line "NAME => N bytes @ ADDRESS" followed by a hex dump, 16
// bytes a line ("   0: 3E 0F ...  ascii"). The SPIs are not next to the
// keys: CHILD SA keys are followed by "CHILD_SA NAME{N} established with
// SPIs X_i Y_o", and IKE SA keys have no SPI at all. The algorithms come
// from the "selected proposal:" lines before them.

var (
	swDumpStart = regexp.MustCompile(`(\d+)\[(\w+)\] (.+?) => (\d+) bytes @`)
	swDumpLine  = regexp.MustCompile(`(\d+)\[\w+\]\s+(\d+): ([0-9A-Fa-f]{2}(?: [0-9A-Fa-f]{2})*)`)
	swProposal  = regexp.MustCompile(`selected proposal: (IKE|ESP|AH):(\S+)`)
	swChildUp   = regexp.MustCompile(`CHILD_SA \S+ established with SPIs ([0-9a-f]{8})_i ([0-9a-f]{8})_o`)
)

// swEncr maps strongSwan's proposal keywords (%P output) to IKEv2
// Transform Type 1 IDs.
var swEncr = map[string]uint16{
	"3DES_CBC": 3, "NULL": 11, "AES_CBC": 12, "AES_CTR": 13,
	"AES_GCM_8": 18, "AES_GCM_12": 19, "AES_GCM_16": 20, "NULL_AES_GMAC": 21, "CHACHA20_POLY1305": 28,
}

// swInteg maps strongSwan integrity keywords to Transform Type 3 IDs.
var swInteg = map[string]uint16{
	"HMAC_MD5_96": 1, "HMAC_SHA1_96": 2, "AES_XCBC_96": 5,
	"HMAC_SHA2_256_128": 12, "HMAC_SHA2_384_192": 13, "HMAC_SHA2_512_256": 14,
}

type swSuite struct {
	encr, integ uint16
	esn         bool
}

// parseSWProposal reads "AES_CBC_128/HMAC_SHA2_256_128/PRF_.../CURVE_25519"
// or "AES_GCM_16_256/NO_EXT_SEQ".
func parseSWProposal(s string) swSuite {
	var su swSuite
	for _, t := range strings.Split(s, "/") {
		if id, ok := swInteg[t]; ok {
			su.integ = id
			continue
		}
		if t == "EXT_SEQ" {
			su.esn = true
			continue
		}
		name := t
		if i := strings.LastIndexByte(t, '_'); i > 0 {
			if _, err := strconv.Atoi(t[i+1:]); err == nil {
				name = t[:i] // drop the key size
			}
		}
		if id, ok := swEncr[name]; ok {
			su.encr = id
		} else if id, ok := swEncr[t]; ok {
			su.encr = id
		}
	}
	return su
}

// ParseStrongSwan reads the keys from a charon log written with
// "ike = 4" and "chd = 4" (filelog or syslog lines). IKE SAs come back
// with zero SPIs (charon does not log them with the keys): a consumer
// binds each to the first message whose integrity check it passes. Each
// CHILD SA gives four ChildSA entries, both key sets for each of its two
// SPIs (the log does not say which side initiated the exchange that made
// it), with no addresses; a consumer keeps, per SPI, the candidate that
// verifies.
func ParseStrongSwan(r io.Reader) (*Log, error) {
	l := &Log{}
	var ikeSuite, childSuite swSuite
	var cur *IKEv2SA
	childKeys := map[string][]byte{}
	// The dump being read: its name, thread, expected and read bytes.
	var dumpName, dumpThread string
	var dumpLen int
	var dump []byte
	finish := func() {
		if dumpName == "" {
			return
		}
		name, b := dumpName, dump
		dumpName, dump = "", nil
		if len(b) != dumpLen {
			return // truncated dump: ignored
		}
		switch name {
		case "Sk_d secret":
			l.IKEv2 = append(l.IKEv2, IKEv2SA{Encr: ikeSuite.encr, Integ: ikeSuite.integ})
			cur = &l.IKEv2[len(l.IKEv2)-1]
		case "Sk_ei secret", "Sk_er secret", "Sk_ai secret", "Sk_ar secret":
			if cur == nil {
				return
			}
			switch name {
			case "Sk_ei secret":
				cur.SKei = b
			case "Sk_er secret":
				cur.SKer = b
			case "Sk_ai secret":
				cur.SKai = b
			case "Sk_ar secret":
				cur.SKar = b
			}
		case "encryption initiator key", "encryption responder key",
			"integrity initiator key", "integrity responder key":
			childKeys[name] = b
		}
	}
	err := eachLine(r, func(n int, line string) error {
		if m := swDumpLine.FindStringSubmatch(line); m != nil && dumpName != "" && m[1] == dumpThread {
			off, _ := strconv.Atoi(m[2])
			if off != len(dump) {
				finish()
				return nil
			}
			for _, h := range strings.Fields(m[3]) {
				if len(dump) == dumpLen || len(dump)-off == 16 {
					break
				}
				v, err := hex.DecodeString(h)
				if err != nil {
					break
				}
				dump = append(dump, v[0])
			}
			return nil
		}
		finish()
		if m := swDumpStart.FindStringSubmatch(line); m != nil {
			size, err := strconv.Atoi(m[4])
			if err != nil || size > maxLine {
				return fmt.Errorf("%w: line %d: dump of %s bytes", ErrSyntax, n, m[4])
			}
			dumpName, dumpThread, dumpLen, dump = m[3], m[1], size, make([]byte, 0, size)
			return nil
		}
		if m := swProposal.FindStringSubmatch(line); m != nil {
			if m[1] == "IKE" {
				ikeSuite = parseSWProposal(m[2])
			} else {
				childSuite = parseSWProposal(m[2])
			}
			return nil
		}
		if m := swChildUp.FindStringSubmatch(line); m != nil {
			in, _ := strconv.ParseUint(m[1], 16, 32)
			out, _ := strconv.ParseUint(m[2], 16, 32)
			ki := [2][]byte{childKeys["encryption initiator key"], childKeys["integrity initiator key"]}
			kr := [2][]byte{childKeys["encryption responder key"], childKeys["integrity responder key"]}
			if ki[0] == nil && ki[1] == nil {
				return nil // keys not logged (chd below 4)
			}
			add := func(spi uint64, k [2][]byte) {
				l.Child = append(l.Child, ChildSA{Protocol: ProtocolESP, SPI: uint32(spi), Encr: childSuite.encr,
					Key: k[0], Integ: childSuite.integ, IKey: k[1], ESN: childSuite.esn})
			}
			add(in, ki)
			add(in, kr)
			add(out, kr)
			add(out, ki)
			clear(childKeys)
		}
		return nil
	})
	finish()
	return l, err
}
