package kms

import (
	"bytes"
	"context"

	"github.com/trent-kms/trent/internal/attest"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
)

// Enum value sets of the asymmetric, MAC, key agreement and KEM members,
// in AWS's order (the signing algorithms as AWS lists them in its message,
// Ed25519 before SM2DSA: not the model's order).
var (
	enumSigningAlg       = []string{"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512", "ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", "ED25519_SHA_512", "ED25519_PH_SHA_512", "SM2DSA", "ML_DSA_SHAKE_256"}
	enumMessageType      = []string{"RAW", "DIGEST", "EXTERNAL_MU"}
	enumMacAlg           = []string{"HMAC_SHA_384", "HMAC_SHA_256", "HMAC_SHA_224", "HMAC_SHA_512"} // AWS's order in its message
	enumKeyAgreementAlg  = []string{"ECDH"}
	enumEncapsulationAlg = []string{"ML_KEM"}
	enumDataKeyPairSpec  = []string{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "SM2", "ECC_NIST_EDWARDS25519", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"}
)

const maxPublicKeyLen = 8192

// requiredEnum checks a required enum member.
func (v *validator) requiredEnum(member, val string, set []string) {
	if val == "" {
		v.Required(member)
		return
	}
	v.enum(member, val, set)
}

// usableKey resolves keyID (any of the four forms), authorizes a on it and
// checks that the key has usage and is enabled (in that order, as AWS).
func (s *Service) usableKey(c Caller, a *access, keyID string, usage keys.Usage) (*key, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveKeyFor(c, sc, a, keyID, true)
	if err != nil {
		return nil, err
	}
	if err := k.checkUsage(a.op(), usage); err != nil {
		return nil, err
	}
	if err := k.usable(s.now()); err != nil {
		return nil, err
	}
	return k, nil
}

// GetPublicKey returns the public key of an asymmetric key (DER
// SubjectPublicKeyInfo) with the algorithms of its usage.
func (s *Service) GetPublicKey(ctx context.Context, c Caller, in *GetPublicKeyInput) (*GetPublicKeyOutput, error) {
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.grantTokens(in.GrantTokens)
	s.tokenGrants(ctx, in.GrantTokens)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.resolvePublicKey(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	pub := k.current().PublicKey()
	if pub == nil {
		return nil, kmserr.ErrUnsupportedOperation // AWS's answer has no message
	}
	algs := k.spec.Algorithms(k.usage)
	return &GetPublicKeyOutput{
		CustomerMasterKeySpec: customerMasterKeySpec(k.spec), KeyId: k.arn, KeySpec: string(k.spec), KeyUsage: string(k.usage),
		PublicKey: bytes.Clone(pub), EncryptionAlgorithms: algs.Encryption, SigningAlgorithms: algs.Signing,
		KeyAgreementAlgorithms: algs.KeyAgreement, EncapsulationAlgorithms: algs.Encapsulation,
	}, nil
}

// resolvePublicKey resolves the key of GetPublicKey whatever its usage:
// enabled or disabled (AWS answers GetPublicKey for a disabled key), its
// state checked before its spec.
func (s *Service) resolvePublicKey(c Caller, keyID string) (*key, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveKey(c, sc, "GetPublicKey", keyID, true)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if k.stateAt(now) == stateDisabled {
		return k, nil
	}
	return k, k.usable(now)
}

// signInput validates the members Sign and Verify share.
func (v *validator) signInput(keyID string, msg []byte, alg, mt string, grantTokens []string) {
	v.keyID("keyId", keyID, true)
	v.plaintext("message", msg)
	if alg != keys.AlgSymmetricDefault {
		// AWS lets SYMMETRIC_DEFAULT through its enum check (it is not in
		// the list it reports) and refuses it for the key spec.
		v.requiredEnum("signingAlgorithm", alg, enumSigningAlg)
	}
	v.enum("messageType", mt, enumMessageType)
	v.grantTokens(grantTokens)
}

func messageType(mt string) string {
	if mt == "" {
		return keys.MessageRaw
	}
	return mt
}

// signingKey resolves the SIGN_VERIFY key of Sign and Verify; with dryRun
// it runs every check of the operation, then answers DryRunOperationException.
func (s *Service) signingKey(c Caller, op, keyID, alg, mt string, msg []byte, dryRun bool) (*key, error) {
	a := opAccess(op).set(condSigningAlgorithm, alg).set(condMessageType, messageType(mt))
	k, err := s.usableKey(c, a, keyID, keys.SignVerify)
	if err != nil {
		return nil, err
	}
	if dryRun {
		if err := k.current().CheckSign(alg, messageType(mt), msg); err != nil {
			return nil, err
		}
		return nil, kmserr.ErrDryRun
	}
	return k, nil
}

// Sign signs a message (RAW, up to 4096 bytes) or a digest (DIGEST, of the
// algorithm's hash length) with a SIGN_VERIFY key.
func (s *Service) Sign(ctx context.Context, c Caller, in *SignInput) (*SignOutput, error) {
	var v validator
	v.signInput(in.KeyId, in.Message, in.SigningAlgorithm, in.MessageType, in.GrantTokens)
	s.tokenGrants(ctx, in.GrantTokens)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.signingKey(c, "Sign", in.KeyId, in.SigningAlgorithm, in.MessageType, in.Message, in.DryRun)
	if err != nil {
		return nil, err
	}
	sig, err := k.current().Sign(in.SigningAlgorithm, messageType(in.MessageType), in.Message)
	if err != nil {
		return nil, err
	}
	return &SignOutput{KeyId: k.arn, Signature: sig, SigningAlgorithm: in.SigningAlgorithm}, nil
}

// Verify checks a signature; one that does not verify is
// KMSInvalidSignatureException.
func (s *Service) Verify(ctx context.Context, c Caller, in *VerifyInput) (*VerifyOutput, error) {
	var v validator
	v.signInput(in.KeyId, in.Message, in.SigningAlgorithm, in.MessageType, in.GrantTokens)
	s.tokenGrants(ctx, in.GrantTokens)
	v.blob("signature", in.Signature, maxCiphertextLen, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.signingKey(c, "Verify", in.KeyId, in.SigningAlgorithm, in.MessageType, in.Message, in.DryRun)
	if err != nil {
		return nil, err
	}
	if err := k.current().Verify(in.SigningAlgorithm, messageType(in.MessageType), in.Message, in.Signature); err != nil {
		return nil, err
	}
	return &VerifyOutput{KeyId: k.arn, SignatureValid: true, SigningAlgorithm: in.SigningAlgorithm}, nil
}

// GenerateMac returns the HMAC of a message (up to 4096 bytes) under a
// GENERATE_VERIFY_MAC key.
func (s *Service) GenerateMac(ctx context.Context, c Caller, in *GenerateMacInput) (*GenerateMacOutput, error) {
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.plaintext("message", in.Message)
	v.requiredEnum("macAlgorithm", in.MacAlgorithm, enumMacAlg)
	v.grantTokens(in.GrantTokens)
	s.tokenGrants(ctx, in.GrantTokens)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.usableKey(c, opAccess("GenerateMac").set(condMacAlgorithm, in.MacAlgorithm), in.KeyId, keys.GenerateVerifyMAC)
	if err != nil {
		return nil, err
	}
	mac, err := k.current().MAC(in.MacAlgorithm, in.Message)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, kmserr.ErrDryRun
	}
	return &GenerateMacOutput{KeyId: k.arn, Mac: mac, MacAlgorithm: in.MacAlgorithm}, nil
}

// VerifyMac recomputes the HMAC and compares in constant time; a mismatch
// is KMSInvalidMacException.
func (s *Service) VerifyMac(ctx context.Context, c Caller, in *VerifyMacInput) (*VerifyMacOutput, error) {
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.plaintext("message", in.Message)
	v.requiredEnum("macAlgorithm", in.MacAlgorithm, enumMacAlg)
	v.blob("mac", in.Mac, maxCiphertextLen, true)
	v.grantTokens(in.GrantTokens)
	s.tokenGrants(ctx, in.GrantTokens)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.usableKey(c, opAccess("VerifyMac").set(condMacAlgorithm, in.MacAlgorithm), in.KeyId, keys.GenerateVerifyMAC)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		if _, err := k.current().MAC(in.MacAlgorithm, in.Message); err != nil {
			return nil, err
		}
		return nil, kmserr.ErrDryRun
	}
	if err := k.current().VerifyMAC(in.MacAlgorithm, in.Message, in.Mac); err != nil {
		return nil, err
	}
	return &VerifyMacOutput{KeyId: k.arn, MacAlgorithm: in.MacAlgorithm, MacValid: true}, nil
}

// DeriveSharedSecret returns the raw ECDH shared secret of a KEY_AGREEMENT
// key and a peer public key (DER SubjectPublicKeyInfo on the same curve).
func (s *Service) DeriveSharedSecret(ctx context.Context, c Caller, in *DeriveSharedSecretInput) (*DeriveSharedSecretOutput, error) {
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.requiredEnum("keyAgreementAlgorithm", in.KeyAgreementAlgorithm, enumKeyAgreementAlg)
	v.blob("publicKey", in.PublicKey, maxPublicKeyLen, true)
	v.grantTokens(in.GrantTokens)
	s.tokenGrants(ctx, in.GrantTokens)
	v.recipient(in.Recipient)
	if err := v.Err(); err != nil {
		return nil, err
	}
	doc, err := s.attestation(c, in.Recipient)
	if err != nil {
		return nil, err
	}
	a := opAccess("DeriveSharedSecret").set(condKeyAgreementAlgorithm, in.KeyAgreementAlgorithm)
	a.att = doc
	k, err := s.usableKey(c, a, in.KeyId, keys.KeyAgreement)
	if err != nil {
		return nil, err
	}
	z, err := k.current().DeriveSharedSecret(in.PublicKey)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		clear(z)
		return nil, kmserr.ErrDryRun
	}
	out := &DeriveSharedSecretOutput{KeyAgreementAlgorithm: in.KeyAgreementAlgorithm, KeyId: k.arn, KeyOrigin: k.origin}
	if doc != nil {
		if out.CiphertextForRecipient, err = forRecipient(doc, z); err != nil {
			return nil, err
		}
		return out, nil
	}
	out.SharedSecret = z
	return out, nil
}

