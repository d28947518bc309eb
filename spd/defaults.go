package spd

import (
	"embed"
	"fmt"
)

//go:embed policies/*.yaml
var defaultFS embed.FS

// The Windows Server 2003 default policies, by file name under policies/.
var defaultPolicyFiles = []struct{ name, file string }{
	{"Client (Respond Only)", "policies/client.yaml"},
	{"Server (Request Security)", "policies/server.yaml"},
	{"Secure Server (Require Security)", "policies/secure-server.yaml"},
}

// DefaultPolicyNames lists the names of Windows Server 2003's three
// default IPsec policies, which DefaultPolicy returns.
func DefaultPolicyNames() []string {
	out := make([]string, len(defaultPolicyFiles))
	for i, p := range defaultPolicyFiles {
		out[i] = p.name
	}
	return out
}

// DefaultPolicy parses one of Windows' default policies by name: "Client
// (Respond Only)", "Server (Request Security)" or "Secure Server (Require
// Security)". Each call returns a new Policy.
func DefaultPolicy(name string) (*Policy, error) {
	for _, p := range defaultPolicyFiles {
		if p.name == name {
			data, err := defaultFS.ReadFile(p.file)
			if err != nil {
				return nil, err
			}
			return ParsePolicy(p.file, data)
		}
	}
	return nil, fmt.Errorf("spd: no default policy named %q", name)
}

// DefaultPolicyFile returns the YAML text of a default policy, to copy
// and edit.
func DefaultPolicyFile(name string) ([]byte, error) {
	for _, p := range defaultPolicyFiles {
		if p.name == name {
			return defaultFS.ReadFile(p.file)
		}
	}
	return nil, fmt.Errorf("spd: no default policy named %q", name)
}
