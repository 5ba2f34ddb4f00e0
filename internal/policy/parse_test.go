package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

type parseErrCase struct {
	name string // the rule the case proves
	kind Kind
	doc  string
	want string // substring of the error message
}

func parseErrCases() []parseErrCase {
	I, K, T := IdentityPolicy, KeyPolicy, TrustPolicy
	stmt := func(s string) string { return doc(s) }
	return []parseErrCase{
		{"document must be JSON", K, `{`, "not a valid JSON document"},
		{"document must be an object", K, `[]`, "must be a JSON object"},
		{"trailing data after the document is refused", K, defaultKeyPolicy + `{}`, "not a valid JSON document"},
		{"invalid UTF-8 is refused, not replaced", K, "{\"Version\":\"2012-10-17\",\"Id\":\"\xff\",\"Statement\":[]}", "not a valid JSON document"},
		{"duplicated member is refused", K, `{"Statement":[],"Statement":[]}`, "more than once"},
		{"duplicated member inside a statement is refused", K, doc(`{"Effect":"Allow","Effect":"Deny","Principal":"*","Action":"kms:*"}`), "more than once"},
		{"unknown top-level element", K, `{"Version":"2012-10-17","Statements":[]}`, "unknown element"},
		{"unknown version", K, `{"Version":"2020-01-01","Statement":[]}`, "Version"},
		{"version must be a string", K, `{"Version":2012,"Statement":[]}`, "Version"},
		{"Statement is required", K, `{"Version":"2012-10-17"}`, "must contain a Statement"},
		{"Statement must not be empty", K, `{"Version":"2012-10-17","Statement":[]}`, "at least one statement"},
		{"Statement must be an object or array", K, `{"Version":"2012-10-17","Statement":"nope"}`, "object or an array"},
		{"statement must be an object", K, `{"Version":"2012-10-17","Statement":["x"]}`, "not a JSON object"},
		{"unknown statement element", K, doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","effect":"Allow"}`), "unknown element"},
		{"Effect is required", K, doc(`{"Principal":"*","Action":"kms:*"}`), "no Effect"},
		{"Effect must be Allow or Deny", K, doc(`{"Effect":"Maybe","Principal":"*","Action":"kms:*"}`), "invalid Effect"},
		{"Effect is case-sensitive", K, doc(`{"Effect":"allow","Principal":"*","Action":"kms:*"}`), "invalid Effect"},
		{"key policy statement needs a principal", K, doc(`{"Effect":"Allow","Action":"kms:*"}`), "no principal"},
		{"identity policy must not name a principal", I, doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`), "should not specify a principal"},
		{"identity policy must not use NotPrincipal", I, doc(`{"Effect":"Deny","NotPrincipal":{"AWS":"` + aliceARN + `"},"Action":"kms:*","Resource":"*"}`), "should not specify a principal"},
		{"identity policy needs a resource", I, doc(`{"Effect":"Allow","Action":"kms:*"}`), "must contain resources"},
		{"identity policy Sid must be alphanumeric", I, doc(`{"Sid":"a b","Effect":"Allow","Action":"kms:*","Resource":"*"}`), "alpha-numeric"},
		{"identity policy Sids must be unique", I, doc(`{"Sid":"a","Effect":"Allow","Action":"kms:*","Resource":"*"}`, `{"Sid":"a","Effect":"Deny","Action":"kms:*","Resource":"*"}`), "unique"},
		{"trust policy needs a principal", T, doc(`{"Effect":"Allow","Action":"sts:AssumeRole"}`), "Principal"},
		{"trust policy must not have a resource", T, doc(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}`), "prohibited field Resource"},
		{"trust policy must not use NotPrincipal", T, doc(`{"Effect":"Allow","NotPrincipal":"*","Action":"sts:AssumeRole"}`), "NotPrincipal"},
		{"Principal and NotPrincipal together", K, doc(`{"Effect":"Deny","Principal":"*","NotPrincipal":"*","Action":"kms:*"}`), "both Principal and NotPrincipal"},
		{"principal string other than star", K, stmt(`{"Effect":"Allow","Principal":"bob","Action":"kms:*"}`), "invalid principals"},
		{"principal AWS value that is not an ARN or account", K, stmt(`{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*"}`), "invalid principals"},
		{"principal with a partial wildcard", K, stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"kms:*"}`), "invalid principals"},
		{"principal group ARN", K, stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:group/g"},"Action":"kms:*"}`), "invalid principals"},
		{"principal with an 11-digit account", K, stmt(`{"Effect":"Allow","Principal":{"AWS":"11112222333"},"Action":"kms:*"}`), "invalid principals"},
		{"principal of an unknown type", K, stmt(`{"Effect":"Allow","Principal":{"Amazon":"x"},"Action":"kms:*"}`), "invalid principals"},
		{"principal empty object", K, stmt(`{"Effect":"Allow","Principal":{},"Action":"kms:*"}`), "invalid principals"},
		{"principal empty list", K, stmt(`{"Effect":"Allow","Principal":{"AWS":[]},"Action":"kms:*"}`), "invalid principals"},
		{"principal empty service", K, stmt(`{"Effect":"Allow","Principal":{"Service":""},"Action":"kms:*"}`), "invalid principals"},
		{"Action is required in an identity policy", I, doc(`{"Effect":"Allow","Resource":"*"}`), "must contain actions"},
		{"Action is required in a trust policy", T, doc(`{"Effect":"Allow","Principal":"*"}`), "must contain actions"},
		{"Action and NotAction together", K, doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt"}`), "both Action and NotAction"},
		{"Action needs a service prefix", K, doc(`{"Effect":"Allow","Principal":"*","Action":"Encrypt"}`), "prefaced by a vendor"},
		{"Action must be a string or list of strings", K, doc(`{"Effect":"Allow","Principal":"*","Action":[1]}`), "Action"},
		{"Action list must not be empty", K, doc(`{"Effect":"Allow","Principal":"*","Action":[]}`), "Action"},
		{"Resource must be an ARN or star", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"my-key"}`), "must be in ARN format"},
		{"Resource and NotResource together", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*","NotResource":"*"}`), "both Resource and NotResource"},
		{"Condition must be an object", I, allowIf(`"x"`), "Condition is not a JSON object"},
		{"unknown condition operator", I, allowIf(`{"StringEqualz":{"aws:username":"x"}}`), "invalid Condition operator: StringEqualz"},
		{"Null has no IfExists form", I, allowIf(`{"NullIfExists":{"aws:username":"true"}}`), "invalid Condition operator"},
		{"unknown set qualifier", I, allowIf(`{"ForSomeValues:StringEquals":{"aws:TagKeys":"x"}}`), "invalid Condition operator"},
		{"condition operator must map keys to values", I, allowIf(`{"StringEquals":"x"}`), "does not map condition keys"},
		{"condition operator with no keys", I, allowIf(`{"StringEquals":{}}`), "does not map condition keys"},
		{"condition value must not be null", I, allowIf(`{"StringEquals":{"aws:username":null}}`), "has no value"},
		{"condition value list must not be empty", I, allowIf(`{"StringEquals":{"aws:username":[]}}`), "has no value"},
		{"condition value must not be an object", I, allowIf(`{"StringEquals":{"aws:username":{"a":"b"}}}`), "has no value"},
		{"numeric value must be a number", I, allowIf(`{"NumericLessThan":{"kms:RotationPeriodInDays":"ninety"}}`), "want a number"},
		{"numeric value must be finite", I, allowIf(`{"NumericLessThan":{"kms:RotationPeriodInDays":"NaN"}}`), "want a number"},
		{"numeric value does not take variables", I, allowIf(`{"NumericEquals":{"kms:RotationPeriodInDays":"${aws:username}"}}`), "want a number"},
		{"date value must be a date", I, allowIf(`{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}`), "ISO 8601"},
		{"date value must be a valid date", I, allowIf(`{"DateLessThan":{"aws:CurrentTime":"2025-13-01"}}`), "ISO 8601"},
		{"bool value must be true or false", I, allowIf(`{"Bool":{"aws:SecureTransport":"yes"}}`), "want true or false"},
		{"null value must be true or false", I, allowIf(`{"Null":{"aws:username":"maybe"}}`), "want true or false"},
		{"null takes one value", I, allowIf(`{"Null":{"aws:username":["true","false"]}}`), "more than one value"},
		{"binary value must be base64", I, allowIf(`{"BinaryEquals":{"x:b":"not base64!"}}`), "want base64"},
		{"IP value must be an address or CIDR", I, allowIf(`{"IpAddress":{"aws:SourceIp":"203.0.113.0/33"}}`), "IP address or CIDR"},
		{"IP value must not be a host name", I, allowIf(`{"NotIpAddress":{"aws:SourceIp":"example.com"}}`), "IP address or CIDR"},
		{"ARN condition value must be an ARN", I, allowIf(`{"ArnLike":{"aws:PrincipalArn":"alice"}}`), "want an ARN"},
		{"ForAllValues with kms:EncryptionContext is refused in key policies", K, doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContext:tenant":"blue"}}}`), "OverlyPermissiveCondition"},
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range parseErrCases() {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.kind, tc.doc)
			if err == nil {
				t.Fatalf("Parse = %+v, nil; want error containing %q", p, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse err = %q, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Parse err %v is not ErrMalformed", err)
			}
		})
	}
}