// Encapsulate returns a fresh 32-byte shared secret and its ML-KEM
// ciphertext under an ENCAPSULATE_DECAPSULATE key.
func (s *Service) Encapsulate(ctx context.Context, c Caller, in *EncapsulateInput) (*EncapsulateOutput, error) {
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.requiredEnum("encapsulationAlgorithm", in.EncapsulationAlgorithm, enumEncapsulationAlg)
	v.grantTokens(in.GrantTokens)
	s.tokenGrants(ctx, in.GrantTokens)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.usableKey(c, opAccess("Encapsulate"), in.KeyId, keys.EncapsulateDecapsulate)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, kmserr.ErrDryRun
	}
	ss, ct, err := k.current().Encapsulate()
	if err != nil {
		return nil, err
	}
	return &EncapsulateOutput{EncapsulationAlgorithm: in.EncapsulationAlgorithm, KeyId: k.arn, SharedSecret: ss, SharedSecretCiphertextBlob: ct}, nil
}

// Decapsulate recovers the shared secret of an ML-KEM ciphertext (implicit
// rejection: a tampered ciphertext of the right size yields an unrelated
// secret; one of another size is InvalidCiphertextException).
func (s *Service) Decapsulate(ctx context.Context, c Caller, in *DecapsulateInput) (*DecapsulateOutput, error) {
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.requiredEnum("encapsulationAlgorithm", in.EncapsulationAlgorithm, enumEncapsulationAlg)
	v.blob("sharedSecretCiphertextBlob", in.SharedSecretCiphertextBlob, maxCiphertextLen, true)
	v.grantTokens(in.GrantTokens)
	s.tokenGrants(ctx, in.GrantTokens)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.usableKey(c, opAccess("Decapsulate"), in.KeyId, keys.EncapsulateDecapsulate)
	if err != nil {
		return nil, err
	}
	ss, err := k.current().Decapsulate(in.SharedSecretCiphertextBlob)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		clear(ss)
		return nil, kmserr.ErrDryRun
	}
	return &DecapsulateOutput{EncapsulationAlgorithm: in.EncapsulationAlgorithm, KeyId: k.arn, SharedSecret: ss}, nil
}

