// Package sigv4 verifies AWS Signature Version 4 (AWS4-HMAC-SHA256) on
// requests of the AWS JSON protocol, the way AWS services do for non-S3
// APIs: the Authorization header carries the credential scope, the signed
// header names and the signature; the signature covers the canonical request
// (method, normalised and URI-encoded path, canonical query string, the
// signed headers, the SHA-256 of the body).
//
// Verification is the only authentication Trent has: a request that passes
// Verify is from a holder of the access key's secret, within MaxSkew of the
// time it claims.
//
// Reference: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kmserr"
)

// Credentials resolves an access key (with the session token presented
// with it, "" for none) to its secret and principal. *iam.Service implements
// it. Errors: iam.ErrUnknownCredential (no such access key),
// iam.ErrInvalidCredential (inactive key, or a session token that is not
// valid for it), iam.ErrExpiredToken (a valid session token past its
// expiry).
type Credentials interface {
	Credential(accessKeyID, sessionToken string) (secret string, p *iam.Principal, err error)
}

// Verifier checks SigV4 signatures. Set the exported fields before first use
// and do not copy a Verifier after it: it holds a cache of derived signing
// keys. It is safe for concurrent use.
type Verifier struct {
	Creds   Credentials
	Service string        // signing name that scopes must carry, e.g. "kms"
	MaxSkew time.Duration // allowed clock difference; 5 * time.Minute when 0
	Now     func() time.Time
	// InsecureAcceptUnknown (dev mode only): for an access key Creds does not
	// know at all (iam.ErrUnknownCredential), return the principal to admit
	// WITHOUT checking the signature; ok=false means reject as usual. Known
	// keys that are inactive, and session tokens that do not verify, are
	// refused as usual.
	InsecureAcceptUnknown func(accessKeyID string) (iam.Principal, bool)

	keys keyCache
}

// Result is an authenticated request's identity.
type Result struct {
	Principal    iam.Principal
	Region       string // region of the credential scope
	AccessKeyID  string
	SessionToken string // X-Amz-Security-Token, if any
}

const (
	amzDateFormat  = "20060102T150405Z"
	scopeDateLen   = len("20060102")
	defaultMaxSkew = 5 * time.Minute
)

