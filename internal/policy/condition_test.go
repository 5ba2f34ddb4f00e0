package policy

import "testing"

// TestConditions proves each operator, qualifier and condition key with an
// identity policy allowing kms:* under one Condition element.
func TestConditions(t *testing.T) {
	t.Parallel()
	for _, tc := range conditionCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, IdentityPolicy, allowIf(tc.cond))
			if got := p.Evaluate(tc.req).Decision; got != tc.want {
				t.Errorf("Evaluate = %v, want %v\ncondition: %s", got, tc.want, tc.cond)
			}
		})
	}
}

type condCase struct {
	name string
	cond string
	req  *Request
	want Decision
}

func conditionCases() []condCase {
	A, N := Allowed, NotApplicable
	return []condCase{
		// String operators.
		{"StringEquals matches the exact value", `{"StringEquals":{"kms:EncryptionContext:tenant":"blue"}}`, req(ec("tenant", "blue")), A},
		{"StringEquals is case-sensitive in the value", `{"StringEquals":{"kms:EncryptionContext:tenant":"blue"}}`, req(ec("tenant", "Blue")), N},
		{"StringEquals with a list is an OR", `{"StringEquals":{"kms:EncryptionContext:tenant":["red","blue"]}}`, req(ec("tenant", "blue")), A},
		{"StringEquals on a missing key is false", `{"StringEquals":{"kms:EncryptionContext:tenant":"blue"}}`, req(), N},
		{"StringEquals treats wildcards literally", `{"StringEquals":{"kms:EncryptionContext:tenant":"b*"}}`, req(ec("tenant", "blue")), N},
		{"StringNotEquals holds for another value", `{"StringNotEquals":{"kms:EncryptionContext:tenant":"blue"}}`, req(ec("tenant", "red")), A},
		{"StringNotEquals fails for the value", `{"StringNotEquals":{"kms:EncryptionContext:tenant":"blue"}}`, req(ec("tenant", "blue")), N},
		{"StringNotEquals with a list is a NOR", `{"StringNotEquals":{"kms:EncryptionContext:tenant":["red","blue"]}}`, req(ec("tenant", "red")), N},
		{"StringNotEquals on a missing key is true", `{"StringNotEquals":{"kms:EncryptionContext:tenant":"blue"}}`, req(), A},
		{"StringEqualsIgnoreCase ignores case", `{"StringEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"BLUE"}}`, req(ec("tenant", "blue")), A},
		{"StringNotEqualsIgnoreCase fails for the value in another case", `{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"BLUE"}}`, req(ec("tenant", "blue")), N},
		{"StringNotEqualsIgnoreCase holds for another value", `{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"BLUE"}}`, req(ec("tenant", "red")), A},
		{"StringLike star matches a run", `{"StringLike":{"kms:EncryptionContext:path":"data/*/2025"}}`, req(ec("path", "data/x/y/2025")), A},
		{"StringLike question mark matches one character", `{"StringLike":{"kms:EncryptionContext:tenant":"bl?e"}}`, req(ec("tenant", "blue")), A},
		{"StringLike question mark matches one multibyte character", `{"StringLike":{"kms:EncryptionContext:tenant":"bl?e"}}`, req(ec("tenant", "blüe")), A},
		{"StringLike is case-sensitive", `{"StringLike":{"kms:EncryptionContext:tenant":"B*"}}`, req(ec("tenant", "blue")), N},
		{"StringLike without wildcard is exact", `{"StringLike":{"kms:EncryptionContext:tenant":"blu"}}`, req(ec("tenant", "blue")), N},
		{"StringNotLike fails when the pattern matches", `{"StringNotLike":{"kms:EncryptionContext:tenant":"b*"}}`, req(ec("tenant", "blue")), N},
		{"StringNotLike holds when no pattern matches", `{"StringNotLike":{"kms:EncryptionContext:tenant":["r*","g*"]}}`, req(ec("tenant", "blue")), A},
		{"StringNotLike on a missing key is true", `{"StringNotLike":{"kms:EncryptionContext:tenant":"b*"}}`, req(), A},

		// An empty value is an empty data set for the set operators (AWS).
		{"ForAnyValue on an empty value is false", `{"ForAnyValue:StringLike":{"aws:RequestTag/team":"*"}}`, req(qtags("team", "")), N},
		{"ForAnyValue negated on an empty value is false", `{"ForAnyValue:StringNotEquals":{"aws:RequestTag/team":"pay"}}`, req(qtags("team", "")), N},
		{"ForAllValues on an empty value is true", `{"ForAllValues:StringEquals":{"aws:RequestTag/team":"pay"}}`, req(qtags("team", "")), A},
		{"ForAllValues on an empty context value is true", `{"ForAllValues:StringEquals":{"kms:EncryptionContext:team":"pay"}}`, req(ec("team", "")), A},
		{"an empty value without qualifier is compared", `{"StringEquals":{"aws:RequestTag/team":""}}`, req(qtags("team", "")), A},

		// IfExists.
		{"StringEqualsIfExists on a missing key is true", `{"StringEqualsIfExists":{"kms:EncryptionContext:tenant":"blue"}}`, req(), A},
		{"StringEqualsIfExists checks a present key", `{"StringEqualsIfExists":{"kms:EncryptionContext:tenant":"blue"}}`, req(ec("tenant", "red")), N},
		{"StringLikeIfExists matches a present key", `{"StringLikeIfExists":{"kms:EncryptionContext:tenant":"b*"}}`, req(ec("tenant", "blue")), A},
		{"StringNotEqualsIfExists checks a present key", `{"StringNotEqualsIfExists":{"kms:EncryptionContext:tenant":"blue"}}`, req(ec("tenant", "blue")), N},
		{"NumericLessThanIfExists on a missing key is true", `{"NumericLessThanIfExists":{"kms:RotationPeriodInDays":"365"}}`, req(), A},
		{"DateGreaterThanIfExists on a missing key is true", `{"DateGreaterThanIfExists":{"kms:ValidTo":"2030-01-01T00:00:00Z"}}`, req(), A},
		{"BoolIfExists on a missing key is true", `{"BoolIfExists":{"kms:ReEncryptOnSameKey":"true"}}`, req(), A},
		{"IpAddressIfExists on a missing key is true", `{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`, req(noIP()), A},
		{"ArnLikeIfExists on a missing key is true", `{"ArnLikeIfExists":{"kms:GranteePrincipal":"arn:aws:iam::*:role/x"}}`, req(), A},
		{"BinaryEqualsIfExists on a missing key is true", `{"BinaryEqualsIfExists":{"x:blob":"AAE="}}`, req(), A},

		// Numeric operators.
		{"NumericEquals matches the number", `{"NumericEquals":{"kms:RotationPeriodInDays":"90"}}`, req(ctx(KeyRotationPeriodInDays, "90")), A},
		{"NumericEquals compares numbers, not text", `{"NumericEquals":{"kms:RotationPeriodInDays":"90.0"}}`, req(ctx(KeyRotationPeriodInDays, "90")), A},
		{"NumericEquals accepts a JSON number", `{"NumericEquals":{"kms:RotationPeriodInDays":90}}`, req(ctx(KeyRotationPeriodInDays, "90")), A},
		{"NumericNotEquals holds for another number", `{"NumericNotEquals":{"kms:RotationPeriodInDays":"90"}}`, req(ctx(KeyRotationPeriodInDays, "91")), A},
		{"NumericNotEquals fails for the number", `{"NumericNotEquals":{"kms:RotationPeriodInDays":["90","180"]}}`, req(ctx(KeyRotationPeriodInDays, "180")), N},
		{"NumericLessThan holds below", `{"NumericLessThan":{"kms:RotationPeriodInDays":"365"}}`, req(ctx(KeyRotationPeriodInDays, "364")), A},
		{"NumericLessThan fails at the bound", `{"NumericLessThan":{"kms:RotationPeriodInDays":"365"}}`, req(ctx(KeyRotationPeriodInDays, "365")), N},
		{"NumericLessThanEquals holds at the bound", `{"NumericLessThanEquals":{"kms:RotationPeriodInDays":"365"}}`, req(ctx(KeyRotationPeriodInDays, "365")), A},
		{"NumericGreaterThan holds above", `{"NumericGreaterThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"20"}}`, req(ctx(KeyScheduleKeyDeletionPendingDays, "30")), A},
		{"NumericGreaterThan fails at the bound", `{"NumericGreaterThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}`, req(ctx(KeyScheduleKeyDeletionPendingDays, "30")), N},
		{"NumericGreaterThanEquals holds at the bound", `{"NumericGreaterThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}`, req(ctx(KeyScheduleKeyDeletionPendingDays, "30")), A},
		{"Numeric operator on an unparseable request value is false", `{"NumericLessThan":{"kms:RotationPeriodInDays":"365"}}`, req(ctx(KeyRotationPeriodInDays, "soon")), N},
		{"NumericLessThan on a missing key is false", `{"NumericLessThan":{"kms:RotationPeriodInDays":"365"}}`, req(), N},

		// Date operators and time keys.
		{"DateLessThan on aws:CurrentTime before the date", `{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, req(), A},
		{"DateLessThan on aws:CurrentTime after the date", `{"DateLessThan":{"aws:CurrentTime":"2025-01-01T00:00:00Z"}}`, req(), N},
		{"DateGreaterThan accepts a date without time", `{"DateGreaterThan":{"aws:CurrentTime":"2025-05-31"}}`, req(), A},
		{"DateGreaterThanEquals at the same instant", `{"DateGreaterThanEquals":{"aws:CurrentTime":"2025-06-01T12:00:00Z"}}`, req(), A},
		{"DateLessThanEquals at the same instant in another zone", `{"DateLessThanEquals":{"aws:CurrentTime":"2025-06-01T14:00:00+02:00"}}`, req(), A},
		{"DateEquals matches the instant", `{"DateEquals":{"aws:CurrentTime":"2025-06-01T12:00:00Z"}}`, req(), A},
		{"DateNotEquals holds for another instant", `{"DateNotEquals":{"aws:CurrentTime":"2025-06-01T12:00:01Z"}}`, req(), A},
		{"Date operator accepts epoch seconds", `{"DateLessThan":{"aws:CurrentTime":"1767225600"}}`, req(), A},
		{"Date operator on aws:EpochTime", `{"DateGreaterThan":{"aws:EpochTime":"2025-01-01T00:00:00Z"}}`, req(), A},
		{"Numeric operator on aws:EpochTime", `{"NumericGreaterThan":{"aws:EpochTime":"1748779199"}}`, req(), A},
		{"Numeric operator on aws:EpochTime at the bound", `{"NumericGreaterThan":{"aws:EpochTime":"1748779200"}}`, req(), N},
		{"Date operator parses request values from the context", `{"DateLessThan":{"kms:ValidTo":"2030-01-01T00:00:00Z"}}`, req(ctx(KeyValidTo, "2029-12-31T23:59:59Z")), A},
		{"Date operator on aws:CurrentTime absent is false", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01"}}`, req(at("0001-01-01T00:00:00Z")), N},

		// Bool.
		{"Bool true on aws:SecureTransport over TLS", `{"Bool":{"aws:SecureTransport":"true"}}`, req(), A},
		{"Bool true on aws:SecureTransport over plain HTTP", `{"Bool":{"aws:SecureTransport":"true"}}`, req(plain()), N},
		{"Bool accepts a JSON boolean", `{"Bool":{"aws:SecureTransport":false}}`, req(plain()), A},
		{"Bool value is case-insensitive", `{"Bool":{"aws:SecureTransport":"TRUE"}}`, req(), A},
		{"Bool on kms:GrantIsForAWSResource", `{"Bool":{"kms:GrantIsForAWSResource":"true"}}`, req(ctx(KeyGrantIsForAWSResource, "true")), A},
		{"Bool on kms:ReEncryptOnSameKey false", `{"Bool":{"kms:ReEncryptOnSameKey":"false"}}`, req(ctx(KeyReEncryptOnSameKey, "true")), N},

		// BinaryEquals.
		{"BinaryEquals compares decoded bytes", `{"BinaryEquals":{"x:blob":"aGk="}}`, req(ctx("x:blob", "hi")), A},
		{"BinaryEquals fails on other bytes", `{"BinaryEquals":{"x:blob":"aGk="}}`, req(ctx("x:blob", "ho")), N},

		// IP addresses.
		{"IpAddress inside the CIDR", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, req(), A},
		{"IpAddress outside the CIDR", `{"IpAddress":{"aws:SourceIp":"198.51.100.0/24"}}`, req(), N},
		{"IpAddress single address means /32", `{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, req(), A},
		{"IpAddress IPv6 range", `{"IpAddress":{"aws:SourceIp":"2001:DB8:1234:5678::/64"}}`, req(ip("2001:db8:1234:5678::9")), A},
		{"IpAddress IPv4 range matches an IPv4-mapped IPv6 caller", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, req(ip("::ffff:203.0.113.9")), A},
		{"IpAddress list is an OR", `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.0/24"]}}`, req(), A},
		{"NotIpAddress outside the range holds", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req(), A},
		{"NotIpAddress inside the range fails", `{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.0/24"]}}`, req(), N},
		{"IpAddress without a source address is false", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, req(noIP()), N},

		// ARN operators.
		{"ArnEquals matches the exact ARN", `{"ArnEquals":{"aws:PrincipalArn":"` + aliceARN + `"}}`, req(), A},
		{"ArnLike wildcard within a segment", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}`, req(), A},
		{"ArnLike star does not span colons", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:alice"}}`, req(), N},
		{"StringLike star does span colons", `{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*/alice"}}`, req(), A},
		{"ArnEquals behaves like ArnLike", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::*:user/al*"}}`, req(), A},
		{"ArnNotLike holds for another ARN", `{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}}`, req(), A},
		{"ArnNotEquals fails for the ARN", `{"ArnNotEquals":{"aws:PrincipalArn":"` + aliceARN + `"}}`, req(), N},
		{"ArnLike on a value that is not an ARN is false", `{"ArnLike":{"kms:ViaService":"arn:aws:*:*:*:*"}}`, req(ctx(KeyViaService, "ec2.us-east-1.amazonaws.com")), N},
		{"ArnLike on kms:GranteePrincipal", `{"ArnLike":{"kms:GranteePrincipal":"arn:aws:iam::111122223333:role/*"}}`, req(ctx(KeyGranteePrincipal, roleARN)), A},

		// Null.
		{"Null true holds for a missing key", `{"Null":{"kms:EncryptionContextKeys":"true"}}`, req(), A},
		{"Null true fails for a present key", `{"Null":{"kms:EncryptionContextKeys":"true"}}`, req(ec("a", "b")), N},
		{"Null false holds for a present key", `{"Null":{"kms:EncryptionContextKeys":"false"}}`, req(ec("a", "b")), A},
		{"Null false fails for a missing key", `{"Null":{"aws:PrincipalTag/team":false}}`, req(), N},

		// Set qualifiers.
		{"ForAnyValue holds when one request value matches", `{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["tenant","app"]}}`, req(ec("tenant", "x", "other", "y")), A},
		{"ForAnyValue fails when no request value matches", `{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"tenant"}}`, req(ec("other", "y")), N},
		{"ForAnyValue on a missing key is false", `{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"tenant"}}`, req(), N},
		{"ForAllValues holds when every request value matches", `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["tenant","app"]}}`, req(ec("tenant", "x", "app", "y")), A},
		{"ForAllValues fails when one request value does not match", `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["tenant","app"]}}`, req(ec("tenant", "x", "other", "y")), N},
		{"ForAllValues on a missing key is true", `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"tenant"}}`, req(), A},
		{"ForAllValues with StringLike patterns", `{"ForAllValues:StringLike":{"aws:TagKeys":["team-*","cost*"]}}`, req(tagKeys("team-a", "costcenter")), A},
		{"ForAnyValue:StringNotEquals holds when some value matches none", `{"ForAnyValue:StringNotEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}}`, req(ctx(KeyGrantOperations, "Decrypt", "RetireGrant")), A},
		{"ForAnyValue:StringNotEquals fails when every value matches one", `{"ForAnyValue:StringNotEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}}`, req(ctx(KeyGrantOperations, "Decrypt", "Encrypt")), N},
		{"ForAnyValue:StringNotEquals on a missing key is false", `{"ForAnyValue:StringNotEquals":{"kms:GrantOperations":"Encrypt"}}`, req(), N},
		{"ForAllValues:StringNotEquals holds when no value matches", `{"ForAllValues:StringNotEquals":{"kms:GrantOperations":["CreateGrant","RetireGrant"]}}`, req(ctx(KeyGrantOperations, "Decrypt", "Encrypt")), A},
		{"ForAllValues:StringNotEquals fails when one value matches", `{"ForAllValues:StringNotEquals":{"kms:GrantOperations":["CreateGrant","RetireGrant"]}}`, req(ctx(KeyGrantOperations, "Decrypt", "CreateGrant")), N},
		{"ForAllValues:StringNotEquals on a missing key is true", `{"ForAllValues:StringNotEquals":{"kms:GrantOperations":"CreateGrant"}}`, req(), A},
		{"ForAnyValue:StringEqualsIfExists on a missing key is true", `{"ForAnyValue:StringEqualsIfExists":{"kms:ResourceAliases":"alias/app"}}`, req(), A},
		{"unqualified positive operator on a multivalued key matches any value", `{"StringEquals":{"kms:ResourceAliases":"alias/app"}}`, req(ctx(KeyResourceAliases, "alias/x", "alias/app")), A},
		{"unqualified negated operator on a multivalued key needs no value to match", `{"StringNotEquals":{"kms:ResourceAliases":"alias/app"}}`, req(ctx(KeyResourceAliases, "alias/x", "alias/app")), N},
		{"qualifiers are case-insensitive", `{"forallvalues:stringequals":{"kms:EncryptionContextKeys":"tenant"}}`, req(ec("tenant", "x")), A},

		// Several conditions: AND across operators and keys.
		{"two operators must both hold", `{"StringEquals":{"kms:EncryptionContext:tenant":"blue"},"Bool":{"aws:SecureTransport":"true"}}`, req(ec("tenant", "blue"), plain()), N},
		{"two keys under one operator must both hold", `{"StringEquals":{"kms:EncryptionContext:tenant":"blue","kms:CallerAccount":"111122223333"}}`, req(ec("tenant", "blue")), A},
		{"two keys under one operator, one fails", `{"StringEquals":{"kms:EncryptionContext:tenant":"blue","kms:CallerAccount":"444455556666"}}`, req(ec("tenant", "blue")), N},

		// Condition key names are case-insensitive.
		{"condition key name is case-insensitive", `{"StringEquals":{"AWS:principalarn":"` + aliceARN + `"}}`, req(), A},
		{"unknown key name is passed to the context as written", `{"StringEquals":{"example:Thing":"x"}}`, req(ctx("example:thing", "x")), A},
	}
}

// TestConditionKeys proves each condition key of the KMS and global sets,
// with its AWS type.
func TestConditionKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range keyCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, IdentityPolicy, allowIf(tc.cond))
			if got := p.Evaluate(tc.req).Decision; got != tc.want {
				t.Errorf("Evaluate = %v, want %v\ncondition: %s", got, tc.want, tc.cond)
			}
		})
	}
}