// dataKeyPair is the common part of GenerateDataKeyPair and
// GenerateDataKeyPairWithoutPlaintext: a fresh pair, the private key
// (PKCS #8 DER) encrypted under a symmetric encryption key.
func (s *Service) dataKeyPair(ctx context.Context, c Caller, op, keyID, spec string, grantTokens []string, ec map[string]string,
	recipient *RecipientInfo, dryRun bool) (k *key, ver *keys.Version, priv, blob, pub []byte, doc *attest.Document, err error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, nil, nil, nil, nil, nil, err
	}
	var v validator
	v.keyID("keyId", keyID, true)
	v.requiredEnum("keyPairSpec", spec, enumDataKeyPairSpec)
	v.grantTokens(grantTokens)
	s.tokenGrants(ctx, grantTokens)
	v.recipient(recipient)
	if err := v.Err(); err != nil {
		return nil, nil, nil, nil, nil, nil, err
	}
	if err := checkContext(ec); err != nil {
		return nil, nil, nil, nil, nil, nil, err
	}
	if doc, err = s.attestation(c, recipient); err != nil {
		return nil, nil, nil, nil, nil, nil, err
	}
	a := cryptoAccess(op, ec, "").set(condDataKeyPairSpec, spec)
	a.att = doc
	k, ver, err = s.encryptKey(ctx, c, sc, a, keyID, "")
	if err != nil {
		return nil, nil, nil, nil, nil, nil, err
	}
	if k.xks != nil {
		// AWS generates no data key pairs under a key in a custom key store
		// (its message is not recorded).
		return nil, nil, nil, nil, nil, nil, kmserr.ErrUnsupportedOperation
	}
	if ps := keys.Spec(spec); !ps.Supported() {
		return nil, nil, nil, nil, nil, nil, kmserr.ErrUnsupportedOperation.With("KeyPairSpec %s is not supported in this Region", spec)
	}
	if dryRun {
		return nil, nil, nil, nil, nil, nil, kmserr.ErrDryRun
	}
	sk, pub, err := keys.GenerateKeyPair(keys.Spec(spec))
	if err != nil {
		return nil, nil, nil, nil, nil, nil, err
	}
	defer sk.Wipe()
	if blob, err = s.sealExternal(ctx, c, op, k, ver.Seal(sk.Expose(), ec)); err != nil {
		return nil, nil, nil, nil, nil, nil, err
	}
	return k, ver, bytes.Clone(sk.Expose()), blob, pub, doc, nil
}

