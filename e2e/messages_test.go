package e2e

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestErrorMessages checks the exact messages AWS sends for the errors whose
// text was recorded from AWS (reference Appendix A, LocalStack's AWS-validated
// snapshots): SDK users and tools match on them.
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	id := aws.ToString(newKey(t, c, "messages").KeyId)
	other := aws.ToString(newKey(t, c, "messages other").KeyId)
	arn := keyARN(devRegion, devAccount, id)
	blob := roundTrip(t, c, id, []byte("m"), nil)

	missing := "11111111-2222-3333-4444-555555555555"
	_, err := c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(missing)})
	wantMessage(t, err, "NotFoundException", fmt.Sprintf("Key '%s' does not exist", keyARN(devRegion, devAccount, missing)))
	_, err = c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("fake-key-id")})
	wantMessage(t, err, "NotFoundException", "Invalid keyId 'fake-key-id'")

	_, err = c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("no-prefix"), TargetKeyId: aws.String(id)})
	wantMessage(t, err, "ValidationException", `Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html`)
	_, err = c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/msg"), TargetKeyId: aws.String(id)})
	must(t, err)
	_, err = c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/msg"), TargetKeyId: aws.String(id)})
	wantMessage(t, err, "AlreadyExistsException", fmt.Sprintf("An alias with the name %s already exists", aliasARN(devRegion, devAccount, "alias/msg")))
	_, err = c.DeleteAlias(ctx(t), &kms.DeleteAliasInput{AliasName: aws.String("alias/nothing")})
	wantMessage(t, err, "NotFoundException", fmt.Sprintf("Alias %s is not found.", aliasARN(devRegion, devAccount, "alias/nothing")))

	_, err = c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1025)})
	wantMessage(t, err, "ValidationException", "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024")
	_, err = c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(0)})
	wantMessage(t, err, "ValidationException", "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1")
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: make([]byte, 4097)})
	wantMessage(t, err, "ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096")

	tag := func(kv ...string) error {
		var tags []types.Tag
		for i := 0; i < len(kv); i += 2 {
			tags = append(tags, types.Tag{TagKey: aws.String(kv[i]), TagValue: aws.String(kv[i+1])})
		}
		_, err := c.TagResource(ctx(t), &kms.TagResourceInput{KeyId: aws.String(id), Tags: tags})
		return err
	}
	wantMessage(t, tag("a", "1", "a", "2"), "TagException", "Duplicate tag keys")
	wantMessage(t, tag("aws:x", "1"), "TagException", "Tags beginning with aws: are reserved")
	var many []string
	for i := range 51 {
		many = append(many, fmt.Sprint("k", i), "v")
	}
	wantMessage(t, tag(many...), "TagException", "Too many tags")

	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("m"), DryRun: aws.Bool(true)})
	wantMessage(t, err, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String(other)})
	wantMessage(t, err, "IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
	bad := append([]byte(nil), blob...)
	bad[len(bad)-1] ^= 1
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: bad})
	wantMessage(t, err, "InvalidCiphertextException", "")

	// Recorded from AWS (LocalStack's snapshots): a KeyId that is not the
	// blob's key is IncorrectKeyException even when it is an HMAC key, which
	// could not decrypt anyway; the key match comes before the key usage.
	hmac, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{KeySpec: types.KeySpecHmac224, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	must(t, err)
	hmacID := hmac.KeyMetadata.KeyId
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob, KeyId: hmacID})
	wantMessage(t, err, "IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
	_, err = c.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: blob, SourceKeyId: hmacID, DestinationKeyId: aws.String(id)})
	wantMessage(t, err, "IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
	_, err = c.GenerateMac(ctx(t), &kms.GenerateMacInput{KeyId: hmacID, Message: []byte("m"), MacAlgorithm: "INVALID"})
	wantMessage(t, err, "ValidationException", "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]")
	// No message at all for these two.
	rsa, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	must(t, err)
	_, err = c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: rsa.KeyMetadata.KeyId})
	wantMessage(t, err, "UnsupportedOperationException", "")
	ecdh, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeKeyAgreement})
	must(t, err)
	_, err = c.DeriveSharedSecret(ctx(t), &kms.DeriveSharedSecretInput{KeyId: ecdh.KeyMetadata.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh,
		PublicKey: []byte("InvalidPublicKey")})
	wantMessage(t, err, "ValidationException", "UnknownError") // the Go SDK's word for an error without a message
	// ReEncrypt's messages name the operation, not its IAM actions
	// (LocalStack's test notes AWS's "ReEncrypt" against its "ReEncryptTo").
	_, err = c.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: ecdh.KeyMetadata.KeyId})
	wantMessage(t, err, "InvalidKeyUsageException", aws.ToString(ecdh.KeyMetadata.Arn)+" key usage is KEY_AGREEMENT which is not valid for ReEncrypt.")

	for range 25 {
		_, err = c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(other)})
		must(t, err)
	}
	_, err = c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(other)})
	wantMessage(t, err, "LimitExceededException", "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: "+keyARN(devRegion, devAccount, other))

	_, err = c.DisableKey(ctx(t), &kms.DisableKeyInput{KeyId: aws.String(id)})
	must(t, err)
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("m")})
	wantMessage(t, err, "DisabledException", arn+" is disabled.")
	_, err = c.CancelKeyDeletion(ctx(t), &kms.CancelKeyDeletionInput{KeyId: aws.String(id)})
	wantMessage(t, err, "KMSInvalidStateException", arn+" is not pending deletion.")
	_, err = c.ScheduleKeyDeletion(ctx(t), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	must(t, err)
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("m")})
	wantMessage(t, err, "KMSInvalidStateException", arn+" is pending deletion.")
}
