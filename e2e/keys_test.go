package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/google/go-cmp/cmp"
)

// customPolicy is a valid key policy naming the dev account's root.
func customPolicy(account, sid string) string {
	return fmt.Sprintf(`{
  "Version": "2012-10-17",
  "Id": "e2e-policy",
  "Statement": [{
    "Sid": %q,
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::%s:root"},
    "Action": "kms:*",
    "Resource": "*"
  }]
}`, sid, account)
}

// jsonEqual fails the test unless a and b are the same JSON value.
func jsonEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("policy %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(w, g); d != "" {
		t.Fatalf("policy differs (-want +got):\n%s", d)
	}
}

func TestCreateAndDescribeKey(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	before := time.Now().Add(-2 * time.Second)

	policy := customPolicy(devAccount, "e2e-create")
	out, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{
		Description: aws.String("e2e create"),
		Policy:      aws.String(policy),
		Tags: []types.Tag{
			{TagKey: aws.String("team"), TagValue: aws.String("storage")},
			{TagKey: aws.String("empty"), TagValue: aws.String("")},
		},
	})
	must(t, err)
	md := out.KeyMetadata
	id := aws.ToString(md.KeyId)
	if !uuidRE.MatchString(id) {
		t.Errorf("KeyId %q is not a lower-case UUID", id)
	}
	arn := keyARN(devRegion, devAccount, id)
	checks := []struct {
		name      string
		got, want any
	}{
		{"Arn", aws.ToString(md.Arn), arn},
		{"AWSAccountId", aws.ToString(md.AWSAccountId), devAccount},
		{"Description", aws.ToString(md.Description), "e2e create"},
		{"Enabled", md.Enabled, true},
		{"KeyState", md.KeyState, types.KeyStateEnabled},
		{"KeySpec", md.KeySpec, types.KeySpecSymmetricDefault},
		{"KeyUsage", md.KeyUsage, types.KeyUsageTypeEncryptDecrypt},
		{"Origin", md.Origin, types.OriginTypeAwsKms},
		{"KeyManager", md.KeyManager, types.KeyManagerTypeCustomer},
		{"EncryptionAlgorithms", fmt.Sprint(md.EncryptionAlgorithms), "[SYMMETRIC_DEFAULT]"},
		//lint:ignore SA1019 deprecated in the SDK, but AWS still sends it and older clients read it
		{"CustomerMasterKeySpec", md.CustomerMasterKeySpec, types.CustomerMasterKeySpecSymmetricDefault},
		{"MultiRegion", fmt.Sprint(md.MultiRegion != nil && !*md.MultiRegion), "true"}, // present and false, as AWS sends it
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("CreateKey %s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if md.CreationDate == nil || md.CreationDate.Before(before) || md.CreationDate.After(time.Now().Add(2*time.Second)) {
		t.Errorf("CreationDate = %v, want about now", md.CreationDate)
	}

	// The policy and tags given at creation are there.
	pol, err := c.GetKeyPolicy(ctx(t), &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
	must(t, err)
	jsonEqual(t, aws.ToString(pol.Policy), policy)
	if diff := cmp.Diff(map[string]string{"team": "storage", "empty": ""}, listTags(t, c, id)); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}

	// DescribeKey by key id, key ARN, alias name and alias ARN.
	must(t, func() error {
		_, err := c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/e2e-describe"), TargetKeyId: aws.String(id)})
		return err
	}())
	for _, ref := range []string{id, arn, "alias/e2e-describe", aliasARN(devRegion, devAccount, "alias/e2e-describe")} {
		got := describe(t, c, ref)
		if aws.ToString(got.KeyId) != id || aws.ToString(got.Arn) != arn {
			t.Errorf("DescribeKey(%s) = %s / %s, want %s / %s", ref, aws.ToString(got.KeyId), aws.ToString(got.Arn), id, arn)
		}
		if aws.ToString(got.Description) != "e2e create" || got.KeyState != types.KeyStateEnabled {
			t.Errorf("DescribeKey(%s): description %q state %s", ref, aws.ToString(got.Description), got.KeyState)
		}
	}

	// CreateKey with a reserved tag fails with TagException and creates nothing.
	_, err = c.CreateKey(ctx(t), &kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("aws:bad"), TagValue: aws.String("x")}}})
	wantType[*types.TagException](t, err)
	// A malformed policy fails.
	_, err = c.CreateKey(ctx(t), &kms.CreateKeyInput{Policy: aws.String("{not json")})
	wantType[*types.MalformedPolicyDocumentException](t, err)
	keys, err := c.ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)
	if len(keys.Keys) != 1 {
		t.Errorf("ListKeys after failed CreateKeys: %d keys, want 1", len(keys.Keys))
	}
}

