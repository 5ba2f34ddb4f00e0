package policy

import (
	"encoding/json"
	"testing"

	"github.com/trent-kms/trent/internal/arn"
)

// fuzzRequests are evaluated against every document the fuzzer parses.
func fuzzRequests() []*Request {
	return []*Request{
		req(),
		req(as(rootARN), action("kms:PutKeyPolicy")),
		req(asSession(sessARN, roleARN), ec("tenant", "blue", "Tenant", "red"), ptags("team", "pay")),
		req(as(bobARN), action("kms:Decrypt"), resource(otherKey), plain(), noIP(), ctx(KeyGrantOperations, "Decrypt", "Encrypt")),
		req(asService("logs.amazonaws.com"), action("kms:CreateKey"), resource("*"), qtags("env", "prod")),
	}
}

// FuzzParse checks that Parse never panics on any input, and that a parsed
// policy decides every request the same way each time it is evaluated and
// each time the document is parsed again.
func FuzzParse(f *testing.F) {
	for _, d := range seedDocuments() {
		f.Add(uint8(KeyPolicy), d)
		f.Add(uint8(IdentityPolicy), d)
		f.Add(uint8(TrustPolicy), d)
	}
	reqs := fuzzRequests()
	f.Fuzz(func(t *testing.T, kind uint8, d string) {
		k := Kind(kind%3 + 1)
		p, err := Parse(k, d)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse err %T %v is not *Error", err, err)
			}
			return
		}
		q, err := Parse(k, d)
		if err != nil {
			t.Fatalf("second Parse err = %v", err)
		}
		for _, r := range reqs {
			a, b, c := p.Evaluate(r), p.Evaluate(r), q.Evaluate(r)
			if a != b || a != c {
				t.Fatalf("Evaluate not deterministic: %+v %+v %+v", a, b, c)
			}
			x, y := Authorize(r, p, []*Policy{q}), Authorize(r, q, []*Policy{p})
			if x != y {
				// p and q are the same policy parsed twice.
				t.Fatalf("Authorize not deterministic: %+v %+v", x, y)
			}
			if p.MayAllow(r) != q.MayAllow(r) {
				t.Fatalf("MayAllow not deterministic")
			}
		}
		// Every named user and role gone: each is shown as an id, which
		// makes the document one that AWS (and Parse) refuses to set again;
		// with none (only sessions, accounts...) the text is unchanged.
		ids := make(map[string]string)
		for _, a := range p.NamedPrincipals() {
			if pa, _ := arn.ParsePrincipal(a); pa.Kind != arn.AssumedRolePrincipal {
				ids[a] = "AIDAGONE"
			}
		}
		shown := ShowIDs(d, ids, func(string) (string, bool) { return "", false })
		if !json.Valid([]byte(shown)) {
			t.Fatalf("ShowIDs made invalid JSON: %q", shown)
		}
		if _, err := Parse(k, shown); (err == nil) != (len(ids) == 0) || len(ids) == 0 && shown != d {
			t.Fatalf("ShowIDs(%q) = %q: Parse %v", d, shown, err)
		}
	})
}

// seedDocuments is every policy document of the tests, plus AWS's examples.
func seedDocuments() []string {
	docs := []string{defaultKeyPolicy, kmsAdminUserPolicy, tenStatementPolicy, awsViaServiceExample, awsEncryptionContextExample, awsGrantExample}
	for _, tc := range evalCases() {
		docs = append(docs, tc.doc)
	}
	for _, tc := range conditionCases() {
		docs = append(docs, allowIf(tc.cond))
	}
	for _, tc := range keyCases() {
		docs = append(docs, allowIf(tc.cond))
	}
	for _, tc := range authCases() {
		if tc.key != "" {
			docs = append(docs, tc.key)
		}
		docs = append(docs, tc.identity...)
	}
	for _, tc := range parseErrCases() {
		docs = append(docs, tc.doc)
	}
	return docs
}

// Examples from the AWS KMS Developer Guide.
const (
	awsViaServiceExample = `{
  "Version": "2012-10-17",
  "Statement": {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:user/ExampleUser"},
    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:ListGrants", "kms:DescribeKey"],
    "Resource": "*",
    "Condition": {
      "StringEquals": {
        "kms:ViaService": ["ec2.us-west-2.amazonaws.com", "rds.us-west-2.amazonaws.com"]
      }
    }
  }
}`
	awsEncryptionContextExample = `{
  "Version": "2012-10-17",
  "Statement": {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:role/RoleForExampleApp"},
    "Action": "kms:GenerateDataKey",
    "Resource": "*",
    "Condition": {
      "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName"]},
      "StringEquals": {"kms:EncryptionContext:AppName": "ExampleApp"}
    }
  }
}`
	awsGrantExample = `{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:user/ExampleUser"},
    "Action": "kms:CreateGrant",
    "Resource": "*",
    "Condition": {
      "ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]},
      "StringEquals": {"kms:GranteePrincipal": "arn:aws:iam::111122223333:role/ExampleRole"},
      "Bool": {"kms:GrantIsForAWSResource": true},
      "StringEqualsIgnoreCase": {"kms:GrantConstraintType": "EncryptionContextSubset"}
    }
  }]
}`
)
