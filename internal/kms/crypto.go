package kms

import (
	"context"
	"crypto/rand"

	"github.com/trent-kms/trent/internal/ciphertext"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
)

func randRead(b []byte) { rand.Read(b) }

const errUnknownCiphertextKey = "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access."

// errInvalidCiphertext is every authentication failure: one empty message
// whatever the cause, as AWS answers.
var errInvalidCiphertext = kmserr.ErrInvalidCiphertext

func (k *key) version(num uint32) *keys.Version {
	if num == 0 || int(num) > len(k.versions) {
		return nil
	}
	return k.versions[num-1]
}

// checkAlgorithm: symmetric keys take only SYMMETRIC_DEFAULT.
func (k *key) checkAlgorithm(alg string) error {
	if alg != "" && alg != keys.AlgSymmetricDefault {
		return kmserr.ErrInvalidKeyUsage.With("Algorithm %s is incompatible with key spec %s.", alg, k.spec)
	}
	return nil
}

// encryptKey resolves and checks a key for an encrypting operation.
func (s *Service) encryptKey(c Caller, sc scope, op, keyID, alg string) (*key, *keys.Version, error) {
	k, err := s.resolveKey(c, sc, op, keyID, true)
	if err != nil {
		return nil, nil, err
	}
	if err := k.usable(); err != nil {
		return nil, nil, err
	}
	if err := k.checkUsage(op); err != nil {
		return nil, nil, err
	}
	if err := k.checkAlgorithm(alg); err != nil {
		return nil, nil, err
	}
	ver := k.current()
	if ver.Encryptions.Load() >= hardEncryptionLimit {
		return nil, nil, kmserr.ErrKeyUnavailable.With("%s needs rotation before further use.", k.arn)
	}
	if c.Facts != nil {
		c.Facts.Encrypted = KeyUse{k.arn, ver.MaterialID}
	}
	return k, ver, nil
}

// Encrypt encrypts up to 4096 bytes under a symmetric key (key id, key ARN,
// alias name or alias ARN).
func (s *Service) Encrypt(ctx context.Context, c Caller, in *EncryptInput) (*EncryptOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	if in.KeyId == "" || len(in.KeyId) > maxKeyIDLen || len(in.Plaintext) == 0 || len(in.Plaintext) > maxPlaintextLen ||
		len(in.GrantTokens) > 0 || (in.EncryptionAlgorithm != "" && in.EncryptionAlgorithm != keys.AlgSymmetricDefault) {
		// slow path: full validation with AWS messages
		var v validator
		v.keyID("keyId", in.KeyId, true)
		v.blob("plaintext", in.Plaintext, maxPlaintextLen, true)
		v.enum("encryptionAlgorithm", in.EncryptionAlgorithm, enumEncryptionAlg)
		v.grantTokens(in.GrantTokens)
		if err := v.Err(); err != nil {
			return nil, err
		}
	}
	if err := checkContext(in.EncryptionContext); err != nil {
		return nil, err
	}
	k, ver, err := s.encryptKey(c, sc, "Encrypt", in.KeyId, in.EncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, kmserr.ErrDryRun
	}
	return &EncryptOutput{
		CiphertextBlob:      ver.Seal(in.Plaintext, in.EncryptionContext),
		EncryptionAlgorithm: keys.AlgSymmetricDefault,
		KeyId:               k.arn,
	}, nil
}

// decryptBlob resolves the key named in blob and decrypts it. want, when
// not nil, is the key the caller says encrypted it.
func (s *Service) decryptBlob(sc scope, f *Facts, want *key, blob []byte, ec map[string]string, alg string) (*key, *keys.Version, []byte, error) {
	b, err := ciphertext.Parse(blob)
	if err != nil || !validKeyIDForm(b.KeyID) {
		return nil, nil, nil, errInvalidCiphertext
	}
	if want != nil && want.id != b.KeyID {
		return nil, nil, nil, kmserr.ErrIncorrectKey
	}
	k := s.getKey(sc, b.KeyID)
	if k == nil {
		return nil, nil, nil, kmserr.ErrAccessDenied.With(errUnknownCiphertextKey)
	}
	f.addKey(k.arn)
	if err := k.usable(); err != nil {
		return nil, nil, nil, err
	}
	if err := k.checkUsage("Decrypt"); err != nil {
		return nil, nil, nil, err
	}
	if err := k.checkAlgorithm(alg); err != nil {
		return nil, nil, nil, err
	}
	ver := k.version(b.Version)
	if ver == nil {
		return nil, nil, nil, errInvalidCiphertext
	}
	pt, err := ver.Open(b, ec)
	if err != nil {
		return nil, nil, nil, err
	}
	if f != nil {
		f.Decrypted = KeyUse{k.arn, ver.MaterialID}
	}
	return k, ver, pt, nil
}

