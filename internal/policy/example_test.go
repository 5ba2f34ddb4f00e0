package policy_test

import (
	"fmt"

	"github.com/trent-kms/trent/internal/policy"
)

// kmsValues is how a service supplies the condition keys the Request has no
// field for, without allocating.
type kmsValues struct {
	keySpec    string
	viaService string
}

func (v *kmsValues) Lookup(key string) (policy.Values, bool) {
	switch key {
	case policy.KeyKeySpec:
		return policy.One(v.keySpec), true
	case policy.KeyViaService:
		return policy.One(v.viaService), v.viaService != ""
	}
	return policy.Values{}, false
}

func ExampleAuthorize() {
	keyPolicy, err := policy.Parse(policy.KeyPolicy, `{
	  "Version": "2012-10-17",
	  "Statement": [
	    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
	     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
	    {"Sid": "Tenant", "Effect": "Allow",
	     "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "kms:Encrypt", "Resource": "*",
	     "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "blue", "kms:KeySpec": "SYMMETRIC_DEFAULT"}}}
	  ]}`)
	if err != nil {
		panic(err) // kms answers MalformedPolicyDocumentException with err.Error()
	}
	const key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	values := &kmsValues{keySpec: "SYMMETRIC_DEFAULT"}
	for _, tenant := range []string{"blue", "red"} {
		r := &policy.Request{
			Principal:         policy.Principal{ARN: "arn:aws:iam::111122223333:user/alice"},
			Action:            "kms:Encrypt",
			Resource:          key,
			EncryptionContext: map[string]string{"tenant": tenant},
			Context:           values,
		}
		res := policy.Authorize(r, keyPolicy, nil) // alice has no identity policies
		if res.Allowed {
			fmt.Printf("%s: allowed by %q\n", tenant, res.Sid)
			continue
		}
		// An implicit deny may still be allowed by a grant; an explicit one not.
		fmt.Printf("%s: explicit=%v: %s\n", tenant, res.Explicit(), res.Message(r.Principal.ARN, r.Action, key))
	}
	// Output:
	// blue: allowed by "Tenant"
	// red: explicit=false: User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab because no identity-based policy allows the kms:Encrypt action
}
