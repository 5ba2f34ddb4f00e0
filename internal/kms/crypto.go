package kms

import (
	"context"
	"crypto/rand"
	"slices"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/attest"
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

// encryptionAlgorithm returns the algorithm an encrypting or decrypting
// request names (SYMMETRIC_DEFAULT when it names none) after checking that
// the key's spec has it.
func (k *key) encryptionAlgorithm(alg string) (string, error) {
	if alg == "" {
		alg = keys.AlgSymmetricDefault
	}
	if !slices.Contains(k.spec.Algorithms(keys.EncryptDecrypt).Encryption, alg) {
		return "", kmserr.ErrInvalidKeyUsage.With("Algorithm %s is incompatible with key spec %s.", alg, k.spec)
	}
	return alg, nil
}

// errContextAsymmetric: an encryption context binds only symmetric ciphertext.
var errContextAsymmetric = kmserr.ErrValidation.With("EncryptionContext is only valid with symmetric encryption KMS keys.")

// errDataKeyAsymmetric is AWS's answer to GenerateDataKey and
// GenerateDataKeyWithoutPlaintext with an asymmetric encryption key (as the
// AWS SDKs' users report it).
var errDataKeyAsymmetric = kmserr.ErrInvalidKeyUsage.With("You cannot generate a data key with an asymmetric CMK")

// encryptKey resolves, authorizes (a) and checks a key for an encrypting
// operation. alg "" means SYMMETRIC_DEFAULT, so that data-key operations,
// which pass "", refuse RSA keys.
func (s *Service) encryptKey(ctx context.Context, c Caller, sc scope, a *access, keyID, alg string) (*key, *keys.Version, error) {
	k, err := s.resolveKeyFor(c, sc, a, keyID, true)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkAvailable(ctx, a.op(), k); err != nil {
		return nil, nil, err
	}
	// The usage before the state, as AWS checks them.
	if err := k.checkUsage(a.op(), keys.EncryptDecrypt); err != nil {
		return nil, nil, err
	}
	if err := k.usable(s.now()); err != nil {
		return nil, nil, err
	}
	if op := a.op(); (op == "GenerateDataKey" || op == "GenerateDataKeyWithoutPlaintext") && !k.spec.Symmetric() {
		return nil, nil, errDataKeyAsymmetric
	}
	if _, err := k.encryptionAlgorithm(alg); err != nil {
		return nil, nil, err
	}
	ver := k.current()
	if k.spec.Symmetric() && ver.Encryptions.Load() >= hardEncryptionLimit {
		return nil, nil, kmserr.ErrKeyUnavailable.With("%s needs rotation before further use.", k.arn)
	}
	if c.Facts != nil {
		c.Facts.Encrypted = KeyUse{k.arn, materialID(k, ver)}
	}
	return k, ver, nil
}

// cryptoAccess is the access of an encrypting or decrypting operation op
// with the encryption context ec and the encryption algorithm alg.
func cryptoAccess(op string, ec map[string]string, alg string) *access {
	a := opAccess(op)
	a.ec, a.ecOp = ec, true
	if alg == "" {
		alg = keys.AlgSymmetricDefault
	}
	return a.set(condEncryptionAlgorithm, alg)
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
		v.plaintext("plaintext", in.Plaintext)
		v.enum("encryptionAlgorithm", in.EncryptionAlgorithm, enumEncryptionAlg)
		v.grantTokens(in.GrantTokens)
		s.tokenGrants(ctx, in.GrantTokens)
		if err := v.Err(); err != nil {
			return nil, err
		}
	}
	if err := checkContext(in.EncryptionContext); err != nil {
		return nil, err
	}
	k, ver, err := s.encryptKey(ctx, c, sc, cryptoAccess("Encrypt", in.EncryptionContext, in.EncryptionAlgorithm), in.KeyId, in.EncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	blob, alg, err := encryptUnder(k, ver, in.EncryptionAlgorithm, in.Plaintext, in.EncryptionContext, in.DryRun)
	if err != nil {
		return nil, err
	}
	if blob, err = s.sealExternal(ctx, c, "Encrypt", k, blob); err != nil {
		return nil, err
	}
	return &EncryptOutput{CiphertextBlob: blob, EncryptionAlgorithm: alg, KeyId: k.arn}, nil
}

// encryptUnder encrypts pt under version ver of k (checked by encryptKey):
// Trent's blob for symmetric keys, raw RSAES-OAEP output for RSA keys.
// With dryRun it checks everything, then answers DryRunOperationException.
func encryptUnder(k *key, ver *keys.Version, alg string, pt []byte, ec map[string]string, dryRun bool) ([]byte, string, error) {
	if k.spec.Symmetric() {
		if dryRun {
			return nil, "", kmserr.ErrDryRun
		}
		return ver.Seal(pt, ec), keys.AlgSymmetricDefault, nil
	}
	if len(ec) > 0 {
		return nil, "", errContextAsymmetric
	}
	if n := ver.MaxPlaintext(alg); len(pt) > n {
		return nil, "", kmserr.ErrValidation.With("Algorithm %s and key spec %s cannot encrypt data larger than %d bytes.", alg, k.spec, n)
	}
	if dryRun {
		return nil, "", kmserr.ErrDryRun
	}
	blob, err := ver.Encrypt(alg, pt)
	return blob, alg, err
}

// decryptBlob resolves the key named in blob, authorizes a on it and
// decrypts. want, when not nil, is the key the caller says encrypted it.
func (s *Service) decryptBlob(ctx context.Context, c Caller, sc scope, a *access, want *key, blob []byte, ec map[string]string, alg string) (*key, *keys.Version, []byte, error) {
	f := c.Facts
	if want != nil && want.spec.Asymmetric() && alg != "" && alg != keys.AlgSymmetricDefault {
		// Asymmetric ciphertext is raw RSAES-OAEP: the key comes from KeyId.
		// Without an asymmetric algorithm the blob is read as a symmetric
		// one first, as AWS does: a raw RSA ciphertext with an RSA KeyId
		// and no EncryptionAlgorithm is InvalidCiphertextException. Any
		// other KeyId (an HMAC key too) must name the blob's key before
		// its usage is checked: IncorrectKeyException, as AWS answers.
		if err := s.checkDecryptKey(ctx, c, want, a, alg, ec); err != nil {
			return nil, nil, nil, err
		}
		ver := want.current()
		pt, err := ver.Decrypt(alg, blob)
		if err != nil {
			return nil, nil, nil, err
		}
		if f != nil {
			f.Decrypted = KeyUse{want.arn, materialID(want, ver)}
		}
		return want, ver, pt, nil
	}
	// A key in an external key store has blobs of format 2 (the proxy's
	// around one of format 1), every other key of format 1.
	var b *ciphertext.Blob
	var ext *ciphertext.External
	var id string
	var err error
	if ciphertext.IsExternal(blob) {
		if ext, err = ciphertext.ParseExternal(blob); err == nil {
			id = ext.KeyID
		}
	} else if b, err = ciphertext.Parse(blob); err == nil {
		id = b.KeyID
	}
	if err != nil || !arn.IsKeyID(id) {
		return nil, nil, nil, errInvalidCiphertext
	}
	if want != nil && want.id != id {
		return nil, nil, nil, kmserr.ErrIncorrectKey
	}
	k := want
	if k == nil {
		k = s.blobKey(sc, id)
	}
	if k == nil {
		return nil, nil, nil, kmserr.ErrAccessDenied.With(errUnknownCiphertextKey)
	}
	f.addKey(k.arn)
	if err := s.authorize(&c, k, a); err != nil {
		return nil, nil, nil, err
	}
	if err := s.checkDecrypt(ctx, k, a.op(), alg); err != nil {
		return nil, nil, nil, err
	}
	if (ext != nil) != (k.xks != nil) {
		return nil, nil, nil, errInvalidCiphertext // each key has one format
	}
	if ext != nil {
		inner, err := s.openExternal(ctx, c, a.op(), k, ext)
		if err != nil {
			return nil, nil, nil, err
		}
		if b, err = ciphertext.Parse(inner); err != nil || b.KeyID != k.id {
			return nil, nil, nil, errInvalidCiphertext
		}
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

// sourceKey resolves the KeyId of a decrypting request (Decrypt's KeyId,
// ReEncrypt's SourceKeyId). A key id alone that names no key of the
// caller's account names the key of the symmetric ciphertext blob when it is
// that key's id, in another account too: AWS's "A short key ID is also
// acceptable when decrypting symmetric ciphertexts" (cross-account use).
func (s *Service) sourceKey(c Caller, sc scope, action, keyID string, blob []byte) (*key, error) {
	k, err := s.findKey(c, sc, action, keyID, true)
	if err != nil && arn.IsKeyID(keyID) {
		if id, ok := ciphertext.KeyIDOf(blob); ok && id == keyID {
			if bk := s.blobKey(sc, id); bk != nil {
				return bk, nil
			}
		}
	}
	return k, err
}

// blobKey finds the key a ciphertext names by id alone: in the caller's
// account, else in the one other account of the region that has a key with
// that id (another account's key is usable when its policy allows). Nil when
// there is none, or more than one other.
func (s *Service) blobKey(sc scope, id string) *key {
	if k := s.getKey(sc, id); k != nil {
		return k
	}
	var found *key
	s.mu.RLock()
	defer s.mu.RUnlock()
	for osc, sp := range s.spaces {
		if osc.region != sc.region || osc == sc {
			continue
		}
		if k := sp.keys[id]; k != nil {
			if found != nil {
				return nil
			}
			found = k
		}
	}
	return found
}

// checkDecrypt is the key check of decrypting operations (op: Decrypt or
// ReEncrypt, for the message).
func (s *Service) checkDecrypt(ctx context.Context, k *key, op, alg string) error {
	if err := s.checkAvailable(ctx, op, k); err != nil {
		return err
	}
	if err := k.checkUsage(op, keys.EncryptDecrypt); err != nil {
		return err
	}
	if err := k.usable(s.now()); err != nil {
		return err
	}
	_, err := k.encryptionAlgorithm(alg)
	return err
}

// checkDecryptKey authorizes a on k and checks k, alg and ec as a
// decrypting operation needs, without a ciphertext: for raw asymmetric
// ciphertext and dry runs with IGNORE_CIPHERTEXT.
func (s *Service) checkDecryptKey(ctx context.Context, c Caller, k *key, a *access, alg string, ec map[string]string) error {
	if err := s.authorize(&c, k, a); err != nil {
		return err
	}
	if err := s.checkDecrypt(ctx, k, a.op(), alg); err != nil {
		return err
	}
	if len(ec) > 0 && !k.spec.Symmetric() {
		return errContextAsymmetric
	}
	return nil
}

// decryptOutputAlg is the EncryptionAlgorithm a decrypting operation reports.
func decryptOutputAlg(k *key, alg string) string {
	if k.spec.Symmetric() || alg == "" {
		return keys.AlgSymmetricDefault
	}
	return alg
}

// currentMaterialID is KeyMetadata.CurrentKeyMaterialId.
func (k *key) currentMaterialID() string {
	if !k.hasMaterial() {
		return ""
	}
	return materialID(k, k.current())
}

// materialID is the KeyMaterialId a response reports: symmetric keys only.
func materialID(k *key, v *keys.Version) string {
	if k.spec.Symmetric() {
		return v.MaterialID
	}
	return ""
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
	s.tokenGrants(ctx, in.GrantTokens)
	v.dryRunModifiers(in.DryRunModifiers)
	v.recipient(in.Recipient)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := checkContext(in.EncryptionContext); err != nil {
		return nil, err
	}
	doc, err := s.attestation(c, in.Recipient)
	if err != nil {
		return nil, err
	}
	a := cryptoAccess("Decrypt", in.EncryptionContext, in.EncryptionAlgorithm)
	a.att = doc
	var want *key
	if in.KeyId != "" {
		if want, err = s.sourceKey(c, sc, a.action, in.KeyId, in.CiphertextBlob); err != nil {
			return nil, err
		}
		c.Facts.addKey(want.arn)
		a.requestAlias(in.KeyId)
	}
	if ignoreCT {
		if want == nil {
			return nil, kmserr.ErrValidation.With("KeyId is required when DryRunModifiers contains IGNORE_CIPHERTEXT.")
		}
		if err := s.checkDecryptKey(ctx, c, want, a, in.EncryptionAlgorithm, in.EncryptionContext); err != nil {
			return nil, err
		}
		return nil, kmserr.ErrDryRun
	}
	k, ver, pt, err := s.decryptBlob(ctx, c, sc, a, want, in.CiphertextBlob, in.EncryptionContext, in.EncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		clear(pt)
		return nil, kmserr.ErrDryRun
	}
	out := &DecryptOutput{EncryptionAlgorithm: decryptOutputAlg(k, in.EncryptionAlgorithm), KeyId: k.arn,
		KeyMaterialId: materialID(k, ver), Plaintext: pt}
	if doc != nil {
		out.Plaintext = nil
		if out.CiphertextForRecipient, err = forRecipient(doc, pt); err != nil {
			return nil, err
		}
	}
	return out, nil
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
	s.tokenGrants(ctx, in.GrantTokens)
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
	from := cryptoAccess("ReEncryptFrom", in.SourceEncryptionContext, in.SourceEncryptionAlgorithm)
	to := cryptoAccess("ReEncryptTo", in.DestinationEncryptionContext, in.DestinationEncryptionAlgorithm)
	var src *key
	if in.SourceKeyId != "" {
		if src, err = s.sourceKey(c, sc, from.action, in.SourceKeyId, in.CiphertextBlob); err != nil {
			return nil, err
		}
		c.Facts.addKey(src.arn)
		from.requestAlias(in.SourceKeyId)
	}
	dst, err := s.findKey(c, sc, to.action, in.DestinationKeyId, true)
	if err != nil {
		return nil, err
	}
	same := "false"
	if id, ok := ciphertext.KeyIDOf(in.CiphertextBlob); src == dst || src == nil && ok && id == dst.id {
		same = "true"
	}
	from.set(condReEncryptOnSameKey, same)
	to.set(condReEncryptOnSameKey, same)
	to.requestAlias(in.DestinationKeyId)
	checkDst := func() (*keys.Version, error) {
		_, ver, err := s.encryptKey(ctx, c, sc, to, dst.arn, in.DestinationEncryptionAlgorithm)
		return ver, err
	}
	if ignoreCT {
		if src == nil {
			return nil, kmserr.ErrValidation.With("SourceKeyId is required when DryRunModifiers contains IGNORE_CIPHERTEXT.")
		}
		if err := s.checkDecryptKey(ctx, c, src, from, in.SourceEncryptionAlgorithm, in.SourceEncryptionContext); err != nil {
			return nil, err
		}
		dver, err := checkDst()
		if err != nil {
			return nil, err
		}
		_, _, err = encryptUnder(dst, dver, in.DestinationEncryptionAlgorithm, nil, in.DestinationEncryptionContext, true)
		return nil, err
	}
	sk, sver, pt, err := s.decryptBlob(ctx, c, sc, from, src, in.CiphertextBlob, in.SourceEncryptionContext, in.SourceEncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	dver, err := checkDst()
	if err != nil {
		return nil, err
	}
	blob, dalg, err := encryptUnder(dst, dver, in.DestinationEncryptionAlgorithm, pt, in.DestinationEncryptionContext, in.DryRun)
	if err != nil {
		return nil, err
	}
	if blob, err = s.sealExternal(ctx, c, "ReEncrypt", dst, blob); err != nil {
		return nil, err
	}
	return &ReEncryptOutput{
		CiphertextBlob:                 blob,
		DestinationEncryptionAlgorithm: dalg,
		DestinationKeyMaterialId:       materialID(dst, dver),
		KeyId:                          dst.arn,
		SourceEncryptionAlgorithm:      decryptOutputAlg(sk, in.SourceEncryptionAlgorithm),
		SourceKeyId:                    sk.arn,
		SourceKeyMaterialId:            materialID(sk, sver),
	}, nil
}

// dataKey is the common part of GenerateDataKey and GenerateDataKeyWithoutPlaintext.
func (s *Service) dataKey(ctx context.Context, c Caller, op, keyID, spec string, nbytes *int32, grantTokens []string,
	ec map[string]string, recipient *RecipientInfo, dryRun bool) (*key, *keys.Version, []byte, []byte, *attest.Document, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, nil, nil, nil, nil, err
	}
	var v validator
	v.keyID("keyId", keyID, true)
	v.enum("keySpec", spec, enumDataKeySpec)
	v.intRange("numberOfBytes", nbytes, 1, 1024)
	v.grantTokens(grantTokens)
	s.tokenGrants(ctx, grantTokens)
	v.recipient(recipient)
	if err := v.Err(); err != nil {
		return nil, nil, nil, nil, nil, err
	}
	if (spec == "") == (nbytes == nil) {
		return nil, nil, nil, nil, nil, kmserr.ErrValidation.With("Please specify either number of bytes or key spec.")
	}
	if err := checkContext(ec); err != nil {
		return nil, nil, nil, nil, nil, err
	}
	doc, err := s.attestation(c, recipient)
	if err != nil {
		return nil, nil, nil, nil, nil, err
	}
	a := cryptoAccess(op, ec, "")
	a.att = doc
	k, ver, err := s.encryptKey(ctx, c, sc, a, keyID, "")
	if err != nil {
		return nil, nil, nil, nil, nil, err
	}
	if dryRun {
		return nil, nil, nil, nil, nil, kmserr.ErrDryRun
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
	blob, err := s.sealExternal(ctx, c, op, k, ver.Seal(pt, ec))
	if err != nil {
		clear(pt)
		return nil, nil, nil, nil, nil, err
	}
	return k, ver, pt, blob, doc, nil
}

// GenerateDataKey returns a random data key in plaintext and encrypted
// under the key. Exactly one of KeySpec (AES_128, AES_256) and NumberOfBytes
// (1..1024) must be given.
func (s *Service) GenerateDataKey(ctx context.Context, c Caller, in *GenerateDataKeyInput) (*GenerateDataKeyOutput, error) {
	k, ver, pt, blob, doc, err := s.dataKey(ctx, c, "GenerateDataKey", in.KeyId, in.KeySpec, in.NumberOfBytes, in.GrantTokens,
		in.EncryptionContext, in.Recipient, in.DryRun)
	if err != nil {
		return nil, err
	}
	out := &GenerateDataKeyOutput{CiphertextBlob: blob, KeyId: k.arn, KeyMaterialId: ver.MaterialID, Plaintext: pt}
	if doc != nil {
		out.Plaintext = nil
		if out.CiphertextForRecipient, err = forRecipient(doc, pt); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// GenerateDataKeyWithoutPlaintext is GenerateDataKey without the plaintext.
func (s *Service) GenerateDataKeyWithoutPlaintext(ctx context.Context, c Caller, in *GenerateDataKeyWithoutPlaintextInput) (*GenerateDataKeyWithoutPlaintextOutput, error) {
	k, ver, pt, blob, _, err := s.dataKey(ctx, c, "GenerateDataKeyWithoutPlaintext", in.KeyId, in.KeySpec, in.NumberOfBytes,
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
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	doc, err := s.attestation(c, in.Recipient)
	if err != nil {
		return nil, err
	}
	a := opAccess("GenerateRandom")
	a.att = doc
	if err := s.authorize(&c, nil, a); err != nil {
		return nil, err
	}
	var b []byte
	if in.CustomKeyStoreId != "" {
		// A CloudHSM key store's token generates the bytes; external key
		// stores cannot (AWS answers so).
		rec, err := s.readKeyStore(ctx, "GenerateRandom", sc, in.CustomKeyStoreId)
		if err != nil {
			return nil, err
		}
		if rec.Type != storeTypeCloudHSM {
			return nil, kmserr.ErrUnsupportedOperation.With("GenerateRandom is not supported with an external key store (%s).", in.CustomKeyStoreId)
		}
		if b, err = s.hsmRandom(ctx, sc, rec, int(*in.NumberOfBytes)); err != nil {
			return nil, err
		}
	} else {
		b = make([]byte, *in.NumberOfBytes)
		randRead(b)
	}
	if doc != nil {
		ct, err := forRecipient(doc, b)
		if err != nil {
			return nil, err
		}
		return &GenerateRandomOutput{CiphertextForRecipient: ct}, nil
	}
	return &GenerateRandomOutput{Plaintext: b}, nil
}
