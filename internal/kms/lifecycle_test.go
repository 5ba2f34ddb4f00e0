package kms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/ciphertext"
	"github.com/trent-kms/trent/internal/storage"
)

const day = 24 * time.Hour

func TestRotation(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	status := func() *GetKeyRotationStatusOutput {
		t.Helper()
		out, err := e.s.GetKeyRotationStatus(bg, caller, &GetKeyRotationStatusInput{KeyId: md.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if st := status(); st.KeyRotationEnabled || st.RotationPeriodInDays != nil || st.NextRotationDate != nil || st.KeyId != md.Arn {
		t.Errorf("initial status = %+v", st)
	}
	for _, p := range []int32{89, 2561} {
		_, err := e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: &p})
		wantErr(t, err, "ValidationException", "*")
	}
	enabledAt := e.clock.Now()
	if _, err := e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	st := status()
	if !st.KeyRotationEnabled || *st.RotationPeriodInDays != 365 || !st.NextRotationDate.Equal(enabledAt.Add(365*day)) {
		t.Errorf("status = %+v", st)
	}
	e.clock.Advance(10 * day)
	if _, err := e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: ptr[int32](90)}); err != nil {
		t.Fatal(err)
	}
	if st := status(); *st.RotationPeriodInDays != 90 || !st.NextRotationDate.Equal(enabledAt.Add(90*day)) {
		t.Errorf("status after period change = %+v", st)
	}

	// Ciphertext of each version keeps decrypting; new encryptions use the newest.
	blobs := [][]byte{e.encrypt(md.KeyId, []byte("v1"), nil)}
	out, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId})
	if err != nil || out.KeyId != md.Arn {
		t.Fatalf("RotateKeyOnDemand = %+v, %v", out, err)
	}
	blobs = append(blobs, e.encrypt(md.KeyId, []byte("v2"), nil))
	if b, _ := ciphertext.Parse(blobs[1]); b.Version != 2 {
		t.Errorf("blob after rotation has version %d, want 2", b.Version)
	}
	d, _ := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.KeyId})
	if d.KeyMetadata.CurrentKeyMaterialId == md.CurrentKeyMaterialId {
		t.Error("CurrentKeyMaterialId unchanged after rotation")
	}
	if st := status(); !st.NextRotationDate.Equal(enabledAt.Add(90 * day)) {
		t.Errorf("on-demand rotation changed the schedule: %+v", st)
	}

	// Automatic rotation in Tick when due.
	e.clock.Advance(79 * day)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if n := len(e.s.getKey(scope{region, acct}, md.KeyId).versions); n != 2 {
		t.Fatalf("versions before due = %d, want 2", n)
	}
	e.clock.Advance(1 * day)
	rotatedAt := e.clock.Now()
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if n := len(e.s.getKey(scope{region, acct}, md.KeyId).versions); n != 3 {
		t.Fatalf("versions after due = %d, want 3", n)
	}
	if st := status(); !st.NextRotationDate.Equal(rotatedAt.Add(90 * day)) {
		t.Errorf("next rotation after automatic rotation = %v, want %v", st.NextRotationDate, rotatedAt.Add(90*day))
	}
	blobs = append(blobs, e.encrypt(md.KeyId, []byte("v3"), nil))
	for i, b := range blobs {
		dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: b})
		if err != nil || string(dec.Plaintext) != fmt.Sprintf("v%d", i+1) {
			t.Errorf("Decrypt(version %d) = %v, %v", i+1, dec, err)
		}
	}

	lr, err := e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.Arn})
	if err != nil {
		t.Fatal(err)
	}
	if len(lr.Rotations) != 2 || lr.Rotations[0].RotationType != "ON_DEMAND" || lr.Rotations[1].RotationType != "AUTOMATIC" ||
		lr.Rotations[0].KeyMaterialState != "NON_CURRENT" || lr.Rotations[1].KeyMaterialState != "CURRENT" ||
		!lr.Rotations[1].RotationDate.Equal(rotatedAt) || lr.Rotations[0].KeyId != md.KeyId {
		t.Errorf("ListKeyRotations = %+v", lr.Rotations)
	}
	all, _ := e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
	if len(all.Rotations) != 3 || all.Rotations[0].KeyMaterialId != md.CurrentKeyMaterialId || all.Rotations[0].RotationType != "" {
		t.Errorf("ListKeyRotations(ALL_KEY_MATERIAL) = %+v", all.Rotations)
	}
	p1, _ := e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL", Limit: ptr[int32](2)})
	p2, err := e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL", Limit: ptr[int32](2), Marker: p1.NextMarker})
	if err != nil || len(p1.Rotations) != 2 || !p1.Truncated || len(p2.Rotations) != 1 || p2.Truncated || p2.Rotations[0].KeyMaterialState != "CURRENT" {
		t.Errorf("ListKeyRotations pages = %+v / %+v, %v", p1, p2, err)
	}
	_, err = e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "SOME"})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value 'SOME' at 'includeKeyMaterial' failed to satisfy constraint: Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]")
	_, err = e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, Marker: "zz"})
	wantErr(t, err, "InvalidMarkerException", "*")

	// Disabled keys neither rotate nor accept rotation changes.
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId})
	wantErr(t, err, "DisabledException", md.Arn+" is disabled.")
	_, err = e.s.DisableKeyRotation(bg, caller, &DisableKeyRotationInput{KeyId: md.KeyId})
	wantErr(t, err, "DisabledException", md.Arn+" is disabled.")
	e.clock.Advance(200 * day)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if n := len(e.s.getKey(scope{region, acct}, md.KeyId).versions); n != 3 {
		t.Errorf("disabled key rotated: %d versions", n)
	}
	// Re-enabled, an overdue rotation catches up at the next tick.
	if _, err := e.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if n := len(e.s.getKey(scope{region, acct}, md.KeyId).versions); n != 4 {
		t.Errorf("overdue rotation after EnableKey: %d versions, want 4", n)
	}
	if _, err := e.s.DisableKeyRotation(bg, caller, &DisableKeyRotationInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if st := status(); st.KeyRotationEnabled || st.NextRotationDate != nil {
		t.Errorf("status after DisableKeyRotation = %+v", st)
	}
	e.clock.Advance(1000 * day)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if n := len(e.s.getKey(scope{region, acct}, md.KeyId).versions); n != 4 {
		t.Errorf("rotation-disabled key rotated: %d versions", n)
	}

	// Pending deletion reports false, restored on cancel.
	if _, err := e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if st := status(); st.KeyRotationEnabled {
		t.Error("pending-deletion key reports rotation enabled")
	}
	if _, err := e.s.CancelKeyDeletion(bg, caller, &CancelKeyDeletionInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if st := status(); !st.KeyRotationEnabled {
		t.Error("rotation setting not restored after CancelKeyDeletion")
	}
}

func TestOnDemandRotationLimit(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	var blobs [][]byte
	for i := 0; i < MaxOnDemandRotations; i++ {
		blobs = append(blobs, e.encrypt(md.KeyId, []byte{byte(i)}, map[string]string{"i": fmt.Sprint(i)}))
		if _, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId}); err != nil {
			t.Fatalf("rotation %d err = %v", i+1, err)
		}
	}
	_, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId})
	wantErr(t, err, "LimitExceededException", "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: "+md.Arn)
	for i, b := range blobs {
		dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: b, EncryptionContext: map[string]string{"i": fmt.Sprint(i)}})
		if err != nil || !bytes.Equal(dec.Plaintext, []byte{byte(i)}) {
			t.Errorf("Decrypt(blob of version %d) = %v, %v", i+1, dec, err)
		}
	}
	lr, _ := e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId})
	ids := map[string]bool{md.CurrentKeyMaterialId: true}
	for _, r := range lr.Rotations {
		if ids[r.KeyMaterialId] || len(r.KeyMaterialId) != 64 {
			t.Errorf("material id %q repeated or malformed", r.KeyMaterialId)
		}
		ids[r.KeyMaterialId] = true
	}
	if len(lr.Rotations) != MaxOnDemandRotations {
		t.Errorf("ListKeyRotations = %d entries, want %d", len(lr.Rotations), MaxOnDemandRotations)
	}
}

