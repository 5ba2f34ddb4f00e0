package kms

import (
	"context"
	"errors"
	"slices"

	"github.com/trent-kms/trent/internal/ciphertext"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/requestid"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/xks"
)

// Keys in an external key store (Origin EXTERNAL_KEY_STORE), and, the same
// way, in a CloudHSM key store (cloudhsm.go). As in AWS, such
// a key has key material of its own too, and every ciphertext is encrypted
// twice: first under the key's own material (Trent's blob, format 1), then
// by the store's proxy under the external key (ciphertext format 2,
// internal/ciphertext/external.go). Decrypting needs both: neither Trent
// without the proxy nor the proxy without Trent can decrypt, and
// disconnecting the store (or disabling the external key) cuts the key off.
// A format 1 blob is never accepted for such a key, so the inner blob the
// proxy sees cannot be decrypted without it.

// xksRef names a key's external key: its store and its id behind the proxy
// (empty for a key of a CloudHSM key store: the token's key is labelled
// with the KMS key id).
type xksRef struct{ store, keyID string }

// xksRecord is xksRef in the key's record.
type xksRecord struct {
	Store string `json:"store"`
	KeyID string `json:"keyId"`
}

func (r *xksRef) record() *xksRecord {
	if r == nil {
		return nil
	}
	return &xksRecord{Store: r.store, KeyID: r.keyID}
}

func xksFromRecord(r *xksRecord) *xksRef {
	if r == nil {
		return nil
	}
	return &xksRef{store: r.Store, keyID: r.KeyID}
}

// newExternalKey checks a CreateKey of a key in an external key store: the
// store is connected and its proxy has the external key, an AES-256 key for
// encryption and decryption, enabled, that no other key of the store uses.
// It returns the key's reference and a check of the last condition for the
// key's write transaction.
func (s *Service) newExternalKey(ctx context.Context, c Caller, sc scope, in *CreateKeyInput, origin string, spec keys.Spec, usage keys.Usage, id, keyARN string) (*xksRef, func(storage.Tx) error, error) {
	if in.CustomKeyStoreId == "" {
		if origin != storeTypeCloudHSM {
			origin = originExternalStore
		}
		return nil, nil, kmserr.ErrValidation.With("CustomKeyStoreId is required when Origin is %s.", origin)
	}
	rec, err := s.readKeyStore(ctx, "CreateKey", sc, in.CustomKeyStoreId)
	if err != nil {
		return nil, nil, err
	}
	if rec.Type == storeTypeCloudHSM {
		return s.newCloudHSMKey(ctx, sc, in, rec, origin, spec, usage, id, keyARN)
	}
	switch {
	case origin != originExternalStore:
		return nil, nil, kmserr.ErrValidation.With("Origin must be EXTERNAL_KEY_STORE for a key in custom key store %s.", in.CustomKeyStoreId)
	case in.XksKeyId == "":
		return nil, nil, kmserr.ErrValidation.With("XksKeyId is required when Origin is EXTERNAL_KEY_STORE.")
	case spec != keys.SymmetricDefault || usage != keys.EncryptDecrypt:
		return nil, nil, kmserr.ErrUnsupportedOperation.With("KMS keys in a custom key store must be symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT).")
	case in.MultiRegion:
		return nil, nil, kmserr.ErrUnsupportedOperation.With("Multi-Region keys cannot be created in a custom key store.")
	}
	ref := &xksRef{store: rec.ID, keyID: in.XksKeyId}
	inUse := func(tx storage.Tx) error {
		// The store as storage holds it now: it may have been disconnected
		// or deleted (on any node) while its proxy answered.
		if err := checkConnected(tx, sc, rec.ID); err != nil {
			return err
		}
		return eachExternalKey(tx, sc, func(keyID string, x *xksRecord) error {
			if keyID != id && *x == *ref.record() {
				return errXksKeyInUse.With("The external key %s is already associated with a KMS key in custom key store %s.", ref.keyID, ref.store)
			}
			return nil
		})
	}
	if err := s.store.View(ctx, inUse); err != nil {
		return nil, nil, s.keyStoreError(ctx, "CreateKey", err)
	}
	cctx, cancel := context.WithTimeout(ctx, xksTimeout)
	defer cancel()
	reqMD := &xks.RequestMetadata{AwsPrincipalArn: principalARN(c), KmsKeyArn: keyARN, KmsOperation: "CreateKey", KmsRequestId: requestID(c)}
	md, err := rec.client(s.xksHTTP).KeyMetadata(cctx, ref.keyID, reqMD)
	if err != nil {
		return nil, nil, s.externalKeyError(ctx, rec.ID, ref.keyID, reqMD, err)
	}
	if md.KeySpec != "AES_256" || !slices.Contains(md.KeyUsage, "ENCRYPT") || !slices.Contains(md.KeyUsage, "DECRYPT") || md.KeyStatus != "ENABLED" {
		return nil, nil, errXksKeyInvalidConfig.With("The external key %s must be an enabled AES_256 key for ENCRYPT and DECRYPT; its proxy reports %s %v %s.",
			ref.keyID, md.KeySpec, md.KeyUsage, md.KeyStatus)
	}
	return ref, inUse, nil
}

