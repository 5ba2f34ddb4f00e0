package policy

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// globBenchCases are patterns and values of the shapes policies use: a
// prefix, a suffix, wildcards inside, and a mismatch.
var globBenchCases = []struct{ pat, s string }{
	{"invoices/*", "invoices/2025/06/17.pdf"},
	{"*.amazonaws.com", "ec2.us-east-1.amazonaws.com"},
	{"data/*/2025", "data/x/y/2025"},
	{"bl?e", "blüe"},
	{"team-*-prod*", "team-payments-staging-eu"},
}

// BenchmarkGlob measures the matcher alone on the common shapes above.
func BenchmarkGlob(b *testing.B) {
	type compiled struct {
		toks []token
		s    string
	}
	var cs []compiled
	for _, c := range globBenchCases {
		cs = append(cs, compiled{compilePattern(c.pat, true, false).toks, c.s})
	}
	b.ReportAllocs()
	defer threadCPU(b)()
	for b.Loop() {
		for _, c := range cs {
			globTokens(c.toks, nil, c.s, false)
		}
	}
}

// globVars compiles pat as a Like pattern with variables (any ${...}) and
// gives its variables the values vals in turn.
func globVars(pat string, vals ...string) ([]token, []string) {
	toks := compilePattern(pat, true, true).toks
	var vs []string
	for _, t := range toks {
		if t.kind == tokVar {
			v := ""
			if len(vals) > 0 {
				v = vals[len(vs)%len(vals)]
			}
			vs = append(vs, v)
		}
	}
	return toks, vs
}

// refGlob is what globTokens means for valid UTF-8 literal text without
// case folding, written as a search over every way to split s: '*' takes
// any number of utf8.DecodeRuneInString steps, '?' one, a literal its bytes.
func refGlob(toks []token, vals []string, s string) bool {
	vi := make([]int, len(toks)+1)
	for i, t := range toks {
		vi[i+1] = vi[i]
		if t.kind == tokVar {
			vi[i+1]++
		}
	}
	type state struct{ ti, si int }
	memo := map[state]bool{}
	var rec func(ti, si int) bool
	rec = func(ti, si int) bool {
		if ti == len(toks) {
			return si == len(s)
		}
		st := state{ti, si}
		if v, ok := memo[st]; ok {
			return v
		}
		var ok bool
		_, w := utf8.DecodeRuneInString(s[si:])
		switch t := toks[ti]; t.kind {
		case tokStar:
			ok = rec(ti+1, si) || si < len(s) && rec(ti, si+w)
		case tokOne:
			ok = si < len(s) && rec(ti+1, si+w)
		default:
			lit := t.s
			if t.kind == tokVar {
				lit = vals[vi[ti]]
			}
			ok = strings.HasPrefix(s[si:], lit) && rec(ti+1, si+len(lit))
		}
		memo[st] = ok
		return ok
	}
	return rec(0, 0)
}

// checkGlob compares the fallback, and globTokens, with globClassic without a
// budget, and with refGlob where the fallback's bound holds; it also checks
// the fallback's work against its bound.
func checkGlob(t *testing.T, toks []token, vals []string, s string, fold bool) {
	t.Helper()
	want, ok := globClassic(toks, vals, s, fold, globUnlimited)
	if !ok {
		t.Fatalf("globClassic without budget gave up")
	}
	var g globNFA
	if got := g.match(toks, vals, s, fold); got != want {
		t.Fatalf("fallback(%s, %q, fold %v) = %v, globClassic = %v", showToks(toks, vals), s, fold, got, want)
	}
	if got := globTokens(toks, vals, s, fold); got != want {
		t.Fatalf("globTokens(%s, %q, fold %v) = %v, globClassic = %v", showToks(toks, vals), s, fold, got, want)
	}
	if fold || !validLiterals(toks, vals) {
		return
	}
	if len(s) <= 512 && len(toks) <= 64 {
		if ref := refGlob(toks, vals, s); ref != want {
			t.Fatalf("refGlob(%s, %q) = %v, globClassic = %v", showToks(toks, vals), s, ref, want)
		}
	}
	if n, bound := globUnits(toks, vals), 0; true {
		bound = 3*len(s) + n + 2*len(s)*(n/64+1)
		if g.work > bound {
			t.Fatalf("fallback(%s, %q) work = %d, want at most %d", showToks(toks, vals), s, g.work, bound)
		}
	}
}

// globUnits is the pattern's length in runes and '?'.
func globUnits(toks []token, vals []string) int {
	n, vi := 0, 0
	for i := 0; i <= len(toks); i++ {
		j := nextStar(toks, i)
		n += segmentUnits(toks[i:j], vals[vi:])
		vi += countVars(toks[i:j])
		i = j
	}
	return n
}