func keyCases() []condCase {
	A, N := Allowed, NotApplicable
	return []condCase{
		// kms:EncryptionContext:<key> (String; the context key matches ignoring case).
		{"kms:EncryptionContext key name ignores case", `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, req(ec("appname", "ExampleApp")), A},
		{"kms:EncryptionContext value case follows the operator", `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, req(ec("AppName", "exampleapp")), N},
		{"kms:EncryptionContext other pairs are permitted", `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, req(ec("AppName", "ExampleApp", "x", "y")), A},
		{"kms:EncryptionContext keys differing only by case all count", `{"StringEquals":{"kms:EncryptionContext:tenant":"blue"}}`, req(ec("Tenant", "red", "tenant", "blue")), A},
		{"kms:EncryptionContext keys differing only by case: negated needs none to match", `{"StringNotEquals":{"kms:EncryptionContext:tenant":"blue"}}`, req(ec("Tenant", "red", "tenant", "blue")), N},
		// kms:EncryptionContextKeys (ArrayOfString; values case-sensitive).
		{"kms:EncryptionContextKeys value is case-sensitive", `{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"AppName"}}`, req(ec("appname", "x")), N},
		{"kms:EncryptionContextKeys require exactly the allowed keys", `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"AppName"},"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, req(ec("AppName", "ExampleApp", "x", "y")), N},
		// kms:CallerAccount (String, from the principal).
		{"kms:CallerAccount is the caller's account", `{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, req(), A},
		{"kms:CallerAccount of another account", `{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, req(as(bobARN)), N},
		// Context-supplied kms keys (String).
		{"kms:RequestAlias matches the alias used", `{"StringEquals":{"kms:RequestAlias":"alias/app"}}`, req(ctx(KeyRequestAlias, "alias/app")), A},
		{"kms:RequestAlias absent when the key was named by id", `{"StringLike":{"kms:RequestAlias":"alias/*"}}`, req(), N},
		{"kms:ResourceAliases any alias of the key", `{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/finance-*"}}`, req(ctx(KeyResourceAliases, "alias/app", "alias/finance-2")), A},
		{"kms:KeySpec", `{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"}}`, req(ctx(KeyKeySpec, "SYMMETRIC_DEFAULT")), A},
		{"kms:KeySpec mismatch", `{"StringEquals":{"kms:KeySpec":"RSA_4096"}}`, req(ctx(KeyKeySpec, "SYMMETRIC_DEFAULT")), N},
		{"kms:KeyUsage", `{"StringEquals":{"kms:KeyUsage":"ENCRYPT_DECRYPT"}}`, req(ctx(KeyKeyUsage, "ENCRYPT_DECRYPT")), A},
		{"kms:KeyOrigin", `{"StringEquals":{"kms:KeyOrigin":"AWS_KMS"}}`, req(ctx(KeyKeyOrigin, "EXTERNAL")), N},
		{"kms:EncryptionAlgorithm", `{"StringEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}`, req(ctx(KeyEncryptionAlgorithm, "SYMMETRIC_DEFAULT")), A},
		{"kms:GrantOperations ForAllValues allows a subset", `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt","GenerateDataKey"]}}`, req(ctx(KeyGrantOperations, "Decrypt")), A},
		{"kms:GranteePrincipal", `{"StringEquals":{"kms:GranteePrincipal":"` + roleARN + `"}}`, req(ctx(KeyGranteePrincipal, roleARN)), A},
		{"kms:RetiringPrincipal", `{"StringLike":{"kms:RetiringPrincipal":"arn:aws:iam::111122223333:role/*"}}`, req(ctx(KeyRetiringPrincipal, "arn:aws:iam::444455556666:role/x")), N},
		{"kms:GrantConstraintType", `{"StringEquals":{"kms:GrantConstraintType":"EncryptionContextSubset"}}`, req(ctx(KeyGrantConstraintType, "EncryptionContextSubset")), A},
		{"kms:GrantIsForAWSResource (Bool)", `{"Bool":{"kms:GrantIsForAWSResource":true}}`, req(ctx(KeyGrantIsForAWSResource, "false")), N},
		{"kms:ViaService", `{"StringEquals":{"kms:ViaService":["ec2.us-east-1.amazonaws.com","rds.us-east-1.amazonaws.com"]}}`, req(ctx(KeyViaService, "rds.us-east-1.amazonaws.com")), A},
		{"kms:ViaService absent for a direct call", `{"StringLike":{"kms:ViaService":"*.amazonaws.com"}}`, req(), N},
		{"kms:RotationPeriodInDays (Numeric)", `{"NumericLessThanEquals":{"kms:RotationPeriodInDays":"180"}}`, req(ctx(KeyRotationPeriodInDays, "365")), N},
		{"kms:ScheduleKeyDeletionPendingWindowInDays (Numeric)", `{"NumericGreaterThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"21"}}`, req(ctx(KeyScheduleKeyDeletionPendingDays, "30")), A},
		{"kms:ReEncryptOnSameKey (Bool)", `{"Bool":{"kms:ReEncryptOnSameKey":"true"}}`, req(ctx(KeyReEncryptOnSameKey, "true")), A},
		{"kms:DataKeyPairSpec", `{"StringLike":{"kms:DataKeyPairSpec":"ECC_*"}}`, req(ctx(KeyDataKeyPairSpec, "ECC_NIST_P256")), A},
		{"kms:MessageType", `{"StringEquals":{"kms:MessageType":"DIGEST"}}`, req(ctx(KeyMessageType, "RAW")), N},
		{"kms:SigningAlgorithm", `{"StringLike":{"kms:SigningAlgorithm":"RSASSA_PSS_*"}}`, req(ctx(KeySigningAlgorithm, "RSASSA_PSS_SHA_256")), A},
		{"kms:MacAlgorithm", `{"StringEquals":{"kms:MacAlgorithm":"HMAC_SHA_512"}}`, req(ctx(KeyMacAlgorithm, "HMAC_SHA_512")), A},
		{"kms:BypassPolicyLockoutSafetyCheck (Bool)", `{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":true}}`, req(ctx(KeyBypassPolicyLockoutSafetyCheck, "true")), A},

		// Global keys supplied from the request.
		{"aws:PrincipalArn of a user", `{"ArnEquals":{"aws:PrincipalArn":"` + aliceARN + `"}}`, req(), A},
		{"aws:PrincipalArn of a session is its role", `{"ArnEquals":{"aws:PrincipalArn":"` + roleARN + `"}}`, req(asSession(sessARN, roleARN)), A},
		{"aws:PrincipalAccount", `{"StringEquals":{"aws:PrincipalAccount":"444455556666"}}`, req(as(bobARN)), A},
		{"aws:PrincipalType User", `{"StringEquals":{"aws:PrincipalType":"User"}}`, req(), A},
		{"aws:PrincipalType AssumedRole", `{"StringEquals":{"aws:PrincipalType":"AssumedRole"}}`, req(asSession(sessARN, roleARN)), A},
		{"aws:PrincipalType Account for the root user", `{"StringEquals":{"aws:PrincipalType":"Account"}}`, req(as(rootARN)), A},
		{"aws:PrincipalTag matches the tag value", `{"StringEquals":{"aws:PrincipalTag/team":"payments"}}`, req(ptags("team", "payments")), A},
		{"aws:PrincipalTag key ignores case", `{"StringEquals":{"aws:PrincipalTag/TEAM":"payments"}}`, req(ptags("team", "payments")), A},
		{"aws:PrincipalTag missing tag is false", `{"StringEquals":{"aws:PrincipalTag/team":"payments"}}`, req(), N},
		{"aws:ResourceTag", `{"StringEquals":{"aws:ResourceTag/env":"prod"}}`, req(rtags("env", "prod")), A},
		{"aws:ResourceTag key ignores case", `{"StringEquals":{"aws:ResourceTag/Env":"prod"}}`, req(rtags("env", "prod")), A},
		{"aws:ResourceTag value is case-sensitive with StringEquals", `{"StringEquals":{"aws:ResourceTag/env":"prod"}}`, req(rtags("env", "Prod")), N},
		{"aws:ResourceTag other value", `{"StringEquals":{"aws:ResourceTag/env":"prod"}}`, req(rtags("env", "dev")), N},
		{"aws:RequestTag", `{"StringEquals":{"aws:RequestTag/env":"prod"}}`, req(qtags("env", "prod")), A},
		{"aws:TagKeys ForAllValues limits the tag keys", `{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}`, req(qtags("env", "prod", "owner", "x")), N},
		{"aws:SourceIp", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/28"}}`, req(), A},
		{"aws:CurrentTime", `{"DateGreaterThan":{"aws:CurrentTime":"2025-06-01T11:59:59Z"}}`, req(), A},
		{"aws:EpochTime", `{"NumericLessThan":{"aws:EpochTime":"1748779201"}}`, req(), A},
		{"aws:SecureTransport", `{"Bool":{"aws:SecureTransport":"false"}}`, req(), N},
		{"aws:username of a user", `{"StringEquals":{"aws:username":"alice"}}`, req(), A},
		{"aws:username is absent for a session", `{"StringEquals":{"aws:username":"Admin"}}`, req(asSession(sessARN, roleARN)), N},
		{"aws:userid of a user", `{"StringEquals":{"aws:userid":"AIDAALICE"}}`, req(), A},
		{"aws:userid of a session", `{"StringLike":{"aws:userid":"AROAADMIN:*"}}`, req(asSession(sessARN, roleARN)), A},
		{"aws:RequestedRegion", `{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}`, req(), N},

		// Policy variables.
		{"variable in a condition value", `{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`, req(ec("user", "alice")), A},
		{"variable in a condition value mismatch", `{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`, req(ec("user", "bob")), N},
		{"variable inside a StringLike pattern", `{"StringLike":{"kms:EncryptionContext:path":"home/${aws:username}/*"}}`, req(ec("path", "home/alice/x")), A},
		{"variable value is matched literally, not as a pattern", `{"StringLike":{"kms:EncryptionContext:path":"${aws:PrincipalTag/prefix}"}}`, req(ec("path", "abc"), ptags("prefix", "a*")), N},
		{"variable with no value does not match", `{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`, req(asSession(sessARN, roleARN), ec("user", "")), N},
		{"variable with no value makes a negated operator hold", `{"StringNotEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`, req(asSession(sessARN, roleARN), ec("user", "Admin")), A},
		{"variable default value", `{"StringEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/team, 'none'}"}}`, req(ec("team", "none")), A},
		{"variable of a principal tag", `{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}`, req(ptags("team", "pay"), rtags("team", "pay")), A},
		{"special variable ${*} is a literal star", `{"StringLike":{"kms:EncryptionContext:k":"a${*}"}}`, req(ec("k", "a*")), A},
		{"special variable ${*} does not act as a wildcard", `{"StringLike":{"kms:EncryptionContext:k":"a${*}"}}`, req(ec("k", "abc")), N},
		{"special variables ${?} and ${$}", `{"StringEquals":{"kms:EncryptionContext:k":"${?}${$}"}}`, req(ec("k", "?$")), A},
		{"variable aws:EpochTime is epoch seconds", `{"StringEquals":{"kms:EncryptionContext:t":"${aws:EpochTime}"}}`, req(ec("t", "1748779200")), A},
		{"variable aws:CurrentTime", `{"StringEquals":{"kms:EncryptionContext:t":"${aws:CurrentTime}"}}`, req(ec("t", "2025-06-01T12:00:00Z")), A},
		{"variable in an ARN condition", `{"ArnLike":{"kms:GranteePrincipal":"arn:aws:iam::111122223333:user/${aws:username}"}}`, req(ctx(KeyGranteePrincipal, aliceARN)), A},
		{"variable in the account of an ARN condition", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::${aws:PrincipalAccount}:user/*"}}`, req(), A},
		{"variable in the account of a negated ARN condition", `{"ArnNotLike":{"kms:GranteePrincipal":"arn:aws:iam::${aws:PrincipalAccount}:*"}}`, req(ctx(KeyGranteePrincipal, aliceARN)), N},
		{"variable in the account of a negated ARN condition, another account", `{"ArnNotLike":{"kms:GranteePrincipal":"arn:aws:iam::${aws:PrincipalAccount}:*"}}`, req(ctx(KeyGranteePrincipal, bobARN)), A},
		{"variable in every part of an ARN condition", `{"ArnEquals":{"kms:GranteePrincipal":"arn:${aws:PrincipalTag/p}:iam::${aws:PrincipalAccount}:user/${aws:username}"}}`, req(ptags("p", "aws"), ctx(KeyGranteePrincipal, aliceARN)), A},
	}
}

func TestVariablesNeedVersion2012(t *testing.T) {
	d := `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}}}`
	p := mustParse(t, IdentityPolicy, d)
	if got := p.Evaluate(req(ec("user", "alice"))).Decision; got != NotApplicable {
		t.Errorf("2008-10-17 variable resolved: %v", got)
	}
	if got := p.Evaluate(req(ec("user", "${aws:username}"))).Decision; got != Allowed {
		t.Errorf("2008-10-17 variable not literal: %v", got)
	}
}

func TestResourceVariables(t *testing.T) {
	for _, tc := range []struct {
		name, resource, req string
		want                Decision
	}{
		{"variable in the resource part", "arn:aws:kms:us-east-1:111122223333:alias/${aws:username}", "arn:aws:kms:us-east-1:111122223333:alias/alice", Allowed},
		{"variable resolves to another name", "arn:aws:kms:us-east-1:111122223333:alias/${aws:username}", "arn:aws:kms:us-east-1:111122223333:alias/bob", NotApplicable},
		{"variable before the resource part stays literal", "arn:aws:kms:${aws:RequestedRegion}:111122223333:key/*", keyARN, NotApplicable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"`+tc.resource+`"}`))
			if got := p.Evaluate(req(resource(tc.req))).Decision; got != tc.want {
				t.Errorf("Evaluate = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTagMap(t *testing.T) {
	m := TagMap{"Team": "a", "TEAM": "b", "env": "prod"}
	for i := 0; i < 20; i++ { // map order varies: the answer must not
		if v, ok := m.Get("team"); !ok || v != "b" {
			t.Fatalf("Get(team) = %q, %v, want the smallest matching key's value (TEAM=b)", v, ok)
		}
	}
	if v, ok := m.Get("Team"); !ok || v != "a" {
		t.Errorf("Get(Team) = %q, %v, want the exact key's value", v, ok)
	}
	if _, ok := m.Get("owner"); ok {
		t.Errorf("Get(owner) found a tag")
	}
}