func TestUnknownKey(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	missing := "11111111-2222-3333-4444-555555555555"
	_, err := c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(missing)})
	wantType[*types.NotFoundException](t, err)
	wantCode(t, err, "NotFoundException")
	_, err = c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(keyARN(devRegion, devAccount, missing))})
	wantType[*types.NotFoundException](t, err)
	_, err = c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("alias/does-not-exist")})
	wantType[*types.NotFoundException](t, err)
	// Trent creates no AWS-managed keys (docs/api-coverage.md).
	_, err = c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/s3")})
	wantType[*types.NotFoundException](t, err)
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(missing), Plaintext: []byte("x")})
	wantType[*types.NotFoundException](t, err)
	_, err = c.EnableKey(ctx(t), &kms.EnableKeyInput{KeyId: aws.String(missing)})
	wantType[*types.NotFoundException](t, err)
	_, err = c.GetKeyPolicy(ctx(t), &kms.GetKeyPolicyInput{KeyId: aws.String(missing)})
	wantType[*types.NotFoundException](t, err)
	_, err = c.ScheduleKeyDeletion(ctx(t), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(missing)})
	wantType[*types.NotFoundException](t, err)
	_, err = c.GetKeyRotationStatus(ctx(t), &kms.GetKeyRotationStatusInput{KeyId: aws.String(missing)})
	wantType[*types.NotFoundException](t, err)
	_, err = c.ListResourceTags(ctx(t), &kms.ListResourceTagsInput{KeyId: aws.String(missing)})
	wantType[*types.NotFoundException](t, err)
	_, err = c.ListAliases(ctx(t), &kms.ListAliasesInput{KeyId: aws.String(missing)})
	wantType[*types.NotFoundException](t, err)
	// A KeyId that is not a key id at all is NotFound too (AWS: "Invalid keyId ...").
	_, err = c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("fake-key-id")})
	wantType[*types.NotFoundException](t, err)
}