// externalKeyError is CreateKey's answer when the proxy of store could not
// give the metadata of the external key xksKeyID for the key keyARN (the
// XKS proxy API specification's table of KMS exceptions): the external
// key's own faults are XksKeyNotFoundException and
// XksKeyInvalidConfigurationException, a proxy that denies access
// KMSInvalidStateException, and every other failure of the proxy
// CustomKeyStoreInvalidStateException. md is the call's request metadata.
func (s *Service) externalKeyError(ctx context.Context, store, xksKeyID string, md *xks.RequestMetadata, err error) error {
	s.logProxyError(ctx, md, err)
	var xe *xks.Error
	switch {
	case errors.Is(err, xks.ErrKeyNotFound):
		return errXksKeyNotFound.With("The external key store proxy of custom key store %s has no external key %s.", store, xksKeyID)
	case errors.Is(err, xks.ErrInvalidState):
		return errXksKeyInvalidConfig.With("The external key %s is not enabled in its external key manager.", xksKeyID)
	case errors.Is(err, xks.ErrInvalidKeyUsage):
		return errXksKeyInvalidConfig.With("The external key %s does not support the requested operation.", xksKeyID)
	case errors.Is(err, xks.ErrAccessDenied):
		return kmserr.ErrInvalidState.With("The external key store proxy of custom key store %s denied access to the operation.", store)
	case errors.As(err, &xe):
		return errKeyStoreInvalidState.With("The external key store proxy of custom key store %s answered %s.", store, xe.Name)
	}
	return errKeyStoreInvalidState.With("The external key store proxy of custom key store %s failed (%s).", store, connectionErrorCode(err))
}

// proxyError is the answer to a proxy call (its request metadata md) that
// failed with err: as the XKS proxy API specification's table of KMS
// exceptions, KMSInvalidStateException for every failure of the proxy, a
// timeout too, and its InvalidCiphertextException (the outer layer of a
// changed ciphertext: the encryption context is bound by the inner one,
// whose failure is InvalidCiphertextException).
func (s *Service) proxyError(ctx context.Context, md *xks.RequestMetadata, err error) error {
	s.logProxyError(ctx, md, err)
	var xe *xks.Error
	if errors.As(err, &xe) {
		return kmserr.ErrInvalidState.With("%s is unusable: its external key store proxy answered %s.", md.KmsKeyArn, xe.Name)
	}
	return kmserr.ErrInvalidState.With("%s is unusable: its external key store proxy failed (%s).", md.KmsKeyArn, connectionErrorCode(err))
}

// logProxyError logs a failed proxy call with the request id it carried
// (the KMS request's, as in its answer and audit record).
func (s *Service) logProxyError(ctx context.Context, md *xks.RequestMetadata, err error) {
	if _, ok := requestid.FromContext(ctx); ok { // the log handler names it
		s.log.InfoContext(ctx, "kms: external key store proxy call failed", "op", md.KmsOperation, "key", md.KmsKeyArn, "err", err)
		return
	}
	s.log.Info("kms: external key store proxy call failed", "request_id", md.KmsRequestId, "op", md.KmsOperation, "key", md.KmsKeyArn, "err", err)
}

// connectedStore returns the store of k, which must be connected.
func (s *Service) connectedStore(ctx context.Context, op string, k *key) (*cachedKeyStore, error) {
	cs, err := s.cachedStore(ctx, scope{k.region, k.account}, k.xks.store)
	if err != nil {
		return nil, s.internal(ctx, op, err)
	}
	if cs == nil || cs.rec.State != stateConnected {
		// AWS's message (key-state table): the store is not named.
		return nil, kmserr.ErrInvalidState.With("%s is unavailable.", k.arn)
	}
	return cs, nil
}

