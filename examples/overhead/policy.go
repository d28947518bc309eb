package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/spd"
)

// policySuites returns the security methods of a policy file (package
// spd's format): those of every enabled rule that negotiates security,
// and of the default response rule, without repeats, in file order. A
// method this library cannot seal (DES) is reported in skipped.
func policySuites(path string) (suites []Suite, skipped []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	p, err := spd.ParsePolicy(path, data)
	if err != nil {
		return nil, nil, err
	}
	var methods []spd.SecurityMethod
	for _, r := range p.Rules {
		if !r.Disabled && r.Action.Action == spd.ActionProtect {
			methods = append(methods, r.Action.Methods...)
		}
	}
	if p.DefaultResponse != nil {
		methods = append(methods, p.DefaultResponse.Action.Methods...)
	}
	seen := map[string]bool{}
	for _, m := range methods {
		s, err := suiteOf(m)
		if err != nil {
			if !seen[err.Error()] {
				skipped = append(skipped, err.Error())
				seen[err.Error()] = true
			}
			continue
		}
		if !seen[s.Name] {
			suites = append(suites, s)
			seen[s.Name] = true
		}
	}
	if len(suites) == 0 {
		return nil, skipped, fmt.Errorf("overhead: %s has no security method this library implements", path)
	}
	return suites, skipped, nil
}

// suiteOf turns a policy's security method into a Suite named after it.
func suiteOf(m spd.SecurityMethod) (Suite, error) {
	var s Suite
	var parts []string
	if m.UseESP {
		// spd's algorithm values are the IANA transform IDs esp uses.
		id, bits := m.ESPEncryption, m.ESPKeyBits
		s.Cipher, s.Integ = esp.Cipher(id), esp.Integrity(m.ESPIntegrity)
		if len(s.Cipher.KeySizes()) == 0 {
			return Suite{}, fmt.Errorf("ESP %v is not implemented by package esp", m.ESPEncryption.Name(m.ESPKeyBits))
		}
		s.keyBits = bits
		s.Legacy = s.Cipher == esp.Cipher3DES || s.Integ == esp.IntegHMACMD596
		parts = append(parts, "esp:"+m.ESPEncryption.Name(m.ESPKeyBits)+"/"+m.ESPIntegrity.String())
	}
	if m.UseAH {
		s.AHInt = ah.Integrity(m.AHIntegrity)
		s.AH = !m.UseESP
		s.Bundle = m.UseESP
		s.Legacy = s.Legacy || s.AHInt == ah.IntegHMACMD596
		parts = append(parts, "ah:"+m.AHIntegrity.String())
	}
	s.Name = strings.Join(parts, "+")
	return s, nil
}