// Decrypt decrypts a blob made by Encrypt, GenerateDataKey* or ReEncrypt.
// KeyId is optional; when given it must name the key in the blob
// (IncorrectKeyException). Every authentication failure is
// InvalidCiphertextException with an empty message. A blob naming a key
// that does not exist in the caller's region and account is
// AccessDeniedException, as AWS answers.
func (s *Service) Decrypt(ctx context.Context, c Caller, in *DecryptInput) (*DecryptOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	ignoreCT := in.DryRun && hasIgnoreCiphertext(in.DryRunModifiers)
	var v validator
	v.blob("ciphertextBlob", in.CiphertextBlob, maxCiphertextLen, !ignoreCT)
	v.keyID("keyId", in.KeyId, false)
	v.enum("encryptionAlgorithm", in.EncryptionAlgorithm, enumEncryptionAlg)
	v.grantTokens(in.GrantTokens)
	v.dryRunModifiers(in.DryRunModifiers)
	v.recipient(in.Recipient)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := checkContext(in.EncryptionContext); err != nil {
		return nil, err
	}
	if in.Recipient != nil {
		return nil, kmserr.ErrUnsupportedOperation.With("Recipient (attested enclave) requests are not supported by this server.")
	}
	var want *key
	if in.KeyId != "" {
		if want, err = s.resolveKey(c, sc, "Decrypt", in.KeyId, true); err != nil {
			return nil, err
		}
	}
	if ignoreCT {
		if want == nil {
			return nil, kmserr.ErrValidation.With("KeyId is required when DryRunModifiers contains IGNORE_CIPHERTEXT.")
		}
		if err := want.usable(); err != nil {
			return nil, err
		}
		if err := want.checkUsage("Decrypt"); err != nil {
			return nil, err
		}
		if err := want.checkAlgorithm(in.EncryptionAlgorithm); err != nil {
			return nil, err
		}
		return nil, kmserr.ErrDryRun
	}
	k, ver, pt, err := s.decryptBlob(sc, c.Facts, want, in.CiphertextBlob, in.EncryptionContext, in.EncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		clear(pt)
		return nil, kmserr.ErrDryRun
	}
	return &DecryptOutput{EncryptionAlgorithm: keys.AlgSymmetricDefault, KeyId: k.arn, KeyMaterialId: ver.MaterialID, Plaintext: pt}, nil
}

// ReEncrypt decrypts a blob and encrypts the plaintext under the
// destination key (and context) without exposing it.
func (s *Service) ReEncrypt(ctx context.Context, c Caller, in *ReEncryptInput) (*ReEncryptOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	ignoreCT := in.DryRun && hasIgnoreCiphertext(in.DryRunModifiers)
	var v validator
	v.blob("ciphertextBlob", in.CiphertextBlob, maxCiphertextLen, !ignoreCT)
	v.keyID("destinationKeyId", in.DestinationKeyId, true)
	v.keyID("sourceKeyId", in.SourceKeyId, false)
	v.enum("sourceEncryptionAlgorithm", in.SourceEncryptionAlgorithm, enumEncryptionAlg)
	v.enum("destinationEncryptionAlgorithm", in.DestinationEncryptionAlgorithm, enumEncryptionAlg)
	v.grantTokens(in.GrantTokens)
	v.dryRunModifiers(in.DryRunModifiers)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := checkContext(in.SourceEncryptionContext); err != nil {
		return nil, err
	}
	if err := checkContext(in.DestinationEncryptionContext); err != nil {
		return nil, err
	}
	var src *key
	if in.SourceKeyId != "" {
		if src, err = s.resolveKey(c, sc, "ReEncryptFrom", in.SourceKeyId, true); err != nil {
			return nil, err
		}
	}
	dst, err := s.resolveKey(c, sc, "ReEncryptTo", in.DestinationKeyId, true)
	if err != nil {
		return nil, err
	}
	checkDst := func() (*keys.Version, error) {
		_, ver, err := s.encryptKey(c, sc, "ReEncrypt", dst.arn, in.DestinationEncryptionAlgorithm)
		return ver, err
	}
	if ignoreCT {
		if src == nil {
			return nil, kmserr.ErrValidation.With("SourceKeyId is required when DryRunModifiers contains IGNORE_CIPHERTEXT.")
		}
		if err := src.usable(); err != nil {
			return nil, err
		}
		if err := src.checkAlgorithm(in.SourceEncryptionAlgorithm); err != nil {
			return nil, err
		}
		if _, err := checkDst(); err != nil {
			return nil, err
		}
		return nil, kmserr.ErrDryRun
	}
	sk, sver, pt, err := s.decryptBlob(sc, c.Facts, src, in.CiphertextBlob, in.SourceEncryptionContext, in.SourceEncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	dver, err := checkDst()
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, kmserr.ErrDryRun
	}
	return &ReEncryptOutput{
		CiphertextBlob:                 dver.Seal(pt, in.DestinationEncryptionContext),
		DestinationEncryptionAlgorithm: keys.AlgSymmetricDefault,
		DestinationKeyMaterialId:       dver.MaterialID,
		KeyId:                          dst.arn,
		SourceEncryptionAlgorithm:      keys.AlgSymmetricDefault,
		SourceKeyId:                    sk.arn,
		SourceKeyMaterialId:            sver.MaterialID,
	}, nil
}

