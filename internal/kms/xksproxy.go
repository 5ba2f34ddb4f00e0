package kms

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/xks"
)

// # External Key Store proxy
//
// The XKS* methods serve the External Key Store proxy API (internal/xks)
// over the service's own keys, so that a KMS (AWS KMS, another Trent) can
// use a Trent key as the external key of a key in an external key store.
//
// The external key id is a key id (not an ARN, not an alias) in the
// caller's account and Region; a key of another account is not found.
// Every call is authorized as the KMS call it stands for: GetKeyMetadata
// needs kms:DescribeKey, Encrypt kms:Encrypt and Decrypt kms:Decrypt on the
// key (key policy, identity policies, grants). Only symmetric encryption
// keys whose material Trent holds (origin AWS_KMS, or EXTERNAL with its
// material imported) are external keys.
//
// Encrypt is AES-256-GCM under the key's current material (the material
// Trent's own Encrypt uses, counted against the same per-version limit),
// with a random 12-byte IV and the additional data xks.AAD(aad, metadata).
// The ciphertext metadata is xksMetadataLen bytes that name the material
// version: xksMetadataFormat, then the version number (uint32, big-endian).
// Decrypt reads the version from it (every version stays available, so a
// value sealed before a rotation still opens) and answers every failure
// with xks.ErrInvalidCiphertext and no message.
//
// The format byte 0xFF keeps the two uses of a key's material apart: an
// XKS value cannot pass for a CiphertextBlob of Trent's own (or the
// reverse) under any encryption context a client can send, because its
// additional data would have to end in a 0xFF byte that is neither a
// length of the context encoding nor part of a UTF-8 string (and every
// string arriving in JSON is UTF-8).
//
// The methods report what they used in c.Facts, as the KMS operations do,
// for the audit record the front door writes.

const (
	xksMetadataFormat = 0xFF
	xksMetadataLen    = 5
)

// errXKSCiphertext is every failure to decrypt: one answer, no oracle.
var errXKSCiphertext = xks.ErrInvalidCiphertext

// XKSCaller is the Caller of an XKS proxy request's sender (the principal
// of its SigV4 credential and the Region of the credential's scope).
func XKSCaller(c *xks.Caller) Caller {
	return Caller{Principal: c.Principal, Region: c.Region}
}

// XKSBackend returns the xks.Backend over s's keys (the XKS* methods with
// no facts reported): what xks.Handler serves when nothing records.
func (s *Service) XKSBackend() xks.Backend { return xksBackend{s} }

type xksBackend struct{ s *Service }

var _ xks.Backend = xksBackend{}

func (b xksBackend) Health(ctx context.Context) error { return b.s.XKSHealth(ctx) }

func (b xksBackend) KeyMetadata(ctx context.Context, c *xks.Caller, keyID string, _ *xks.RequestMetadata) (*xks.KeyMetadata, error) {
	return b.s.XKSKeyMetadata(ctx, XKSCaller(c), keyID)
}

func (b xksBackend) Encrypt(ctx context.Context, c *xks.Caller, keyID string, _ *xks.RequestMetadata, pt, aad []byte) (*xks.Sealed, error) {
	return b.s.XKSEncrypt(ctx, XKSCaller(c), keyID, pt, aad)
}

func (b xksBackend) Decrypt(ctx context.Context, c *xks.Caller, keyID string, _ *xks.RequestMetadata, sealed *xks.Sealed, aad []byte) ([]byte, error) {
	return b.s.XKSDecrypt(ctx, XKSCaller(c), keyID, sealed, aad)
}

// XKSHealth reports whether the service can do cryptographic work: it
// holds its keys (it was not wiped by a seal) and its store answers.
func (s *Service) XKSHealth(ctx context.Context) error {
	if s.wiped.Load() {
		return xks.ErrInternal.With("the key manager is sealed")
	}
	if err := s.store.Ping(ctx); err != nil {
		return xks.ErrDependencyTimeout.With("the key manager's storage does not answer")
	}
	return nil
}

// XKSKeyMetadata answers GetKeyMetadata: AES_256, ENCRYPT and DECRYPT, and
// ENABLED or DISABLED. A key in another state is xks.ErrInvalidState; a key
// that is not an external key (see above) xks.ErrInvalidKeyUsage.
func (s *Service) XKSKeyMetadata(ctx context.Context, c Caller, keyID string) (*xks.KeyMetadata, error) {
	k, err := s.xksKey(c, opAccess("DescribeKey"), keyID)
	if err != nil {
		return nil, err
	}
	status := "ENABLED"
	switch {
	case k.materialMissing() || k.expired(s.now()):
		return nil, xks.ErrInvalidState.With(k.arn + " is pending import.")
	case k.state == stateDisabled:
		status = "DISABLED"
	case k.state != stateEnabled:
		return nil, xks.ErrInvalidState.With(k.arn + " is " + k.state + ".")
	}
	return &xks.KeyMetadata{KeySpec: "AES_256", KeyUsage: []string{"ENCRYPT", "DECRYPT"}, KeyStatus: status}, nil
}

