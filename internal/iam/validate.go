package iam

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
)

// Limits of the IAM and STS APIs (the AWS API models and IAM quotas).
const (
	maxNameLen = 64 // user and role names
	// maxExistingNameLen bounds the UserName of the operations on an
	// existing user (the model's existingUserNameType): longer than a new
	// name may be, so a name of 65..128 characters is NoSuchEntity there.
	maxExistingNameLen  = 128
	maxPolicyNameLen    = 128
	maxPathLen          = 512
	maxDescriptionLen   = 1000
	maxTags             = 50
	maxTagKeyLen        = 128
	maxTagValueLen      = 256
	maxAccessKeysPer    = 2 // per user, and per root user
	maxItemsDefault     = 100
	maxItemsLimit       = 1000
	maxMarkerLen        = 320
	minSessionDuration  = 900
	maxSessionDuration  = 43200
	defaultRoleDuration = 3600
	chainedDurationMax  = 3600
	maxSessionNameLen   = 64
	maxRoleARNLen       = 2048
	maxExternalIDLen    = 1224
)

// Patterns as the API models write them (quoted in validation messages).
const (
	patternName       = `[\w+=,.@-]+`
	patternSession    = `[\w+=,.@-]*`
	patternPath       = `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`
	patternPathPrefix = `\u002F[\u0021-\u007F]*`
	patternPolicyDoc  = `[\u0009\u000A\u000D\u0020-\u00FF]+`
	patternTagKey     = `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`
	patternTagValue   = `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`
	patternAccessKey  = `[\w]+`
	patternExternalID = `[\w+=,.@:\/-]*`
	patternARN        = `[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+`
	patternMarker     = `[\u0020-\u00FF]+`
	patternDesc       = `[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`
)