func TestReEncrypt(t *testing.T) {
	e := newEnv(t)
	k1 := e.createKey(caller)
	k2 := e.createKey(caller)
	src := map[string]string{"s": "1"}
	dst := map[string]string{"d": "2"}
	blob := e.encrypt(k1.KeyId, []byte("payload"), src)
	out, err := e.s.ReEncrypt(bg, caller, &ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: src, DestinationKeyId: k2.Arn, DestinationEncryptionContext: dst})
	if err != nil {
		t.Fatal(err)
	}
	if out.KeyId != k2.Arn || out.SourceKeyId != k1.Arn || out.SourceKeyMaterialId != k1.CurrentKeyMaterialId ||
		out.DestinationKeyMaterialId != k2.CurrentKeyMaterialId || out.SourceEncryptionAlgorithm != "SYMMETRIC_DEFAULT" ||
		out.DestinationEncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
		t.Errorf("ReEncrypt = %+v", out)
	}
	dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: dst, KeyId: k2.KeyId})
	if err != nil || string(dec.Plaintext) != "payload" {
		t.Errorf("Decrypt(re-encrypted) = %v, %v", dec, err)
	}
	_, err = e.s.ReEncrypt(bg, caller, &ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: k2.KeyId})
	wantErr(t, err, "InvalidCiphertextException", "")
	_, err = e.s.ReEncrypt(bg, caller, &ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: src, SourceKeyId: k2.KeyId, DestinationKeyId: k2.KeyId})
	wantErr(t, err, "IncorrectKeyException", "*")
	_, err = e.s.ReEncrypt(bg, caller, &ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: src})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value null at 'destinationKeyId' failed to satisfy constraint: Member must not be null")
	_, err = e.s.ReEncrypt(bg, caller, &ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: src, DestinationKeyId: k2.KeyId, DryRun: true})
	wantErr(t, err, "DryRunOperationException", "*")
	_, err = e.s.ReEncrypt(bg, caller, &ReEncryptInput{DryRun: true, DryRunModifiers: []string{"IGNORE_CIPHERTEXT"}, SourceKeyId: k1.KeyId, DestinationKeyId: k2.KeyId})
	wantErr(t, err, "DryRunOperationException", "*")
	_, err = e.s.ReEncrypt(bg, caller, &ReEncryptInput{DryRun: true, DryRunModifiers: []string{"IGNORE_CIPHERTEXT"}, DestinationKeyId: k2.KeyId})
	wantErr(t, err, "ValidationException", "*")
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: k2.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.ReEncrypt(bg, caller, &ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: src, DestinationKeyId: k2.KeyId, DryRun: true})
	wantErr(t, err, "DisabledException", k2.Arn+" is disabled.")
}

