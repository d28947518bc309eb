package spd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// yamlCases are YAML documents in the syntax the reader accepts, for the
// differential test against yaml.v3 (and as fuzz seeds).
var yamlCases = []string{
	"",
	"# only a comment\n",
	"---\na: b\n",
	"---\na: b\n...\n",
	"a: b\n",
	"a: b # comment\nc: d\n",
	"a:\n  b: c\n  d: e\nf: g\n",
	"a:\n- x\n- y\nb: z\n",
	"a:\n  - x\n  -   y\n",
	"- a\n- b\n",
	"- - a\n  - b\n- c\n",
	"- a: b\n  c: d\n- e: f\n",
	"-\n  a: b\n",
	"- \n  a: b\n",
	"a: [x, y, z]\n",
	"a: [x, [y, z], {k: v}]\n",
	"a: {k: v, l: [1, 2], m: {n: o}}\n",
	"a: {k: v,\n  l: w}\n",
	"a: [\n  x,\n  y\n]\n",
	"a: []\nb: {}\n",
	"a: {k}\n",
	"a: {k: }\n",
	"a: 'single ''quoted'' value'\n",
	"a: \"double \\\"quoted\\\" \\n \\t \\x41 \\u00e9 \\U0001F600\"\n",
	"a: \"folded\n  line\"\n",
	"a: 'folded\n\n  line'\n",
	"a: \"joined\\\n  line\"\n",
	"a: plain\n  continued\n  again\n",
	"a: plain\n\n  after empty\n",
	"a: |\n  literal\n  text\n",
	"a: |-\n  literal\n  text\n\nb: c\n",
	"a: |+\n  literal\n\n\nb: c\n",
	"a: >\n  folded\n  text\n\n  para\n",
	"a: >-\n  folded\n    indented\n  text\n",
	"a: |2\n    two more\n",
	"- |\n  in list\n- x\n",
	"a:\nb: c\n",
	"a: ~\nb: null\n",
	"\"quoted key\": v\n'other': w\n",
	"a: http://example.com/x\n",
	"a: b:c\n",
	"a: x#y\n",
	"a: &anchor b\n",
	"a: &anchor\n  b: c\n",
	"- &x {name: A}\n",
	"a:    spaced    \n",
	"a:\n\n\n  b\n",
	"a: b\r\nc: d\r\n",
	"\ufeffa: b\n",
	"\ufeff\ufeff",
	"\ufeffa: \ufeffb\n",
	"a: \"\ufeff\"\n",
	"a: é\nß: 漢字\n",
	"a: [é, ü]\n",
	"a: - b\n",
	"a: b: c\n",
	"a: [b\n",
	"a: {b: c\n",
	"a: 'unterminated\n",
	"a: *x\n",
	"a: !!str b\n",
	"<<: {a: b}\n",
	"a:\n\tb: c\n",
	"a: b\n  c: d\n",
	"a:\n  b: c\n d: e\n",
	"- a\nb: c\n",
	"a: b\n---\nc: d\n",
	"%YAML 1.2\n---\na: b\n",
	"a: \"\\q\"\n",
	"a: [b]: c\n",
	"[a]: b\n",
	"? a\n: b\n",
	"a: ]\n",
	"a: \x01\n",
	"a: \"\xff\"\n",
	strings.Repeat("[", 30) + strings.Repeat("]", 30) + "\n",
}

// yamlCorpus is every YAML document the package's tests know: the cases
// above, the policies shipped in policies/, testdata/*.yaml, the full
// example policy and the malformed files of TestParseErrors.
func yamlCorpus(t testing.TB) []string {
	out := append([]string(nil), yamlCases...)
	files, _ := filepath.Glob("testdata/*.yaml")
	more, _ := filepath.Glob("policies/*.yaml")
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return append(out, fullPolicy)
}

// dumpOurs and dumpTheirs print a tree as "kind@line:col value" lines, so
// that two trees compare as strings. The position of an empty value is
// left out: YAML gives a missing value no position of its own.
func dumpOurs(b *strings.Builder, y *yamlValues, n *yamlNode, depth int) {
	kind := map[nodeKind]string{scalarNode: "scalar", mappingNode: "map", sequenceNode: "seq"}[n.Kind]
	pos := fmt.Sprintf("@%d:%d", n.Line, n.Column)
	v := ""
	if n.Kind == scalarNode {
		v = y.value(n)
	}
	if n.Kind == scalarNode && v == "" {
		pos = ""
	}
	fmt.Fprintf(b, "%s%s%s %q\n", strings.Repeat(" ", depth), kind, pos, v)
	for c := n.first; c != nil; c = c.next {
		dumpOurs(b, y, c, depth+1)
	}
}

