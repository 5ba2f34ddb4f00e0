package e2e

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func newKeyOf(t *testing.T, c *kms.Client, spec types.KeySpec, usage types.KeyUsageType) *types.KeyMetadata {
	t.Helper()
	out, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
	must(t, err)
	return out.KeyMetadata
}

func publicKey(t *testing.T, c *kms.Client, id string) *kms.GetPublicKeyOutput {
	t.Helper()
	out, err := c.GetPublicKey(ctx(t), &kms.GetPublicKeyInput{KeyId: aws.String(id)})
	must(t, err)
	return out
}

// TestAsymmetricOverTheWire drives every new operation through the Go SDK
// and checks the results with Go's own crypto against GetPublicKey's key.
func TestAsymmetricOverTheWire(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	msg := []byte("signed over the wire")
	digest := sha256.Sum256(msg)

	t.Run("RSA sign", func(t *testing.T) {
		md := newKeyOf(t, c, types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)
		if len(md.SigningAlgorithms) != 6 || md.EncryptionAlgorithms != nil {
			t.Errorf("DescribeKey algorithms = %v / %v", md.SigningAlgorithms, md.EncryptionAlgorithms)
		}
		pk := publicKey(t, c, aws.ToString(md.KeyId))
		if pk.KeyUsage != types.KeyUsageTypeSignVerify || pk.KeySpec != types.KeySpecRsa2048 || len(pk.SigningAlgorithms) != 6 {
			t.Errorf("GetPublicKey = %+v", pk)
		}
		pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
		must(t, err)
		out, err := c.Sign(ctx(t), &kms.SignInput{KeyId: md.Arn, Message: digest[:], MessageType: types.MessageTypeDigest,
			SigningAlgorithm: types.SigningAlgorithmSpecRsassaPssSha256})
		must(t, err)
		if err := rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, digest[:], out.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			t.Errorf("PSS signature does not verify: %v", err)
		}
		v, err := c.Verify(ctx(t), &kms.VerifyInput{KeyId: md.KeyId, Message: msg, Signature: out.Signature, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPssSha256})
		must(t, err)
		if !v.SignatureValid {
			t.Error("Verify SignatureValid = false")
		}
		_, err = c.Verify(ctx(t), &kms.VerifyInput{KeyId: md.KeyId, Message: []byte("other"), Signature: out.Signature, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPssSha256})
		wantType[*types.KMSInvalidSignatureException](t, err)
	})
	t.Run("ECDSA and Ed25519", func(t *testing.T) {
		md := newKeyOf(t, c, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
		pub, err := x509.ParsePKIXPublicKey(publicKey(t, c, aws.ToString(md.KeyId)).PublicKey)
		must(t, err)
		out, err := c.Sign(ctx(t), &kms.SignInput{KeyId: md.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		must(t, err)
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], out.Signature) {
			t.Error("ECDSA signature does not verify")
		}
		ed := newKeyOf(t, c, types.KeySpecEccNistEdwards25519, types.KeyUsageTypeSignVerify)
		epub, err := x509.ParsePKIXPublicKey(publicKey(t, c, aws.ToString(ed.KeyId)).PublicKey)
		must(t, err)
		es, err := c.Sign(ctx(t), &kms.SignInput{KeyId: ed.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEd25519Sha512})
		must(t, err)
		if !ed25519.Verify(epub.(ed25519.PublicKey), msg, es.Signature) {
			t.Error("Ed25519 signature does not verify")
		}
	})
	t.Run("RSA OAEP", func(t *testing.T) {
		md := newKeyOf(t, c, types.KeySpecRsa3072, types.KeyUsageTypeEncryptDecrypt)
		pub, err := x509.ParsePKIXPublicKey(publicKey(t, c, aws.ToString(md.KeyId)).PublicKey)
		must(t, err)
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), msg, nil)
		must(t, err)
		dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{KeyId: md.KeyId, CiphertextBlob: ct, EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
		must(t, err)
		if !bytes.Equal(dec.Plaintext, msg) {
			t.Errorf("Decrypt = %q", dec.Plaintext)
		}
		_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: md.KeyId, Plaintext: make([]byte, 343), EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha1})
		wantMessage(t, err, "ValidationException", "Algorithm RSAES_OAEP_SHA_1 and key spec RSA_3072 cannot encrypt data larger than 342 bytes.")
	})
	t.Run("HMAC", func(t *testing.T) {
		md := newKeyOf(t, c, types.KeySpecHmac384, types.KeyUsageTypeGenerateVerifyMac)
		if !slices.Equal(md.MacAlgorithms, []types.MacAlgorithmSpec{types.MacAlgorithmSpecHmacSha384}) {
			t.Errorf("MacAlgorithms = %v", md.MacAlgorithms)
		}
		out, err := c.GenerateMac(ctx(t), &kms.GenerateMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha384})
		must(t, err)
		v, err := c.VerifyMac(ctx(t), &kms.VerifyMacInput{KeyId: md.KeyId, Message: msg, Mac: out.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha384})
		must(t, err)
		if !v.MacValid || len(out.Mac) != 48 {
			t.Errorf("VerifyMac = %+v, mac %d bytes", v, len(out.Mac))
		}
		_, err = c.VerifyMac(ctx(t), &kms.VerifyMacInput{KeyId: md.KeyId, Message: []byte("x"), Mac: out.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha384})
		wantType[*types.KMSInvalidMacException](t, err)
		_, err = c.GenerateMac(ctx(t), &kms.GenerateMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
		wantMessage(t, err, "InvalidKeyUsageException", "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_384.")
	})
	t.Run("ECDH", func(t *testing.T) {
		md := newKeyOf(t, c, types.KeySpecEccNistP384, types.KeyUsageTypeKeyAgreement)
		if !slices.Equal(md.KeyAgreementAlgorithms, []types.KeyAgreementAlgorithmSpec{types.KeyAgreementAlgorithmSpecEcdh}) {
			t.Errorf("KeyAgreementAlgorithms = %v", md.KeyAgreementAlgorithms)
		}
		kpub, err := x509.ParsePKIXPublicKey(publicKey(t, c, aws.ToString(md.KeyId)).PublicKey)
		must(t, err)
		peer, err := ecdh.P384().GenerateKey(rand.Reader)
		must(t, err)
		peerDER, err := x509.MarshalPKIXPublicKey(peer.PublicKey())
		must(t, err)
		out, err := c.DeriveSharedSecret(ctx(t), &kms.DeriveSharedSecretInput{KeyId: md.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerDER})
		must(t, err)
		kp, err := kpub.(*ecdsa.PublicKey).ECDH()
		must(t, err)
		want, err := peer.ECDH(kp)
		must(t, err)
		if !bytes.Equal(out.SharedSecret, want) || out.KeyOrigin != types.OriginTypeAwsKms {
			t.Errorf("DeriveSharedSecret = %x (origin %s), want %x", out.SharedSecret, out.KeyOrigin, want)
		}
		_, err = c.DeriveSharedSecret(ctx(t), &kms.DeriveSharedSecretInput{KeyId: md.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: []byte("junk")})
		wantCode(t, err, "ValidationException")
	})
	t.Run("ML-KEM", func(t *testing.T) {
		md := newKeyOf(t, c, types.KeySpecMlKem768, types.KeyUsageTypeEncapsulateDecapsulate)
		var spki struct {
			Algo asn1.RawValue
			Key  asn1.BitString
		}
		_, err := asn1.Unmarshal(publicKey(t, c, aws.ToString(md.KeyId)).PublicKey, &spki)
		must(t, err)
		ek, err := mlkem.NewEncapsulationKey768(spki.Key.Bytes)
		must(t, err)
		ss, ct := ek.Encapsulate()
		out, err := c.Decapsulate(ctx(t), &kms.DecapsulateInput{KeyId: md.KeyId, EncapsulationAlgorithm: types.EncapsulationAlgorithmSpecMlKem, SharedSecretCiphertextBlob: ct})
		must(t, err)
		if !bytes.Equal(out.SharedSecret, ss) {
			t.Error("Decapsulate gave another secret")
		}
		enc, err := c.Encapsulate(ctx(t), &kms.EncapsulateInput{KeyId: md.KeyId, EncapsulationAlgorithm: types.EncapsulationAlgorithmSpecMlKem})
		must(t, err)
		if len(enc.SharedSecretCiphertextBlob) != mlkem.CiphertextSize768 || len(enc.SharedSecret) != 32 {
			t.Errorf("Encapsulate = %d-byte ciphertext, %d-byte secret", len(enc.SharedSecretCiphertextBlob), len(enc.SharedSecret))
		}
	})
	t.Run("ML-DSA", func(t *testing.T) {
		md := newKeyOf(t, c, types.KeySpecMlDsa65, types.KeyUsageTypeSignVerify)
		out, err := c.Sign(ctx(t), &kms.SignInput{KeyId: md.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecMlDsaShake256})
		must(t, err)
		_, err = c.Verify(ctx(t), &kms.VerifyInput{KeyId: md.KeyId, Message: msg, Signature: out.Signature, SigningAlgorithm: types.SigningAlgorithmSpecMlDsaShake256})
		must(t, err)
	})
	t.Run("data key pairs", func(t *testing.T) {
		sym := newKey(t, c, "pair wrapping key")
		ec := map[string]string{"use": "pair"}
		out, err := c.GenerateDataKeyPair(ctx(t), &kms.GenerateDataKeyPairInput{KeyId: sym.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP256, EncryptionContext: ec})
		must(t, err)
		priv, err := x509.ParsePKCS8PrivateKey(out.PrivateKeyPlaintext)
		must(t, err)
		pub, err := x509.MarshalPKIXPublicKey(priv.(*ecdsa.PrivateKey).Public())
		must(t, err)
		if !bytes.Equal(pub, out.PublicKey) {
			t.Error("PublicKey is not the public key of PrivateKeyPlaintext")
		}
		dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: out.PrivateKeyCiphertextBlob, EncryptionContext: ec})
		must(t, err)
		if !bytes.Equal(dec.Plaintext, out.PrivateKeyPlaintext) {
			t.Error("PrivateKeyCiphertextBlob does not decrypt to PrivateKeyPlaintext")
		}
		wo, err := c.GenerateDataKeyPairWithoutPlaintext(ctx(t), &kms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: sym.KeyId, KeyPairSpec: types.DataKeyPairSpecRsa2048})
		must(t, err)
		if len(wo.PrivateKeyCiphertextBlob) == 0 || len(wo.PublicKey) == 0 {
			t.Errorf("GenerateDataKeyPairWithoutPlaintext = %+v", wo)
		}
	})
	t.Run("errors", func(t *testing.T) {
		sym := newKey(t, c, "not for signing")
		_, err := c.Sign(ctx(t), &kms.SignInput{KeyId: sym.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		wantMessage(t, err, "InvalidKeyUsageException", aws.ToString(sym.Arn)+" key usage is ENCRYPT_DECRYPT which is not valid for Sign.")
		_, err = c.CreateKey(ctx(t), &kms.CreateKeyInput{KeySpec: types.KeySpecEccSecgP256k1, KeyUsage: types.KeyUsageTypeKeyAgreement})
		wantMessage(t, err, "ValidationException", "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_SECG_P256K1")
		md := newKeyOf(t, c, types.KeySpecEccNistP521, types.KeyUsageTypeSignVerify)
		_, err = c.Sign(ctx(t), &kms.SignInput{KeyId: md.KeyId, Message: digest[:], MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha512})
		wantMessage(t, err, "ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_512.")
	})
}

// TestIgnoreCiphertextContextRSA: a dry run with IGNORE_CIPHERTEXT answers
// what the request would: an encryption context with an RSA key (source or
// destination) is the ValidationException the real call gets, not
// DryRunOperationException.
func TestIgnoreCiphertextContextRSA(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	rsaKey := newKeyOf(t, c, types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt).Arn
	sym := newKey(t, c, "symmetric").Arn
	ec := map[string]string{"purpose": "test"}
	ignore := []types.DryRunModifierType{types.DryRunModifierTypeIgnoreCiphertext}
	oaep := types.EncryptionAlgorithmSpecRsaesOaepSha256
	const msg = "EncryptionContext is only valid with symmetric encryption KMS keys."

	_, err := c.Decrypt(ctx(t), &kms.DecryptInput{KeyId: rsaKey, EncryptionAlgorithm: oaep, EncryptionContext: ec,
		DryRun: aws.Bool(true), DryRunModifiers: ignore})
	wantMessage(t, err, "ValidationException", msg)
	_, err = c.ReEncrypt(ctx(t), &kms.ReEncryptInput{SourceKeyId: rsaKey, SourceEncryptionAlgorithm: oaep, SourceEncryptionContext: ec,
		DestinationKeyId: sym, DryRun: aws.Bool(true), DryRunModifiers: ignore})
	wantMessage(t, err, "ValidationException", msg)
	_, err = c.ReEncrypt(ctx(t), &kms.ReEncryptInput{SourceKeyId: sym, DestinationKeyId: rsaKey, DestinationEncryptionAlgorithm: oaep,
		DestinationEncryptionContext: ec, DryRun: aws.Bool(true), DryRunModifiers: ignore})
	wantMessage(t, err, "ValidationException", msg)

	// Without the context, the dry runs succeed.
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{KeyId: rsaKey, EncryptionAlgorithm: oaep, DryRun: aws.Bool(true), DryRunModifiers: ignore})
	wantType[*types.DryRunOperationException](t, err)
	_, err = c.ReEncrypt(ctx(t), &kms.ReEncryptInput{SourceKeyId: sym, DestinationKeyId: rsaKey, DestinationEncryptionAlgorithm: oaep,
		DryRun: aws.Bool(true), DryRunModifiers: ignore})
	wantType[*types.DryRunOperationException](t, err)
}
