package policy

import (
	"strings"
	"unicode/utf8"
)

// globFallback returns what globClassic returns without a budget, in time
// O(len(s) + n + len(s)·n/64) for a pattern of n runes. The bound needs two
// conditions: the match does not fold case, and the literal text (variable
// values included) is valid UTF-8. If either fails, globFallback runs
// globClassic without a budget, which is exact but unbounded. Neither case
// happens today. Only the Equals operators fold, and they compile without
// wildcards, so globClassic never backtracks for them and never reaches
// this function (TestFoldPatternsHaveNoWildcards). Policy text is valid
// UTF-8 because Parse refuses anything else. Variable values come from the
// Request, and Trent builds Requests from request bodies whose decoders
// refuse invalid UTF-8.
//
// Why the answer is the same. globClassic handles the tokens between two
// '*' (a segment) as a unit. After a '*' it tries the segment at each
// position that DecodeRuneInString steps reach from the star's position, in
// order, and keeps the first one where the whole segment matches: on the next
// '*' it forgets the earlier one. For the segment after the last '*' it
// keeps the first position where the segment matches and ends at len(s). The
// segment before the first '*' is tried at 0 only. So it is a greedy search
// that puts each segment at its leftmost possible start.
//
// DecodeRuneInString, stepping from 0, splits s into units: runes, and
// single bytes of invalid UTF-8. Call the positions between units
// boundaries. Without folding, and with valid UTF-8 literals, every position
// globClassic reaches is a boundary. A '?' steps one unit. A literal that
// equals the bytes of s at a boundary ends at a boundary, because valid UTF-8
// decodes the same inside s as on its own. At a boundary, a literal's bytes
// equal the next units exactly when its runes do (an invalid byte equals no
// rune). So a segment always consumes the same number m of units (its '?'
// plus the runes of its literals), and its leftmost start is its leftmost
// end minus m. The fallback uses that:
//   - it checks the first segment at 0;
//   - it finds each middle segment with a bit-parallel automaton (Shift-And)
//     that scans units from the current position and stops at the first
//     unit where the segment is complete, so the scans do not overlap;
//   - it checks the last segment only where it can end at len(s), m units
//     before the end.
//
// It is not inlined, so that its tables stay out of globTokens's frame.
//
//go:noinline
func globFallback(toks []token, vals []string, s string, fold bool) bool {
	var g globNFA
	return g.match(toks, vals, s, fold)
}

// globNFA holds the fallback's tables, reused across the segments of one
// match.
type globNFA struct {
	// work counts the words and units processed, so that tests can check
	// the bound without timing.
	work int

	m     int      // elements (runes and '?') of the current segment
	d, e  []uint64 // the automaton's state and its shifted copy
	one   []uint64 // bit j: element j is '?'
	tab   []uint64 // the dense slots' masks, one after the other
	pos   []int32  // the sparse slots' element indexes, one after the other
	slots []globSlot
	ascii [utf8.RuneSelf]int32 // slot+1 of an ASCII rune, 0 for none
	other map[rune]int32       // slot of any other rune
}

// A globSlot is one rune of a segment: the elements that equal it, as a
// mask (dense) when there are more of them than words in a mask, else as a
// list. That keeps both the memory and the cost of a step O(m/64).
type globSlot struct {
	dense  bool
	off, n int32
}

func (g *globNFA) match(toks []token, vals []string, s string, fold bool) bool {
	if fold || !validLiterals(toks, vals) {
		m, _ := globClassic(toks, vals, s, fold, globUnlimited)
		return m
	}
	i := nextStar(toks, 0)
	e, ok := matchSegment(toks[:i], vals, s, 0)
	if !ok {
		return false
	}
	if i == len(toks) {
		return e == len(s)
	}
	vals = vals[countVars(toks[:i]):]
	for {
		start := i + 1
		i = nextStar(toks, start)
		seg := toks[start:i]
		if i == len(toks) {
			return g.atEnd(seg, vals, s, e)
		}
		if e, ok = g.leftmost(seg, vals, s, e); !ok {
			return false
		}
		vals = vals[countVars(seg):]
	}
}

// atEnd reports whether seg matches s[e:] at its end: seg spans m units, so
// it can only start m units before the end of s.
func (g *globNFA) atEnd(seg []token, vals []string, s string, e int) bool {
	m := segmentUnits(seg, vals)
	k := utf8.RuneCountInString(s[e:])
	g.work += len(s) - e
	if k < m {
		return false
	}
	p := e
	for n := k - m; n > 0; n-- {
		_, w := utf8.DecodeRuneInString(s[p:])
		p += w
	}
	end, ok := matchSegment(seg, vals, s, p)
	return ok && end == len(s)
}

