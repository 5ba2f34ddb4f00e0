package kms

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestKeyStates(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	arn := md.Arn
	desc := func() *KeyMetadata {
		t.Helper()
		d, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		return d.KeyMetadata
	}

	_, err := e.s.CancelKeyDeletion(bg, caller, &CancelKeyDeletionInput{KeyId: md.KeyId})
	wantErr(t, err, "KMSInvalidStateException", arn+" is not pending deletion.")

	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: arn}); err != nil {
		t.Fatal(err)
	}
	if d := desc(); d.Enabled || d.KeyState != "Disabled" {
		t.Errorf("after DisableKey: Enabled %v state %s", d.Enabled, d.KeyState)
	}
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: arn}); err != nil {
		t.Errorf("DisableKey twice err = %v", err)
	}
	if _, err := e.s.UpdateKeyDescription(bg, caller, &UpdateKeyDescriptionInput{KeyId: md.KeyId, Description: ptr("new")}); err != nil {
		t.Errorf("UpdateKeyDescription on disabled key err = %v", err)
	}
	if d := desc(); d.Description != "new" {
		t.Errorf("Description = %q", d.Description)
	}
	if _, err := e.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if d := desc(); !d.Enabled || d.KeyState != "Enabled" {
		t.Errorf("after EnableKey: %+v", d)
	}

	// Schedule deletion: window bounds, default 30.
	for _, w := range []int32{6, 31} {
		_, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: &w})
		cmp := "greater than or equal to 7"
		if w == 31 {
			cmp = "less than or equal to 30"
		}
		wantErr(t, err, "ValidationException", fmt.Sprintf("1 validation error detected: Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value %s", w, cmp))
	}
	sk, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	wantDel := e.clock.Now().Add(30 * 24 * time.Hour)
	if sk.KeyId != arn || sk.KeyState != "PendingDeletion" || sk.PendingWindowInDays != 30 || sk.DeletionDate == nil || !sk.DeletionDate.Equal(wantDel) {
		t.Errorf("ScheduleKeyDeletion = %+v", sk)
	}
	d := desc()
	if d.KeyState != "PendingDeletion" || d.Enabled || d.DeletionDate == nil || !d.DeletionDate.Equal(wantDel) || d.PendingDeletionWindowInDays != nil {
		t.Errorf("pending metadata = %+v", d)
	}
	pending := arn + " is pending deletion."
	for name, call := range map[string]func() error{
		"EnableKey":  func() error { _, err := e.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: md.KeyId}); return err },
		"DisableKey": func() error { _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: md.KeyId}); return err },
		"ScheduleKeyDeletion": func() error {
			_, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId})
			return err
		},
		"UpdateKeyDescription": func() error {
			_, err := e.s.UpdateKeyDescription(bg, caller, &UpdateKeyDescriptionInput{KeyId: md.KeyId, Description: ptr("x")})
			return err
		},
		"TagResource": func() error {
			_, err := e.s.TagResource(bg, caller, &TagResourceInput{KeyId: md.KeyId, Tags: []Tag{{TagKey: "a"}}})
			return err
		},
		"UntagResource": func() error {
			_, err := e.s.UntagResource(bg, caller, &UntagResourceInput{KeyId: md.KeyId, TagKeys: []string{"a"}})
			return err
		},
		"CreateAlias": func() error {
			_, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/x", TargetKeyId: md.KeyId})
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
		"GenerateDataKeyWithoutPlaintext": func() error {
			_, err := e.s.GenerateDataKeyWithoutPlaintext(bg, caller, &GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId, NumberOfBytes: ptr[int32](8)})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) { wantErr(t, call(), "KMSInvalidStateException", pending) })
	}
	// Allowed in every state.
	if _, err := e.s.GetKeyPolicy(bg, caller, &GetKeyPolicyInput{KeyId: md.KeyId}); err != nil {
		t.Errorf("GetKeyPolicy on pending key err = %v", err)
	}
	if _, err := e.s.PutKeyPolicy(bg, caller, &PutKeyPolicyInput{KeyId: md.KeyId, Policy: ptr(e.s.defaultPolicy(acct))}); err != nil {
		t.Errorf("PutKeyPolicy on pending key err = %v", err)
	}
	if _, err := e.s.ListResourceTags(bg, caller, &ListResourceTagsInput{KeyId: md.KeyId}); err != nil {
		t.Errorf("ListResourceTags on pending key err = %v", err)
	}

	cd, err := e.s.CancelKeyDeletion(bg, caller, &CancelKeyDeletionInput{KeyId: md.KeyId})
	if err != nil || cd.KeyId != arn {
		t.Fatalf("CancelKeyDeletion = %+v, %v", cd, err)
	}
	if d := desc(); d.KeyState != "Disabled" || d.DeletionDate != nil || d.PendingDeletionWindowInDays != nil {
		t.Errorf("after CancelKeyDeletion = %+v", d)
	}

	// Alias and ARN forms for management ops: id or ARN only.
	_, err = e.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: "alias/x"})
	wantErr(t, err, "NotFoundException", "Invalid keyId 'alias/x'")
	_, err = e.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: "arn:aws:kms:us-east-1:111122223333:alias/x"})
	wantErr(t, err, "NotFoundException", "*")
	_, err = e.s.UpdateKeyDescription(bg, caller, &UpdateKeyDescriptionInput{KeyId: md.KeyId})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value null at 'description' failed to satisfy constraint: Member must not be null")
}

