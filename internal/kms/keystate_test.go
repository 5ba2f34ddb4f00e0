package kms

import (
	"crypto/rand"
	"testing"
	"time"
)

// TestRotationSettingsOfImportedKeyInEveryState: AWS's key-state table
// answers EnableKeyRotation and DisableKeyRotation on a key with imported
// material with UnsupportedOperationException "<ARN> origin is EXTERNAL
// which is not valid for this operation." whatever its state: PendingImport
// (footnote 6), Disabled or PendingDeletion (footnote 7), not the state's
// own error.
func TestRotationSettingsOfImportedKeyInEveryState(t *testing.T) {
	e := newEnv(t)
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	want := md.Arn + " origin is EXTERNAL which is not valid for this operation."
	check := func(state string) {
		t.Helper()
		_, err := e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: md.KeyId})
		wantErr(t, err, "UnsupportedOperationException", want)
		_, err = e.s.DisableKeyRotation(bg, caller, &DisableKeyRotationInput{KeyId: md.KeyId})
		wantErr(t, err, "UnsupportedOperationException", want)
		_, err = e.s.GetKeyRotationStatus(bg, caller, &GetKeyRotationStatusInput{KeyId: md.KeyId})
		wantErr(t, err, "UnsupportedOperationException", want)
	}
	check("PendingImport")
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: ptr[int32](7)}); err != nil {
		t.Fatalf("ScheduleKeyDeletion() err = %v", err)
	}
	check("PendingDeletion")
}

// TestDescribeKeyValidToIsTheEarliestExpiry: KeyMetadata.ValidTo is "the
// earliest time at which any imported key material permanently associated
// with this KMS key expires", present when the ExpirationModel is
// KEY_MATERIAL_EXPIRES (the SDK's KeyMetadata doc), not the current
// material's alone: after RotateKeyOnDemand to newer material, the older
// material's earlier ValidTo still shows.
func TestDescribeKeyValidToIsTheEarliestExpiry(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	dir := t.TempDir()
	describe := func(id string) *KeyMetadata {
		t.Helper()
		out, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: id})
		if err != nil {
			t.Fatalf("DescribeKey() err = %v", err)
		}
		return out.KeyMetadata
	}
	material := func() []byte {
		m := make([]byte, 32)
		rand.Read(m)
		return m
	}
	soon := &Timestamp{e.clock.Now().Add(10 * 24 * time.Hour).Truncate(time.Second)}
	later := &Timestamp{e.clock.Now().Add(100 * 24 * time.Hour).Truncate(time.Second)}
	for _, tc := range []struct {
		name   string
		second *Timestamp // nil: the newer material does not expire
	}{
		{"newer material expires later", later},
		{"newer material does not expire", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
			e.importWrapped(dir, md.KeyId, "RSAES_OAEP_SHA_256", material(), "", soon)
			e.importWrapped(dir, md.KeyId, "RSAES_OAEP_SHA_256", material(), "NEW_KEY_MATERIAL", tc.second)
			if _, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId}); err != nil {
				t.Fatalf("RotateKeyOnDemand() err = %v", err)
			}
			got := describe(md.KeyId)
			if got.ExpirationModel != "KEY_MATERIAL_EXPIRES" || got.ValidTo == nil || !got.ValidTo.Equal(soon.Time) {
				t.Errorf("DescribeKey ExpirationModel, ValidTo = %q, %v; want KEY_MATERIAL_EXPIRES, %v", got.ExpirationModel, got.ValidTo, soon.Time)
			}
		})
	}
}

// storeKey creates a key in a connected external key store (id).
func storeKey(t *testing.T) (*env, *KeyMetadata, string) {
	t.Helper()
	e, p, id := newStoreEnv(t)
	return e, connectedKey(t, e, p, id), id
}

// connectedKey connects the external key store id (whose proxy is p) and
// creates a key in it.
func connectedKey(t *testing.T, e *env, p *testProxy, id string) *KeyMetadata {
	t.Helper()
	if _, err := e.s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{Origin: originExternalStore, CustomKeyStoreId: id, XksKeyId: p.externalKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	return out.KeyMetadata
}

// unavailableKey creates a key in an external key store, encrypts with it
// (blob), then disconnects the store (id).
func unavailableKey(t *testing.T) (*env, *KeyMetadata, []byte, string) {
	t.Helper()
	e, md, id := storeKey(t)
	blob := e.encrypt(md.KeyId, []byte("x"), nil)
	if _, err := e.s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	return e, md, blob, id
}

// TestUnavailableKeyInEveryOperation: a key whose external key store is
// disconnected is Unavailable. AWS's key-state table: the cryptographic
// operations answer KMSInvalidStateException "<ARN> is unavailable."
// (footnote 11); EnableKey and DisableKey succeed and the state shows once
// the store is connected again (footnote 12); a key pending deletion stays
// PendingDeletion and its deletion can be cancelled (footnote 13).
func TestUnavailableKeyInEveryOperation(t *testing.T) {
	e, md, blob, id := unavailableKey(t)
	want := md.Arn + " is unavailable."
	_, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantErr(t, err, "KMSInvalidStateException", want)
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob})
	wantErr(t, err, "KMSInvalidStateException", want)
	_, err = e.s.GenerateDataKey(bg, caller, &GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_256"})
	wantErr(t, err, "KMSInvalidStateException", want)

	state := func() string {
		t.Helper()
		d, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.KeyId})
		if err != nil {
			t.Fatalf("DescribeKey() err = %v", err)
		}
		return d.KeyMetadata.KeyState
	}
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatalf("DisableKey of an Unavailable key err = %v", err)
	}
	if got := state(); got != "Unavailable" {
		t.Errorf("after DisableKey while disconnected: %s, want Unavailable", got)
	}
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: ptr[int32](7)}); err != nil {
		t.Fatalf("ScheduleKeyDeletion of an Unavailable key err = %v", err)
	}
	if got := state(); got != "PendingDeletion" {
		t.Errorf("after ScheduleKeyDeletion while disconnected: %s, want PendingDeletion", got)
	}
	if _, err := e.s.CancelKeyDeletion(bg, caller, &CancelKeyDeletionInput{KeyId: md.KeyId}); err != nil {
		t.Fatalf("CancelKeyDeletion while disconnected err = %v", err)
	}
	if _, err := e.s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != "Disabled" {
		t.Errorf("connected again: %s, want Disabled", got)
	}
}

