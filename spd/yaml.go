package spd

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The policy file's YAML reader. It reads the part of YAML 1.2 that a
// policy file needs (YAML 1.2.2 chapters 6 to 9): block mappings and
// sequences, flow mappings and sequences, plain, single- and double-quoted
// scalars over one or more lines, literal and folded block scalars,
// comments, one document with optional "---" and "...". It refuses anchors,
// aliases, merge keys, tags, directives, complex keys and
// nesting deeper than maxDepth, each with its line and column, as it
// refuses every syntax error.
//
// It replaces yaml.v3's node tree, which cost about 100 bytes of memory per
// byte of policy file (a 16 MiB file took 1.6 GB): yaml.v3 allocates every
// token and event it scans, and a Node of 200 bytes or more (with its
// Content slice and strings) per scalar. Here a node is 32 bytes, allocated
// in chunks, linked to its first child and next sibling; a value is an
// offset into the one copy of the file unless quoting or folding changed
// it. A line such as "        protocol: tcp" (22 bytes, two nodes) costs 64
// bytes. BenchmarkParsePolicyMemory measures the whole parse.

// nodeKind is what a node is. The zero value is not a valid kind.
type nodeKind uint8

const (
	scalarNode nodeKind = iota + 1
	mappingNode
	sequenceNode
)

// yamlNode is one YAML node: a scalar, or a mapping (its children are keys
// and values alternately) or sequence. Nodes are 32 bytes, allocated in
// chunks; a scalar's value is read through yamlValues.
type yamlNode struct {
	first, next *yamlNode // the first child; the next sibling
	// The value: yamlValues.src[voff:voff+vlen], or with inStrs set
	// yamlValues.strs[voff] (a value that quoting or folding changed, or
	// one too long for vlen).
	voff int32
	// Line and Column (1-based, in characters) are where the node
	// starts: a scalar's first character or quote, a block collection's
	// first key or "-", a flow collection's bracket.
	Line, Column int32
	vlen         uint16
	Kind         nodeKind
	inStrs       bool
}

// yamlValues holds the scalar values of one parsed document.
type yamlValues struct {
	src  string   // the document
	strs []string // values that are not substrings of src
}

// value returns a scalar's value.
func (y *yamlValues) value(n *yamlNode) string {
	if n.inStrs {
		return y.strs[n.voff]
	}
	return y.src[n.voff : n.voff+int32(n.vlen)]
}

// count returns how many children a collection has.
func count(n *yamlNode) int {
	c := 0
	for k := n.first; k != nil; k = k.next {
		c++
	}
	return c
}

// setSpan makes src[start:end] a scalar's value.
func (p *yamlParser) setSpan(n *yamlNode, start, end int) {
	if end-start > 0xffff {
		p.setString(n, p.src[start:end])
		return
	}
	n.voff, n.vlen = int32(start), uint16(end-start)
}

// setString makes s a scalar's value.
func (p *yamlParser) setString(n *yamlNode, s string) {
	n.voff, n.inStrs = int32(len(p.strs)), true
	p.strs = append(p.strs, s)
}

// add appends child to the children of n, after *last.
func add(n *yamlNode, last **yamlNode, child *yamlNode) {
	if *last == nil {
		n.first = child
	} else {
		(*last).next = child
	}
	*last = child
}

// yamlError is a syntax error at a position.
type yamlError struct {
	line, col int
	msg       string
}

func (e *yamlError) Error() string { return fmt.Sprintf("%d:%d: %s", e.line, e.col, e.msg) }

// yamlParser reads one document. Its methods panic with a *yamlError,
// which parseYAML turns into its error: a syntax error ends the parse
// wherever it is found, as yaml.v3's did. STYLE.md says never to recover
// as a parser; the reason for this exception is that threading an error
// through every scanning step of a recursive-descent reader doubles its
// size. Only the parser's own *yamlError is recovered: a runtime error (a
// slice out of range) still panics, so the fuzzers still see it. Bounds are
// checked before every slice all the same.
type yamlParser struct {
	yamlValues
	pos       int // byte offset
	line      int // 1-based line of pos
	lineStart int // byte offset where the line of pos starts
	col       int // 0-based column of pos in characters
	depth     int

	chunk []yamlNode // free nodes: allocated chunk by chunk
}