// Verify authenticates r, whose body the caller has already read into body.
// It returns *kmserr.Error values: MissingAuthenticationTokenException,
// IncompleteSignatureException, InvalidSignatureException (bad scope, stale
// date, wrong signature), UnrecognizedClientException (unknown or inactive
// key, invalid session token) and ExpiredTokenException (expired session).
// Verify does not modify r.
func (v *Verifier) Verify(r *http.Request, body []byte) (*Result, error) {
	authz := r.Header["Authorization"]
	if len(authz) == 0 || authz[0] == "" {
		return nil, kmserr.ErrMissingAuthentication.With("%s", kmserr.ErrMissingAuthentication.Message)
	}
	var a parsed
	if err := a.parse(authz[0]); err != nil {
		return nil, err
	}

	dateName, dateValue := "x-amz-date", firstHeader(r.Header, "X-Amz-Date")
	if dateValue == "" {
		dateName, dateValue = "date", firstHeader(r.Header, "Date")
	}
	if msg := a.missingMessage(); msg != "" || dateValue == "" {
		if dateValue == "" {
			msg = strings.TrimPrefix(msg+" Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", " ")
		}
		return nil, kmserr.ErrIncompleteSignature.With("%s", msg)
	}

	// The request time and the credential scope.
	var t time.Time
	var err error
	canonical := false
	if dateName == "x-amz-date" {
		if t, canonical = parseAmzDate(dateValue); !canonical {
			t, err = time.Parse(amzDateFormat, dateValue)
		}
	} else {
		t, err = http.ParseTime(dateValue)
	}
	if err != nil {
		return nil, kmserr.ErrIncompleteSignature.With("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", kmserr.Clip(dateValue, 128))
	}
	t = t.UTC()
	// Scratch buffers: arrays on the stack would escape through hash.Hash.
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	var amzDate []byte
	if canonical {
		amzDate = append(sc.date[:0], dateValue...)
	} else {
		amzDate = t.AppendFormat(sc.date[:0], amzDateFormat)
	}
	if a.service != v.Service {
		return nil, kmserr.ErrInvalidSignature.With("Credential should be scoped to correct service: '%s'. ", v.Service)
	}
	if !arn.IsRegion(a.region) {
		return nil, kmserr.ErrInvalidSignature.With("Credential should be scoped to a valid region, not '%s'. ", kmserr.Clip(a.region, 64))
	}
	if a.date != string(amzDate[:scopeDateLen]) {
		from := "X-Amz-Date"
		if dateName == "date" {
			from = "Date"
		}
		return nil, kmserr.ErrInvalidSignature.With("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			kmserr.Clip(a.date, 128), string(amzDate[:scopeDateLen]), from)
	}

	// Headers that must be covered by the signature.
	token := firstHeader(r.Header, "X-Amz-Security-Token")
	if !a.signs("host") {
		return nil, kmserr.ErrIncompleteSignature.With("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if !a.signs(dateName) {
		if dateName == "date" {
			return nil, kmserr.ErrIncompleteSignature.With("'Date' must be a 'SignedHeader' in the AWS Authorization.")
		}
		return nil, kmserr.ErrIncompleteSignature.With("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if token != "" && !a.signs("x-amz-security-token") {
		return nil, kmserr.ErrIncompleteSignature.With("'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.")
	}

	// Clock skew.
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = defaultMaxSkew
	}
	n := now().UTC()
	if t.Before(n.Add(-skew)) {
		return nil, kmserr.ErrInvalidSignature.With("Signature expired: %s is now earlier than %s (%s - %s.)",
			string(amzDate), n.Add(-skew).Format(amzDateFormat), n.Format(amzDateFormat), skewText(skew))
	}
	if t.After(n.Add(skew)) {
		return nil, kmserr.ErrInvalidSignature.With("Signature not yet current: %s is still later than %s (%s + %s.)",
			string(amzDate), n.Add(skew).Format(amzDateFormat), n.Format(amzDateFormat), skewText(skew))
	}

	// The access key (and session token).
	var secret string
	var p *iam.Principal
	cerr := iam.ErrUnknownCredential
	if v.Creds != nil {
		secret, p, cerr = v.Creds.Credential(a.accessKeyID, token)
	}
	if cerr != nil {
		if errors.Is(cerr, iam.ErrExpiredToken) {
			return nil, kmserr.ErrExpiredToken.With("%s", kmserr.ErrExpiredToken.Message)
		}
		if v.InsecureAcceptUnknown != nil && errors.Is(cerr, iam.ErrUnknownCredential) {
			if p, ok := v.InsecureAcceptUnknown(a.accessKeyID); ok {
				return &Result{Principal: p, Region: a.region, AccessKeyID: a.accessKeyID, SessionToken: token}, nil
			}
		}
		return nil, kmserr.ErrUnrecognizedClient.With("%s", kmserr.ErrUnrecognizedClient.Message)
	}

	// The signature.
	payloadHash, perr := sc.payloadHash(r.Header, body)
	if perr != nil {
		return nil, perr
	}
	sc.buf = appendCanonicalRequest(sc.buf[:0], sc, r, &a, payloadHash)
	sc.sha.Reset()
	sc.sha.Write(sc.buf)
	crHash := sc.sha.Sum(sc.sum[:0])

	sts := sc.buf[:0]
	sts = append(sts, Algorithm...)
	sts = append(sts, '\n')
	if dateName == "x-amz-date" {
		sts = append(sts, dateValue...) // as signed by the client
	} else {
		sts = append(sts, amzDate...)
	}
	sts = append(sts, '\n')
	sts = append(sts, a.scope...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, crHash)
	sc.buf = sts

	mac := sc.hmacFor(v.keys.get(a.accessKeyID, secret, a.date, a.region, a.service))
	mac.Write(sts)
	want := mac.Sum(sc.sum[:0])
	if !decodeHex(sc.got[:], a.signature) || !hmac.Equal(sc.got[:], want) {
		return nil, kmserr.ErrInvalidSignature.With("%s", kmserr.ErrInvalidSignature.Message)
	}
	return &Result{Principal: *p, Region: a.region, AccessKeyID: a.accessKeyID, SessionToken: token}, nil
}

// signs reports whether the lowercase header name is among SignedHeaders.
func (p *parsed) signs(name string) bool {
	for rest := p.signedHeaders; rest != ""; {
		var h string
		h, rest, _ = strings.Cut(rest, ";")
		if len(h) == len(name) && strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min"
	}
	return d.String()
}

func firstHeader(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// scratch holds per-call buffers, pooled so that Verify allocates little.
type scratch struct {
	buf  []byte
	name []byte // canonical MIME form of a header name
	sha  hash.Hash
	ph   [2 * sha256.Size]byte
	sum  [sha256.Size]byte
	got  [sha256.Size]byte
	date [len(amzDateFormat)]byte
	// mac is an HMAC keyed with macKey, kept for the next request signed
	// with the same signing key (the common case: one client, one key).
	mac    hash.Hash
	macKey [sha256.Size]byte
}

// hmacFor returns an HMAC-SHA256 keyed with key, ready for writing.
func (sc *scratch) hmacFor(key [sha256.Size]byte) hash.Hash {
	if sc.mac != nil && sc.macKey == key {
		sc.mac.Reset()
		return sc.mac
	}
	sc.macKey = key
	sc.mac = hmac.New(sha256.New, sc.macKey[:])
	return sc.mac
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{buf: make([]byte, 0, 1024), name: make([]byte, 0, 64), sha: sha256.New()}
}}

// payloadHash returns the lowercase hex SHA-256 of body, the last line of
// the canonical request (as the Go SDK signs it). A declared
// X-Amz-Content-Sha256 header must match it (hex case aside); other values
// such as UNSIGNED-PAYLOAD are S3-only and rejected.
func (sc *scratch) payloadHash(h http.Header, body []byte) ([]byte, *kmserr.Error) {
	sc.sha.Reset()
	sc.sha.Write(body)
	hex.Encode(sc.ph[:], sc.sha.Sum(sc.sum[:0]))
	if declared := firstHeader(h, "X-Amz-Content-Sha256"); declared != "" {
		if len(declared) != len(sc.ph) || !strings.EqualFold(declared, string(sc.ph[:])) {
			return nil, kmserr.ErrInvalidSignature.With("The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	return sc.ph[:], nil
}

// appendCanonicalRequest appends the SigV4 canonical request of r:
//
//	METHOD\nURI\nQUERY\nname:value\n...\n\nSIGNED_HEADERS\nPAYLOAD_HASH
func appendCanonicalRequest(b []byte, sc *scratch, r *http.Request, a *parsed, payloadHash []byte) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	if r.URL == nil { // never from net/http's server; be safe anyway
		b = append(b, "/\n"...)
	} else {
		b = appendCanonicalURI(b, r)
		b = append(b, '\n')
		b = appendCanonicalQuery(b, r.URL.RawQuery)
	}
	b = append(b, '\n')
	for rest := a.signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		start := len(b)
		b = append(b, name...)
		lowerASCII(b[start:])
		b = append(b, ':')
		b = sc.appendHeaderValue(b, r, name)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, a.signedHeaders...)
	b = append(b, '\n')
	b = append(b, payloadHash...)
	return b
}

// appendHeaderValue appends the canonical value of header name: every value,
// trimmed with runs of spaces collapsed, joined by ','. Host comes from
// r.Host (Go moves it out of r.Header); Content-Length from r.ContentLength
// when the header map lacks it.
func (sc *scratch) appendHeaderValue(b []byte, r *http.Request, name string) []byte {
	if len(name) == len("host") && strings.EqualFold(name, "host") {
		host := r.Host
		if host == "" && r.URL != nil {
			host = r.URL.Host
		}
		return appendTrimmed(b, host)
	}
	sc.name = appendCanonicalMIMEKey(sc.name[:0], name)
	vals := r.Header[string(sc.name)] // no allocation: map index by converted bytes
	if len(vals) == 0 && strings.EqualFold(name, "content-length") && r.ContentLength > 0 {
		return strconv.AppendInt(b, r.ContentLength, 10)
	}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTrimmed(b, v)
	}
	return b
}

// appendTrimmed appends v without leading/trailing whitespace and with each
// run of spaces collapsed to one.
func appendTrimmed(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

func lowerASCII(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
}

// appendCanonicalMIMEKey mirrors textproto.CanonicalMIMEHeaderKey (the form
// Go's server stores header names in) without allocating.
func appendCanonicalMIMEKey(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return append(b, s...)
		}
	}
	upper := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
		upper = c == '-'
	}
	return b
}