func showToks(toks []token, vals []string) string {
	var b strings.Builder
	vi := 0
	for _, t := range toks {
		switch t.kind {
		case tokStar:
			b.WriteString("*")
		case tokOne:
			b.WriteString("?")
		case tokLit:
			b.WriteString(t.s)
		case tokVar:
			b.WriteString("${" + vals[vi] + "}")
			vi++
		}
	}
	s := b.String()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return "`" + s + "`"
}

func TestGlobFallback(t *testing.T) {
	for _, tc := range []struct {
		pat  string
		vals []string
		s    string
	}{
		{"", nil, ""},
		{"", nil, "a"},
		{"*", nil, ""},
		{"*", nil, "\xff"},
		{"**", nil, "ab"},
		{"?", nil, ""},
		{"?", nil, "é"},
		{"?", nil, "\xc3"},
		{"??", nil, "é"},
		{"a*", nil, "abc"},
		{"*c", nil, "abc"},
		{"*b*", nil, "abc"},
		{"*b?d*", nil, "abcabxd"},
		{"*?b?*", nil, "ébé"},
		{"*é*", nil, "a\xc3\xa9"},
		{"*\ufffd*", nil, "a\xff"},
		{"*\ufffd*", nil, "a\ufffd"},
		{"*?\ufffd", nil, "\xff\ufffd"},
		{"*ab*ab*", nil, "abab"},
		{"*ab*ab*", nil, "aba"},
		{"*a?a*?b", nil, "aaaaab"},
		{"x*${v}*y", []string{"é"}, "x\xc3\xa9y"},
		{"*${v}", []string{""}, "ab"},
		{"*${v}?*", []string{""}, ""},
		{"*${v}?*", []string{"a"}, "ab"},
		// Invalid UTF-8 in a variable's value: globClassic's answer.
		{"*${v}?*", []string{"\xf0"}, "\xf0\xf0\x9f\x98\x80"},
		{"*${v}*${w}", []string{"\xe2\x82", "\xacx"}, "\xe2\x82\xacy\xe2\x82\xacx"},
	} {
		toks, vals := globVars(tc.pat, tc.vals...)
		checkGlob(t, toks, vals, tc.s, false)
		checkGlob(t, toks, vals, tc.s, true)
	}
}

// randomGlob returns a random pattern and value over a small alphabet of
// ASCII, multi-byte runes, U+FFFD and invalid UTF-8, and values for the
// pattern's variables (${v}).
func randomGlob(r *rand.Rand) (toks []token, vals []string, s string) {
	pick := func(alpha []string, n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(alpha[r.IntN(len(alpha))])
		}
		return b.String()
	}
	text := []string{"a", "a", "b", "é", "K", "\u212a", "\ufffd", "\xff", "\xc3", "\xa9", "\xe2\x82", "\xf0"}
	pat := pick([]string{"a", "a", "b", "é", "k", "\ufffd", "*", "*", "?", "?", "${v}"}, r.IntN(10))
	s = pick(text, r.IntN(16))
	v1, v2 := pick(text[:7], r.IntN(3)), pick(text, r.IntN(3))
	toks, vals = globVars(pat, v1, v2)
	return toks, vals, s
}

// TestGlobRandom compares the matchers on random patterns and values.
func TestGlobRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		toks, vals, s := randomGlob(r)
		checkGlob(t, toks, vals, s, r.IntN(4) == 0)
	}
}

// FuzzGlob compares the fallback with globClassic (and with refGlob where
// its bound holds) on any pattern, value and variable values.
func FuzzGlob(f *testing.F) {
	for _, c := range globBenchCases {
		f.Add(c.pat, c.s, "", "", false)
	}
	f.Add("*${v}*${w}", "\xe2\x82\xacy\xe2\x82\xacx", "\xe2\x82", "\xacx", false)
	f.Add("*a?a*?b", "aaaaab", "", "", false)
	f.Add("*?b?*", "ébé", "", "", true)
	f.Add("x*${v}*y", "x\u212a\u212ay", "\u212a", "k", true)
	r := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		toks, vals, s := randomGlob(r)
		v := append(vals, "", "")
		f.Add(showToks(toks, vals), s, v[0], v[1], r.IntN(2) == 0)
	}
	f.Fuzz(func(t *testing.T, pat, s, v1, v2 string, fold bool) {
		if len(pat) > 256 || len(s) > 1024 {
			return
		}
		toks, vals := globVars(pat, v1, v2)
		checkGlob(t, toks, vals, s, fold)
	})
}