func TestBackgroundDeletion(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	keep := e.createKey(caller)
	for _, a := range []string{"alias/one", "alias/two"} {
		if _, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: a, TargetKeyId: md.KeyId}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/keep", TargetKeyId: keep.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: ptr[int32](7)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(7*day - time.Second)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatalf("key deleted before its deletion date: %v", err)
	}
	e.clock.Advance(time.Second)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.KeyId})
	wantErr(t, err, "NotFoundException", "Key '"+md.Arn+"' does not exist")
	la, _ := e.s.ListAliases(bg, caller, &ListAliasesInput{})
	la.Aliases = slices.DeleteFunc(la.Aliases, func(a AliasListEntry) bool { return a.TargetKeyId == "" }) // AWS's predefined
	if len(la.Aliases) != 1 || la.Aliases[0].AliasName != "alias/keep" {
		t.Errorf("aliases after deletion = %+v", la.Aliases)
	}
	// Nothing of the key is left in storage.
	_ = e.store.View(bg, func(tx storage.Tx) error {
		ents, err := tx.List("kms/", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range ents {
			if strings.Contains(ent.Key, md.KeyId) || strings.Contains(ent.Key, "alias/one") || strings.Contains(ent.Key, "alias/two") {
				t.Errorf("left in storage: %s", ent.Key)
			}
		}
		return nil
	})
	s2 := e.reopen()
	if _, err := s2.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.KeyId}); err == nil {
		t.Error("deleted key back after reopen")
	}
	if _, err := s2.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: "alias/keep"}); err != nil {
		t.Errorf("kept alias lost after reopen: %v", err)
	}
}

