package policy

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/trent-kms/trent/internal/arn"
)

// A pattern is a compiled string from a policy: literal text, the wildcards
// '*' and '?' (in Like-style patterns), and policy variables such as
// ${aws:username}, which are resolved per request and always match literally.
type pattern struct {
	toks []token
	vars bool // some token is a variable: resolve before matching
}

type tokKind uint8

const (
	tokLit  tokKind = iota // literal text
	tokStar                // '*': any run of characters
	tokOne                 // '?': any one character
	tokVar                 // ${key} or ${key, 'default'}
)

type token struct {
	kind tokKind
	s    string  // literal text, or the default value of a variable
	key  *keyRef // the variable's condition key
	def  bool    // the variable has a default value (s)
}

// maxPatternVars bounds the variables resolved on the stack per pattern;
// longer patterns resolve on the heap (never in practice).
const maxPatternVars = 8

// compilePattern compiles s. With wild, '*' and '?' are wildcards; with vars
// (Version 2012-10-17), ${...} is a policy variable.
func compilePattern(s string, wild, vars bool) pattern {
	var p pattern
	lit := func(t string) {
		if t == "" {
			return
		}
		if n := len(p.toks); n > 0 && p.toks[n-1].kind == tokLit {
			p.toks[n-1].s += t
			return
		}
		p.toks = append(p.toks, token{kind: tokLit, s: t})
	}
	for s != "" {
		i := 0
		for i < len(s) && !(wild && (s[i] == '*' || s[i] == '?')) && !(vars && s[i] == '$' && strings.HasPrefix(s[i:], "${")) {
			i++
		}
		lit(s[:i])
		s = s[i:]
		if s == "" {
			break
		}
		switch s[0] {
		case '*':
			p.toks = append(p.toks, token{kind: tokStar})
			s = s[1:]
		case '?':
			p.toks = append(p.toks, token{kind: tokOne})
			s = s[1:]
		default: // "${"
			end := strings.IndexByte(s, '}')
			if end < 0 {
				lit(s)
				s = ""
				break
			}
			body := s[2:end]
			s = s[end+1:]
			switch body {
			case "*", "?", "$":
				lit(body)
				continue
			}
			name, def, hasDef := strings.Cut(body, ",")
			t := token{kind: tokVar}
			if hasDef {
				d := strings.TrimSpace(def)
				if len(d) < 2 || d[0] != '\'' || d[len(d)-1] != '\'' {
					// Not the documented ${key, 'default'} form: literal text.
					lit("${" + body + "}")
					continue
				}
				t.s, t.def = d[1:len(d)-1], true
			}
			k := lookupKey(strings.TrimSpace(name))
			t.key = &k
			p.toks = append(p.toks, t)
			p.vars = true
		}
	}
	return p
}

// literal returns the pattern's text when it is one literal run (or empty).
func (p *pattern) literal() (string, bool) {
	switch len(p.toks) {
	case 0:
		return "", true
	case 1:
		if p.toks[0].kind == tokLit {
			return p.toks[0].s, true
		}
	}
	return "", false
}

// match reports whether s matches p (case-insensitively with fold). A pattern
// whose variable has no value in the request (and no default) matches
// nothing, as AWS documents; negated operators then hold.
func (p *pattern) match(ev *evalCtx, s string, fold bool) bool {
	if ev.cost += len(s) + len(p.toks); ev.cost > maxMatchCost {
		ev.over = true
		return false // void: Authorize refuses the request
	}
	var stack [maxPatternVars]string
	vals := stack[:0]
	if p.vars {
		for i := range p.toks {
			t := &p.toks[i]
			if t.kind != tokVar {
				continue
			}
			v, ok := ev.variable(t.key)
			if !ok {
				if !t.def {
					return false
				}
				v = t.s
			}
			vals = append(vals, v)
		}
	}
	return globTokens(p.toks, vals, s, fold)
}

// globTokens matches s against toks, taking variable values in order from
// vals: '*' matches any run of characters, '?' exactly one (one step of
// utf8.DecodeRuneInString, so one byte of invalid UTF-8), and a literal or
// variable its text, compared by hasPrefix.
//
// It runs the classic matcher (globClassic) with a budget of a few steps per
// byte of s and per token, which is all the common patterns need. A pattern
// and value that take longer (the classic matcher's worst case is the
// product of their lengths: a 32 KiB key policy pattern "*???...?b" against
// a 64 KiB encryption context value took seconds) are matched again by
// globFallback, which gives the same answer in time linear in len(s) times
// the pattern's length / 64.
func globTokens(toks []token, vals []string, s string, fold bool) bool {
	if m, ok := globClassic(toks, vals, s, fold, globBudget(s, toks)); ok {
		return m
	}
	return globFallback(toks, vals, s, fold)
}

// globBudget is the work globClassic may do for globTokens: a few steps per
// byte of s and per token.
func globBudget(s string, toks []token) int { return 64 + 4*(len(s)+len(toks)) }

// globUnlimited is a budget globClassic never exhausts.
const globUnlimited = math.MaxInt

