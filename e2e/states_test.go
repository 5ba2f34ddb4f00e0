package e2e

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestPendingDeletionMatrix follows AWS's key-state table for a key pending
// deletion: management ops fail with KMSInvalidStateException, read-only ops
// and DeleteAlias work, rotation status reads false and comes back on cancel.
func TestPendingDeletionMatrix(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	id := aws.ToString(newKey(t, c, "matrix").KeyId)
	live := aws.ToString(newKey(t, c, "live").KeyId)
	for _, a := range []string{"alias/matrix-a", "alias/matrix-b"} {
		_, err := c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String(a), TargetKeyId: aws.String(id)})
		must(t, err)
	}
	_, err := c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/matrix-live"), TargetKeyId: aws.String(live)})
	must(t, err)
	_, err = c.EnableKeyRotation(ctx(t), &kms.EnableKeyRotationInput{KeyId: aws.String(id)})
	must(t, err)
	_, err = c.ScheduleKeyDeletion(ctx(t), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	must(t, err)

	invalid := map[string]func() error{
		"DisableKey": func() error {
			_, err := c.DisableKey(ctx(t), &kms.DisableKeyInput{KeyId: aws.String(id)})
			return err
		},
		"UpdateKeyDescription": func() error {
			_, err := c.UpdateKeyDescription(ctx(t), &kms.UpdateKeyDescriptionInput{KeyId: aws.String(id), Description: aws.String("x")})
			return err
		},
		"TagResource": func() error {
			_, err := c.TagResource(ctx(t), &kms.TagResourceInput{KeyId: aws.String(id), Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}})
			return err
		},
		"UntagResource": func() error {
			_, err := c.UntagResource(ctx(t), &kms.UntagResourceInput{KeyId: aws.String(id), TagKeys: []string{"a"}})
			return err
		},
		"UpdateAlias to it": func() error {
			_, err := c.UpdateAlias(ctx(t), &kms.UpdateAliasInput{AliasName: aws.String("alias/matrix-live"), TargetKeyId: aws.String(id)})
			return err
		},
		"EnableKeyRotation": func() error {
			_, err := c.EnableKeyRotation(ctx(t), &kms.EnableKeyRotationInput{KeyId: aws.String(id)})
			return err
		},
		"RotateKeyOnDemand": func() error {
			_, err := c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
			return err
		},
		"GenerateDataKey": func() error {
			_, err := c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
			return err
		},
		"ReEncrypt to it": func() error {
			blob := roundTrip(t, c, live, []byte("x"), nil)
			_, err := c.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: aws.String(id)})
			return err
		},
	}
	for name, call := range invalid {
		err := call()
		if err == nil {
			t.Errorf("%s on a key pending deletion succeeded", name)
			continue
		}
		t.Run(name, func(t *testing.T) { wantType[*types.KMSInvalidStateException](t, err) })
	}

	// Allowed in every state.
	for name, call := range map[string]func() error{
		"DescribeKey": func() error {
			_, err := c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(id)})
			return err
		},
		"GetKeyPolicy": func() error {
			_, err := c.GetKeyPolicy(ctx(t), &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
			return err
		},
		"PutKeyPolicy": func() error {
			_, err := c.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(customPolicy(devAccount, "pending"))})
			return err
		},
		"ListKeyPolicies": func() error {
			_, err := c.ListKeyPolicies(ctx(t), &kms.ListKeyPoliciesInput{KeyId: aws.String(id)})
			return err
		},
		"ListResourceTags": func() error {
			_, err := c.ListResourceTags(ctx(t), &kms.ListResourceTagsInput{KeyId: aws.String(id)})
			return err
		},
		"ListAliases": func() error {
			_, err := c.ListAliases(ctx(t), &kms.ListAliasesInput{KeyId: aws.String(id)})
			return err
		},
		"DeleteAlias": func() error {
			_, err := c.DeleteAlias(ctx(t), &kms.DeleteAliasInput{AliasName: aws.String("alias/matrix-a")})
			return err
		},
		"UpdateAlias away from it": func() error {
			_, err := c.UpdateAlias(ctx(t), &kms.UpdateAliasInput{AliasName: aws.String("alias/matrix-b"), TargetKeyId: aws.String(live)})
			return err
		},
	} {
		if err := call(); err != nil {
			t.Errorf("%s on a key pending deletion: %v", name, err)
		}
	}

	if st := rotationStatus(t, c, id); st.KeyRotationEnabled {
		t.Error("GetKeyRotationStatus of a key pending deletion says enabled (AWS: false)")
	}
	_, err = c.CancelKeyDeletion(ctx(t), &kms.CancelKeyDeletionInput{KeyId: aws.String(id)})
	must(t, err)
	if st := rotationStatus(t, c, id); !st.KeyRotationEnabled {
		t.Error("rotation status not restored by CancelKeyDeletion")
	}
}

// TestCreateKeyValidation covers CreateKey's validation and the limits of
// this version documented in docs/api-coverage.md.
func TestCreateKeyValidation(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	for name, in := range map[string]*kms.CreateKeyInput{
		"SM2":             {KeySpec: types.KeySpecSm2, KeyUsage: types.KeyUsageTypeSignVerify},
		"EXTERNAL ML-DSA": {KeySpec: types.KeySpecMlDsa44, KeyUsage: types.KeyUsageTypeSignVerify, Origin: types.OriginTypeExternal},
	} {
		_, err := c.CreateKey(ctx(t), in)
		if err == nil {
			t.Errorf("CreateKey %s succeeded; docs/api-coverage.md says it is not supported", name)
			continue
		}
		t.Run(name, func(t *testing.T) { wantCode(t, err, "UnsupportedOperationException") })
	}
	_, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{KeyUsage: "RANDOM"})
	wantMessage(t, err, "ValidationException", "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]")
	_, err = c.CreateKey(ctx(t), &kms.CreateKeyInput{Description: aws.String(strings.Repeat("d", 8193))})
	wantCode(t, err, "ValidationException")
	md, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{Description: aws.String(strings.Repeat("d", 8192)), KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	must(t, err)
	id := aws.ToString(md.KeyMetadata.KeyId)

	// Key policy lockout safety check.
	other := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"kms:*","Resource":"*"}]}`
	_, err = c.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(other)})
	wantType[*types.MalformedPolicyDocumentException](t, err)
	// Over 131072 characters.
	huge := `{"Version":"2012-10-17","Statement":[{"Sid":"` + strings.Repeat("s", 131072) + `","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	_, err = c.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(huge)})
	wantCodeIn(t, err, "LimitExceededException", "ValidationException")
	// With the bypass, the policy is accepted, and enforced: the account is
	// locked out of this key.
	locked, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	_, err = c.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: locked.KeyMetadata.KeyId, Policy: aws.String(other), BypassPolicyLockoutSafetyCheck: true})
	must(t, err)
	_, err = c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: locked.KeyMetadata.KeyId})
	wantCode(t, err, "AccessDeniedException")

	// Ops that take a key id or ARN only refuse an alias.
	_, err = c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/only-ids"), TargetKeyId: aws.String(id)})
	must(t, err)
	if _, err := c.EnableKeyRotation(ctx(t), &kms.EnableKeyRotationInput{KeyId: aws.String("alias/only-ids")}); err == nil {
		t.Error("EnableKeyRotation accepted an alias name")
	}
	if _, err := c.TagResource(ctx(t), &kms.TagResourceInput{KeyId: aws.String("alias/only-ids"), Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}}); err == nil {
		t.Error("TagResource accepted an alias name")
	}
}
