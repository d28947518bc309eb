package spd

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// largePolicyFile writes a policy file of about size bytes shaped like a
// large site policy: filter lists of host and subnet filters, written
// half in block style (one field per line) and half in flow style (one
// filter per line, the densest form), with an action and a rule per list.
func largePolicyFile(size int) []byte {
	var b strings.Builder
	b.WriteString("name: large site\ndescription: generated for the memory benchmark\nfilter_lists:\n")
	lists := 0
	for b.Len() < size {
		fmt.Fprintf(&b, "  - name: list %d\n    description: peers of site %d\n    filters:\n", lists, lists)
		for i := range 200 {
			a := fmt.Sprintf("10.%d.%d.%d", lists%250, i%250, (lists+i)%250)
			switch i % 4 {
			case 0:
				fmt.Fprintf(&b, "      - source: me\n        destination: %s\n        protocol: tcp\n        destination_port: %d\n        mirrored: true\n", a, 1+i)
			case 1:
				fmt.Fprintf(&b, "      - source: me\n        destination: %s/24\n        description: subnet %d\n", a[:strings.LastIndexByte(a, '.')]+".0", i)
			case 2:
				fmt.Fprintf(&b, "      - {source: me, destination: %s, protocol: udp, destination_port: 53}\n", a)
			default:
				fmt.Fprintf(&b, "      - {destination: %s}\n", a)
			}
		}
		lists++
	}
	b.WriteString("filter_actions:\n  - name: permit\n    action: permit\n  - name: block\n    action: block\nrules:\n")
	for i := range lists {
		fmt.Fprintf(&b, "  - filter_list: list %d\n    filter_action: %s\n", i, []string{"permit", "block"}[i%2])
	}
	return []byte(b.String())
}

// allocPerByte parses data once and returns the bytes allocated per byte
// of file.
func allocPerByte(tb testing.TB, data []byte) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p, err := ParsePolicy("large.yaml", data)
	runtime.ReadMemStats(&after)
	if err != nil {
		tb.Fatal(err)
	}
	runtime.KeepAlive(p)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(len(data))
}

// TestParsePolicyAllocPerByte: parsing a 4 MiB policy file allocates at
// most 10 bytes per byte of file, everything included (the parsed policy
// too). Its name matches CI's allocation step, which runs without the race
// detector.
// With yaml.v3's node tree it was about 32 here, and about 100 in peak
// memory on files of denser styles.
func TestParsePolicyAllocPerByte(t *testing.T) {
	if testing.Short() {
		t.Skip("parses 4 MiB")
	}
	if raceEnabled {
		t.Skip("the race detector changes what escapes to the heap")
	}
	data := largePolicyFile(4 << 20)
	if r := allocPerByte(t, data); r > 10 {
		t.Fatalf("%.1f bytes allocated per byte of a %d-byte file, want at most 10", r, len(data))
	}
}

// BenchmarkParsePolicyMemory parses policy files of 1 and 16 MiB and
// reports the bytes allocated per byte of file (alloc-bytes/file-byte),
// which bounds the parse's peak memory, and the bytes the parsed policy
// keeps (kept-bytes/file-byte).
func BenchmarkParsePolicyMemory(b *testing.B) {
	for _, mib := range []int{1, 16} {
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			data := largePolicyFile(mib << 20)
			b.SetBytes(int64(len(data)))
			var ratio float64
			for b.Loop() {
				ratio = allocPerByte(b, data)
			}
			b.ReportMetric(ratio, "alloc-bytes/file-byte")
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			p, _ := ParsePolicy("large.yaml", data)
			runtime.GC()
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(p)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(len(data)), "kept-bytes/file-byte")
		})
	}
}