// checkAvailable: a key in an external key store that is not connected is
// Unavailable, whether Enabled or Disabled (DescribeKey says so): its uses
// answer "<ARN> is unavailable." before any other key-state check, DryRun
// too (AWS's key-state table); a key pending deletion stays PendingDeletion.
func (s *Service) checkAvailable(ctx context.Context, op string, k *key) error {
	if k.xks == nil || (k.state != stateEnabled && k.state != stateDisabled) {
		return nil
	}
	_, err := s.connectedStore(ctx, op, k)
	return err
}

func proxyRequestMetadata(c Caller, op string, k *key) *xks.RequestMetadata {
	return &xks.RequestMetadata{AwsPrincipalArn: principalARN(c), KmsKeyArn: k.arn, KmsOperation: op, KmsRequestId: requestID(c)}
}

// requestID is the request id a proxy call carries (the spec requires one;
// a call from within the process has none of its own).
func requestID(c Caller) string {
	if c.RequestID != "" {
		return c.RequestID
	}
	return requestid.New()
}

// sealExternal returns blob unchanged for a key in no external key store;
// for one in a store, blob (k's own, format 1) encrypted by the store's
// proxy under the external key (format 2).
func (s *Service) sealExternal(ctx context.Context, c Caller, op string, k *key, blob []byte) ([]byte, error) {
	if k.xks == nil {
		return blob, nil
	}
	cs, err := s.connectedStore(ctx, op, k)
	if err != nil {
		return nil, err
	}
	if cs.rec.Type == storeTypeCloudHSM {
		return s.sealHSM(ctx, op, k, cs, blob)
	}
	e := &ciphertext.External{KeyID: k.id}
	ctx, cancel := context.WithTimeout(ctx, xksTimeout)
	defer cancel()
	md := proxyRequestMetadata(c, op, k)
	sealed, err := cs.client.Encrypt(ctx, k.xks.keyID, md, blob, e.Header())
	if err != nil {
		return nil, s.proxyError(ctx, md, err)
	}
	e.IV, e.Metadata, e.Tag, e.Ciphertext = sealed.IV, sealed.Metadata, sealed.Tag, sealed.Ciphertext
	out := e.Marshal()
	if len(out) > ciphertext.MaxBlobLen {
		return nil, s.internal(ctx, op, errors.New("external blob longer than the ciphertext limit"))
	}
	return out, nil
}

// openExternal returns the format 1 blob inside e, a ciphertext of k,
// which is in an external key store: its proxy decrypts it.
func (s *Service) openExternal(ctx context.Context, c Caller, op string, k *key, e *ciphertext.External) ([]byte, error) {
	cs, err := s.connectedStore(ctx, op, k)
	if err != nil {
		return nil, err
	}
	if cs.rec.Type == storeTypeCloudHSM {
		return s.openHSM(ctx, op, k, cs, e)
	}
	ctx, cancel := context.WithTimeout(ctx, xksTimeout)
	defer cancel()
	md := proxyRequestMetadata(c, op, k)
	inner, err := cs.client.Decrypt(ctx, k.xks.keyID, md,
		&xks.Sealed{Ciphertext: e.Ciphertext, IV: e.IV, Tag: e.Tag, Metadata: e.Metadata}, e.Header())
	if err != nil {
		return nil, s.proxyError(ctx, md, err)
	}
	return inner, nil
}

// externalState is the KeyState DescribeKey reports for k: Unavailable for
// a key whose store is not connected (as AWS), else its state.
func (s *Service) externalState(ctx context.Context, m *KeyMetadata, k *key) {
	if k.xks != nil && k.xks.keyID == "" { // a CloudHSM key store's: its cluster now
		if cs, err := s.cachedStore(ctx, scope{k.region, k.account}, k.xks.store); err == nil && cs != nil {
			m.CloudHsmClusterId = cs.rec.ClusterID
		}
	}
	if k.xks == nil || (k.state != stateEnabled && k.state != stateDisabled) {
		return
	}
	cs, err := s.cachedStore(ctx, scope{k.region, k.account}, k.xks.store)
	if err == nil && (cs == nil || cs.rec.State != stateConnected) {
		m.KeyState, m.Enabled = "Unavailable", false
	}
}