func TestListKeysPaging(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := 0; i < 7; i++ {
		ids = append(ids, e.createKey(caller).KeyId)
	}
	e.createKey(callerIn("us-west-2", acct))
	slices.Sort(ids)
	var got []string
	marker := ""
	pages := 0
	for {
		out, err := e.s.ListKeys(bg, caller, &ListKeysInput{Limit: ptr[int32](3), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, k := range out.Keys {
			got = append(got, k.KeyId)
			if k.KeyArn != "arn:aws:kms:us-east-1:111122223333:key/"+k.KeyId {
				t.Errorf("KeyArn = %q", k.KeyArn)
			}
		}
		if !out.Truncated {
			if out.NextMarker != "" {
				t.Error("NextMarker set on last page")
			}
			break
		}
		marker = out.NextMarker
	}
	if !slices.Equal(got, ids) || pages != 3 {
		t.Errorf("paged keys = %v (%d pages), want %v", got, pages, ids)
	}
	out, _ := e.s.ListKeys(bg, caller, &ListKeysInput{})
	if len(out.Keys) != 7 || out.Truncated {
		t.Errorf("ListKeys default = %d keys truncated %v", len(out.Keys), out.Truncated)
	}
	// The sorted-id cache follows creations and deletions.
	e.createKey(caller)
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: ids[0], PendingWindowInDays: ptr[int32](7)}); err != nil {
		t.Fatal(err)
	}
	if out, _ := e.s.ListKeys(bg, caller, &ListKeysInput{}); len(out.Keys) != 8 {
		t.Errorf("ListKeys after CreateKey = %d keys, want 8", len(out.Keys))
	}
	e.clock.Advance(8 * 24 * time.Hour)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if out, _ := e.s.ListKeys(bg, caller, &ListKeysInput{}); len(out.Keys) != 7 || slices.ContainsFunc(out.Keys, func(k KeyListEntry) bool { return k.KeyId == ids[0] }) {
		t.Errorf("ListKeys after deletion = %+v", out.Keys)
	}
	for _, m := range []string{"garbage", encodeMarker("a", "x"), "%%%"} {
		_, err := e.s.ListKeys(bg, caller, &ListKeysInput{Marker: m})
		wantErr(t, err, "InvalidMarkerException", "*")
	}
	for _, l := range []int32{0, 1001} {
		_, err := e.s.ListKeys(bg, caller, &ListKeysInput{Limit: &l})
		wantErr(t, err, "ValidationException", "*")
	}
	_, err := e.s.ListKeys(bg, caller, &ListKeysInput{Marker: "\u0100"})
	wantErr(t, err, "ValidationException", `1 validation error detected: Value 'Ā' at 'marker' failed to satisfy constraint: Member must satisfy regular expression pattern: [\u0020-\u00FF]*`)
}