func TestKeyStates(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	id := aws.ToString(newKey(t, c, "states").KeyId)
	arn := keyARN(devRegion, devAccount, id)
	blob := roundTrip(t, c, id, []byte("state data"), nil)

	_, err := c.UpdateKeyDescription(ctx(t), &kms.UpdateKeyDescriptionInput{KeyId: aws.String(id), Description: aws.String("new description")})
	must(t, err)
	if got := aws.ToString(describe(t, c, id).Description); got != "new description" {
		t.Errorf("description after UpdateKeyDescription = %q", got)
	}

	// Disabled: crypto fails with DisabledException.
	_, err = c.DisableKey(ctx(t), &kms.DisableKeyInput{KeyId: aws.String(id)})
	must(t, err)
	if md := describe(t, c, id); md.KeyState != types.KeyStateDisabled || md.Enabled {
		t.Errorf("after DisableKey: state %s enabled %v", md.KeyState, md.Enabled)
	}
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	wantType[*types.DisabledException](t, err)
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob})
	wantType[*types.DisabledException](t, err)
	_, err = c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
	wantType[*types.DisabledException](t, err)
	// DryRun checks the key state first.
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x"), DryRun: aws.Bool(true)})
	wantType[*types.DisabledException](t, err)
	_, err = c.EnableKey(ctx(t), &kms.EnableKeyInput{KeyId: aws.String(id)})
	must(t, err)
	if md := describe(t, c, id); md.KeyState != types.KeyStateEnabled || !md.Enabled {
		t.Errorf("after EnableKey: state %s enabled %v", md.KeyState, md.Enabled)
	}
	decryptOK(t, c, blob, []byte("state data"), nil)

	// Deletion window must be 7..30.
	for _, days := range []int32{0, 6, 31, 365} {
		_, err = c.ScheduleKeyDeletion(ctx(t), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(days)})
		wantCode(t, err, "ValidationException")
	}
	if md := describe(t, c, id); md.KeyState != types.KeyStateEnabled {
		t.Fatalf("a rejected ScheduleKeyDeletion changed the state to %s", md.KeyState)
	}
	sched, err := c.ScheduleKeyDeletion(ctx(t), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	must(t, err)
	if aws.ToString(sched.KeyId) != arn {
		t.Errorf("ScheduleKeyDeletion KeyId = %q, want the ARN %q", aws.ToString(sched.KeyId), arn)
	}
	if sched.KeyState != types.KeyStatePendingDeletion || aws.ToInt32(sched.PendingWindowInDays) != 7 {
		t.Errorf("ScheduleKeyDeletion state %s window %d", sched.KeyState, aws.ToInt32(sched.PendingWindowInDays))
	}
	if sched.DeletionDate == nil || !closeTo(*sched.DeletionDate, time.Now().Add(7*24*time.Hour), 25*time.Hour) {
		t.Errorf("DeletionDate = %v, want about 7 days from now", sched.DeletionDate)
	}
	md := describe(t, c, id)
	if md.KeyState != types.KeyStatePendingDeletion || md.DeletionDate == nil || md.Enabled {
		t.Errorf("DescribeKey while pending deletion: state %s deletion %v enabled %v", md.KeyState, md.DeletionDate, md.Enabled)
	}
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	wantType[*types.KMSInvalidStateException](t, err)
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob})
	wantType[*types.KMSInvalidStateException](t, err)
	_, err = c.EnableKey(ctx(t), &kms.EnableKeyInput{KeyId: aws.String(id)})
	wantType[*types.KMSInvalidStateException](t, err)
	_, err = c.ScheduleKeyDeletion(ctx(t), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id)})
	wantType[*types.KMSInvalidStateException](t, err)
	// Read-only ops still work while pending deletion.
	_, err = c.GetKeyPolicy(ctx(t), &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
	must(t, err)

	cancel, err := c.CancelKeyDeletion(ctx(t), &kms.CancelKeyDeletionInput{KeyId: aws.String(id)})
	must(t, err)
	if aws.ToString(cancel.KeyId) != arn {
		t.Errorf("CancelKeyDeletion KeyId = %q, want %q", aws.ToString(cancel.KeyId), arn)
	}
	md = describe(t, c, id)
	if md.KeyState != types.KeyStateDisabled || md.DeletionDate != nil {
		t.Errorf("after CancelKeyDeletion: state %s deletion %v, want Disabled and no date", md.KeyState, md.DeletionDate)
	}
	_, err = c.CancelKeyDeletion(ctx(t), &kms.CancelKeyDeletionInput{KeyId: aws.String(id)})
	wantType[*types.KMSInvalidStateException](t, err)

	// Default window is 30 days.
	sched, err = c.ScheduleKeyDeletion(ctx(t), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id)})
	must(t, err)
	if aws.ToInt32(sched.PendingWindowInDays) != 30 {
		t.Errorf("default PendingWindowInDays = %d, want 30", aws.ToInt32(sched.PendingWindowInDays))
	}
}

func TestListKeysPaging(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	want := map[string]bool{}
	for i := range 5 {
		want[aws.ToString(newKey(t, c, fmt.Sprint("page ", i)).KeyId)] = true
	}
	// A key in another Region is not listed.
	other := s.client("us-west-2", devAccessKey, devSecretKey)
	newKey(t, other, "other region")

	got := map[string]bool{}
	var marker *string
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("ListKeys: too many pages")
		}
		out, err := c.ListKeys(ctx(t), &kms.ListKeysInput{Limit: aws.Int32(1), Marker: marker})
		must(t, err)
		if len(out.Keys) != 1 {
			t.Fatalf("page %d: %d keys with Limit 1", page, len(out.Keys))
		}
		k := out.Keys[0]
		id := aws.ToString(k.KeyId)
		if got[id] {
			t.Fatalf("key %s listed twice", id)
		}
		got[id] = true
		if aws.ToString(k.KeyArn) != keyARN(devRegion, devAccount, id) {
			t.Errorf("KeyArn %q for %s", aws.ToString(k.KeyArn), id)
		}
		if !out.Truncated {
			if out.NextMarker != nil {
				t.Errorf("NextMarker %q on the last page", *out.NextMarker)
			}
			break
		}
		if out.NextMarker == nil {
			t.Fatal("Truncated without NextMarker")
		}
		marker = out.NextMarker
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged keys (-want +got):\n%s", diff)
	}
	all, err := c.ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)
	if len(all.Keys) != 5 || all.Truncated {
		t.Errorf("ListKeys: %d keys truncated=%v, want 5, false", len(all.Keys), all.Truncated)
	}
	// The SDK paginator walks the same pages.
	n := 0
	p := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		must(t, err)
		n += len(out.Keys)
	}
	if n != 5 {
		t.Errorf("paginator: %d keys, want 5", n)
	}

	_, err = c.ListKeys(ctx(t), &kms.ListKeysInput{Marker: aws.String("not-a-marker")})
	wantType[*types.InvalidMarkerException](t, err)
	for _, limit := range []int32{0, 1001} {
		_, err = c.ListKeys(ctx(t), &kms.ListKeysInput{Limit: aws.Int32(limit)})
		wantCode(t, err, "ValidationException")
	}
}

