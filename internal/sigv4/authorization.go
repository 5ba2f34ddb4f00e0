package sigv4

import (
	"strings"

	"github.com/trent-kms/trent/internal/kmserr"
)

// Algorithm is the only signing algorithm Trent accepts.
const Algorithm = "AWS4-HMAC-SHA256"

// Terminator ends every SigV4 credential scope.
const Terminator = "aws4_request"

// maxAuthorizationLen bounds the Authorization header ParseAuthorization
// accepts. Real headers are a few hundred bytes.
const maxAuthorizationLen = 8 << 10

// Authorization is a parsed "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." header. ParseAuthorization checks its syntax only; the
// scope's meaning (date, region, service) is checked by Verifier.Verify.
type Authorization struct {
	Algorithm   string // always Algorithm
	AccessKeyID string
	// Credential scope: Date/Region/Service/Terminator, as sent.
	Date, Region, Service, Terminator string
	SignedHeaders                     []string // as sent, in order
	Signature                         string   // as sent (hex)
}

// String formats a in the form the AWS SDKs send. For every a returned by
// ParseAuthorization, ParseAuthorization(a.String()) returns an equal value.
func (a *Authorization) String() string {
	return a.Algorithm + " Credential=" + a.AccessKeyID + "/" + a.Date + "/" + a.Region + "/" + a.Service + "/" + a.Terminator +
		", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ", Signature=" + a.Signature
}

// ParseAuthorization parses an AWS4-HMAC-SHA256 Authorization header value.
// Errors are IncompleteSignatureException *kmserr.Error values with AWS-like
// messages; they never echo more than a bounded part of the input.
func ParseAuthorization(header string) (*Authorization, error) {
	var p parsed
	if err := p.parse(header); err != nil {
		return nil, err
	}
	if msg := p.missingMessage(); msg != "" {
		return nil, kmserr.ErrIncompleteSignature.With("%s", msg)
	}
	a := &Authorization{
		Algorithm:   Algorithm,
		AccessKeyID: p.accessKeyID,
		Date:        p.date,
		Region:      p.region,
		Service:     p.service,
		Terminator:  p.terminator,
		Signature:   p.signature,
	}
	a.SignedHeaders = strings.Split(p.signedHeaders, ";")
	return a, nil
}

// parsed is the allocation-free form of an Authorization header used by
// Verify: every field is a substring of the header.
type parsed struct {
	accessKeyID                       string
	date, region, service, terminator string
	scope                             string // date/region/service/terminator
	signedHeaders                     string // raw, ';'-separated
	signature                         string
	hasCredential, hasSignedHeaders   bool
	hasSignature                      bool
}

// missingMessage returns AWS's message for the missing parameters, or "".
func (p *parsed) missingMessage() string {
	var msgs []string
	if !p.hasCredential {
		msgs = append(msgs, "Authorization header requires 'Credential' parameter.")
	}
	if !p.hasSignature {
		msgs = append(msgs, "Authorization header requires 'Signature' parameter.")
	}
	if !p.hasSignedHeaders {
		msgs = append(msgs, "Authorization header requires 'SignedHeaders' parameter.")
	}
	return strings.Join(msgs, " ")
}

// parse fills p from header. A header whose scheme is not AWS4-HMAC-SHA256
// (e.g. "Bearer ...") is treated as carrying no parameters at all, as AWS
// does, so the caller reports the missing ones; an unsupported AWS4-*
// algorithm is reported as such.
func (p *parsed) parse(header string) *kmserr.Error {
	if len(header) > maxAuthorizationLen {
		return kmserr.ErrIncompleteSignature.With("Authorization header is too long.")
	}
	h := trimSpace(header)
	scheme, rest, _ := strings.Cut(h, " ")
	if scheme != Algorithm {
		if strings.HasPrefix(scheme, "AWS4-") {
			return kmserr.ErrIncompleteSignature.With("Unsupported AWS 'algorithm': '%s'.", kmserr.Clip(scheme, 128))
		}
		return nil
	}
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = trimSpace(part)
		if part == "" {
			continue
		}
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			return kmserr.ErrIncompleteSignature.With("'%s' not a valid key=value pair (missing equal-sign) in Authorization header.", kmserr.Clip(part, 128))
		}
		switch key {
		case "Credential":
			if p.hasCredential {
				return duplicate(key)
			}
			p.hasCredential = true
			if err := p.parseCredential(value); err != nil {
				return err
			}
		case "SignedHeaders":
			if p.hasSignedHeaders {
				return duplicate(key)
			}
			p.hasSignedHeaders = true
			if value == "" || strings.HasPrefix(value, ";") || strings.HasSuffix(value, ";") || strings.Contains(value, ";;") {
				return kmserr.ErrIncompleteSignature.With("'SignedHeaders' must be a non-empty ';'-separated list of header names, got '%s'.", kmserr.Clip(value, 128))
			}
			p.signedHeaders = value
		case "Signature":
			if p.hasSignature {
				return duplicate(key)
			}
			p.hasSignature = true
			if value == "" {
				return kmserr.ErrIncompleteSignature.With("Authorization header requires 'Signature' parameter.")
			}
			p.signature = value
		default:
			// AWS ignores parameters it does not know.
		}
	}
	return nil
}

func (p *parsed) parseCredential(v string) *kmserr.Error {
	bad := func() *kmserr.Error {
		return kmserr.ErrIncompleteSignature.With("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'.", kmserr.Clip(v, 128))
	}
	akid, scope, ok := strings.Cut(v, "/")
	if !ok || akid == "" {
		return bad()
	}
	date, r1, ok1 := strings.Cut(scope, "/")
	region, r2, ok2 := strings.Cut(r1, "/")
	service, term, ok3 := strings.Cut(r2, "/")
	// An empty region is well-formed (five elements): Verify reports it as
	// AWS does, "Credential should be scoped to a valid region, not ''."
	if !ok1 || !ok2 || !ok3 || date == "" || service == "" || term == "" || strings.Contains(term, "/") {
		return bad()
	}
	if term != Terminator {
		return kmserr.ErrIncompleteSignature.With("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", kmserr.Clip(term, 128))
	}
	p.accessKeyID, p.scope = akid, scope
	p.date, p.region, p.service, p.terminator = date, region, service, term
	return nil
}

func duplicate(key string) *kmserr.Error {
	return kmserr.ErrIncompleteSignature.With("Authorization header has more than one '%s' parameter.", key)
}

// trimSpace trims ASCII spaces and tabs (what may surround header tokens).
func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
