package spd

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The policy file's IKE settings (grammar at the top of file.go):
//
//	key_exchange:                          # in the policy, or in a rule to override it
//	  versions: [ikev2, ikev1]             # allowed, preferred first (default ikev2)
//	  lifetime: {minutes: 480, sessions: 0}
//	  master_key_pfs: false
//	  methods:                             # IKE SA proposals, preferred first
//	    - {encryption: aes256-gcm16, prf: sha384, group: ecp384}
//	    - {encryption: aes128-cbc, integrity: sha256, group: modp2048}

func (d *decoder) keyExchange(n *yaml.Node, path string) KeyExchange {
	var k KeyExchange
	d.fields(n, path, []string{"versions", "methods", "lifetime", "master_key_pfs"}, func(key string, v *yaml.Node, field string) {
		switch key {
		case "versions":
			seen := map[IKEVersion]bool{}
			for i, e := range d.list(v, field) {
				f := fmt.Sprintf("%s[%d]", field, i)
				s, ok := d.scalar(e, f)
				if !ok {
					continue
				}
				var ver IKEVersion
				switch strings.ToLower(s) {
				case "ikev1", "1":
					ver = IKEv1
				case "ikev2", "2":
					ver = IKEv2
				default:
					d.errf(e, f, "unknown IKE version %q (expected ikev1 or ikev2)", s)
					continue
				}
				if seen[ver] {
					d.errf(e, f, "IKE version %s listed twice", ver)
					continue
				}
				seen[ver] = true
				k.Versions = append(k.Versions, ver)
			}
		case "methods":
			for i, e := range d.list(v, field) {
				f := fmt.Sprintf("%s[%d]", field, i)
				if m, ok := d.ikeMethod(e, f); ok {
					k.Methods = append(k.Methods, m)
				}
			}
		case "lifetime":
			d.fields(v, field, []string{"minutes", "seconds", "sessions"}, func(key string, v *yaml.Node, field string) {
				switch key {
				case "minutes":
					if m, ok := d.number(v, field, 1<<20); ok {
						k.Lifetime = time.Duration(m) * time.Minute
					}
				case "seconds":
					if s, ok := d.number(v, field, 1<<31); ok {
						k.Lifetime = time.Duration(s) * time.Second
					}
				case "sessions":
					if s, ok := d.number(v, field, 1<<32-1); ok {
						k.Sessions = uint32(s)
					}
				}
			})
		case "master_key_pfs":
			k.MasterKeyPFS = d.boolean(v, field)
		}
	})
	return k
}

func (d *decoder) ikeMethod(n *yaml.Node, path string) (IKEMethod, bool) {
	var m IKEMethod
	before := len(d.errs)
	d.fields(n, path, []string{"encryption", "integrity", "prf", "group"}, func(k string, v *yaml.Node, field string) {
		s, ok := d.scalar(v, field)
		if !ok {
			return
		}
		switch k {
		case "encryption":
			if m.Encryption, m.KeyBits, ok = ParseEncryption(s); !ok {
				d.errf(v, field, "unknown encryption algorithm %q (known: %s)", s, encryptionList())
			}
		case "integrity":
			if m.Integrity, ok = ParseIntegrity(s); !ok {
				d.errf(v, field, "unknown integrity algorithm %q (known: %s)", s, integrityList())
			}
		case "prf":
			if m.PRF, ok = ParsePRF(s); !ok {
				d.errf(v, field, "unknown prf %q (known: md5, sha1, aes-xcbc, sha256, sha384, sha512)", s)
			}
		case "group":
			if m.Group, ok = ParseGroup(s); !ok {
				d.errf(v, field, "unknown key exchange group %q (known: %s)", s, groupList())
			}
		}
	})
	if len(d.errs) != before || n.Kind != yaml.MappingNode {
		return m, false
	}
	if err := m.Check(); err != nil {
		d.errf(n, path, "%v", err)
		return m, false
	}
	return m, true
}

// pfs reads "pfs: true | false | <group>".
func (d *decoder) pfs(v *yaml.Node, field string) (bool, Group) {
	s, ok := d.scalar(v, field)
	if !ok {
		return false, GroupNone
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, GroupNone
	case "false", "no", "off":
		return false, GroupNone
	}
	if g, ok := ParseGroup(s); ok {
		return true, g
	}
	d.errf(v, field, "expected true, false or a key exchange group (%s), found %q", groupList(), s)
	return false, GroupNone
}

func (d *decoder) identity(v *yaml.Node, field string) Identity {
	s, ok := d.scalar(v, field)
	if !ok {
		return Identity{}
	}
	id, err := ParseIdentity(s)
	if err != nil {
		d.errf(v, field, "%v", err)
	}
	return id
}

// endpoint reads a tunnel endpoint address ("none" or empty: unset).
func (d *decoder) endpoint(v *yaml.Node, field string) netip.Addr {
	s := d.text(v, field)
	if strings.EqualFold(s, "none") || s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.IsUnspecified() {
		d.errf(v, field, "invalid tunnel endpoint %q (expected an IP address or none)", s)
		return netip.Addr{}
	}
	return a.Unmap()
}