// leftmost returns where the leftmost match of seg in s[e:] ends.
func (g *globNFA) leftmost(seg []token, vals []string, s string, e int) (int, bool) {
	switch {
	case len(seg) == 0:
		return e, true
	case len(seg) == 1 && seg[0].kind != tokOne:
		// One literal: strings.Index finds its leftmost occurrence. That is
		// at a unit boundary: the literal's first byte is not a UTF-8
		// continuation byte, and every such byte at or after e is a
		// boundary (a step of more than one byte skips continuation bytes
		// only).
		lit := seg[0].s
		if seg[0].kind == tokVar {
			lit = vals[0]
		}
		g.work += len(s) - e
		if i := strings.Index(s[e:], lit); i >= 0 {
			return e + i + len(lit), true
		}
		return 0, false
	}
	g.compile(seg, vals)
	m := g.m
	last, lastBit := (m-1)>>6, uint64(1)<<((m-1)&63)
	d, x := g.d, g.e
	clear(d)
	hi := 0 // d[w] == 0 for every w > hi
	for p := e; p < len(s); {
		r, w := utf8.DecodeRuneInString(s[p:])
		p += w
		if r == utf8.RuneError && w == 1 {
			r = -1 // an invalid byte equals no rune of a literal
		}
		// D = ((D << 1) | 1) & (one | the elements equal to r). Bits move up
		// one word at most per step, so only words up to hi+1 can be set.
		top := min(hi+1, len(d)-1)
		carry := uint64(1)
		for w := 0; w <= top; w++ {
			v := d[w]
			y := v<<1 | carry
			carry = v >> 63
			x[w] = y
			d[w] = y & g.one[w]
		}
		g.work += top + 1
		if sl := g.slot(r); sl >= 0 {
			t := g.slots[sl]
			if t.dense {
				mask := g.tab[t.off : int(t.off)+len(d)]
				for w := 0; w <= top; w++ {
					d[w] |= x[w] & mask[w]
				}
			} else {
				for _, j := range g.pos[t.off : t.off+t.n] {
					if w, b := int(j>>6), uint64(1)<<(j&63); w <= top && x[w]&b != 0 {
						d[w] |= b
					}
				}
				g.work += int(t.n)
			}
		}
		hi = top
		for hi > 0 && d[hi] == 0 {
			hi--
		}
		if last <= hi && d[last]&lastBit != 0 {
			return p, true
		}
	}
	return 0, false
}

// slot returns the slot of rune r in the current segment, or -1.
func (g *globNFA) slot(r rune) int {
	if r >= 0 && r < utf8.RuneSelf {
		return int(g.ascii[r]) - 1
	}
	if sl, ok := g.other[r]; ok {
		return int(sl)
	}
	return -1
}

// compile builds the automaton of seg (which has no '*'): element j is
// the j-th '?' or literal rune.
func (g *globNFA) compile(seg []token, vals []string) {
	clear(g.ascii[:])
	clear(g.other)
	g.slots = g.slots[:0]
	// Count the elements and the elements of each rune.
	m := 0
	forEachElement(seg, vals, func(r rune) {
		m++
		if r < 0 {
			return
		}
		sl := g.slot(r)
		if sl < 0 {
			sl = len(g.slots)
			g.slots = append(g.slots, globSlot{})
			if r < utf8.RuneSelf {
				g.ascii[r] = int32(sl) + 1
			} else {
				if g.other == nil {
					g.other = make(map[rune]int32)
				}
				g.other[r] = int32(sl)
			}
		}
		g.slots[sl].n++
	})
	g.m = m
	words := (m + 63) >> 6
	g.d = resize(g.d, words)
	g.e = resize(g.e, words)
	g.one = resize(g.one, words)
	clear(g.one)
	// Lay out the slots, then fill them in.
	var ntab, npos int32
	for i := range g.slots {
		t := &g.slots[i]
		if t.dense = int(t.n) > words; t.dense {
			t.off = ntab
			ntab += int32(words)
		} else {
			t.off = npos
			npos += t.n
		}
		t.n = 0
	}
	g.tab = resize(g.tab, int(ntab))
	clear(g.tab)
	g.pos = resize(g.pos, int(npos))
	j := int32(0)
	forEachElement(seg, vals, func(r rune) {
		w, b := j>>6, uint64(1)<<(j&63)
		if r < 0 {
			g.one[w] |= b
		} else {
			t := &g.slots[g.slot(r)]
			if t.dense {
				g.tab[t.off+w] |= b
			} else {
				g.pos[t.off+t.n] = j
				t.n++
			}
		}
		j++
	})
	g.work += m
}

// forEachElement calls f with each element of seg in order: -1 for a '?',
// else a rune of a literal.
func forEachElement(seg []token, vals []string, f func(r rune)) {
	vi := 0
	for i := range seg {
		t := &seg[i]
		lit := t.s
		switch t.kind {
		case tokOne:
			f(-1)
			continue
		case tokVar:
			lit = vals[vi]
			vi++
		}
		for _, r := range lit {
			f(r)
		}
	}
}

func resize[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// matchSegment matches seg (which has no '*') at s[p:] and returns where
// the match ends.
func matchSegment(seg []token, vals []string, s string, p int) (int, bool) {
	vi := 0
	for i := range seg {
		t := &seg[i]
		if t.kind == tokOne {
			if p >= len(s) {
				return 0, false
			}
			_, w := utf8.DecodeRuneInString(s[p:])
			p += w
			continue
		}
		lit := t.s
		if t.kind == tokVar {
			lit = vals[vi]
			vi++
		}
		if !strings.HasPrefix(s[p:], lit) {
			return 0, false
		}
		p += len(lit)
	}
	return p, true
}

// segmentUnits is the number of units seg spans when it matches.
func segmentUnits(seg []token, vals []string) int {
	n, vi := 0, 0
	for i := range seg {
		switch t := &seg[i]; t.kind {
		case tokOne:
			n++
		case tokLit:
			n += utf8.RuneCountInString(t.s)
		case tokVar:
			n += utf8.RuneCountInString(vals[vi])
			vi++
		}
	}
	return n
}

// validLiterals reports whether the literal text of toks, and the values of
// its variables, are valid UTF-8.
func validLiterals(toks []token, vals []string) bool {
	for i := range toks {
		if toks[i].kind == tokLit && !utf8.ValidString(toks[i].s) {
			return false
		}
	}
	for _, v := range vals {
		if !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

func nextStar(toks []token, i int) int {
	for i < len(toks) && toks[i].kind != tokStar {
		i++
	}
	return i
}

func countVars(toks []token) int {
	n := 0
	for i := range toks {
		if toks[i].kind == tokVar {
			n++
		}
	}
	return n
}