// GenerateDataKeyPair returns a fresh key pair: the public key, the private
// key in plaintext and encrypted under a symmetric encryption key.
func (s *Service) GenerateDataKeyPair(ctx context.Context, c Caller, in *GenerateDataKeyPairInput) (*GenerateDataKeyPairOutput, error) {
	k, ver, priv, blob, pub, doc, err := s.dataKeyPair(ctx, c, "GenerateDataKeyPair", in.KeyId, in.KeyPairSpec, in.GrantTokens,
		in.EncryptionContext, in.Recipient, in.DryRun)
	if err != nil {
		return nil, err
	}
	out := &GenerateDataKeyPairOutput{KeyId: k.arn, KeyMaterialId: ver.MaterialID, KeyPairSpec: in.KeyPairSpec,
		PrivateKeyCiphertextBlob: blob, PrivateKeyPlaintext: priv, PublicKey: pub}
	if doc != nil {
		out.PrivateKeyPlaintext = nil
		if out.CiphertextForRecipient, err = forRecipient(doc, priv); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// GenerateDataKeyPairWithoutPlaintext is GenerateDataKeyPair without the
// plaintext private key.
func (s *Service) GenerateDataKeyPairWithoutPlaintext(ctx context.Context, c Caller, in *GenerateDataKeyPairWithoutPlaintextInput) (*GenerateDataKeyPairWithoutPlaintextOutput, error) {
	k, ver, priv, blob, pub, _, err := s.dataKeyPair(ctx, c, "GenerateDataKeyPairWithoutPlaintext", in.KeyId, in.KeyPairSpec,
		in.GrantTokens, in.EncryptionContext, nil, in.DryRun)
	if err != nil {
		return nil, err
	}
	clear(priv)
	return &GenerateDataKeyPairWithoutPlaintextOutput{KeyId: k.arn, KeyMaterialId: ver.MaterialID, KeyPairSpec: in.KeyPairSpec,
		PrivateKeyCiphertextBlob: blob, PublicKey: pub}, nil
}