// TestExpiredMaterialIsPendingImportAtOnce: when imported material expires
// "KMS deletes the key material and the KMS key becomes unusable"
// (ImportKeyMaterial's ValidTo): the key is PendingImport from that moment
// for every operation, DescribeKey (not Enabled), EnableKey and DisableKey
// (KMSInvalidStateException "<ARN> is pending import.") included, not only
// once the background job has deleted the material.
func TestExpiredMaterialIsPendingImportAtOnce(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	dir := t.TempDir()
	m := make([]byte, 32)
	rand.Read(m)
	for _, disabled := range []bool{false, true} {
		md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
		e.importWrapped(dir, md.KeyId, "RSAES_OAEP_SHA_256", m, "", &Timestamp{e.clock.Now().Add(time.Hour)})
		if disabled {
			if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: md.KeyId}); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.Advance(time.Hour)
		d, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.KeyId})
		if err != nil || d.KeyMetadata.KeyState != "PendingImport" || d.KeyMetadata.Enabled {
			t.Errorf("DescribeKey of expired material (disabled %v) = %+v, %v; want PendingImport, not enabled", disabled, d, err)
		}
		want := md.Arn + " is pending import."
		_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
		wantErr(t, err, "KMSInvalidStateException", want)
		_, err = e.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: md.KeyId})
		wantErr(t, err, "KMSInvalidStateException", want)
		_, err = e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: md.KeyId})
		wantErr(t, err, "KMSInvalidStateException", want)
	}
}

// TestUnavailableBeforeOtherKeyChecks: a key of a disconnected external key
// store is Unavailable whether Enabled or Disabled (DescribeKey), so its
// uses answer "<ARN> is unavailable." (key-state table, footnote 11), not
// DisabledException, and a DryRun is refused so too rather than answered
// DryRunOperationException (which comes only after every other check).
func TestUnavailableBeforeOtherKeyChecks(t *testing.T) {
	e, md, blob, id := unavailableKey(t)
	want := md.Arn + " is unavailable."
	_, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), DryRun: true})
	wantErr(t, err, "KMSInvalidStateException", want)
	_, err = e.s.GenerateDataKey(bg, caller, &GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_256", DryRun: true})
	wantErr(t, err, "KMSInvalidStateException", want)
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantErr(t, err, "KMSInvalidStateException", want)
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob})
	wantErr(t, err, "KMSInvalidStateException", want)
	_, err = e.s.GenerateDataKeyWithoutPlaintext(bg, caller, &GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId, KeySpec: "AES_256"})
	wantErr(t, err, "KMSInvalidStateException", want)
	// Connected again, the key is Disabled.
	if _, err := e.s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantErr(t, err, "DisabledException", md.Arn+" is disabled.")
}

// TestCreateGrantKeyStates: AWS's key-state table allows CreateGrant on an
// Enabled key and an Unavailable one only: a Disabled key answers
// DisabledException "<ARN> is disabled." (footnote 1, and DisabledException
// is among CreateGrant's errors in the API model, not among those of the
// operations allowed on a disabled key), a PendingImport key
// KMSInvalidStateException "<ARN> is pending import." (footnote 5).
func TestCreateGrantKeyStates(t *testing.T) {
	e, p, id := newStoreEnv(t)
	grant := func(keyID string) error {
		_, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: keyID, GranteePrincipal: "arn:aws:iam::" + acct + ":root",
			Operations: []string{"Decrypt"}})
		return err
	}
	md := e.createKey(caller)
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, grant(md.KeyId), "DisabledException", md.Arn+" is disabled.")
	if _, err := e.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if err := grant(md.KeyId); err != nil {
		t.Errorf("CreateGrant on an Enabled key err = %v", err)
	}

	ext := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	wantErr(t, grant(ext.KeyId), "KMSInvalidStateException", ext.Arn+" is pending import.")

	// Unavailable (its store disconnected), even when Disabled: allowed.
	xk := connectedKey(t, e, p, id)
	if _, err := e.s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: xk.KeyId}); err != nil {
		t.Fatal(err)
	}
	if err := grant(xk.KeyId); err != nil {
		t.Errorf("CreateGrant on an Unavailable key err = %v", err)
	}
}

// TestPendingDeletionWindowOnlyWhilePendingReplicaDeletion: KeyMetadata's
// PendingDeletionWindowInDays "is present only when the KeyState of the KMS
// key is PendingReplicaDeletion" (API reference); "while the key state is
// PendingDeletion, the DeletionDate field appears instead" (developer
// guide, deleting multi-Region keys).
func TestPendingDeletionWindowOnlyWhilePendingReplicaDeletion(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: ptr[int32](7)}); err != nil {
		t.Fatal(err)
	}
	d, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if m := d.KeyMetadata; m.KeyState != "PendingDeletion" || m.DeletionDate == nil || m.PendingDeletionWindowInDays != nil {
		t.Errorf("DescribeKey while PendingDeletion: DeletionDate %v, PendingDeletionWindowInDays %v; want a date and no window", m.DeletionDate, m.PendingDeletionWindowInDays)
	}
}