func isTokenByte(c byte) bool {
	if c >= 0x7f || c <= ' ' {
		return false
	}
	switch c {
	case '"', '(', ')', ',', '/', ':', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}':
		return false
	}
	return true
}

// appendCanonicalURI appends the canonical URI of r as AWS computes it for
// every service but S3: the escaped path with dot segments removed, each
// byte outside the unreserved set percent-encoded (so existing escapes are
// encoded a second time, as the SDK signers do).
func appendCanonicalURI(b []byte, r *http.Request) []byte {
	p := r.URL.EscapedPath()
	if p == "" || p == "/" {
		return append(b, '/')
	}
	p = removeDotSegments(p)
	if p == "" || p[0] != '/' {
		b = append(b, '/')
	}
	const upperhex = "0123456789ABCDEF"
	for i := 0; i < len(p); i++ {
		c := p[i]
		if isUnreserved(c) || c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '%', upperhex[c>>4], upperhex[c&15])
		}
	}
	return b
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// removeDotSegments implements RFC 3986 section 5.2.4.
func removeDotSegments(in string) string {
	if !strings.Contains(in, ".") {
		return in
	}
	var out []string
	segs := strings.Split(in, "/")
	for i, s := range segs {
		switch s {
		case ".":
			if i == len(segs)-1 {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if i == len(segs)-1 {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	res := strings.Join(out, "/")
	if res == "" {
		return "/"
	}
	return res
}

// appendCanonicalQuery appends the canonical query string: each name and
// value URI-encoded (space as %20), sorted by name then value, joined by '&'.
func appendCanonicalQuery(b []byte, raw string) []byte {
	if raw == "" {
		return b
	}
	type param struct{ k, v string }
	var ps []param
	for rest := raw; rest != ""; {
		var kv string
		kv, rest, _ = strings.Cut(rest, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		ps = append(ps, param{encodeQuery(unescapeQuery(k)), encodeQuery(unescapeQuery(v))})
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].k != ps[j].k {
			return ps[i].k < ps[j].k
		}
		return ps[i].v < ps[j].v
	})
	for i, p := range ps {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return b
}

func unescapeQuery(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(s):
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				c = hi<<4 | lo
				i += 2
			}
		}
		b = append(b, c)
	}
	return string(b)
}

func encodeQuery(s string) string {
	const upperhex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(upperhex[c>>4])
			b.WriteByte(upperhex[c&15])
		}
	}
	return b.String()
}

var _ fmt.Stringer = (*Authorization)(nil)

// parseAmzDate parses an X-Amz-Date in its canonical form (amzDateFormat,
// every field in range) without time.Parse's walk of the layout; ok is
// false for anything else, which time.Parse then reads or refuses. When ok,
// t is what time.Parse yields, and formats back to s.
func parseAmzDate(s string) (t time.Time, ok bool) {
	if len(s) != len(amzDateFormat) || s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		n := 0
		for _, c := range []byte(s[from:to]) {
			if c < '0' || c > '9' {
				ok = false
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	ok = true
	y, mo, d, h, mi, sec := num(0, 4), num(4, 6), num(6, 8), num(9, 11), num(11, 13), num(13, 15)
	if !ok {
		return time.Time{}, false
	}
	t = time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != mo || t.Day() != d || t.Hour() != h || t.Minute() != mi || t.Second() != sec {
		return time.Time{}, false // out of range: time.Date normalised it
	}
	return t, true
}