func TestPersistence(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	west := e.createKey(callerIn("us-west-2", "444455556666"))
	pol := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}`
	steps := []error{
		func() error {
			_, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/p", TargetKeyId: md.KeyId})
			return err
		}(),
		func() error {
			_, err := e.s.TagResource(bg, caller, &TagResourceInput{KeyId: md.KeyId, Tags: []Tag{{"team", "x"}}})
			return err
		}(),
		func() error {
			_, err := e.s.PutKeyPolicy(bg, caller, &PutKeyPolicyInput{KeyId: md.KeyId, Policy: &pol})
			return err
		}(),
		func() error {
			_, err := e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: ptr[int32](100)})
			return err
		}(),
		func() error {
			_, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId})
			return err
		}(),
		func() error {
			_, err := e.s.UpdateKeyDescription(bg, caller, &UpdateKeyDescriptionInput{KeyId: md.KeyId, Description: ptr("persisted")})
			return err
		}(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d err = %v", i, err)
		}
	}
	blob := e.encrypt("alias/p", []byte("survives"), nil)
	before := snapshot(t, e.s)
	if err := e.s.Tick(bg); err != nil { // flushes the encryption counter
		t.Fatal(err)
	}

	s2 := e.reopen()
	after := snapshot(t, s2)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("state after reopen differs:\nbefore %v\nafter  %v", before, after)
	}
	dec, err := s2.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob})
	if err != nil || string(dec.Plaintext) != "survives" {
		t.Errorf("Decrypt after reopen = %v, %v", dec, err)
	}
	if n := s2.getKey(scope{region, acct}, md.KeyId).current().Encryptions.Load(); n != 1 {
		t.Errorf("encryption counter after reopen = %d, want 1", n)
	}
	if _, err := s2.DescribeKey(bg, callerIn("us-west-2", "444455556666"), &DescribeKeyInput{KeyId: west.Arn}); err != nil {
		t.Errorf("key of another region/account lost: %v", err)
	}
}

// snapshot renders everything observable about the caller's keys.
func snapshot(t *testing.T, s *Service) string {
	t.Helper()
	var b strings.Builder
	lk, err := s.ListKeys(bg, caller, &ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range lk.Keys {
		d, _ := s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: k.KeyId})
		tags, _ := s.ListResourceTags(bg, caller, &ListResourceTagsInput{KeyId: k.KeyId})
		pol, _ := s.GetKeyPolicy(bg, caller, &GetKeyPolicyInput{KeyId: k.KeyId})
		rot, _ := s.GetKeyRotationStatus(bg, caller, &GetKeyRotationStatusInput{KeyId: k.KeyId})
		lr, _ := s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: k.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
		for _, v := range []any{d, tags, pol, rot, lr} {
			j, _ := json.Marshal(v)
			b.Write(j)
			b.WriteByte('\n')
		}
	}
	la, _ := s.ListAliases(bg, caller, &ListAliasesInput{})
	j, _ := json.Marshal(la)
	b.Write(j)
	return b.String()
}

func TestFailedWriteLeavesMemoryUnchanged(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	if _, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/a", TargetKeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	k2 := e.createKey(caller)
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: e.createKey(caller).KeyId}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, e.s)
	pol := `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}`
	e.store.setFail(true)
	ops := map[string]func() error{
		"CreateKey": func() error { _, err := e.s.CreateKey(bg, caller, &CreateKeyInput{}); return err },
		"UpdateKeyDescription": func() error {
			_, err := e.s.UpdateKeyDescription(bg, caller, &UpdateKeyDescriptionInput{KeyId: md.KeyId, Description: ptr("x")})
			return err
		},
		"DisableKey": func() error { _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: md.KeyId}); return err },
		"ScheduleKeyDeletion": func() error {
			_, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId})
			return err
		},
		"CreateAlias": func() error {
			_, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/b", TargetKeyId: md.KeyId})
			return err
		},
		"UpdateAlias": func() error {
			_, err := e.s.UpdateAlias(bg, caller, &UpdateAliasInput{AliasName: "alias/a", TargetKeyId: k2.KeyId})
			return err
		},
		"DeleteAlias": func() error {
			_, err := e.s.DeleteAlias(bg, caller, &DeleteAliasInput{AliasName: "alias/a"})
			return err
		},
		"TagResource": func() error {
			_, err := e.s.TagResource(bg, caller, &TagResourceInput{KeyId: md.KeyId, Tags: []Tag{{"a", "b"}}})
			return err
		},
		"PutKeyPolicy": func() error {
			_, err := e.s.PutKeyPolicy(bg, caller, &PutKeyPolicyInput{KeyId: md.KeyId, Policy: &pol})
			return err
		},
		"EnableKeyRotation": func() error {
			_, err := e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: md.KeyId})
			return err
		},
		"RotateKeyOnDemand": func() error {
			_, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId})
			return err
		},
		"SeedKey": func() error {
			return e.s.SeedKey(bg, SeedKey{ID: otherID, AccountID: acct, Aliases: []string{"alias/seeded"}})
		},
		"Tick": func() error { e.clock.Advance(31 * day); defer e.clock.Advance(-31 * day); return e.s.Tick(bg) },
	}
	for name, op := range ops {
		if err := op(); err == nil {
			t.Errorf("%s succeeded with a failing store", name)
		} else if name != "SeedKey" && name != "Tick" {
			wantErr(t, err, "KMSInternalException", "*")
		}
		if got := snapshot(t, e.s); got != before {
			t.Errorf("%s changed memory despite the failed write:\nbefore %s\nafter  %s", name, before, got)
		}
	}
	e.store.setFail(false)
	if got := snapshot(t, e.reopen()); got != before {
		t.Errorf("storage changed by failed writes")
	}
}

func TestSeedKey(t *testing.T) {
	e := newEnv(t)
	material := bytes.Repeat([]byte{7}, 32)
	sk := SeedKey{ID: otherID, Description: "seeded", Material: material, Aliases: []string{"alias/seed", "alias/seed2"},
		Tags: map[string]string{"env": "dev"}, AccountID: acct, RotationEnabled: true}
	if err := e.s.SeedKey(bg, sk); err != nil {
		t.Fatal(err)
	}
	d, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: "alias/seed2"})
	if err != nil || d.KeyMetadata.KeyId != otherID || d.KeyMetadata.Description != "seeded" || !d.KeyMetadata.Enabled {
		t.Fatalf("DescribeKey(seeded) = %+v, %v", d, err)
	}
	st, _ := e.s.GetKeyRotationStatus(bg, caller, &GetKeyRotationStatusInput{KeyId: otherID})
	if !st.KeyRotationEnabled || *st.RotationPeriodInDays != 365 {
		t.Errorf("seeded rotation = %+v", st)
	}
	tags, _ := e.s.ListResourceTags(bg, caller, &ListResourceTagsInput{KeyId: otherID})
	if !slices.Equal(tags.Tags, []Tag{{"env", "dev"}}) {
		t.Errorf("seeded tags = %+v", tags.Tags)
	}
	// Fixed material: a blob made by another service seeded the same way decrypts.
	other := newEnv(t)
	if err := other.s.SeedKey(bg, SeedKey{ID: otherID, Material: material, AccountID: acct}); err != nil {
		t.Fatal(err)
	}
	blob := other.encrypt(otherID, []byte("portable"), nil)
	dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob})
	if err != nil || string(dec.Plaintext) != "portable" {
		t.Errorf("Decrypt of blob from same seeded material = %v, %v", dec, err)
	}
	// Idempotent.
	before := snapshot(t, e.s)
	sk.Description = "changed"
	if err := e.s.SeedKey(bg, sk); err != nil {
		t.Errorf("SeedKey again err = %v", err)
	}
	if err := e.reopen().SeedKey(bg, sk); err != nil {
		t.Errorf("SeedKey after reopen err = %v", err)
	}
	if snapshot(t, e.s) != before || snapshot(t, e.reopen()) != before {
		t.Error("second SeedKey changed state")
	}
	for name, bad := range map[string]SeedKey{
		"bad id":       {ID: "nope", AccountID: acct},
		"bad material": {ID: "22222222-2222-3333-4444-555555555555", AccountID: acct, Material: []byte{1}},
		"bad account":  {ID: "22222222-2222-3333-4444-555555555555", AccountID: "x"},
		"bad alias":    {ID: "22222222-2222-3333-4444-555555555555", AccountID: acct, Aliases: []string{"seed"}},
		"taken alias":  {ID: "22222222-2222-3333-4444-555555555555", AccountID: acct, Aliases: []string{"alias/seed"}},
		"aws tag":      {ID: "22222222-2222-3333-4444-555555555555", AccountID: acct, Tags: map[string]string{"aws:x": "y"}},
	} {
		if err := e.s.SeedKey(bg, bad); err == nil {
			t.Errorf("SeedKey(%s) succeeded", name)
		}
	}
	if err := e.s.SeedKey(bg, SeedKey{ID: otherID, AccountID: acct, Region: "eu-west-1"}); err != nil {
		t.Errorf("same id in another region err = %v", err)
	}
}

func TestTimestampJSON(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1556582400, 0), "1556582400"},
		{time.Unix(1556582400, 123e6), "1556582400.123"},
	} {
		got, err := json.Marshal(ts(tc.t))
		if err != nil || string(got) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v, want %s", tc.t, got, err, tc.want)
		}
		var back Timestamp
		if err := json.Unmarshal(got, &back); err != nil || !back.Equal(tc.t) {
			t.Errorf("Unmarshal(%s) = %v, %v", got, back, err)
		}
	}
	var x Timestamp
	if err := json.Unmarshal([]byte("1.5565824E9"), &x); err != nil || x.Unix() != 1556582400 {
		t.Errorf("Unmarshal(1.5565824E9) = %v, %v", x, err)
	}
	if err := json.Unmarshal([]byte(`"2020"`), &x); err == nil {
		t.Error("Unmarshal of a string timestamp succeeded")
	}
}

func TestWireShapes(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	j, _ := json.Marshal(&DescribeKeyOutput{KeyMetadata: md})
	var m map[string]map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"AWSAccountId", "Arn", "CreationDate", "CurrentKeyMaterialId", "CustomerMasterKeySpec", "Description",
		"Enabled", "EncryptionAlgorithms", "KeyId", "KeyManager", "KeySpec", "KeyState", "KeyUsage", "MultiRegion", "Origin"} {
		if _, ok := m["KeyMetadata"][f]; !ok {
			t.Errorf("KeyMetadata JSON lacks %s: %s", f, j)
		}
	}
	if _, ok := m["KeyMetadata"]["DeletionDate"]; ok {
		t.Errorf("DeletionDate present on an enabled key: %s", j)
	}
	if _, ok := m["KeyMetadata"]["CreationDate"].(float64); !ok {
		t.Errorf("CreationDate is not a number: %s", j)
	}
	for _, v := range []any{&EnableKeyOutput{}, &CreateAliasOutput{}, &PutKeyPolicyOutput{}, &TagResourceOutput{}} {
		if j, _ := json.Marshal(v); string(j) != "{}" {
			t.Errorf("empty output %T = %s", v, j)
		}
	}
	j, _ = json.Marshal(&ListKeysOutput{Keys: []KeyListEntry{}})
	if string(j) != `{"Keys":[],"Truncated":false}` {
		t.Errorf("ListKeysOutput = %s", j)
	}
	var in EncryptInput
	if err := json.Unmarshal([]byte(`{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"a":"b"}}`), &in); err != nil ||
		string(in.Plaintext) != "hi" || in.EncryptionContext["a"] != "b" {
		t.Errorf("EncryptInput decode = %+v, %v", in, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	done := make(chan struct{})
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				out, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte{byte(i)}})
				if err != nil {
					errs <- err
					return
				}
				dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: out.CiphertextBlob})
				if err != nil || dec.Plaintext[0] != byte(i) {
					errs <- fmt.Errorf("decrypt: %v", err)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		if _, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.TagResource(bg, caller, &TagResourceInput{KeyId: md.KeyId, Tags: []Tag{{"i", fmt.Sprint(i)}}}); err != nil {
			t.Fatal(err)
		}
		if err := e.s.Tick(bg); err != nil {
			t.Fatal(err)
		}
	}
	for w := 0; w < 4; w++ {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var total uint64
	for _, v := range e.s.getKey(scope{region, acct}, md.KeyId).versions {
		total += v.Encryptions.Load()
	}
	if total != 800 {
		t.Errorf("encryptions counted over all versions = %d, want 800", total)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: ptr[int32](7)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(8 * day)
	ctx, cancel := context.WithCancel(bg)
	finished := make(chan struct{})
	go func() { e.s.Run(ctx); close(finished) }()
	deadline := time.Now().Add(5 * time.Second)
	for e.s.getKey(scope{region, acct}, md.KeyId) != nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if e.s.getKey(scope{region, acct}, md.KeyId) != nil {
		t.Error("Run did not run the deletion job")
	}
	cancel()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestUsageLimitRotation(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	k := e.s.getKey(scope{region, acct}, md.KeyId)
	k.current().Encryptions.Store(hardEncryptionLimit)
	_, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantErr(t, err, "KeyUnavailableException", "*")
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	k = e.s.getKey(scope{region, acct}, md.KeyId)
	if len(k.versions) != 2 || k.current().RotationType != "AUTOMATIC" {
		t.Fatalf("after Tick over the usage limit: %d versions", len(k.versions))
	}
	if _, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Errorf("Encrypt after usage rotation err = %v", err)
	}
	if st, _ := e.s.GetKeyRotationStatus(bg, caller, &GetKeyRotationStatusInput{KeyId: md.KeyId}); st.KeyRotationEnabled {
		t.Error("usage rotation enabled automatic rotation")
	}
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if n := len(e.s.getKey(scope{region, acct}, md.KeyId).versions); n != 2 {
		t.Errorf("second Tick rotated again: %d versions", n)
	}
}

func TestCounterFlushBatches(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := 0; i < flushBatch+10; i++ {
		id := e.createKey(caller).KeyId
		ids = append(ids, id)
		e.encrypt(id, []byte("x"), nil)
		e.encrypt(id, []byte("y"), nil)
	}
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	s2 := e.reopen()
	for _, id := range ids {
		if n := s2.getKey(scope{region, acct}, id).current().Encryptions.Load(); n != 2 {
			t.Fatalf("key %s counter after reopen = %d, want 2", id, n)
		}
	}
}

func TestOnDemandRotationConflict(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	if _, err := e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: ptr[int32](90)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(90*day - 21*time.Minute)
	if _, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId}); err != nil {
		t.Fatalf("RotateKeyOnDemand 21 minutes before automatic rotation err = %v", err)
	}
	e.clock.Advance(2 * time.Minute)
	_, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId})
	wantErr(t, err, "ConflictException", "*")
	e.clock.Advance(time.Hour)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId}); err != nil {
		t.Errorf("RotateKeyOnDemand after the automatic rotation err = %v", err)
	}
}

// FuzzDecrypt feeds arbitrary blobs and key ids to Decrypt: it must never
// panic, and anything but a real blob must fail.
func FuzzDecrypt(f *testing.F) {
	e := newEnv(f)
	md := e.createKey(caller)
	blob := e.encrypt(md.KeyId, []byte("seed"), nil)
	f.Add(blob, "")
	f.Add(blob, md.Arn)
	f.Add([]byte{1, 36}, "arn:aws:kms:us-east-1:111122223333:alias/x")
	f.Add([]byte{}, "arn:")
	f.Fuzz(func(t *testing.T, b []byte, keyID string) {
		out, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: b, KeyId: keyID})
		if err == nil && !bytes.Equal(b, blob) {
			t.Fatalf("Decrypt accepted a blob that was never made: %x -> %x", b, out.Plaintext)
		}
	})
}