// TestGlobRandomLong compares the matchers on long patterns cut from the
// value (so that many match), whose segments need automata of several words.
func TestGlobRandomLong(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	units := []string{"a", "a", "a", "b", "é", "\xff"}
	for range 300 {
		var u []string
		for range 1 + r.IntN(3000) {
			u = append(u, units[r.IntN(len(units))])
		}
		s := strings.Join(u, "")
		// A run of units from s, some replaced by '?' and some by '*', and
		// perhaps one changed.
		i := r.IntN(len(u))
		j := i + r.IntN(len(u)-i+1)
		var b strings.Builder
		if r.IntN(2) == 0 {
			b.WriteString("*")
		}
		for _, x := range u[i:j] {
			switch n := r.IntN(200); {
			case n < 30:
				b.WriteString("?")
			case n < 32:
				b.WriteString("*")
			case n < 33:
				b.WriteString("b")
			case x == "\xff":
				b.WriteString("?")
			default:
				b.WriteString(x)
			}
		}
		if r.IntN(2) == 0 {
			b.WriteString("*")
		}
		toks, vals := globVars(b.String())
		checkGlob(t, toks, vals, s, false)
	}
}

// reviewerPolicy is a key policy of just under 32 KiB whose condition
// pattern is "*" + 32000 '?' + tail: globClassic's worst case against a
// long encryption context value.
func reviewerPolicy(t testing.TB, tail string) *Policy {
	pat := "*" + strings.Repeat("?", 32000) + tail
	return mustParse(t, KeyPolicy, doc(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:a":"`+pat+`"}}}`))
}

// TestGlobWorstCase: the patterns that took globClassic seconds take the
// fallback, which gives the right answer within its bound (counted, not
// timed; BenchmarkGlobWorstCase times it).
func TestGlobWorstCase(t *testing.T) {
	long := strings.Repeat("a", 60000)
	for _, tc := range []struct {
		name, tail, s string
		want          bool
	}{
		{"last segment, no match", "b", long, false},
		{"last segment, match", "b", long[1:] + "b", true},
		{"last segment, multi-byte value", "b", strings.Repeat("é", 30000), false},
		{"middle segment, no match", "b*", long, false},
		{"middle segment, match", "b*", long[:40000] + "b" + long[40000:], true},
		{"middle segment, multi-byte value", "b*", strings.Repeat("é", 32000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toks := compilePattern("*"+strings.Repeat("?", 32000)+tc.tail, true, false).toks
			if _, ok := globClassic(toks, nil, tc.s, false, globBudget(tc.s, toks)); ok {
				t.Fatalf("globClassic finished within its budget; want it to give up")
			}
			var g globNFA
			if got := g.match(toks, nil, tc.s, false); got != tc.want {
				t.Errorf("fallback = %v, want %v", got, tc.want)
			}
			n := globUnits(toks, nil)
			if bound := 3*len(tc.s) + n + 2*len(tc.s)*(n/64+1); g.work > bound {
				t.Errorf("fallback work = %d, want at most %d", g.work, bound)
			}
			t.Logf("fallback work %d for a value of %d bytes and a pattern of %d units", g.work, len(tc.s), n)
		})
	}
	p := reviewerPolicy(t, "b")
	for _, tc := range []struct {
		s    string
		want Decision
	}{{long, NotApplicable}, {long[1:] + "b", Allowed}} {
		if got := p.Evaluate(req(ec("a", tc.s))).Decision; got != tc.want {
			t.Errorf("Evaluate(value of %d bytes ending %q) = %v, want %v", len(tc.s), tc.s[len(tc.s)-1:], got, tc.want)
		}
	}
}

// BenchmarkGlobWorstCase times one Evaluate of the patterns of
// TestGlobWorstCase against a 60000-byte value: the classic matcher's
// budget and the fallback.
func BenchmarkGlobWorstCase(b *testing.B) {
	for _, tc := range []struct{ name, tail, s string }{
		{"last", "b", strings.Repeat("a", 60000)},
		{"last-multibyte", "b", strings.Repeat("é", 30000)},
		{"middle", "b*", strings.Repeat("a", 60000)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := reviewerPolicy(b, tc.tail)
			r := req(ec("a", tc.s))
			defer threadCPU(b)()
			for b.Loop() {
				p.Evaluate(r)
			}
		})
	}
}

// TestFoldPatternsHaveNoWildcards holds what globFallback's bound relies on:
// only Equals operators fold case, and their values compile without
// wildcards, so a folding match never backtracks.
func TestFoldPatternsHaveNoWildcards(t *testing.T) {
	for name, op := range operators {
		if op.fold && op.cmp != cmpEq {
			t.Errorf("operator %s folds case and is not an Equals operator", name)
		}
	}
	for _, cond := range []string{
		`{"StringEqualsIgnoreCase":{"aws:username":"a*b?${aws:username}"}}`,
		`{"StringNotEqualsIgnoreCase":{"aws:username":"*${aws:userid}"}}`,
	} {
		p := mustParse(t, IdentityPolicy, allowIf(cond))
		for _, c := range p.stmts[0].conds {
			if len(c.strs) == 0 {
				t.Fatalf("%s compiles to no pattern", cond)
			}
			for _, pat := range c.strs {
				for _, tok := range pat.toks {
					if tok.kind == tokStar || tok.kind == tokOne {
						t.Errorf("%s compiles to a pattern with a wildcard", cond)
					}
				}
			}
		}
	}
}
