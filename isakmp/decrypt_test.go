package isakmp

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Test-only decryption of the captured messages, so that the golden tests
// also cover the payloads strongSwan sends inside SK payloads and IKEv1
// encrypted bodies. The package itself has no crypto; the keys come from
// charon's level-4 log kept beside each capture (testdata/README.md).

// keyLog holds the secrets charon logged, by label, in log order.
type keyLog map[string][][]byte

var keyLine = regexp.MustCompile(`\] (.+?) => (\d+) bytes @`)

// readKeyLog parses the "label => N bytes @ addr" lines of a charon log and
// the hex dump lines that follow each.
func readKeyLog(t testing.TB, path string) keyLog {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := keyLog{}
	var label string
	var cur []byte
	flush := func() {
		if label != "" {
			keys[label] = append(keys[label], cur)
		}
		label, cur = "", nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if m := keyLine.FindStringSubmatch(l); m != nil {
			flush()
			label = strings.TrimSuffix(m[1], " secret")
			if strings.HasPrefix(label, "next IV for MID") {
				label = "next IV"
			}
			continue
		}
		if label != "" && isHexDumpLine(l) {
			i := strings.Index(l, ": ")
			fields := strings.Fields(l[i+2:])
			for _, h := range fields {
				if len(h) != 2 {
					break
				}
				c, err := hex.DecodeString(h)
				if err != nil {
					break
				}
				cur = append(cur, c...)
			}
			continue
		}
		flush()
	}
	flush()
	return keys
}

// decryptV2 returns the inner payload chain of an IKEv2 message whose last
// payload is SK or SKF, trying each logged key until the ICV verifies
// (AES-GCM-16 when no integrity keys were logged; AES-CBC with
// HMAC-SHA2-256-128 otherwise). RFC 7296 3.14, RFC 5282 5.1, RFC 7383 2.5.
func decryptV2(t testing.TB, keys keyLog, msg []byte, enc Payload) (inner []byte, ok bool) {
	var data []byte
	switch p := enc.(type) {
	case *Encrypted:
		data = p.Data
	case *EncryptedFragment:
		data = p.Data
	default:
		return nil, false
	}
	ivOff := len(msg) - len(data) // everything before the IV is authenticated
	encKeys := append(append([][]byte(nil), keys["Sk_ei"]...), keys["Sk_er"]...)
	intKeys := append(append([][]byte(nil), keys["Sk_ai"]...), keys["Sk_ar"]...)
	for i, ek := range encKeys {
		var pt []byte
		if len(intKeys) == 0 { // AES-GCM-16 (RFC 5282): key, then 4-byte salt
			if len(data) < 8+16 || len(ek) < 20 {
				return nil, false
			}
			block, err := aes.NewCipher(ek[:len(ek)-4])
			if err != nil {
				t.Fatal(err)
			}
			aead, err := cipher.NewGCM(block)
			if err != nil {
				t.Fatal(err)
			}
			nonce := append(bytes.Clone(ek[len(ek)-4:]), data[:8]...)
			pt, err = aead.Open(nil, nonce, data[8:], msg[:ivOff])
			if err != nil {
				continue
			}
		} else {
			if i >= len(intKeys) || len(data) < 16+16 {
				continue
			}
			mac := hmac.New(sha256.New, intKeys[i])
			mac.Write(msg[:len(msg)-16])
			if !hmac.Equal(mac.Sum(nil)[:16], msg[len(msg)-16:]) {
				continue
			}
			block, err := aes.NewCipher(ek)
			if err != nil {
				t.Fatal(err)
			}
			ct := data[16 : len(data)-16]
			if len(ct)%16 != 0 {
				return nil, false
			}
			pt = make([]byte, len(ct))
			cipher.NewCBCDecrypter(block, data[:16]).CryptBlocks(pt, ct)
		}
		if len(pt) == 0 || int(pt[len(pt)-1])+1 > len(pt) {
			return nil, false
		}
		return pt[:len(pt)-1-int(pt[len(pt)-1])], true
	}
	return nil, false
}

// decryptV1 decrypts the body of an IKEv1 message (AES-128-CBC with Ka,
// RFC 2409 appendix B) trying as IV each logged IV and the last
// ciphertext block of every earlier message (RFC 2409 B: the CBC chain
// continues across messages). It accepts the IV under which the plaintext
// decodes as a payload chain followed by at most a block of padding.
func decryptV1(keys keyLog, h *Header, body []byte, earlier [][]byte) (pt []byte, n int, ok bool) {
	if len(keys["encryption key Ka"]) == 0 || len(body) == 0 || len(body)%16 != 0 {
		return nil, 0, false
	}
	block, err := aes.NewCipher(keys["encryption key Ka"][0])
	if err != nil {
		return nil, 0, false
	}
	var ivs [][]byte
	ivs = append(ivs, keys["initial IV"]...)
	ivs = append(ivs, keys["next IV"]...)
	for _, e := range earlier {
		ivs = append(ivs, e[len(e)-16:])
	}
	for _, iv := range ivs {
		if len(iv) != 16 {
			continue
		}
		pt = make([]byte, len(body))
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, body)
		ps, n, err := DecodePayloads(nil, MajorIKEv1, h.NextPayload, pt)
		if err == nil && len(ps) > 0 && len(pt)-n <= 16 {
			return pt, n, true
		}
	}
	return nil, 0, false
}
