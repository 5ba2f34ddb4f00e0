package kms

import "testing"

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