func TestAliases(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	k1 := aws.ToString(newKey(t, c, "alias one").KeyId)
	k2 := aws.ToString(newKey(t, c, "alias two").KeyId)
	createAlias := func(name, target string) error {
		_, err := c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(target)})
		return err
	}
	before := time.Now().Add(-2 * time.Second)
	must(t, createAlias("alias/e2e/app", k1))

	// Duplicate.
	wantType[*types.AlreadyExistsException](t, createAlias("alias/e2e/app", k2))
	// Bad names.
	wantCode(t, createAlias("e2e-app", k1), "ValidationException")         // no alias/ prefix
	wantCode(t, createAlias("alias/bad name!", k1), "ValidationException") // pattern ^[a-zA-Z0-9:/_-]+$
	wantCode(t, createAlias("alias/"+strings.Repeat("a", 251), k1), "ValidationException")
	// alias/aws/ is reserved for AWS-managed keys; AWS models InvalidAliasNameException
	// (local-kms and moto send NotAuthorizedException).
	wantCodeIn(t, createAlias("alias/aws/e2e", k1), "InvalidAliasNameException", "NotAuthorizedException", "ValidationException")
	// Unknown target, and an alias as target (only key id or ARN allowed).
	wantType[*types.NotFoundException](t, createAlias("alias/e2e/nokey", "11111111-2222-3333-4444-555555555555"))
	if err := createAlias("alias/e2e/via-alias", "alias/e2e/app"); err == nil {
		t.Error("CreateAlias with an alias as TargetKeyId succeeded; AWS accepts only a key id or ARN")
	}

	// The alias works for crypto and DescribeKey, by name and ARN.
	blob := roundTrip(t, c, "alias/e2e/app", []byte("via alias"), nil)
	roundTrip(t, c, aliasARN(devRegion, devAccount, "alias/e2e/app"), []byte("via alias arn"), nil)
	dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob})
	must(t, err)
	if aws.ToString(dec.KeyId) != keyARN(devRegion, devAccount, k1) {
		t.Errorf("Decrypt KeyId = %q, want k1's ARN", aws.ToString(dec.KeyId))
	}

	// ListAliases for the key.
	la, err := c.ListAliases(ctx(t), &kms.ListAliasesInput{KeyId: aws.String(k1)})
	must(t, err)
	if len(la.Aliases) != 1 {
		t.Fatalf("ListAliases(k1): %d entries, want 1: %+v", len(la.Aliases), la.Aliases)
	}
	e := la.Aliases[0]
	if aws.ToString(e.AliasName) != "alias/e2e/app" || aws.ToString(e.AliasArn) != aliasARN(devRegion, devAccount, "alias/e2e/app") || aws.ToString(e.TargetKeyId) != k1 {
		t.Errorf("alias entry = %s %s %s", aws.ToString(e.AliasName), aws.ToString(e.AliasArn), aws.ToString(e.TargetKeyId))
	}
	if e.CreationDate == nil || e.CreationDate.Before(before) {
		t.Errorf("alias CreationDate = %v", e.CreationDate)
	}

	// UpdateAlias re-points it.
	_, err = c.UpdateAlias(ctx(t), &kms.UpdateAliasInput{AliasName: aws.String("alias/e2e/app"), TargetKeyId: aws.String(k2)})
	must(t, err)
	if got := aws.ToString(describe(t, c, "alias/e2e/app").KeyId); got != k2 {
		t.Errorf("after UpdateAlias the alias names %s, want %s", got, k2)
	}
	// Ciphertext made through the alias still decrypts (it names k1, not the alias).
	decryptOK(t, c, blob, []byte("via alias"), nil)
	_, err = c.UpdateAlias(ctx(t), &kms.UpdateAliasInput{AliasName: aws.String("alias/e2e/none"), TargetKeyId: aws.String(k2)})
	wantType[*types.NotFoundException](t, err)

	// Paging over one key's aliases.
	for i := range 3 {
		must(t, createAlias(fmt.Sprintf("alias/e2e/page-%d", i), k1))
	}
	var names []string
	var marker *string
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("ListAliases: too many pages")
		}
		out, err := c.ListAliases(ctx(t), &kms.ListAliasesInput{KeyId: aws.String(k1), Limit: aws.Int32(1), Marker: marker})
		must(t, err)
		if len(out.Aliases) > 1 {
			t.Fatalf("%d aliases with Limit 1", len(out.Aliases))
		}
		for _, a := range out.Aliases {
			names = append(names, aws.ToString(a.AliasName))
		}
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"alias/e2e/page-0", "alias/e2e/page-1", "alias/e2e/page-2"}, names); diff != "" {
		t.Errorf("paged aliases (-want +got):\n%s", diff)
	}
	_, err = c.ListAliases(ctx(t), &kms.ListAliasesInput{Marker: aws.String("bogus")})
	wantType[*types.InvalidMarkerException](t, err)
	_, err = c.ListAliases(ctx(t), &kms.ListAliasesInput{Limit: aws.Int32(101)})
	wantCode(t, err, "ValidationException")

	// ListAliases without KeyId includes all our aliases.
	all := map[string]string{}
	p := kms.NewListAliasesPaginator(c, &kms.ListAliasesInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		must(t, err)
		for _, a := range out.Aliases {
			all[aws.ToString(a.AliasName)] = aws.ToString(a.TargetKeyId)
		}
	}
	for name, target := range map[string]string{"alias/e2e/app": k2, "alias/e2e/page-0": k1, "alias/e2e/page-2": k1} {
		if all[name] != target {
			t.Errorf("ListAliases: %s -> %q, want %s", name, all[name], target)
		}
	}

	// DeleteAlias.
	_, err = c.DeleteAlias(ctx(t), &kms.DeleteAliasInput{AliasName: aws.String("alias/e2e/app")})
	must(t, err)
	_, err = c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("alias/e2e/app")})
	wantType[*types.NotFoundException](t, err)
	_, err = c.DeleteAlias(ctx(t), &kms.DeleteAliasInput{AliasName: aws.String("alias/e2e/app")})
	wantType[*types.NotFoundException](t, err)
	// The name is free again.
	must(t, createAlias("alias/e2e/app", k1))

	// No alias on a key pending deletion.
	_, err = c.ScheduleKeyDeletion(ctx(t), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k2), PendingWindowInDays: aws.Int32(7)})
	must(t, err)
	wantType[*types.KMSInvalidStateException](t, createAlias("alias/e2e/pending", k2))
}

