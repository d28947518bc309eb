package ike

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// vectorFile is the common shape of the project's verified vector files
// (copied unchanged from /work/shared/vectors; each vector names its
// origin and the repository it was transcribed from).
type vectorFile struct {
	Vectors []map[string]any `json:"vectors"`
}

func loadVectors(t testing.TB, name string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(f.Vectors) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return f.Vectors
}

func vhex(t testing.TB, v map[string]any, field string) []byte {
	t.Helper()
	s, ok := v[field].(string)
	if !ok {
		t.Fatalf("vector %v: no field %q", v["id"], field)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("vector %v field %s: %v", v["id"], field, err)
	}
	return b
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