// globClassic is the classic wildcard match with one backtrack point (the
// last '*'), with multi-character literal tokens matched as units. When it
// backtracks it charges budget for the attempt that failed: a step per token
// it got past and per 32 bytes of literal text it compared. It gives up (ok
// false) when budget runs out. The work it does not charge is at most a step
// per token and per byte of s: the part of an attempt that reaches the next
// '*' (it never goes back before a '*' it has passed), and the last attempt.
// A pattern without '*' never backtracks and never gives up.
func globClassic(toks []token, vals []string, s string, fold bool, budget int) (match, ok bool) {
	ti, si, vi := 0, 0, 0
	starTi, starSi, starVi := -1, 0, 0
	failed := 0 // the length of the literal that did not match
	for {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case tokStar:
				if ti == len(toks)-1 {
					return true, true // a final '*' matches the rest
				}
				starTi, starSi, starVi = ti, si, vi
				ti++
				continue
			case tokOne:
				if si < len(s) {
					_, w := utf8.DecodeRuneInString(s[si:])
					si += w
					ti++
					continue
				}
			case tokLit, tokVar:
				lit := t.s
				if t.kind == tokVar {
					lit = vals[vi]
				}
				if hasPrefix(s[si:], lit, fold) {
					si += len(lit)
					ti++
					if t.kind == tokVar {
						vi++
					}
					continue
				}
				failed = len(lit)
			}
		} else if si == len(s) {
			return true, true
		}
		if starTi < 0 || starSi >= len(s) {
			return false, true
		}
		if budget -= ti - starTi + (si-starSi+failed)>>5; budget <= 0 {
			return false, false
		}
		failed = 0
		_, w := utf8.DecodeRuneInString(s[starSi:])
		starSi += w
		ti, si, vi = starTi+1, starSi, starVi
	}
}

func hasPrefix(s, prefix string, fold bool) bool {
	if len(s) < len(prefix) {
		return false
	}
	if fold {
		return strings.EqualFold(s[:len(prefix)], prefix)
	}
	return s[:len(prefix)] == prefix
}

// matchAction matches an action name against a lowercased action pattern,
// case-insensitively ("kms:*", "kms:Re*", "*").
func matchAction(pat, action string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(pat) || sx < len(action) {
		if px < len(pat) {
			switch c := pat[px]; c {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(action) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(action) && c == lower(action[sx]) {
					px++
					sx++
					continue
				}
			}
		}
		if starPx < 0 || starSx >= len(action) {
			return false
		}
		starSx++
		px, sx = starPx+1, starSx
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// arnPattern matches ARNs segment by segment: each of the six colon-separated
// parts of the pattern (the last one being everything after the fifth colon)
// matches the same part of the value, so a '*' never spans a colon before the
// resource part.
type arnPattern struct {
	any bool       // "*": every value
	seg [6]pattern // partition... resource; seg[0] is "arn"
}

// compileARN compiles an ARN pattern. With vars (Version 2012-10-17), policy
// variables are resolved in the resource part, and with anyPart in every part:
// AWS allows them only in the resource part of a Resource element, but in any
// part of an ARN condition value ("arn:aws:iam::${aws:PrincipalAccount}:role/x").
func compileARN(s string, vars, anyPart bool) (arnPattern, bool) {
	if s == "*" {
		return arnPattern{any: true}, true
	}
	var p arnPattern
	rest := s
	for i := 0; i < 5; i++ {
		part, tail, found := cutARNPart(rest, vars && anyPart)
		if !found {
			return arnPattern{}, false
		}
		p.seg[i] = compilePattern(part, true, vars && anyPart)
		rest = tail
	}
	p.seg[5] = compilePattern(rest, true, vars)
	if lit, ok := p.seg[0].literal(); !ok || lit != "arn" {
		return arnPattern{}, false
	}
	return p, true
}

// cutARNPart cuts s at its first colon; with vars, not at a colon inside a
// policy variable (${aws:PrincipalAccount}).
func cutARNPart(s string, vars bool) (part, tail string, found bool) {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == ':':
			return s[:i], s[i+1:], true
		case vars && s[i] == '$' && strings.HasPrefix(s[i:], "${"):
			if end := strings.IndexByte(s[i:], '}'); end > 0 {
				i += end
			}
		}
	}
	return s, "", false
}

func (p *arnPattern) match(ev *evalCtx, s string) bool {
	if p.any {
		return true
	}
	a, ok := arn.Parse(s)
	if !ok {
		return false
	}
	return p.seg[0].match(ev, "arn", false) && p.seg[1].match(ev, a.Partition, false) &&
		p.seg[2].match(ev, a.Service, false) && p.seg[3].match(ev, a.Region, false) &&
		p.seg[4].match(ev, a.Account, false) && p.seg[5].match(ev, a.Resource, false)
}

// resourcePattern is one entry of a Resource or NotResource element.
type resourcePattern = arnPattern

func compileResource(s string, vars bool) (resourcePattern, error) {
	p, ok := compileARN(s, vars, false)
	if !ok {
		return p, errorf("Policy contains a statement with an invalid resource: Resource %s must be in ARN format or \"*\".", clip(s))
	}
	return p, nil
}
