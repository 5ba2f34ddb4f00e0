package e2e

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestMultiRegionKeys drives multi-Region keys through the AWS SDK with one
// client per Region against one server: a symmetric and a signing primary,
// their replicas, ciphertexts and signatures of one Region used in the
// other, rotation set on the primary reaching the replica, and
// UpdatePrimaryRegion.
func TestMultiRegionKeys(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	east := s.dev()
	const west = "eu-west-1"
	wc := s.client(west, devAccessKey, devSecretKey)

	ck, err := east.CreateKey(ctx(t), &kms.CreateKeyInput{MultiRegion: aws.Bool(true), Description: aws.String("mrk e2e")})
	must(t, err)
	id := aws.ToString(ck.KeyMetadata.KeyId)
	if !strings.HasPrefix(id, "mrk-") || !aws.ToBool(ck.KeyMetadata.MultiRegion) ||
		ck.KeyMetadata.MultiRegionConfiguration.MultiRegionKeyType != types.MultiRegionKeyTypePrimary {
		t.Fatalf("CreateKey(MultiRegion): id %s, %+v", id, ck.KeyMetadata.MultiRegionConfiguration)
	}
	rk, err := east.ReplicateKey(ctx(t), &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String(west),
		Tags: []types.Tag{{TagKey: aws.String("site"), TagValue: aws.String("dublin")}}})
	must(t, err)
	westARN := keyARN(west, devAccount, id)
	if aws.ToString(rk.ReplicaKeyMetadata.Arn) != westARN || rk.ReplicaKeyMetadata.KeyState != types.KeyStateCreating ||
		len(rk.ReplicaTags) != 1 || aws.ToString(rk.ReplicaPolicy) == "" {
		t.Fatalf("ReplicateKey = %+v", rk)
	}
	dk, err := east.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(id)})
	must(t, err)
	if rs := dk.KeyMetadata.MultiRegionConfiguration.ReplicaKeys; len(rs) != 1 || aws.ToString(rs[0].Arn) != westARN || aws.ToString(rs[0].Region) != west {
		t.Errorf("the primary's ReplicaKeys = %+v", rs)
	}

	// Envelope encryption across Regions: a data key made in one decrypts in the other.
	ec := map[string]string{"app": "mrk"}
	gd, err := east.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	must(t, err)
	dec, err := wc.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: gd.CiphertextBlob, EncryptionContext: ec})
	must(t, err)
	if string(dec.Plaintext) != string(gd.Plaintext) || aws.ToString(dec.KeyId) != westARN {
		t.Errorf("Decrypt in %s: key %s, same plaintext %v", west, aws.ToString(dec.KeyId), string(dec.Plaintext) == string(gd.Plaintext))
	}

	// Rotation is the primary's, and reaches the replica.
	_, err = wc.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	wantMessage(t, err, "UnsupportedOperationException", westARN+" is not a multi-region primary key.")
	_, err = east.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	must(t, err)
	enc, err := wc.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(westARN), Plaintext: []byte("after rotation")})
	must(t, err)
	back, err := east.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	must(t, err)
	if string(back.Plaintext) != "after rotation" {
		t.Errorf("Decrypt in us-east-1 of a us-west ciphertext = %q", back.Plaintext)
	}
	lr, err := wc.ListKeyRotations(ctx(t), &kms.ListKeyRotationsInput{KeyId: aws.String(id)})
	must(t, err)
	if len(lr.Rotations) != 1 || lr.Rotations[0].RotationType != types.RotationTypeOnDemand {
		t.Errorf("the replica's rotations = %+v", lr.Rotations)
	}

	// A signing key: a signature made in one Region verifies in the other,
	// and both give the same public key.
	sk, err := east.CreateKey(ctx(t), &kms.CreateKeyInput{MultiRegion: aws.Bool(true), KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	must(t, err)
	sid := sk.KeyMetadata.KeyId
	_, err = east.ReplicateKey(ctx(t), &kms.ReplicateKeyInput{KeyId: sid, ReplicaRegion: aws.String(west)})
	must(t, err)
	sig, err := wc.Sign(ctx(t), &kms.SignInput{KeyId: sid, Message: []byte("signed in the west"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	must(t, err)
	pub, err := east.GetPublicKey(ctx(t), &kms.GetPublicKeyInput{KeyId: sid})
	must(t, err)
	pk, err := x509.ParsePKIXPublicKey(pub.PublicKey)
	must(t, err)
	digest := sha256.Sum256([]byte("signed in the west"))
	if !ecdsa.VerifyASN1(pk.(*ecdsa.PublicKey), digest[:], sig.Signature) {
		t.Error("the west replica's signature does not verify with the primary's public key (Go's crypto)")
	}

	// UpdatePrimaryRegion swaps the roles.
	_, err = east.UpdatePrimaryRegion(ctx(t), &kms.UpdatePrimaryRegionInput{KeyId: aws.String(id), PrimaryRegion: aws.String(west)})
	must(t, err)
	wd, err := wc.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(id)})
	must(t, err)
	if c := wd.KeyMetadata.MultiRegionConfiguration; c.MultiRegionKeyType != types.MultiRegionKeyTypePrimary || aws.ToString(c.PrimaryKey.Region) != west {
		t.Errorf("after UpdatePrimaryRegion the west key is %+v", c)
	}
	_, err = east.ReplicateKey(ctx(t), &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String("ap-south-1")})
	wantMessage(t, err, "UnsupportedOperationException", keyARN(devRegion, devAccount, id)+" is not a multi-region primary key.")

	// A primary with a replica waits for it before its own deletion.
	sd, err := wc.ScheduleKeyDeletion(ctx(t), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	must(t, err)
	if sd.KeyState != types.KeyStatePendingReplicaDeletion || sd.DeletionDate != nil {
		t.Errorf("ScheduleKeyDeletion of the primary = %s, %v", sd.KeyState, sd.DeletionDate)
	}
}

// importMaterial wraps material under fresh import parameters of the key id
// (RSAES_OAEP_SHA_256, with Go's crypto) and imports it, never expiring,
// with in's other members (ImportType, KeyMaterialDescription).
func importMaterial(t *testing.T, c *kms.Client, id string, material []byte, in kms.ImportKeyMaterialInput) error {
	t.Helper()
	return importVia(t, c, c, id, material, in)
}

// importVia is importMaterial with the parameters from client get and the
// import through client put (another node).
func importVia(t *testing.T, get, put *kms.Client, id string, material []byte, in kms.ImportKeyMaterialInput) error {
	t.Helper()
	p, err := get.GetParametersForImport(ctx(t), &kms.GetParametersForImportInput{KeyId: aws.String(id),
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	must(t, err)
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	must(t, err)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	must(t, err)
	in.KeyId, in.ImportToken, in.EncryptedKeyMaterial = aws.String(id), p.ImportToken, wrapped
	in.ExpirationModel = types.ExpirationModelTypeKeyMaterialDoesNotExpire
	_, err = put.ImportKeyMaterial(ctx(t), &in)
	return err
}

// TestMultiRegionImported: a multi-Region key with imported material; the
// replica imports the primary's material itself (wrapped with Go's crypto).
func TestMultiRegionImported(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	east := s.dev()
	const west = "eu-west-1"
	wc := s.client(west, devAccessKey, devSecretKey)
	material := make([]byte, 32)
	rand.Read(material)
	importInto := func(c *kms.Client, id string, m []byte) error {
		return importMaterial(t, c, id, m, kms.ImportKeyMaterialInput{})
	}

	ck, err := east.CreateKey(ctx(t), &kms.CreateKeyInput{MultiRegion: aws.Bool(true), Origin: types.OriginTypeExternal})
	must(t, err)
	id := aws.ToString(ck.KeyMetadata.KeyId)
	must(t, importInto(east, id, material))
	rk, err := east.ReplicateKey(ctx(t), &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String(west)})
	must(t, err)
	if rk.ReplicaKeyMetadata.KeyState != types.KeyStateCreating {
		t.Fatalf("ReplicateKey of an imported key: %s, want Creating", rk.ReplicaKeyMetadata.KeyState)
	}
	dk, err := wc.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(id)})
	must(t, err)
	if dk.KeyMetadata.KeyState != types.KeyStatePendingImport {
		t.Fatalf("replica of an imported key: %s, want PendingImport", dk.KeyMetadata.KeyState)
	}
	other := make([]byte, 32)
	rand.Read(other)
	wantCode(t, importInto(wc, id, other), "IncorrectKeyMaterialException")
	must(t, importInto(wc, id, material))
	enc, err := east.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("imported, replicated")})
	must(t, err)
	dec, err := wc.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	must(t, err)
	if string(dec.Plaintext) != "imported, replicated" {
		t.Errorf("Decrypt in %s = %q", west, dec.Plaintext)
	}
}