// parseYAML parses src as one YAML document: its root node (nil for a
// document without content) and its values. src must be at most
// MaxPolicyFileSize bytes, so that offsets fit in 32 bits.
func parseYAML(src string) (root *yamlNode, vals *yamlValues, err error) {
	if len(src) > MaxPolicyFileSize {
		return nil, nil, &yamlError{1, 1, "file too large"}
	}
	p := &yamlParser{yamlValues: yamlValues{src: src}, line: 1}
	defer func() {
		if r := recover(); r != nil {
			ye, ok := r.(*yamlError)
			if !ok {
				panic(r)
			}
			root, vals, err = nil, nil, ye
		}
	}()
	p.checkChars()
	if strings.HasPrefix(src, "\ufeff") {
		p.pos = 3 // a byte order mark
		p.lineStart = 3
	}
	p.skipBlank()
	if p.peek() == '%' && p.col == 0 {
		p.fail("YAML directives are not accepted in a policy file")
	}
	if p.docMarker("---") {
		p.advance(3)
		p.skipBlank()
	}
	if p.eof() || p.docMarker("...") {
		p.end()
		return nil, &p.yamlValues, nil
	}
	root = p.blockNode(-1, false)
	p.skipBlank()
	p.end()
	return root, &p.yamlValues, nil
}

// end checks that nothing but "..." and comments follows the document.
func (p *yamlParser) end() {
	if p.docMarker("...") {
		p.advance(3)
		p.skipBlank()
	}
	if p.docMarker("---") {
		p.fail("a second YAML document is not accepted in a policy file")
	}
	if !p.eof() {
		p.fail("did not find expected end of document")
	}
}

// checkChars refuses invalid UTF-8 and control characters anywhere in the
// file (YAML 1.2.2 section 5.1: only printable characters).
func (p *yamlParser) checkChars() {
	s := p.src
	line, lineStart := 1, 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\n':
				line, lineStart = line+1, i+1
			case c < ' ' && c != '\t' && c != '\r', c == 0x7f:
				panic(&yamlError{line, utf8.RuneCountInString(s[lineStart:i]) + 1, fmt.Sprintf("control character %#02x is not allowed", c)})
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			panic(&yamlError{line, utf8.RuneCountInString(s[lineStart:i]) + 1, "invalid UTF-8"})
		case r == 0xfeff && i > 0:
			// YAML 1.2.2 section 5.2: a byte order mark may open the
			// stream but must not appear inside a document (yaml.v3
			// skips one at the start of a line, reads it elsewhere).
			panic(&yamlError{line, utf8.RuneCountInString(s[lineStart:i]) + 1,
				"a byte order mark is not accepted in a policy file except at its start"})
		case r == 0x85 || r == 0x2028 || r == 0x2029:
			// Line breaks to YAML 1.1 (and yaml.v3), text to YAML 1.2:
			// refused rather than read one way or the other.
			panic(&yamlError{line, utf8.RuneCountInString(s[lineStart:i]) + 1,
				fmt.Sprintf("the character %U is not accepted in a policy file", r)})
		}
		i += n
	}
}

func (p *yamlParser) fail(format string, args ...any) {
	panic(&yamlError{p.line, p.col + 1, fmt.Sprintf(format, args...)})
}

func (p *yamlParser) eof() bool { return p.pos >= len(p.src) }