func dumpTheirs(b *strings.Builder, n *yaml.Node, depth int) {
	kind := map[yaml.Kind]string{yaml.ScalarNode: "scalar", yaml.MappingNode: "map", yaml.SequenceNode: "seq"}[n.Kind]
	pos := fmt.Sprintf("@%d:%d", n.Line, n.Column)
	if n.Kind == yaml.ScalarNode && n.Value == "" {
		pos = ""
	}
	fmt.Fprintf(b, "%s%s%s %q\n", strings.Repeat(" ", depth), kind, pos, n.Value)
	for _, c := range n.Content {
		dumpTheirs(b, c, depth+1)
	}
}

// yamlDiff parses src with both readers. It returns "" when they agree:
// both fail, or both give the same tree. Where ours refuses what yaml.v3
// reads, the input must use what a policy file does not accept (aliases,
// tags, complex keys, directives, deep nesting); its error says so.
func yamlDiff(src string) string {
	ours, vals, oerr := parseYAML(src)
	var doc yaml.Node
	terr := yaml.Unmarshal([]byte(src), &doc)
	if terr == nil && theirsRefused(&doc, 0) {
		terr = fmt.Errorf("not accepted in a policy file")
	}
	switch {
	case oerr != nil && terr != nil:
		return ""
	case oerr != nil && strings.Contains(oerr.Error(), "not accepted in a policy file"):
		return "" // by design
	case oerr != nil:
		return fmt.Sprintf("ours refused what yaml.v3 read: %v", oerr)
	case terr != nil:
		return fmt.Sprintf("ours read what yaml.v3 refused (%v)", terr)
	}
	var a, b strings.Builder
	if ours != nil && !(ours.Kind == scalarNode && vals.value(ours) == "") {
		dumpOurs(&a, vals, ours, 0)
	}
	if len(doc.Content) == 1 && !(doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Value == "") {
		// An empty document ("---", "|") is no document to either.
		dumpTheirs(&b, doc.Content[0], 0)
	}
	if a.String() != b.String() {
		return fmt.Sprintf("trees differ:\nours:\n%s\nyaml.v3:\n%s", a.String(), b.String())
	}
	return ""
}

// theirsRefused: yaml.v3's tree uses what the policy reader refuses.
func theirsRefused(n *yaml.Node, depth int) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" || n.Tag == "!!merge" || depth > maxDepth+1 ||
		n.Style&yaml.TaggedStyle != 0 {
		return true
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 && c.Kind != yaml.ScalarNode {
			return true // a complex key
		}
		if n.Kind == yaml.SequenceNode && c.Kind == yaml.MappingNode && c.Style&yaml.FlowStyle == 0 && n.Style&yaml.FlowStyle != 0 {
			return true // [a: b]
		}
		if theirsRefused(c, depth+1) {
			return true
		}
	}
	return false
}

// TestYAMLDifferential: the policy file's YAML reader and yaml.v3 (the
// reference) read every document of the corpus to the same tree, with the
// same positions, or both refuse it.
func TestYAMLDifferential(t *testing.T) {
	for i, src := range yamlCorpus(t) {
		if d := yamlDiff(src); d != "" {
			t.Errorf("case %d %q: %s", i, src, d)
		}
	}
}

// TestYAMLByteOrderMark: a byte order mark opens a policy file or is
// refused, with its position (YAML 1.2.2 section 5.2: not inside a
// document; yaml.v3 skips one at a line's start and reads one elsewhere).
func TestYAMLByteOrderMark(t *testing.T) {
	if _, _, err := parseYAML("\ufeffa: b\n"); err != nil {
		t.Fatalf("leading byte order mark: %v", err)
	}
	for _, c := range []struct {
		src       string
		line, col int
	}{{"\ufeff\ufeff", 1, 2}, {"a: b\n\ufeffc: d\n", 2, 1}, {"a: \"x\ufeff\"\n", 1, 6}} {
		_, _, err := parseYAML(c.src)
		var ye *yamlError
		if !errors.As(err, &ye) || ye.line != c.line || ye.col != c.col || !strings.Contains(ye.msg, "byte order mark") {
			t.Errorf("%q: %v, want a byte order mark refused at %d:%d", c.src, err, c.line, c.col)
		}
	}
}

// FuzzYAMLDifferential: on arbitrary input, where both readers read a
// tree, it is the same tree with the same positions. Where only one of
// them refuses the input, the fuzzer does not fail: yaml.v3 reads some
// malformed documents (it drops content after a block sequence indented
// past its parent, " - \n00"), and the policy reader refuses some valid
// YAML by design; TestYAMLDifferential holds both to the corpus.
func FuzzYAMLDifferential(f *testing.F) {
	for _, s := range yamlCorpus(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if d := yamlDiff(src); strings.HasPrefix(d, "trees differ") {
			t.Fatal(d)
		}
		parseYAML(src) //nolint:errcheck // must not panic
	})
}