func TestTags(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	id := aws.ToString(newKey(t, c, "tags").KeyId)
	tag := func(kv ...string) []types.Tag {
		var tags []types.Tag
		for i := 0; i < len(kv); i += 2 {
			tags = append(tags, types.Tag{TagKey: aws.String(kv[i]), TagValue: aws.String(kv[i+1])})
		}
		return tags
	}
	tagResource := func(kv ...string) error {
		_, err := c.TagResource(ctx(t), &kms.TagResourceInput{KeyId: aws.String(id), Tags: tag(kv...)})
		return err
	}
	must(t, tagResource("a", "1", "b", "2", "c", "3"))
	must(t, tagResource("a", "one")) // overwrite
	if diff := cmp.Diff(map[string]string{"a": "one", "b": "2", "c": "3"}, listTags(t, c, id)); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	// ARN works as KeyId.
	_, err := c.TagResource(ctx(t), &kms.TagResourceInput{KeyId: aws.String(keyARN(devRegion, devAccount, id)), Tags: tag("d", "4")})
	must(t, err)
	// Untag; unknown tag keys are ignored.
	_, err = c.UntagResource(ctx(t), &kms.UntagResourceInput{KeyId: aws.String(id), TagKeys: []string{"b", "no-such-tag"}})
	must(t, err)
	if diff := cmp.Diff(map[string]string{"a": "one", "c": "3", "d": "4"}, listTags(t, c, id)); diff != "" {
		t.Errorf("tags after untag (-want +got):\n%s", diff)
	}

	// Paging.
	out, err := c.ListResourceTags(ctx(t), &kms.ListResourceTagsInput{KeyId: aws.String(id), Limit: aws.Int32(1)})
	must(t, err)
	if len(out.Tags) != 1 || !out.Truncated || out.NextMarker == nil {
		t.Errorf("ListResourceTags Limit 1: %d tags truncated=%v marker=%v", len(out.Tags), out.Truncated, out.NextMarker)
	}
	_, err = c.ListResourceTags(ctx(t), &kms.ListResourceTagsInput{KeyId: aws.String(id), Marker: aws.String("bogus")})
	wantType[*types.InvalidMarkerException](t, err)

	// TagException cases leave the tags unchanged.
	wantType[*types.TagException](t, tagResource("aws:reserved", "x"))
	wantType[*types.TagException](t, tagResource("AWS:Reserved", "x"))
	wantType[*types.TagException](t, tagResource("dup", "1", "dup", "2"))
	var many []string
	for i := range 51 {
		many = append(many, fmt.Sprint("k", i), "v")
	}
	wantType[*types.TagException](t, tagResource(many...))
	// 47 more fit (3 + 47 = 50), one more does not (AWS: 50 tags per key).
	wantCodeIn(t, tagResource(many[:2*48]...), "TagException", "LimitExceededException")
	if diff := cmp.Diff(map[string]string{"a": "one", "c": "3", "d": "4"}, listTags(t, c, id)); diff != "" {
		t.Errorf("tags after failed TagResource calls (-want +got):\n%s", diff)
	}
	must(t, tagResource(many[:2*47]...))
	if n := len(listTags(t, c, id)); n != 50 {
		t.Errorf("%d tags, want 50", n)
	}
	// Length limits.
	wantCode(t, tagResource(strings.Repeat("k", 129), "v"), "ValidationException")
	wantCode(t, tagResource("k", strings.Repeat("v", 257)), "ValidationException")
	_, err = c.TagResource(ctx(t), &kms.TagResourceInput{KeyId: aws.String("11111111-2222-3333-4444-555555555555"), Tags: tag("a", "b")})
	wantType[*types.NotFoundException](t, err)
}