// peek returns the byte at pos, or 0 at the end.
func (p *yamlParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

// at returns the byte i bytes after pos, or 0.
func (p *yamlParser) at(i int) byte {
	if p.pos+i < len(p.src) {
		return p.src[p.pos+i]
	}
	return 0
}

// advance moves n bytes forward on the current line.
func (p *yamlParser) advance(n int) {
	for _, c := range []byte(p.src[p.pos : p.pos+n]) {
		if utf8.RuneStart(c) {
			p.col++
		}
	}
	p.pos += n
}

// newline moves past the line break at pos ("\n", "\r\n" or "\r").
func (p *yamlParser) newline() {
	if p.peek() == '\r' && p.at(1) == '\n' {
		p.pos++
	}
	p.pos++
	p.line++
	p.lineStart, p.col = p.pos, 0
}

func isBreak(c byte) bool { return c == '\n' || c == '\r' }

// isSep: end of input, a line break, a space or a tab.
func isSep(c byte) bool { return c == 0 || c == ' ' || c == '\t' || isBreak(c) }

// skipSpaces skips spaces and tabs on the current line.
func (p *yamlParser) skipSpaces() {
	for c := p.peek(); c == ' ' || c == '\t'; c = p.peek() {
		p.pos++
		p.col++
	}
}

// skipToEOL skips spaces and a comment; it fails on anything else.
func (p *yamlParser) skipToEOL() {
	p.skipSpaces()
	if p.peek() == '#' {
		for !p.eof() && !isBreak(p.peek()) {
			p.pos++
		}
	}
	if !p.eof() && !isBreak(p.peek()) {
		p.fail("unexpected %q after the value", p.rest())
	}
}

// rest is the remainder of the current line, for error messages.
func (p *yamlParser) rest() string {
	end := p.pos
	for end < len(p.src) && !isBreak(p.src[end]) && end-p.pos < 20 {
		end++
	}
	return p.src[p.pos:end]
}

// skipBlank skips spaces, comments and line breaks, up to the first
// character of content (or the end). Indentation must be spaces.
func (p *yamlParser) skipBlank() {
	for !p.eof() {
		switch c := p.peek(); {
		case c == ' ':
			p.pos++
			p.col++
		case c == '\t':
			if p.firstOnLine() {
				// A tab may end a line or fill a blank one, but
				// not indent content (YAML 1.2.2 section 6.1).
				i := p.pos
				for i < len(p.src) && (p.src[i] == ' ' || p.src[i] == '\t') {
					i++
				}
				if i < len(p.src) && !isBreak(p.src[i]) && p.src[i] != '#' {
					p.fail("found a tab character where an indentation space is expected")
				}
			}
			p.pos++
			p.col++
		case c == '#':
			for !p.eof() && !isBreak(p.peek()) {
				p.pos++
			}
		case isBreak(c):
			p.newline()
		default:
			return
		}
	}
}

// lineOnlyTabsSoFar: the current line holds only blanks up to pos.
func (p *yamlParser) lineOnlyTabsSoFar() bool {
	for _, c := range []byte(p.src[p.lineStart:p.pos]) {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// firstOnLine: pos is the first non-blank character of its line.
func (p *yamlParser) firstOnLine() bool { return p.lineOnlyTabsSoFar() }

// docMarker: pos is at the start of a line holding marker ("---" or "...")
// followed by a separator.
func (p *yamlParser) docMarker(marker string) bool {
	return p.pos == p.lineStart && strings.HasPrefix(p.src[p.pos:], marker) && isSep(p.at(3))
}

// newNode returns a node of kind at the current position.
func (p *yamlParser) newNode(kind nodeKind) *yamlNode {
	if len(p.chunk) == 0 {
		// Chunks grow with the file, so that small files stay small
		// and large ones take few allocations.
		p.chunk = make([]yamlNode, min(4096, max(16, len(p.src)/256)))
	}
	n := &p.chunk[0]
	p.chunk = p.chunk[1:]
	n.Kind, n.Line, n.Column = kind, int32(p.line), int32(p.col+1)

	if p.depth > maxDepth {
		p.fail("YAML anchors, aliases, merge keys and nesting deeper than %d levels are not accepted in a policy file", maxDepth)
	}
	return n
}

// refuseProps refuses node properties and aliases (YAML 1.2.2 sections
// 6.9 and 7.1), which could make a small file expand into a huge policy.
func (p *yamlParser) refuseProps() {
	switch p.peek() {
	case '*', '&':
		p.fail("YAML anchors, aliases, merge keys and nesting deeper than %d levels are not accepted in a policy file", maxDepth)
	case '!':
		p.fail("YAML tags are not accepted in a policy file")
	}
}

// blockNode parses the node that starts at or after pos, in block context,
// inside a block whose indentation is parent (-1 at the top). A value that
// is missing (the next content is not indented past parent) is an empty
// scalar. seqAtParent lets a block sequence start at the parent's own
// indentation: a mapping's value may be written that way.
func (p *yamlParser) blockNode(parent int, seqAtParent bool) *yamlNode {
	p.skipSpaces()
	if c := p.peek(); c != 0 && !isBreak(c) && c != '#' && !p.firstOnLine() {
		// The node starts on the line of its key or "-".
		p.refuseProps()
		return p.inlineNode(parent)
	}
	p.skipBlank()
	ind := p.col
	if p.eof() || p.docMarker("---") || p.docMarker("...") || ind < parent || ind == parent && !(seqAtParent && p.seqEntry()) {
		return p.empty()
	}
	p.refuseProps()
	return p.inlineNode(parent)
}

// empty is the empty scalar of a missing value (YAML's null).
func (p *yamlParser) empty() *yamlNode { return p.newNode(scalarNode) }

// seqEntry: pos is at "-" followed by a separator.
func (p *yamlParser) seqEntry() bool { return p.peek() == '-' && isSep(p.at(1)) }

// inlineNode parses the node that starts exactly at pos; parent is the
// indentation of the enclosing block.
func (p *yamlParser) inlineNode(parent int) *yamlNode {
	ind := p.col
	switch c := p.peek(); {
	case p.seqEntry():
		if !p.blockStart() {
			p.fail("block sequence entries are not allowed in this context")
		}
		return p.blockSequence(ind)
	case c == '[' || c == '{':
		n := p.flowNode()
		return p.afterFlow(n, parent)
	case c == '|' || c == '>':
		return p.blockScalar(parent)
	}
	if p.keyAhead() {
		if !p.blockStart() {
			p.fail("mapping values are not allowed in this context")
		}
		return p.blockMapping(ind)
	}
	return p.blockScalarValue(parent)
}

// blockStart: pos may start a block collection: nothing but blanks, "- "
// entries, or a "key:" before it on its line.
func (p *yamlParser) blockStart() bool {
	s := p.src[p.lineStart:p.pos]
	s = strings.TrimRight(s, " ")
	for s != "" {
		switch {
		case strings.HasSuffix(s, "-") && (len(s) == 1 || s[len(s)-2] == ' '):
			s = strings.TrimRight(s[:len(s)-1], " ")
		default:
			return strings.TrimLeft(s, " ") == "" // a key's value never starts a block on its line
		}
	}
	return true
}

// afterFlow: a flow collection in block context may be a key (refused) or
// be followed by a comment.
func (p *yamlParser) afterFlow(n *yamlNode, parent int) *yamlNode {
	p.skipSpaces()
	if p.peek() == ':' && isSep(p.at(1)) {
		p.fail("complex mapping keys are not accepted in a policy file")
	}
	p.skipToEOL()
	return n
}

// keyAhead: the line from pos holds an implicit key: a plain or quoted
// scalar followed by ':' and a separator.
func (p *yamlParser) keyAhead() bool {
	s := p.src[p.pos:]
	i := 0
	switch p.peek() {
	case '"', '\'':
		q := s[0]
		for i = 1; i < len(s) && !isBreak(s[i]); i++ {
			if s[i] == '\\' && q == '"' {
				i++
				continue
			}
			if s[i] == q {
				if q == '\'' && i+1 < len(s) && s[i+1] == '\'' {
					i++
					continue
				}
				break
			}
		}
		if i >= len(s) || isBreak(s[i]) {
			return false
		}
		i++
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		return i < len(s) && s[i] == ':' && (i+1 == len(s) || isSep(s[i+1]))
	case '[', '{', '#', '|', '>', '*', '!', '&', '%', '@', '`', ',', ']', '}':
		return false
	}
	for ; i < len(s) && !isBreak(s[i]); i++ {
		switch s[i] {
		case ':':
			if i+1 == len(s) || isSep(s[i+1]) {
				return true
			}
		case '#':
			if i > 0 && (s[i-1] == ' ' || s[i-1] == '\t') {
				return false
			}
		}
	}
	return false
}

// blockMapping parses a block mapping whose keys are at indentation ind.
func (p *yamlParser) blockMapping(ind int) *yamlNode {
	n := p.newNode(mappingNode)
	p.depth++
	var last *yamlNode
	for {
		k := p.key()
		add(n, &last, k)
		p.skipSpaces()
		if p.peek() != ':' {
			p.fail("did not find expected ':' after the key")
		}
		p.advance(1)
		p.skipSpaces()
		v := p.blockNode(ind, true)
		add(n, &last, v)
		p.skipBlank()
		if p.eof() || p.col < ind || p.docMarker("---") || p.docMarker("...") {
			break
		}
		if p.col > ind {
			p.fail("did not find expected key (bad indentation)")
		}
		if p.seqEntry() {
			p.fail("did not find expected key (a list entry at the indentation of the mapping's keys)")
		}
		if !p.keyAhead() {
			p.fail("did not find expected key")
		}
	}
	p.depth--
	return n
}

// key parses an implicit key: a scalar on one line.
func (p *yamlParser) key() *yamlNode {
	p.refuseProps()
	var k *yamlNode
	switch p.peek() {
	case '"', '\'':
		k = p.quoted()
	case '?':
		if isSep(p.at(1)) {
			p.fail("complex mapping keys are not accepted in a policy file")
		}
		k = p.plain(-1, false)
	default:
		k = p.plain(-1, false)
	}
	if p.value(k) == "<<" && p.src[p.pos-1] == '<' {
		p.fail("YAML anchors, aliases, merge keys and nesting deeper than %d levels are not accepted in a policy file", maxDepth)
	}
	return k
}

// blockSequence parses a block sequence whose "-" are at indentation ind.
func (p *yamlParser) blockSequence(ind int) *yamlNode {
	n := p.newNode(sequenceNode)
	p.depth++
	var last *yamlNode
	for {
		p.advance(1) // "-"
		p.skipSpaces()
		add(n, &last, p.blockNode(ind, false))
		p.skipBlank()
		if p.eof() || p.col < ind || p.docMarker("---") || p.docMarker("...") {
			break
		}
		if p.col > ind || !p.seqEntry() {
			if p.keyAhead() && p.col == ind {
				break // the sequence was a mapping's value at the key's indentation
			}
			p.fail("did not find expected '-' indicator")
		}
	}
	p.depth--
	return n
}

// blockScalarValue parses a quoted or plain scalar value in block context.
func (p *yamlParser) blockScalarValue(parent int) *yamlNode {
	var n *yamlNode
	switch p.peek() {
	case '"', '\'':
		n = p.quoted()
	default:
		n = p.plain(parent, true)
	}
	p.skipSpaces()
	if p.peek() == ':' && isSep(p.at(1)) {
		p.fail("mapping values are not allowed in this context")
	}
	p.skipToEOL()
	return n
}

// plain parses a plain scalar (YAML 1.2.2 section 7.3.3). In block context
// with multiline set it continues on following lines indented past parent;
// lines are folded into one with spaces (an empty line is a line break).
func (p *yamlParser) plain(parent int, multiline bool) *yamlNode {
	switch c := p.peek(); {
	case c == '?' && isSep(p.at(1)):
		p.fail("complex mapping keys are not accepted in a policy file")
	case c == '-' || c == ':':
		if isSep(p.at(1)) {
			p.fail("did not find expected node content")
		}
	case strings.IndexByte(",[]{}#&*!|>'\"%@`", c) >= 0:
		p.fail("found character that cannot start any token: %q", c)
	}
	n := p.newNode(scalarNode)
	start := p.pos
	end := p.plainLine(false)
	if !multiline {
		p.setSpan(n, start, end)
		return n
	}
	var b *strings.Builder
	for {
		// Is the next non-empty line a continuation?
		save := *p
		p.skipSpaces()
		if !p.eof() && !isBreak(p.peek()) {
			break // a comment or ": " ends the scalar here
		}
		breaks := 0
		for !p.eof() {
			if isBreak(p.peek()) {
				p.newline()
				breaks++
				p.skipSpaces()
				continue
			}
			break
		}
		if p.eof() || p.col <= parent || p.peek() == '#' || p.docMarker("---") || p.docMarker("...") ||
			p.lineHasTabIndent() {
			*p = save
			break
		}
		b = foldLines(b, p.src[start:end], breaks)
		lstart := p.pos
		lend := p.plainLine(false)
		b.WriteString(p.src[lstart:lend])
		end = lend
		p.skipSpaces()
		if p.peek() == ':' && isSep(p.at(1)) {
			p.fail("mapping values are not allowed in this context")
		}
	}
	if b != nil {
		p.setString(n, b.String())
	} else {
		p.setSpan(n, start, end)
	}
	return n
}

// lineHasTabIndent: the current line's blanks before pos contain a tab.
func (p *yamlParser) lineHasTabIndent() bool {
	return strings.IndexByte(p.src[p.lineStart:p.pos], '\t') >= 0
}

// plainLine scans a plain scalar to the end of its line, or in flow
// context to a flow indicator; it returns the end of the scalar without
// trailing blanks and leaves pos there.
func (p *yamlParser) plainLine(flow bool) int {
	end := p.pos
	for !p.eof() {
		c := p.peek()
		switch {
		case isBreak(c):
			p.backTo(end)
			return end
		case c == ':' && isSep(p.at(1)):
			// In flow context too, as yaml.v3 reads it: "{0:}" has the
			// key "0:".
			p.backTo(end)
			return end
		case c == '#' && p.pos > 0 && (p.src[p.pos-1] == ' ' || p.src[p.pos-1] == '\t'):
			p.backTo(end)
			return end
		case flow && strings.IndexByte(",[]{}", c) >= 0:
			p.backTo(end)
			return end
		}
		p.advance(1)
		if c != ' ' && c != '\t' {
			end = p.pos
		}
	}
	p.backTo(end)
	return end
}

// backTo moves pos back on the current line to off.
func (p *yamlParser) backTo(off int) {
	for p.pos > off {
		p.pos--
		if utf8.RuneStart(p.src[p.pos]) {
			p.col--
		}
	}
}

// quoted parses a single- or double-quoted scalar (YAML 1.2.2 sections
// 7.3.1 and 7.3.2), which may span lines: a line break folds into a space,
// an empty line into a line break, blanks around breaks are dropped.
func (p *yamlParser) quoted() *yamlNode {
	n := p.newNode(scalarNode)
	q := p.peek()
	p.advance(1)
	start := p.pos
	var b *strings.Builder // nil while the value is a plain substring
	flush := func(upTo int) {
		if b == nil {
			b = &strings.Builder{}
		}
		b.WriteString(p.src[start:upTo])
	}
	for {
		if p.eof() {
			p.fail("found unexpected end of stream while scanning a quoted scalar")
		}
		c := p.peek()
		switch {
		case c == q && q == '\'' && p.at(1) == '\'':
			flush(p.pos + 1)
			p.advance(2)
			start = p.pos
		case c == q:
			if b == nil {
				p.setSpan(n, start, p.pos)
			} else {
				b.WriteString(p.src[start:p.pos])
				p.setString(n, b.String())
			}
			p.advance(1)
			return n
		case c == '\\' && q == '"':
			flush(p.pos)
			p.advance(1)
			if isBreak(p.peek()) {
				// An escaped line break joins the lines without a
				// space; empty lines after it are line breaks.
				p.newline()
				p.skipSpaces()
				for isBreak(p.peek()) {
					p.newline()
					p.skipSpaces()
					b.WriteByte('\n')
				}
				start = p.pos
				continue
			}
			p.escape(b)
			start = p.pos
		case c == ' ' || c == '\t' || isBreak(c):
			// Blanks before a line break are dropped; a single
			// break is a space, each further one a line break.
			i := p.pos
			for i < len(p.src) && (p.src[i] == ' ' || p.src[i] == '\t') {
				i++
			}
			if i == len(p.src) || !isBreak(p.src[i]) {
				p.advance(i - p.pos)
				continue
			}
			flush(p.pos)
			p.advance(i - p.pos)
			breaks := 0
			for isBreak(p.peek()) {
				p.newline()
				breaks++
				p.skipSpaces()
			}
			if p.docMarker("---") || p.docMarker("...") {
				p.fail("found unexpected document indicator while scanning a quoted scalar")
			}
			foldLines(b, "", breaks) // b is not nil after flush
			start = p.pos
		default:
			p.advance(1)
		}
	}
}

// escape decodes the escape sequence after a backslash into b (YAML 1.2.2
// section 5.7).
func (p *yamlParser) escape(b *strings.Builder) {
	c := p.peek()
	simple := map[byte]string{'0': "\x00", 'a': "\a", 'b': "\b", 't': "\t", '\t': "\t", 'n': "\n", 'v': "\v",
		'f': "\f", 'r': "\r", 'e': "\x1b", ' ': " ", '"': "\"", '/': "/", '\\': "\\", 'N': "\u0085",
		'_': "\u00a0", 'L': "\u2028", 'P': "\u2029"}
	if s, ok := simple[c]; ok {
		b.WriteString(s)
		p.advance(1)
		return
	}
	digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
	if digits == 0 {
		p.fail("found unknown escape character %q while parsing a quoted scalar", c)
	}
	p.advance(1)
	if p.pos+digits > len(p.src) {
		p.fail("found unexpected end of stream while parsing a quoted scalar")
	}
	v, err := strconv.ParseUint(p.src[p.pos:p.pos+digits], 16, 32)
	if err != nil || v > utf8.MaxRune || 0xd800 <= v && v <= 0xdfff {
		p.fail("found an invalid escape sequence \\%c%s", c, p.src[p.pos:p.pos+digits])
	}
	b.WriteRune(rune(v))
	p.advance(digits)
}

// blockScalar parses a literal (|) or folded (>) block scalar (YAML 1.2.2
// section 8.1) inside a block indented at parent.
func (p *yamlParser) blockScalar(parent int) *yamlNode {
	n := p.newNode(scalarNode)
	folded := p.peek() == '>'
	p.advance(1)
	chomp, explicit := byte(0), 0
	for range 2 {
		switch c := p.peek(); {
		case c == '+' || c == '-':
			if chomp != 0 {
				p.fail("found a repeated chomping indicator")
			}
			chomp = c
			p.advance(1)
		case c >= '1' && c <= '9':
			if explicit != 0 {
				p.fail("found a repeated indentation indicator")
			}
			explicit = int(c - '0')
			p.advance(1)
		}
	}
	if !isSep(p.peek()) {
		p.fail("did not find expected comment or line break after a block scalar header")
	}
	p.skipToEOL()
	ind := -1
	if explicit != 0 {
		ind = max(parent, 0) + explicit
	}
	var lines []string // content lines, without the indentation
	lastAtEOF := false // the last line read has no line break after it
	leading := 0       // the most spaces on an empty line before the first content line
	for !p.eof() {
		save := *p
		p.newline()
		if p.eof() {
			break // the last line break ends the last line; no line follows
		}
		for p.peek() == ' ' && (ind < 0 || p.col < ind) {
			p.advance(1)
		}
		if p.eof() || isBreak(p.peek()) {
			if ind < 0 {
				leading = max(leading, p.col)
			}
			lines = append(lines, "")
			lastAtEOF = p.eof()
			continue
		}
		if ind < 0 {
			if p.col <= max(parent, 0) || p.peek() == '\t' && p.col == 0 {
				*p = save
				break
			}
			// The indentation is detected from the first content
			// line, but not below the leading empty lines (as
			// libyaml and so yaml.v3 read it).
			ind = max(p.col, leading)
		}
		if p.col < ind || p.docMarker("---") || p.docMarker("...") {
			*p = save
			break
		}
		s := p.pos
		for !p.eof() && !isBreak(p.peek()) {
			p.advance(1)
		}
		lines = append(lines, p.src[s:p.pos])
		lastAtEOF = p.eof()
	}
	// Trailing empty lines belong to the chomping, not the content. The
	// last line read ends without its line break: the parser stops before
	// the break that follows it.
	content := len(lines)
	for content > 0 && lines[content-1] == "" { // spaces past the indentation are content
		content--
	}
	var b strings.Builder
	normal := func(l string) bool { return l != "" && l[0] != ' ' && l[0] != '\t' }
	empty, started, prevNormal := 0, false, false
	for _, l := range lines[:content] {
		if l == "" {
			empty++
			continue
		}
		switch {
		case !started:
			// Leading empty lines are line breaks in both styles.
			b.WriteString(strings.Repeat("\n", empty))
		case folded && prevNormal && normal(l):
			// Folding: one break between two lines becomes a
			// space; with empty lines between, only those are kept.
			if empty == 0 {
				b.WriteByte(' ')
			} else {
				b.WriteString(strings.Repeat("\n", empty))
			}
		default:
			b.WriteString(strings.Repeat("\n", empty+1))
		}
		b.WriteString(l)
		empty, started, prevNormal = 0, true, normal(l)
	}
	// The last content line's break is content unless stripped; a file
	// that ends inside that line has none (YAML 1.2.2 section 8.1.1.2).
	hasBreak := content < len(lines) || !lastAtEOF
	trailing := len(lines) - content // empty lines, each a line break
	if trailing > 0 && lastAtEOF {
		trailing-- // the file ends in the last one: no break after it
	}
	switch {
	case content == 0:
		if chomp == '+' {
			b.WriteString(strings.Repeat("\n", trailing))
		}
	case chomp == '-':
	case chomp == '+':
		if hasBreak {
			b.WriteByte('\n')
		}
		b.WriteString(strings.Repeat("\n", trailing))
	default:
		if hasBreak {
			b.WriteByte('\n')
		}
	}
	if b.Len() > 0 {
		p.setString(n, b.String())
	}
	return n
}

// flowNode parses a flow collection or scalar (YAML 1.2.2 chapter 7).
func (p *yamlParser) flowNode() *yamlNode {
	p.refuseProps()
	switch p.peek() {
	case '[':
		return p.flowSequence()
	case '{':
		return p.flowMapping()
	case '"', '\'':
		return p.quoted()
	}
	return p.flowPlain()
}

// skipFlowBlank skips blanks, comments and line breaks inside a flow
// collection.
func (p *yamlParser) skipFlowBlank() {
	for !p.eof() {
		switch c := p.peek(); {
		case c == ' ' || c == '\t':
			p.advance(1)
		case c == '#':
			for !p.eof() && !isBreak(p.peek()) {
				p.pos++
			}
		case isBreak(c):
			p.newline()
			if p.docMarker("---") || p.docMarker("...") {
				p.fail("did not find expected ',' or closing bracket")
			}
		default:
			return
		}
	}
}

// flowPlain parses a plain scalar inside a flow collection; it may span
// lines, which fold into spaces.
func (p *yamlParser) flowPlain() *yamlNode {
	switch c := p.peek(); {
	case c == '?':
		// yaml.v3 reads "?" here as the explicit key indicator even
		// before a non-blank ("{?0}" has the key "0"); YAML 1.2 reads a
		// plain scalar. Refused rather than read one way or the other.
		p.fail("complex mapping keys are not accepted in a policy file")
	case c == '-' || c == '?' || c == ':':
		if isSep(p.at(1)) || strings.IndexByte(",[]{}", p.at(1)) >= 0 {
			p.fail("did not find expected node content")
		}
	case c == 0:
		p.fail("did not find expected ',' or closing bracket")
	case strings.IndexByte(",[]{}#&*!|>'\"%@`", c) >= 0:
		p.fail("did not find expected node content")
	}
	n := p.newNode(scalarNode)
	start := p.pos
	end := p.plainLine(true)
	var b *strings.Builder
	for {
		save := *p
		p.skipSpaces()
		if !isBreak(p.peek()) {
			*p = save
			break
		}
		breaks := 0
		for isBreak(p.peek()) {
			p.newline()
			breaks++
			p.skipSpaces()
		}
		if c := p.peek(); c == 0 || c == '#' || strings.IndexByte(",[]{}", c) >= 0 || c == ':' && isSep(p.at(1)) ||
			p.docMarker("---") || p.docMarker("...") {
			*p = save
			break
		}
		b = foldLines(b, p.src[start:end], breaks)
		s := p.pos
		end = p.plainLine(true)
		b.WriteString(p.src[s:end])
	}
	if b != nil {
		p.setString(n, b.String())
	} else {
		p.setSpan(n, start, end)
	}
	return n
}

// flowSequence parses "[a, b, ...]".
func (p *yamlParser) flowSequence() *yamlNode {
	n := p.newNode(sequenceNode)
	p.advance(1)
	p.depth++
	var last *yamlNode
	for {
		p.skipFlowBlank()
		if p.peek() == ']' {
			break
		}
		add(n, &last, p.flowNode())
		p.skipFlowBlank()
		if p.peek() == ':' {
			p.fail("mappings inside flow sequences are not accepted in a policy file; write {key: value}")
		}
		if p.peek() == ',' {
			p.advance(1)
			continue
		}
		if p.peek() != ']' {
			p.fail("did not find expected ',' or ']' (the list opened at %d:%d)", n.Line, n.Column)
		}
		break
	}
	p.advance(1)
	p.depth--
	return n
}

// flowMapping parses "{k: v, ...}"; a key without ':' has an empty value.
func (p *yamlParser) flowMapping() *yamlNode {
	n := p.newNode(mappingNode)
	p.advance(1)
	p.depth++
	var last *yamlNode
	for {
		p.skipFlowBlank()
		if p.peek() == '}' {
			break
		}
		if p.peek() == '?' && isSep(p.at(1)) || p.peek() == '[' || p.peek() == '{' {
			p.fail("complex mapping keys are not accepted in a policy file")
		}
		k := p.flowNode()
		if k.Kind == scalarNode && p.value(k) == "<<" && p.src[p.pos-1] == '<' {
			p.fail("YAML anchors, aliases, merge keys and nesting deeper than %d levels are not accepted in a policy file", maxDepth)
		}
		add(n, &last, k)
		p.skipFlowBlank()
		var v *yamlNode
		if p.peek() == ':' {
			p.advance(1)
			p.skipFlowBlank()
			if c := p.peek(); c == ',' || c == '}' {
				v = p.empty()
			} else {
				v = p.flowNode()
			}
		} else {
			v = p.empty()
		}
		add(n, &last, v)
		p.skipFlowBlank()
		if p.peek() == ',' {
			p.advance(1)
			continue
		}
		if p.peek() != '}' {
			p.fail("did not find expected ',' or '}' (the mapping opened at %d:%d)", n.Line, n.Column)
		}
		break
	}
	p.advance(1)
	p.depth--
	return n
}

// foldLines continues a multi-line plain or quoted scalar after breaks
// line breaks (YAML 1.2 6.5, line folding: one break is a space, n breaks
// are n-1 newlines). A nil b is started with first, the scalar's first
// line.
func foldLines(b *strings.Builder, first string, breaks int) *strings.Builder {
	if b == nil {
		b = &strings.Builder{}
		b.WriteString(first)
	}
	if breaks == 1 {
		b.WriteByte(' ')
	} else {
		for range breaks - 1 {
			b.WriteByte('\n')
		}
	}
	return b
}