// Access key and unique-id prefixes, as AWS uses them.
const (
	prefixAccessKey  = "AKIA" // long-term access key
	prefixSessionKey = "ASIA" // temporary (session) access key
	prefixUserID     = "AIDA"
	prefixRoleID     = "AROA"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// GenerateAccessKeyID returns a fresh AWS-shaped access key id: "AKIA"
// followed by 16 characters of [A-Z2-7] from crypto/rand.
func GenerateAccessKeyID() string { return generateID(prefixAccessKey, 16) }

// generateID returns prefix followed by n characters of [A-Z2-7].
func generateID(prefix string, n int) string {
	b := make([]byte, (n*5+7)/8)
	rand.Read(b)
	return prefix + b32.EncodeToString(b)[:n]
}

// GenerateSecret returns a fresh 40-character secret access key
// ([A-Za-z0-9+/], 240 bits from crypto/rand).
func GenerateSecret() string {
	var b [30]byte
	rand.Read(b[:])
	s := base64.StdEncoding.EncodeToString(b[:])
	clear(b[:])
	return s
}

// isNameChar reports whether c is in [\w+=,.@-].
func isNameChar(c byte) bool {
	return isWordChar(c) || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-'
}

func isWordChar(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// checker collects IAM validation errors in AWS's form.
type checker struct{ kmserr.Validation }

func (c *checker) err() error { return c.ErrAs(kmserr.ErrIAMValidation) }

// required records a missing member; it returns false when v is empty.
func (c *checker) required(member, v string) bool {
	if v == "" {
		c.Required(member)
		return false
	}
	return true
}

func (c *checker) length(member, v string, min, max int) bool {
	n := utf8.RuneCountInString(v)
	switch {
	case n < min:
		c.Add(member, v, true, "Member must have length greater than or equal to "+strconv.Itoa(min))
		return false
	case n > max:
		c.Add(member, v, true, "Member must have length less than or equal to "+strconv.Itoa(max))
		return false
	}
	return true
}

func (c *checker) pattern(member, v, pattern string, ok bool) {
	if !ok {
		c.Add(member, v, true, "Member must satisfy regular expression pattern: "+pattern)
	}
}

// name checks a user, role or policy name (required).
func (c *checker) name(member, v string, max int) {
	if c.required(member, v) && c.length(member, v, 1, max) {
		c.pattern(member, v, patternName, allBytes(v, isNameChar))
	}
}

// optName checks an optional existing user's name (empty means "the
// caller").
func (c *checker) optName(member, v string) {
	if v != "" && c.length(member, v, 1, maxExistingNameLen) {
		c.pattern(member, v, patternName, allBytes(v, isNameChar))
	}
}

// path checks a Path: "/" or "/a/b/" of printable ASCII.
func (c *checker) path(member, v string) {
	if v == "" || !c.length(member, v, 1, maxPathLen) {
		return
	}
	ok := v == "/" || len(v) >= 3 && v[0] == '/' && v[len(v)-1] == '/' &&
		allBytes(v, func(b byte) bool { return b >= 0x21 && b <= 0x7e })
	c.pattern(member, v, patternPath, ok)
}

func (c *checker) pathPrefix(member, v string) {
	if v == "" || !c.length(member, v, 1, maxPathLen) {
		return
	}
	c.pattern(member, v, patternPathPrefix, v[0] == '/' && allBytes(v, func(b byte) bool { return b >= 0x21 && b <= 0x7f }))
}

// policyDocument checks the API's constraints on a policy document (its
// grammar is internal/policy's).
func (c *checker) policyDocument(member, v string) {
	if c.required(member, v) && c.length(member, v, 1, policy.MaxPolicyDocumentLen) {
		ok := true
		for _, r := range v {
			if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xff) {
				ok = false
				break
			}
		}
		c.pattern(member, v, patternPolicyDoc, ok)
	}
}

func (c *checker) maxItems(v *int32) {
	if v != nil && (*v < 1 || *v > maxItemsLimit) {
		s := strconv.Itoa(int(*v))
		if *v < 1 {
			c.Add("maxItems", s, true, "Member must have value greater than or equal to 1")
		} else {
			c.Add("maxItems", s, true, "Member must have value less than or equal to 1000")
		}
	}
}

func (c *checker) marker(v string) {
	if v != "" && c.length("marker", v, 1, maxMarkerLen) {
		ok := true
		for _, r := range v {
			if r < 0x20 || r > 0xff {
				ok = false
				break
			}
		}
		c.pattern("marker", v, patternMarker, ok)
	}
}

// tags checks a Tags list's members (count and duplicates are the
// operations' concern: AWS answers them with other codes).
func (c *checker) tags(member string, tags []Tag) {
	for i, t := range tags {
		m := member + "." + strconv.Itoa(i+1) + ".member."
		if c.required(m+"key", t.Key) && c.length(m+"key", t.Key, 1, maxTagKeyLen) {
			c.pattern(m+"key", t.Key, patternTagKey, tagChars(t.Key))
		}
		if c.length(m+"value", t.Value, 0, maxTagValueLen) {
			c.pattern(m+"value", t.Value, patternTagValue, tagChars(t.Value))
		}
	}
}

// tagKeys checks an UntagUser or UntagRole TagKeys list.
func (c *checker) tagKeys(member string, keys []string) {
	if keys == nil {
		c.Required(member)
		return
	}
	if len(keys) > maxTags {
		c.Add(member, "", false, "Member must have length less than or equal to "+strconv.Itoa(maxTags))
	}
	for i, k := range keys {
		m := member + "." + strconv.Itoa(i+1) + ".member"
		if c.length(m, k, 1, maxTagKeyLen) {
			c.pattern(m, k, patternTagKey, tagChars(k))
		}
	}
}

// tagChars reports whether s is in [\p{L}\p{Z}\p{N}_.:/=+\-@]*.
func tagChars(s string) bool {
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.In(r, unicode.Z) || unicode.IsNumber(r) || strings.ContainsRune("_.:/=+-@", r)) {
			return false
		}
	}
	return true
}

// mergeTags returns old with the tags of add set (a key matching without
// regard to case is replaced, keeping the new case).
func mergeTags(old, add []Tag) []Tag {
	out := append([]Tag(nil), old...)
next:
	for _, t := range add {
		for i := range out {
			if strings.EqualFold(out[i].Key, t.Key) {
				out[i] = t
				continue next
			}
		}
		out = append(out, t)
	}
	return out
}

func equalFoldASCII(a, b string) bool { return strings.EqualFold(a, b) }

// encodeDocument URL-encodes a policy document as IAM returns documents:
// every byte but the RFC 3986 unreserved characters percent-encoded (spaces
// as %20, which the AWS CLI and SDK helpers decode).
func encodeDocument(doc string) string {
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(doc)*3/2)
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}
