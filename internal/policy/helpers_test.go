package policy

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const (
	acct      = "111122223333"
	otherAcct = "444455556666"
	keyARN    = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	otherKey  = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	rootARN   = "arn:aws:iam::111122223333:root"
	aliceARN  = "arn:aws:iam::111122223333:user/alice"
	bobARN    = "arn:aws:iam::444455556666:user/bob"
	roleARN   = "arn:aws:iam::111122223333:role/ops/Admin"
	sessARN   = "arn:aws:sts::111122223333:assumed-role/Admin/s1"
)

// doc wraps statements in a 2012-10-17 policy document.
func doc(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

// opt changes a request.
type opt func(*Request)

// req is a kms:Encrypt by alice on keyARN over TLS, changed by opts.
func req(opts ...opt) *Request {
	r := &Request{
		Principal:       Principal{ARN: aliceARN, UserID: "AIDAALICE"},
		Action:          "kms:Encrypt",
		Resource:        keyARN,
		Region:          "us-east-1",
		SecureTransport: true,
		SourceIP:        netip.MustParseAddr("203.0.113.7"),
		Time:            time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func as(arn string) opt { return func(r *Request) { r.Principal = Principal{ARN: arn} } }

func asSession(session, role string) opt {
	return func(r *Request) { r.Principal = Principal{ARN: session, RoleARN: role, UserID: "AROAADMIN:s1"} }
}

func asService(s string) opt { return func(r *Request) { r.Principal = Principal{Service: s} } }

func action(a string) opt   { return func(r *Request) { r.Action = a } }
func resource(a string) opt { return func(r *Request) { r.Resource = a } }

func ec(kv ...string) opt {
	return func(r *Request) {
		r.EncryptionContext = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			r.EncryptionContext[kv[i]] = kv[i+1]
		}
	}
}

func ptags(kv ...string) opt {
	return func(r *Request) {
		m := TagMap{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		r.Principal.Tags = m
	}
}

func rtags(kv ...string) opt {
	return func(r *Request) {
		m := TagMap{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		r.ResourceTags = m
	}
}

func qtags(kv ...string) opt {
	return func(r *Request) {
		m := TagMap{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
			r.TagKeys = append(r.TagKeys, kv[i])
		}
		r.RequestTags = m
	}
}

func tagKeys(k ...string) opt { return func(r *Request) { r.TagKeys = k } }

func ctx(key string, vals ...string) opt {
	return func(r *Request) {
		m, _ := r.Context.(Map)
		if m == nil {
			m = Map{}
			r.Context = m
		}
		m[key] = vals
	}
}

func ip(s string) opt { return func(r *Request) { r.SourceIP = netip.MustParseAddr(s) } }
func noIP() opt       { return func(r *Request) { r.SourceIP = netip.Addr{} } }
func plain() opt      { return func(r *Request) { r.SecureTransport = false } }
func at(t string) opt {
	return func(r *Request) {
		tm, err := time.Parse(time.RFC3339, t)
		if err != nil {
			panic(err)
		}
		r.Time = tm
	}
}

func mustParse(t testing.TB, kind Kind, d string) *Policy {
	t.Helper()
	p, err := Parse(kind, d)
	if err != nil {
		t.Fatalf("Parse(%s, %s) err = %v", kind, d, err)
	}
	return p
}
