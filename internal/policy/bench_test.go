package policy

import (
	"testing"
)

// tenStatementPolicy is a 10-statement key policy of the shape teams use:
// account delegation, administrators, users with encryption-context
// conditions, grants for AWS resources, a via-service statement and denies.
const tenStatementPolicy = `{
  "Version": "2012-10-17",
  "Id": "bench",
  "Statement": [
    {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:role/ops/Admin", "arn:aws:iam::111122223333:user/admin"]},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"], "Resource": "*"},
    {"Sid": "TenantBlue", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/blue"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "blue"}}},
    {"Sid": "TenantRed", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/red"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "red"}}},
    {"Sid": "App", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:app": "billing"}, "StringLike": {"kms:EncryptionContext:path": "invoices/*"}}},
    {"Sid": "Grants", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
     "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    {"Sid": "ViaEBS", "Effect": "Allow", "Principal": {"AWS": "*"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333", "kms:ViaService": "ec2.us-east-1.amazonaws.com"}}},
    {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
     "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"},
    {"Sid": "DenyPlain", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Sid": "DenyOutside", "Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": "*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}, "Null": {"kms:EncryptionContextKeys": "false"}}}
  ]
}`

func benchRequest() *Request {
	return &Request{
		Principal:         Principal{ARN: aliceARN, UserID: "AIDAALICE"},
		Action:            "kms:Encrypt",
		Resource:          keyARN,
		SecureTransport:   true,
		SourceIP:          req().SourceIP,
		EncryptionContext: map[string]string{"app": "billing", "path": "invoices/2025/06/17.pdf", "tenant": "green"},
		Context:           Map{KeyViaService: nil},
	}
}

// BenchmarkEvaluate measures one key policy evaluation: 10 statements,
// conditions on kms:EncryptionContext:*, the deciding Allow at statement 5.
func BenchmarkEvaluate(b *testing.B) {
	p := mustParse(b, KeyPolicy, tenStatementPolicy)
	r := benchRequest()
	if o := p.Evaluate(r); o.Decision != Allowed || o.Sid != "App" {
		b.Fatalf("Evaluate = %+v", o)
	}
	b.ReportAllocs()
	defer threadCPU(b)()
	for b.Loop() {
		p.Evaluate(r)
	}
}

// BenchmarkAuthorize is Evaluate plus two identity policies, as kms will call it.
func BenchmarkAuthorize(b *testing.B) {
	p := mustParse(b, KeyPolicy, tenStatementPolicy)
	ids := []*Policy{
		mustParse(b, IdentityPolicy, doc(`{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"arn:aws:kms:*:111122223333:key/*"}`)),
		mustParse(b, IdentityPolicy, doc(`{"Effect":"Deny","Action":"kms:ScheduleKeyDeletion","Resource":"*"}`)),
	}
	r := benchRequest()
	if res := Authorize(r, p, ids); !res.Allowed {
		b.Fatalf("Authorize = %+v", res)
	}
	b.ReportAllocs()
	defer threadCPU(b)()
	for b.Loop() {
		Authorize(r, p, ids)
	}
}

// BenchmarkParse measures compiling the 10-statement policy (done once per
// policy change, not per request).
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	defer threadCPU(b)()
	for b.Loop() {
		if _, err := Parse(KeyPolicy, tenStatementPolicy); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEvaluateDoesNotAllocate holds the zero-allocation promise of the hot
// path for the benchmark's policy and a few other requests.
func TestEvaluateDoesNotAllocate(t *testing.T) {
	p := mustParse(t, KeyPolicy, tenStatementPolicy)
	ids := []*Policy{mustParse(t, IdentityPolicy, allowIf(`{"StringLike":{"aws:PrincipalTag/team":"${aws:username}*"},"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["app","path","tenant"]}}`))}
	for _, r := range []*Request{
		benchRequest(),
		req(asSession(sessARN, roleARN), action("kms:ScheduleKeyDeletion")),
		req(as(bobARN), action("kms:Decrypt"), ec("tenant", "blue")),
		req(plain()),
		req(ptags("team", "alice-x"), ec("app", "a")),
	} {
		if n := testing.AllocsPerRun(50, func() { p.Evaluate(r); Authorize(r, p, ids) }); n != 0 {
			t.Errorf("Evaluate+Authorize(%s %s) allocations = %v, want 0", r.Principal.ARN, r.Action, n)
		}
	}
}