func TestAliases(t *testing.T) {
	e := newEnv(t)
	k1 := e.createKey(caller)
	k2 := e.createKey(caller)
	aliasARN := func(n string) string { return "arn:aws:kms:us-east-1:111122223333:" + n }

	if _, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/app", TargetKeyId: k1.Arn}); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name, alias, target string
		code, msg           string
	}{
		{"duplicate", "alias/app", k2.KeyId, "AlreadyExistsException", "An alias with the name " + aliasARN("alias/app") + " already exists"},
		{"no prefix", "app", k1.KeyId, "ValidationException", aliasPrefixMsg},
		{"reserved", "alias/aws/s3", k1.KeyId, "NotAuthorizedException", ""},
		{"colon", "alias/a:b", k1.KeyId, "ValidationException", "alias/a:b contains invalid characters for an alias"},
		{"bad chars", "alias/a b", k1.KeyId, "ValidationException",
			"1 validation error detected: Value 'alias/a b' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"},
		{"too long", "alias/" + strings.Repeat("a", 251), k1.KeyId, "ValidationException", "*"},
		{"empty", "", k1.KeyId, "ValidationException", "1 validation error detected: Value null at 'aliasName' failed to satisfy constraint: Member must not be null"},
		{"no target", "alias/x", "", "ValidationException", "1 validation error detected: Value null at 'targetKeyId' failed to satisfy constraint: Member must not be null"},
		{"alias target", "alias/x", "alias/app", "ValidationException", "Aliases must refer to keys. Not aliases"},
		{"unknown target", "alias/x", otherID, "NotFoundException", "*"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: tc.alias, TargetKeyId: tc.target})
			wantErr(t, err, tc.code, tc.msg)
		})
	}
	if _, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/" + strings.Repeat("a", 250), TargetKeyId: k2.KeyId}); err != nil {
		t.Errorf("CreateAlias with 256-char name err = %v", err)
	}
	if _, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/other", TargetKeyId: k2.KeyId}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.s.UpdateAlias(bg, caller, &UpdateAliasInput{AliasName: "alias/app", TargetKeyId: k2.KeyId}); err != nil {
		t.Fatal(err)
	}
	d, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: "alias/app"})
	if err != nil || d.KeyMetadata.KeyId != k2.KeyId {
		t.Errorf("DescribeKey(alias/app) after UpdateAlias = %v, %v", d, err)
	}
	_, err = e.s.UpdateAlias(bg, caller, &UpdateAliasInput{AliasName: "alias/none", TargetKeyId: k2.KeyId})
	wantErr(t, err, "NotFoundException", "Alias "+aliasARN("alias/none")+" is not found.")

	la, err := e.s.ListAliases(bg, caller, &ListAliasesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range la.Aliases {
		if strings.HasPrefix(a.AliasName, "alias/aws/") {
			// AWS's predefined aliases: listed, with no key.
			if a.AliasArn != aliasARN(a.AliasName) || a.TargetKeyId != "" || a.CreationDate != nil {
				t.Errorf("predefined alias entry = %+v", a)
			}
			continue
		}
		names = append(names, a.AliasName)
		if a.AliasArn != aliasARN(a.AliasName) || a.CreationDate == nil || a.LastUpdatedDate == nil {
			t.Errorf("alias entry = %+v", a)
		}
		if a.AliasName == "alias/app" && (a.TargetKeyId != k2.KeyId || !a.LastUpdatedDate.After(a.CreationDate.Time)) {
			t.Errorf("alias/app entry = %+v", a)
		}
	}
	if len(la.Aliases) != len(names)+len(predefinedAliases) {
		t.Errorf("ListAliases lists %d aliases, want %d and the %d predefined", len(la.Aliases), len(names), len(predefinedAliases))
	}
	if want := []string{"alias/" + strings.Repeat("a", 250), "alias/app", "alias/other"}; !slices.Equal(names, want) {
		t.Errorf("ListAliases names = %v, want %v", names, want)
	}
	la, _ = e.s.ListAliases(bg, caller, &ListAliasesInput{KeyId: k1.Arn})
	if len(la.Aliases) != 0 {
		t.Errorf("ListAliases(k1) = %v, want none", la.Aliases)
	}
	la, _ = e.s.ListAliases(bg, caller, &ListAliasesInput{KeyId: k2.KeyId, Limit: ptr[int32](2)})
	if len(la.Aliases) != 2 || !la.Truncated {
		t.Fatalf("ListAliases(k2, limit 2) = %+v", la)
	}
	la2, _ := e.s.ListAliases(bg, caller, &ListAliasesInput{KeyId: k2.KeyId, Limit: ptr[int32](2), Marker: la.NextMarker})
	if len(la2.Aliases) != 1 || la2.Truncated || la2.Aliases[0].AliasName != "alias/other" {
		t.Errorf("ListAliases page 2 = %+v", la2)
	}
	_, err = e.s.ListAliases(bg, caller, &ListAliasesInput{Limit: ptr[int32](101)})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value '101' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100")
	_, err = e.s.ListAliases(bg, caller, &ListAliasesInput{Marker: "bogus"})
	wantErr(t, err, "InvalidMarkerException", "*")
	_, err = e.s.ListAliases(bg, caller, &ListAliasesInput{KeyId: otherID})
	wantErr(t, err, "NotFoundException", "*")

	if _, err := e.s.DeleteAlias(bg, caller, &DeleteAliasInput{AliasName: "alias/other"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.DeleteAlias(bg, caller, &DeleteAliasInput{AliasName: "alias/other"})
	wantErr(t, err, "NotFoundException", "Alias "+aliasARN("alias/other")+" is not found.")
	_, err = e.s.DeleteAlias(bg, caller, &DeleteAliasInput{AliasName: "other"})
	wantErr(t, err, "ValidationException", aliasPrefixMsg)
	_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: "alias/other", Plaintext: []byte("x")})
	wantErr(t, err, "NotFoundException", "Alias "+aliasARN("alias/other")+" is not found.")

	// Aliases are per region.
	_, err = e.s.DescribeKey(bg, callerIn("us-west-2", acct), &DescribeKeyInput{KeyId: "alias/app"})
	wantErr(t, err, "NotFoundException", "Alias arn:aws:kms:us-west-2:111122223333:alias/app is not found.")

	// Quota: 50 aliases per key.
	k3 := e.createKey(caller)
	for i := 0; i < 50; i++ {
		if _, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: fmt.Sprintf("alias/q%02d", i), TargetKeyId: k3.KeyId}); err != nil {
			t.Fatalf("CreateAlias #%d err = %v", i, err)
		}
	}
	_, err = e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/q50", TargetKeyId: k3.KeyId})
	wantErr(t, err, "LimitExceededException", "*")
	_, err = e.s.UpdateAlias(bg, caller, &UpdateAliasInput{AliasName: "alias/app", TargetKeyId: k3.KeyId})
	wantErr(t, err, "LimitExceededException", "*")

	// UpdateAlias: the new target must not be pending deletion; the old one may be.
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: k1.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.UpdateAlias(bg, caller, &UpdateAliasInput{AliasName: "alias/app", TargetKeyId: k1.KeyId})
	wantErr(t, err, "KMSInvalidStateException", k1.Arn+" is pending deletion.")
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: k2.KeyId}); err != nil {
		t.Fatal(err)
	}
	k4 := e.createKey(caller)
	if _, err := e.s.UpdateAlias(bg, caller, &UpdateAliasInput{AliasName: "alias/app", TargetKeyId: k4.KeyId}); err != nil {
		t.Errorf("UpdateAlias away from a pending key err = %v", err)
	}
	if _, err := e.s.DeleteAlias(bg, caller, &DeleteAliasInput{AliasName: "alias/" + strings.Repeat("a", 250)}); err != nil {
		t.Errorf("DeleteAlias of a pending key's alias err = %v", err)
	}
}

