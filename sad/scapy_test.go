package sad

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/internal/testenv"
)

// bundleScript applies Scapy's ESP and AH (scapy.layers.ipsec, an independent
// implementation) as the Windows "AH+ESP" method: ESP then AH on output, AH
// then ESP on input.
const bundleScript = `
import json, sys
from scapy.all import IP, raw
from scapy.layers.ipsec import SecurityAssociation, AH, ESP

c = json.load(sys.stdin)
def sas():
    e = SecurityAssociation(ESP, spi=c["esp_spi"], crypt_algo="AES-GCM",
                            crypt_key=bytes.fromhex(c["esp_key"]), crypt_icv_size=16)
    a = SecurityAssociation(AH, spi=c["ah_spi"], auth_algo="SHA2-256-128",
                            auth_key=bytes.fromhex(c["ah_key"]))
    return e, a
out = {"opened": [], "sealed": []}
e, a = sas()
for s in c["go_sealed"]:
    mid = IP(raw(a.decrypt(IP(bytes.fromhex(s)))))  # re-dissect: AH's payload is ESP
    out["opened"].append(raw(e.decrypt(mid)).hex())
# Scapy 2.5's AuthAlgo.sign treats any packet with an ESP layer as ESP, so
# AH over ESP needs the ESP packet as opaque bytes: unbind ESP from IP.
from scapy.packet import split_layers
split_layers(IP, ESP, proto=50)
e, a = sas()
for p in c["plain"]:
    mid = IP(raw(e.encrypt(IP(bytes.fromhex(p)))))
    out["sealed"].append(raw(a.encrypt(mid)).hex())
json.dump(out, sys.stdout)
`

// TestBundleScapy checks the AH+ESP bundle against Scapy in both
// directions: packets this package seals (ESP, then AH over the ESP packet)
// open in Scapy, and packets Scapy builds the same way open here.
func TestBundleScapy(t *testing.T) {
	py := testenv.NeedCommand(t, "/usr/bin/python3", "python3-scapy")
	err := exec.Command(py, "-c", "import scapy.layers.ipsec").Run()
	testenv.Need(t, err == nil, "Scapy's IPsec module is not importable by /usr/bin/python3; install the Debian packages python3-scapy and python3-cryptography")

	const espSPI, ahSPI = 0x0e5b0001, 0x0a40002
	espKey, ahKey := key(20, 0x31), key(32, 0x77)
	mk := func() (Spec, Spec) {
		var specs [2]Spec
		for i := range specs {
			e, err := esp.NewSA(esp.Config{Mode: esp.Transport, SPI: espSPI, Cipher: esp.CipherAESGCM16, CipherKey: espKey})
			if err != nil {
				t.Fatal(err)
			}
			a, err := ah.NewSA(ah.Config{Mode: ah.Transport, SPI: ahSPI, Integrity: ah.IntegHMACSHA256128, IntegrityKey: ahKey})
			if err != nil {
				t.Fatal(err)
			}
			specs[i] = Spec{ESP: e, AH: a}
		}
		return specs[0], specs[1]
	}
	tx, rx := New(Config{}), New(Config{})
	o, i := mk()
	out, err := tx.AddOutbound(OutboundKey{Rule: 1}, o)
	if err != nil {
		t.Fatal(err)
	}
	in, err := rx.AddInbound(i)
	if err != nil {
		t.Fatal(err)
	}
	var plain, sealed []string
	var plainB [][]byte
	for n, size := range []int{0, 1, 61, 400} {
		p := udpPacket(size, uint64(n+1))
		s, err := out.Seal(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		plainB = append(plainB, p)
		plain = append(plain, hex.EncodeToString(p))
		sealed = append(sealed, hex.EncodeToString(s))
	}
	req, _ := json.Marshal(map[string]any{
		"esp_spi": espSPI, "ah_spi": ahSPI, "esp_key": hex.EncodeToString(espKey), "ah_key": hex.EncodeToString(ahKey),
		"go_sealed": sealed, "plain": plain,
	})
	script := filepath.Join(t.TempDir(), "bundle_scapy.py")
	if err := os.WriteFile(script, []byte(bundleScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script)
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	resp, err := cmd.Output()
	if err != nil {
		t.Fatalf("scapy: %v\n%s", err, stderr.String())
	}
	var res struct{ Opened, Sealed []string }
	if err := json.Unmarshal(resp, &res); err != nil || len(res.Opened) != len(plain) || len(res.Sealed) != len(plain) {
		t.Fatalf("scapy output %s: %v", resp, err)
	}
	for n := range plain {
		if res.Opened[n] != plain[n] {
			t.Errorf("packet %d: Scapy opened our bundle to\n%s\nwant\n%s", n, res.Opened[n], plain[n])
		}
		theirs, _ := hex.DecodeString(res.Sealed[n])
		if theirs[9] != byte(ProtoAH) || theirs[20] != byte(ProtoESP) {
			t.Fatalf("Scapy's bundle layout %x", theirs[:24])
		}
		p, spi := outerSPI(theirs)
		sa := rx.Inbound(p, spi, hostB)
		if sa != in {
			t.Fatalf("packet %d: lookup of Scapy's bundle found %v", n, sa)
		}
		got, err := sa.Open(theirs)
		if err != nil {
			t.Fatalf("packet %d: Scapy's bundle does not open: %v", n, err)
		}
		if !bytes.Equal(got, plainB[n]) {
			t.Errorf("packet %d: Scapy's bundle opened to\n%x\nwant\n%x", n, got, plainB[n])
		}
	}
}