func TestParseSizes(t *testing.T) {
	big := doc(`{"Sid":"` + strings.Repeat("s", MaxKeyPolicyBytes) + `","Effect":"Allow","Principal":"*","Action":"kms:*"}`)
	_, err := Parse(KeyPolicy, big)
	var pe *Error
	if !errors.As(err, &pe) || !pe.TooLarge {
		t.Errorf("Parse(key policy of %d bytes) err = %v, want TooLarge", len(big), err)
	}
	// At the limit: accepted.
	pad := MaxKeyPolicyBytes - len(doc(`{"Sid":"","Effect":"Allow","Principal":"*","Action":"kms:*"}`))
	exact := doc(`{"Sid":"` + strings.Repeat("s", pad) + `","Effect":"Allow","Principal":"*","Action":"kms:*"}`)
	if len(exact) != MaxKeyPolicyBytes {
		t.Fatalf("len = %d", len(exact))
	}
	if _, err := Parse(KeyPolicy, exact); err != nil {
		t.Errorf("Parse(key policy of exactly %d bytes) err = %v", MaxKeyPolicyBytes, err)
	}

	// Trust policies count characters without whitespace.
	trust := func(n int) string {
		base := doc(`{"Effect":"Allow","Principal":{"AWS":"` + aliceARN + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":""}}}`)
		d := doc(`{"Effect":"Allow","Principal":{"AWS":"` + aliceARN + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + strings.Repeat("x", n-Size(base)) + `"}}}`)
		return strings.ReplaceAll(d, ",", ",\n    ")
	}
	if d := trust(MaxTrustPolicySize); Size(d) != MaxTrustPolicySize {
		t.Fatalf("Size = %d", Size(d))
	} else if _, err := Parse(TrustPolicy, d); err != nil {
		t.Errorf("Parse(trust policy of %d characters plus whitespace) err = %v", MaxTrustPolicySize, err)
	}
	if _, err := Parse(TrustPolicy, trust(MaxTrustPolicySize+1)); !errors.As(err, &pe) || !pe.TooLarge {
		t.Errorf("Parse(trust policy over the quota) err = %v, want TooLarge", err)
	}
	if got := Size(" {\t\"a\" :\r\n 1 } "); got != 7 {
		t.Errorf("Size = %d, want 7", got)
	}
}

func TestParseFields(t *testing.T) {
	p := mustParse(t, KeyPolicy, defaultKeyPolicy)
	if p.Kind != KeyPolicy || p.Version != "2012-10-17" || p.ID != "key-default-1" || p.Len() != 1 ||
		p.Sid(0) != "Enable IAM User Permissions" || p.Effect(0) != Allow {
		t.Errorf("Parse(default key policy) = %+v", p)
	}
	// Key policies allow Sids with spaces and repeated Sids.
	mustParse(t, KeyPolicy, doc(keyStmt("Allow", `"*"`, `"kms:*"`), keyStmt("Allow", `"*"`, `"kms:*"`)))
	// Condition values may be numbers and booleans.
	mustParse(t, IdentityPolicy, allowIf(`{"NumericLessThan":{"kms:RotationPeriodInDays":[90, 180.5]},"Bool":{"aws:SecureTransport":true}}`))
	// Operators match case-insensitively.
	mustParse(t, IdentityPolicy, allowIf(`{"stringequals":{"aws:username":"x"}}`))
}

// manyMembers returns an identity policy of at most MaxPolicyDocumentLen
// bytes with an object of as many distinct members as fit, then the member
// named extra if it is not "" (so a duplicate if it repeats one), and the
// number of members.
func manyMembers(extra string) (string, int) {
	var b strings.Builder
	b.WriteString(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}],"X":{`)
	n := 0
	for ; b.Len()+len(`"0000000":0,`)+len(extra)+8 <= MaxPolicyDocumentLen; n++ {
		fmt.Fprintf(&b, `"%07d":0,`, n)
	}
	if extra != "" {
		fmt.Fprintf(&b, `"%s":0,`, extra)
		n++
	}
	return strings.TrimSuffix(b.String(), ",") + "}}", n
}

// TestDuplicateCheckIsLinear counts the member names the duplicate check
// looks at: linear in the members of an object, where comparing each name with
// all earlier ones was quadratic (a 128 KiB document took a quarter second).
func TestDuplicateCheckIsLinear(t *testing.T) {
	d, n := manyMembers("")
	dec := decoder{s: d}
	if _, err := dec.value(); err != nil {
		t.Fatalf("decode(%d members) err = %v", n, err)
	}
	if bound := 3*n + 100; dec.work > bound {
		t.Errorf("decode(%d members) work = %d, want at most %d", n, dec.work, bound)
	}
	for _, extra := range []string{"0000000", "0000007", "0000008", fmt.Sprintf("%07d", n/2)} {
		d, _ := manyMembers(extra)
		_, err := Parse(IdentityPolicy, d)
		if err == nil || !strings.Contains(err.Error(), "more than once") {
			t.Errorf("Parse(object repeating member %s) err = %v, want a duplicate member error", extra, err)
		}
	}
	for k := 1; k <= 2*scanMembers; k++ {
		for i := range k {
			var b strings.Builder
			b.WriteString(`{`)
			for j := range k {
				fmt.Fprintf(&b, `"m%d":0,`, j)
			}
			fmt.Fprintf(&b, `"m%d":0}`, i)
			if _, err := decodeJSON(b.String()); !errors.Is(err, errDuplicate) {
				t.Errorf("decodeJSON(%d members then a repeat of member %d) err = %v, want errDuplicate", k, i, err)
			}
		}
	}
}

// BenchmarkParseManyMembers parses the largest identity policy whose one
// object has as many members as fit.
func BenchmarkParseManyMembers(b *testing.B) {
	d, _ := manyMembers("")
	b.ReportAllocs()
	defer threadCPU(b)()
	for b.Loop() {
		if _, err := decodeJSON(d); err != nil {
			b.Fatal(err)
		}
	}
}

func TestShowIDs(t *testing.T) {
	ids := map[string]string{aliceARN: "AIDAALICE", "arn:aws:iam::111122223333:role/r": "AROAR",
		"arn:aws:iam::111122223333:user/bob": "AIDABOB", "arn:aws:iam::111122223333:user/carol": "AIDACAROL", "arn:aws:sts::111122223333:assumed-role/r/s": "AROAR"}
	// alice and the role r are gone, bob was created again (another id),
	// carol is still there.
	current := func(a string) (string, bool) {
		switch a {
		case "arn:aws:iam::111122223333:user/bob":
			return "AIDABOB2", true
		case "arn:aws:iam::111122223333:user/carol":
			return "AIDACAROL", true
		}
		return "", false
	}
	for _, c := range []struct{ name, doc, want string }{
		{"a string principal",
			`{"Statement":{"Effect":"Allow","Principal":{"AWS":"` + aliceARN + `"},"Action":"kms:*","Resource":"*"}}`,
			`{"Statement":{"Effect":"Allow","Principal":{"AWS":"AIDAALICE"},"Action":"kms:*","Resource":"*"}}`},
		{"a list, NotPrincipal, an escaped ARN; conditions and other statements unchanged",
			`{"Version":"2012-10-17","Statement":[
  {"Effect":"Deny","NotPrincipal":{"AWS":[ "111122223333", "arn\u003aaws:iam::111122223333:role/r" ,"` + aliceARN + `"]},"Action":"kms:*","Resource":"*"},
  {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ArnEquals":{"aws:PrincipalArn":"` + aliceARN + `"}}}]}`,
			`{"Version":"2012-10-17","Statement":[
  {"Effect":"Deny","NotPrincipal":{"AWS":[ "111122223333", "AROAR" ,"AIDAALICE"]},"Action":"kms:*","Resource":"*"},
  {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ArnEquals":{"aws:PrincipalArn":"` + aliceARN + `"}}}]}`},
		{"created again", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}}`,
			`{"Statement":{"Effect":"Allow","Principal":{"AWS":"AIDABOB"},"Action":"kms:*","Resource":"*"}}`},
		{"still there, or not bound, or a session", `{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/carol","arn:aws:iam::111122223333:user/dave","arn:aws:sts::111122223333:assumed-role/r/s"]},"Action":"kms:*","Resource":"*"}}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Parse(KeyPolicy, c.doc); err != nil {
				t.Fatal(err)
			}
			want := c.want
			if want == "" {
				want = c.doc
			}
			if got := ShowIDs(c.doc, ids, current); got != want {
				t.Errorf("ShowIDs:\n%s\nwant\n%s", got, want)
			}
		})
	}
}