// TestUpdateAliasKeyType: UpdateAlias moves an alias to a key of the same
// type and usage whatever its key spec. AWS UpdateAlias: "The current and
// new KMS key must be the same type (both symmetric or both asymmetric or
// both HMAC), and they must have the same key usage."
func TestUpdateAliasKeyType(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name        string
		from, to    [2]string // spec, usage
		wantRefused bool
	}{
		{"RSA encryption to a larger RSA key", [2]string{"RSA_2048", "ENCRYPT_DECRYPT"}, [2]string{"RSA_4096", "ENCRYPT_DECRYPT"}, false},
		{"ECC signing to RSA signing", [2]string{"ECC_NIST_P256", "SIGN_VERIFY"}, [2]string{"RSA_3072", "SIGN_VERIFY"}, false},
		{"HMAC_256 to HMAC_512", [2]string{"HMAC_256", "GENERATE_VERIFY_MAC"}, [2]string{"HMAC_512", "GENERATE_VERIFY_MAC"}, false},
		{"symmetric to RSA encryption", [2]string{"SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"}, [2]string{"RSA_2048", "ENCRYPT_DECRYPT"}, true},
		{"RSA encryption to RSA signing", [2]string{"RSA_2048", "ENCRYPT_DECRYPT"}, [2]string{"RSA_2048", "SIGN_VERIFY"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := e.createKeyOf(tc.from[0], tc.from[1])
			to := e.createKeyOf(tc.to[0], tc.to[1])
			name := "alias/" + from.KeyId
			if _, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: name, TargetKeyId: from.KeyId}); err != nil {
				t.Fatal(err)
			}
			_, err := e.s.UpdateAlias(bg, caller, &UpdateAliasInput{AliasName: name, TargetKeyId: to.KeyId})
			if tc.wantRefused {
				wantErr(t, err, "ValidationException", "*")
			} else if err != nil {
				t.Errorf("UpdateAlias(%s %s -> %s %s) err = %v, want nil (same key type and usage)", tc.from[0], tc.from[1], tc.to[0], tc.to[1], err)
			}
		})
	}
}