func TestKeyPolicies(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	id := aws.ToString(newKey(t, c, "policy").KeyId)

	// Default policy, PolicyName omitted.
	got, err := c.GetKeyPolicy(ctx(t), &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
	must(t, err)
	if aws.ToString(got.PolicyName) != "default" {
		t.Errorf("PolicyName = %q, want default", aws.ToString(got.PolicyName))
	}
	var doc struct {
		Version   string
		Statement []struct {
			Effect    string
			Principal struct{ AWS string }
			Action    string
			Resource  string
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(got.Policy)), &doc); err != nil {
		t.Fatalf("default policy %q: %v", aws.ToString(got.Policy), err)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) != 1 || doc.Statement[0].Principal.AWS != "arn:aws:iam::"+devAccount+":root" ||
		doc.Statement[0].Action != "kms:*" || doc.Statement[0].Effect != "Allow" {
		t.Errorf("default policy = %s", aws.ToString(got.Policy))
	}
	// Same with PolicyName default.
	got2, err := c.GetKeyPolicy(ctx(t), &kms.GetKeyPolicyInput{KeyId: aws.String(id), PolicyName: aws.String("default")})
	must(t, err)
	jsonEqual(t, aws.ToString(got2.Policy), aws.ToString(got.Policy))

	// PutKeyPolicy without PolicyName.
	p := customPolicy(devAccount, "e2e-put")
	_, err = c.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(p)})
	must(t, err)
	got, err = c.GetKeyPolicy(ctx(t), &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
	must(t, err)
	jsonEqual(t, aws.ToString(got.Policy), p)

	// Malformed documents are rejected and change nothing.
	for _, bad := range []string{"{not json", `{"Version":"2012-10-17","Statement":"nope"}`, `[1,2,3]`} {
		_, err = c.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(bad)})
		wantType[*types.MalformedPolicyDocumentException](t, err)
	}
	got, err = c.GetKeyPolicy(ctx(t), &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
	must(t, err)
	jsonEqual(t, aws.ToString(got.Policy), p)

	lp, err := c.ListKeyPolicies(ctx(t), &kms.ListKeyPoliciesInput{KeyId: aws.String(id)})
	must(t, err)
	if diff := cmp.Diff([]string{"default"}, lp.PolicyNames); diff != "" || lp.Truncated {
		t.Errorf("ListKeyPolicies = %v truncated=%v", lp.PolicyNames, lp.Truncated)
	}
	_, err = c.ListKeyPolicies(ctx(t), &kms.ListKeyPoliciesInput{KeyId: aws.String("11111111-2222-3333-4444-555555555555")})
	wantType[*types.NotFoundException](t, err)
}