// TestMultiRegionImportTypeAndDescription: through the AWS SDK, the first
// import into a multi-Region primary may name ImportType NEW_KEY_MATERIAL
// (AWS's default for a key never imported into), the replica imports the
// same material as EXISTING_KEY_MATERIAL, each key lists its own
// KeyMaterialDescription in ListKeyRotations, and a KeyMaterialId that is
// not lower-case hex is a ValidationException.
func TestMultiRegionImportTypeAndDescription(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	east := s.dev()
	const west = "eu-west-1"
	wc := s.client(west, devAccessKey, devSecretKey)
	material := make([]byte, 32)
	rand.Read(material)
	importInto := func(c *kms.Client, id string, importType types.ImportType, desc string) error {
		return importMaterial(t, c, id, material, kms.ImportKeyMaterialInput{ImportType: importType, KeyMaterialDescription: aws.String(desc)})
	}
	description := func(c *kms.Client, id string) string {
		lr, err := c.ListKeyRotations(ctx(t), &kms.ListKeyRotationsInput{KeyId: aws.String(id), IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
		must(t, err)
		if len(lr.Rotations) != 1 {
			t.Fatalf("ListKeyRotations = %+v, want one material", lr.Rotations)
		}
		return aws.ToString(lr.Rotations[0].KeyMaterialDescription)
	}

	ck, err := east.CreateKey(ctx(t), &kms.CreateKeyInput{MultiRegion: aws.Bool(true), Origin: types.OriginTypeExternal})
	must(t, err)
	id := aws.ToString(ck.KeyMetadata.KeyId)
	must(t, importInto(east, id, types.ImportTypeNewKeyMaterial, "from HSM A"))
	_, err = east.ReplicateKey(ctx(t), &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String(west)})
	must(t, err)
	must(t, importInto(wc, id, types.ImportTypeExistingKeyMaterial, "west copy"))
	if got := description(east, id); got != "from HSM A" {
		t.Errorf("KeyMaterialDescription of the primary's material = %q", got)
	}
	if got := description(wc, id); got != "west copy" {
		t.Errorf("KeyMaterialDescription of the replica's material = %q", got)
	}
	_, err = east.DeleteImportedKeyMaterial(ctx(t), &kms.DeleteImportedKeyMaterialInput{KeyId: aws.String(id),
		KeyMaterialId: aws.String(strings.Repeat("AB", 32))})
	wantCode(t, err, "ValidationException")
}