// dataKey is the common part of GenerateDataKey and GenerateDataKeyWithoutPlaintext.
func (s *Service) dataKey(c Caller, op, keyID, spec string, nbytes *int32, grantTokens []string,
	ec map[string]string, recipient *RecipientInfo, dryRun bool) (*key, *keys.Version, []byte, []byte, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var v validator
	v.keyID("keyId", keyID, true)
	v.enum("keySpec", spec, enumDataKeySpec)
	v.intRange("numberOfBytes", nbytes, 1, 1024)
	v.grantTokens(grantTokens)
	v.recipient(recipient)
	if err := v.Err(); err != nil {
		return nil, nil, nil, nil, err
	}
	if (spec == "") == (nbytes == nil) {
		return nil, nil, nil, nil, kmserr.ErrValidation.With("Please specify either number of bytes or key spec.")
	}
	if err := checkContext(ec); err != nil {
		return nil, nil, nil, nil, err
	}
	if recipient != nil {
		return nil, nil, nil, nil, kmserr.ErrUnsupportedOperation.With("Recipient (attested enclave) requests are not supported by this server.")
	}
	k, ver, err := s.encryptKey(c, sc, op, keyID, "")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if dryRun {
		return nil, nil, nil, nil, kmserr.ErrDryRun
	}
	n := 32
	switch {
	case nbytes != nil:
		n = int(*nbytes)
	case spec == "AES_128":
		n = 16
	}
	pt := make([]byte, n)
	randRead(pt)
	return k, ver, pt, ver.Seal(pt, ec), nil
}

// GenerateDataKey returns a random data key in plaintext and encrypted
// under the key. Exactly one of KeySpec (AES_128, AES_256) and NumberOfBytes
// (1..1024) must be given.
func (s *Service) GenerateDataKey(ctx context.Context, c Caller, in *GenerateDataKeyInput) (*GenerateDataKeyOutput, error) {
	k, ver, pt, blob, err := s.dataKey(c, "GenerateDataKey", in.KeyId, in.KeySpec, in.NumberOfBytes, in.GrantTokens,
		in.EncryptionContext, in.Recipient, in.DryRun)
	if err != nil {
		return nil, err
	}
	return &GenerateDataKeyOutput{CiphertextBlob: blob, KeyId: k.arn, KeyMaterialId: ver.MaterialID, Plaintext: pt}, nil
}

// GenerateDataKeyWithoutPlaintext is GenerateDataKey without the plaintext.
func (s *Service) GenerateDataKeyWithoutPlaintext(ctx context.Context, c Caller, in *GenerateDataKeyWithoutPlaintextInput) (*GenerateDataKeyWithoutPlaintextOutput, error) {
	k, ver, pt, blob, err := s.dataKey(c, "GenerateDataKeyWithoutPlaintext", in.KeyId, in.KeySpec, in.NumberOfBytes,
		in.GrantTokens, in.EncryptionContext, nil, in.DryRun)
	if err != nil {
		return nil, err
	}
	clear(pt)
	return &GenerateDataKeyWithoutPlaintextOutput{CiphertextBlob: blob, KeyId: k.arn, KeyMaterialId: ver.MaterialID}, nil
}

// GenerateRandom returns 1..1024 random bytes.
func (s *Service) GenerateRandom(ctx context.Context, c Caller, in *GenerateRandomInput) (*GenerateRandomOutput, error) {
	if in.NumberOfBytes == nil {
		return nil, kmserr.ErrValidation.With("NumberOfBytes is required.") // AWS's message
	}
	var v validator
	v.intRange("numberOfBytes", in.NumberOfBytes, 1, 1024)
	if in.CustomKeyStoreId != "" {
		v.strLen("customKeyStoreId", in.CustomKeyStoreId, 1, 64)
	}
	v.recipient(in.Recipient)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if in.CustomKeyStoreId != "" {
		return nil, errCustomKeyStoreNotFound.With("Custom key store %s does not exist.", in.CustomKeyStoreId)
	}
	if in.Recipient != nil {
		return nil, kmserr.ErrUnsupportedOperation.With("Recipient (attested enclave) requests are not supported by this server.")
	}
	b := make([]byte, *in.NumberOfBytes)
	randRead(b)
	return &GenerateRandomOutput{Plaintext: b}, nil
}