// XKSEncrypt encrypts pt under the current material of key keyID, binding
// aad (at most xks.MaxAAD bytes). A key that is not Enabled is
// xks.ErrInvalidState.
func (s *Service) XKSEncrypt(ctx context.Context, c Caller, keyID string, pt, aad []byte) (*xks.Sealed, error) {
	if len(aad) > xks.MaxAAD {
		return nil, xks.ErrValidation.With("additionalAuthenticatedData is too long.")
	}
	k, err := s.xksKey(c, cryptoAccess("Encrypt", nil, ""), keyID)
	if err != nil {
		return nil, err
	}
	if err := s.xksUsable(k); err != nil {
		return nil, err
	}
	ver := k.current()
	if ver.Encryptions.Load() >= hardEncryptionLimit {
		return nil, xks.ErrInvalidState.With(k.arn + " needs rotation before further use.")
	}
	md := xksMetadata(ver.Num)
	iv, ct, tag, err := ver.SealDetached(pt, xks.AAD(aad, md))
	if err != nil {
		return nil, err // not symmetric: xksKey let through a key it should not have
	}
	if c.Facts != nil {
		c.Facts.Encrypted = KeyUse{k.arn, ver.MaterialID}
	}
	return &xks.Sealed{Ciphertext: ct, IV: iv, Tag: tag, Metadata: md}, nil
}

// XKSDecrypt decrypts what XKSEncrypt returned for key keyID with the same
// aad. Every failure to authenticate (another key, another aad, a changed
// ciphertext, IV, tag or metadata) is xks.ErrInvalidCiphertext with no
// message. A key that is not Enabled is xks.ErrInvalidState.
func (s *Service) XKSDecrypt(ctx context.Context, c Caller, keyID string, sealed *xks.Sealed, aad []byte) ([]byte, error) {
	k, err := s.xksKey(c, cryptoAccess("Decrypt", nil, ""), keyID)
	if err != nil {
		return nil, err
	}
	if err := s.xksUsable(k); err != nil {
		return nil, err
	}
	if sealed == nil || len(aad) > xks.MaxAAD {
		return nil, errXKSCiphertext
	}
	num, ok := parseXKSMetadata(sealed.Metadata)
	if !ok {
		return nil, errXKSCiphertext
	}
	ver := k.version(num)
	if ver == nil {
		return nil, errXKSCiphertext
	}
	// Trent makes only 12-byte IVs: a 16-byte one (valid in the
	// specification) is not Trent's, and OpenDetached refuses it.
	pt, err := ver.OpenDetached(sealed.IV, sealed.Ciphertext, sealed.Tag, xks.AAD(aad, sealed.Metadata))
	if err != nil {
		return nil, errXKSCiphertext
	}
	if c.Facts != nil {
		c.Facts.Decrypted = KeyUse{k.arn, ver.MaterialID}
	}
	return pt, nil
}

// xksKey resolves key id keyID in the caller's account and Region, then
// authorizes a on it and checks that it is an external key. Not found and
// denied answer in the proxy API's errors.
func (s *Service) xksKey(c Caller, a *access, keyID string) (*key, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, xks.ErrAuthenticationFailed.With("The request's credential has no valid account and Region.")
	}
	var k *key
	if arn.IsKeyID(keyID) {
		k = s.getKey(sc, keyID)
	}
	if k == nil {
		return nil, xks.ErrKeyNotFound.With("Key '" + keyID + "' does not exist in this account and Region.")
	}
	c.Facts.addKey(k.arn)
	if err := s.authorize(&c, k, a); err != nil {
		var ke *kmserr.Error
		if errors.As(err, &ke) && ke.Code == kmserr.ErrAccessDenied.Code {
			return nil, xks.ErrAccessDenied.With(ke.Message)
		}
		return nil, err
	}
	if k.spec != keys.SymmetricDefault || k.usage != keys.EncryptDecrypt ||
		k.origin != originAWSKMS && k.origin != originExternal {
		return nil, xks.ErrInvalidKeyUsage.With(k.arn + " is not a symmetric encryption key with key material in Trent (key spec " +
			string(k.spec) + ", key usage " + string(k.usage) + ", origin " + k.origin + ").")
	}
	return k, nil
}

// xksUsable is the key-state check of Encrypt and Decrypt: Enabled, with
// material that has not expired.
func (s *Service) xksUsable(k *key) error {
	if err := k.usable(s.now()); err != nil {
		var ke *kmserr.Error
		if errors.As(err, &ke) {
			return xks.ErrInvalidState.With(ke.Message)
		}
		return err
	}
	return nil
}

// xksMetadata is the ciphertext metadata of material version num.
func xksMetadata(num uint32) []byte {
	md := make([]byte, 1, xksMetadataLen)
	md[0] = xksMetadataFormat
	return binary.BigEndian.AppendUint32(md, num)
}

// parseXKSMetadata returns the material version md names.
func parseXKSMetadata(md []byte) (uint32, bool) {
	if len(md) != xksMetadataLen || md[0] != xksMetadataFormat {
		return 0, false
	}
	num := binary.BigEndian.Uint32(md[1:])
	return num, num != 0
}
