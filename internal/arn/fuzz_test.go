package arn

import "testing"

// FuzzParsePrincipal: ARNs come from requests and policies. Parse splits
// exactly what String joins, and every principal ARN ParsePrincipal accepts
// is the one its constructor (Root, User, Role, AssumedRole) writes back
// from the parts.
func FuzzParsePrincipal(f *testing.F) {
	for _, s := range []string{
		"arn:aws:iam::111122223333:root",
		"arn:aws:iam::111122223333:user/alice",
		"arn:aws-cn:iam::111122223333:user/a/b/alice",
		"arn:aws:iam::111122223333:role/r",
		"arn:aws:iam::111122223333:role//x",
		"arn:aws:sts::111122223333:assumed-role/r/s",
		"arn:aws:sts::111122223333:federated-user/bob",
		"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:iam::1111222233334:root",
		"arn::::",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := Parse(s)
		if ok && a.String() != s {
			t.Fatalf("Parse(%q) = %+v, which String writes as %q", s, a, a.String())
		}
		p, ok := ParsePrincipal(s)
		if !ok {
			return
		}
		if !IsAccountID(p.Account) || !IsPartition(p.Partition) || p.Region != "" {
			t.Fatalf("ParsePrincipal(%q) accepted %+v", s, p)
		}
		var back string
		switch p.Kind {
		case RootPrincipal:
			back = Root(p.Partition, p.Account)
		case UserPrincipal:
			back = User(p.Partition, p.Account, p.Path, p.Name)
		case RolePrincipal:
			back = Role(p.Partition, p.Account, p.Path, p.Name)
		case AssumedRolePrincipal:
			back = AssumedRole(p.Partition, p.Account, p.Name, p.Session)
		case FederatedUserPrincipal:
			back = "arn:" + p.Partition + ":sts::" + p.Account + ":federated-user/" + p.Name
		default:
			t.Fatalf("ParsePrincipal(%q): kind %d", s, p.Kind)
		}
		if back != s {
			t.Fatalf("ParsePrincipal(%q) = %+v, written back as %q", s, p, back)
		}
	})
}