// TestLengthsInCharacters: the model's length limits count characters, not
// bytes. AWS Tag: TagKey "Maximum length of 128", TagValue "Maximum length
// of 256" (tag restrictions: "128 Unicode characters in UTF-8"); CreateGrant:
// "The encryption context value in each constraint cannot exceed 384
// characters."
func TestLengthsInCharacters(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	key, val := strings.Repeat("é", 128), strings.Repeat("日", 256) // 256 and 768 bytes
	if _, err := e.s.TagResource(bg, caller, &TagResourceInput{KeyId: md.KeyId, Tags: []Tag{{TagKey: key, TagValue: val}}}); err != nil {
		t.Errorf("TagResource(128-character key, 256-character value) err = %v, want nil", err)
	}
	_, err := e.s.TagResource(bg, caller, &TagResourceInput{KeyId: md.KeyId, Tags: []Tag{{TagKey: key + "é", TagValue: "v"}}})
	wantErr(t, err, "ValidationException", "*")
	if _, err := e.s.UntagResource(bg, caller, &UntagResourceInput{KeyId: md.KeyId, TagKeys: []string{key}}); err != nil {
		t.Errorf("UntagResource(128-character key) err = %v, want nil", err)
	}
	ec := map[string]string{"project": strings.Repeat("日", 384)}
	if _, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: "arn:aws:iam::" + acct + ":user/bob",
		Operations: []string{"Decrypt"}, Constraints: &GrantConstraintsInput{EncryptionContextEquals: ec}}); err != nil {
		t.Errorf("CreateGrant(constraint value of 384 characters) err = %v, want nil", err)
	}
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	tag := func(tags ...Tag) error {
		_, err := e.s.TagResource(bg, caller, &TagResourceInput{KeyId: md.KeyId, Tags: tags})
		return err
	}
	list := func(in ListResourceTagsInput) *ListResourceTagsOutput {
		t.Helper()
		in.KeyId = md.Arn
		out, err := e.s.ListResourceTags(bg, caller, &in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err := tag(Tag{"b", "1"}, Tag{"a", ""}); err != nil {
		t.Fatal(err)
	}
	if err := tag(Tag{"b", "2"}); err != nil {
		t.Fatal(err)
	}
	if got := list(ListResourceTagsInput{}); !slices.Equal(got.Tags, []Tag{{"a", ""}, {"b", "2"}}) || got.Truncated {
		t.Errorf("tags = %+v", got)
	}
	wantErr(t, tag(Tag{"x", "1"}, Tag{"x", "2"}), "TagException", "Duplicate tag keys")
	wantErr(t, tag(Tag{"aws:x", "1"}), "TagException", "Tags beginning with aws: are reserved")
	wantErr(t, tag(Tag{"", "1"}), "ValidationException", "1 validation error detected: Value '' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length greater than or equal to 1")
	wantErr(t, tag(Tag{"ok", "v"}, Tag{strings.Repeat("k", 129), "v"}), "ValidationException",
		"1 validation error detected: Value '"+strings.Repeat("k", 129)+"' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128")
	wantErr(t, tag(Tag{"v", strings.Repeat("v", 257)}), "ValidationException", "*")
	_, err := e.s.TagResource(bg, caller, &TagResourceInput{KeyId: md.KeyId})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")

	var many []Tag
	for i := 0; i < 48; i++ {
		many = append(many, Tag{fmt.Sprintf("t%02d", i), "v"})
	}
	if err := tag(many...); err != nil {
		t.Fatalf("50 tags err = %v", err)
	}
	wantErr(t, tag(Tag{"one-more", "v"}), "TagException", "Too many tags")
	if err := tag(Tag{"t00", "replaced"}); err != nil {
		t.Errorf("replacing a tag at the limit err = %v", err)
	}
	p1 := list(ListResourceTagsInput{Limit: ptr[int32](20)})
	p2 := list(ListResourceTagsInput{Limit: ptr[int32](20), Marker: p1.NextMarker})
	p3 := list(ListResourceTagsInput{Limit: ptr[int32](20), Marker: p2.NextMarker})
	if len(p1.Tags) != 20 || len(p2.Tags) != 20 || len(p3.Tags) != 10 || !p1.Truncated || !p2.Truncated || p3.Truncated {
		t.Errorf("tag pages = %d %d %d", len(p1.Tags), len(p2.Tags), len(p3.Tags))
	}
	_, err = e.s.ListResourceTags(bg, caller, &ListResourceTagsInput{KeyId: md.KeyId, Limit: ptr[int32](51)})
	wantErr(t, err, "ValidationException", "*")

	if _, err := e.s.UntagResource(bg, caller, &UntagResourceInput{KeyId: md.KeyId, TagKeys: []string{"a", "nope"}}); err != nil {
		t.Fatal(err)
	}
	if got := list(ListResourceTagsInput{}); len(got.Tags) != 49 || got.Tags[0].TagKey != "b" {
		t.Errorf("after untag: %d tags, first %+v", len(got.Tags), got.Tags[0])
	}
	_, err = e.s.UntagResource(bg, caller, &UntagResourceInput{KeyId: md.KeyId, TagKeys: []string{""}})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value '' at 'tagKeys.1.member' failed to satisfy constraint: Member must have length greater than or equal to 1")
	_, err = e.s.TagResource(bg, caller, &TagResourceInput{KeyId: "alias/x", Tags: []Tag{{"a", "b"}}})
	wantErr(t, err, "NotFoundException", "Invalid keyId 'alias/x'")
}

func TestKeyPolicy(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	gp, err := e.s.GetKeyPolicy(bg, caller, &GetKeyPolicyInput{KeyId: md.KeyId})
	want := `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	if err != nil || gp.Policy != want || gp.PolicyName != "default" {
		t.Errorf("GetKeyPolicy = %+v, %v", gp, err)
	}
	_, err = e.s.GetKeyPolicy(bg, caller, &GetKeyPolicyInput{KeyId: md.KeyId, PolicyName: ptr("other")})
	wantErr(t, err, "NotFoundException", "No such policy exists")
	_, err = e.s.GetKeyPolicy(bg, caller, &GetKeyPolicyInput{KeyId: md.KeyId, PolicyName: ptr("bad name")})
	wantErr(t, err, "ValidationException", `1 validation error detected: Value 'bad name' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w]+`)

	lp, err := e.s.ListKeyPolicies(bg, caller, &ListKeyPoliciesInput{KeyId: md.Arn})
	if err != nil || !slices.Equal(lp.PolicyNames, []string{"default"}) || lp.Truncated {
		t.Errorf("ListKeyPolicies = %+v, %v", lp, err)
	}
	_, err = e.s.ListKeyPolicies(bg, caller, &ListKeyPoliciesInput{KeyId: md.Arn, Marker: "x"})
	wantErr(t, err, "InvalidMarkerException", "*")

	good := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333"]},"Action":["kms:Encrypt","kms:Put*","kms:Get*"],"Resource":"*"}]}`
	if _, err := e.s.PutKeyPolicy(bg, caller, &PutKeyPolicyInput{KeyId: md.KeyId, Policy: &good, PolicyName: ptr("default")}); err != nil {
		t.Fatalf("PutKeyPolicy err = %v", err)
	}
	gp, _ = e.s.GetKeyPolicy(bg, caller, &GetKeyPolicyInput{KeyId: md.KeyId, PolicyName: ptr("default")})
	if gp.Policy != good {
		t.Errorf("policy = %s", gp.Policy)
	}
	lockout := `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Encrypt"}}`
	bad := []struct {
		name, policy string
		code, msg    string
	}{
		{"not json", "{", "MalformedPolicyDocumentException", "*"},
		{"array", "[]", "MalformedPolicyDocumentException", "*"},
		{"no statement", `{"Version":"2012-10-17"}`, "MalformedPolicyDocumentException", "*"},
		{"no principal", `{"Statement":[{"Effect":"Allow","Action":"kms:*"}]}`, "MalformedPolicyDocumentException", "*"},
		{"bad effect", `{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*"}]}`, "MalformedPolicyDocumentException", "*"},
		{"bad principal", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*"}]}`, "MalformedPolicyDocumentException",
			"Policy contains a statement with one or more invalid principals."},
		{"lockout", lockout, "MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future."},
		{"lockout by deny", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*"}]}`,
			"MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future."},
		{"unknown operator", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Condition":{"StringEqualz":{"kms:CallerAccount":"111122223333"}}}]}`,
			"MalformedPolicyDocumentException", "Policy contains a statement with an invalid Condition operator: StringEqualz"},
		{"bad CIDR", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/40"}}}]}`,
			"MalformedPolicyDocumentException", "*"},
		{"duplicate member", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"}],"Statement":[]}`, "MalformedPolicyDocumentException", "*"},
		{"bad chars", "{\"a\":\"\u0100\"}", "ValidationException", "*"},
		{"too big", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Sid":"` + strings.Repeat("x", 40000) + `"}]}`, "LimitExceededException", "*"},
		{"over model max", strings.Repeat(" ", 131073), "ValidationException", "*"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.PutKeyPolicy(bg, caller, &PutKeyPolicyInput{KeyId: md.KeyId, Policy: &tc.policy})
			wantErr(t, err, tc.code, tc.msg)
		})
	}
	_, err = e.s.PutKeyPolicy(bg, caller, &PutKeyPolicyInput{KeyId: md.KeyId})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value null at 'policy' failed to satisfy constraint: Member must not be null")
	_, err = e.s.PutKeyPolicy(bg, caller, &PutKeyPolicyInput{KeyId: md.KeyId, Policy: &good, PolicyName: ptr("custom")})
	wantErr(t, err, "NotFoundException", "No such policy exists")
	if _, err := e.s.PutKeyPolicy(bg, caller, &PutKeyPolicyInput{KeyId: md.KeyId, Policy: &lockout, BypassPolicyLockoutSafetyCheck: true}); err != nil {
		t.Errorf("PutKeyPolicy with bypass err = %v", err)
	}
	// The bypass did what the safety check warns of: the account is locked out.
	_, err = e.s.PutKeyPolicy(bg, caller, &PutKeyPolicyInput{KeyId: md.KeyId, Policy: &good})
	wantErr(t, err, "AccessDeniedException", "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:PutKeyPolicy on resource: "+md.Arn+" because no resource-based policy allows the kms:PutKeyPolicy action")

	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{Policy: &good})
	if err != nil {
		t.Fatal(err)
	}
	gp, _ = e.s.GetKeyPolicy(bg, caller, &GetKeyPolicyInput{KeyId: out.KeyMetadata.KeyId})
	if gp.Policy != good {
		t.Errorf("CreateKey policy = %s", gp.Policy)
	}
	_, err = e.s.CreateKey(bg, caller, &CreateKeyInput{Policy: &lockout})
	wantErr(t, err, "MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future.")
}
