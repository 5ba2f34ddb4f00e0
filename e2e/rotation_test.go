package e2e

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

var materialRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func rotationStatus(t *testing.T, c *kms.Client, id string) *kms.GetKeyRotationStatusOutput {
	t.Helper()
	out, err := c.GetKeyRotationStatus(ctx(t), &kms.GetKeyRotationStatusInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetKeyRotationStatus: %v", err)
	}
	return out
}

func TestAutomaticRotationSettings(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	id := aws.ToString(newKey(t, c, "rotation settings").KeyId)

	if st := rotationStatus(t, c, id); st.KeyRotationEnabled {
		t.Error("a new key has rotation enabled")
	}
	for _, days := range []int32{0, 89, 2561} {
		_, err := c.EnableKeyRotation(ctx(t), &kms.EnableKeyRotationInput{KeyId: aws.String(id), RotationPeriodInDays: aws.Int32(days)})
		wantCode(t, err, "ValidationException")
	}
	if st := rotationStatus(t, c, id); st.KeyRotationEnabled {
		t.Error("a rejected EnableKeyRotation enabled rotation")
	}

	// Default period 365 days.
	_, err := c.EnableKeyRotation(ctx(t), &kms.EnableKeyRotationInput{KeyId: aws.String(id)})
	must(t, err)
	st := rotationStatus(t, c, id)
	if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 365 {
		t.Errorf("after EnableKeyRotation: enabled %v period %d, want true 365", st.KeyRotationEnabled, aws.ToInt32(st.RotationPeriodInDays))
	}
	if st.NextRotationDate == nil || !closeTo(*st.NextRotationDate, time.Now().Add(365*24*time.Hour), 49*time.Hour) {
		t.Errorf("NextRotationDate = %v, want about 365 days from now", st.NextRotationDate)
	}

	// A new period replaces the old one, bounds included.
	for _, days := range []int32{90, 2560, 180} {
		_, err = c.EnableKeyRotation(ctx(t), &kms.EnableKeyRotationInput{KeyId: aws.String(keyARN(devRegion, devAccount, id)), RotationPeriodInDays: aws.Int32(days)})
		must(t, err)
		st = rotationStatus(t, c, id)
		if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != days {
			t.Errorf("period %d: status enabled %v period %d", days, st.KeyRotationEnabled, aws.ToInt32(st.RotationPeriodInDays))
		}
	}
	if st.NextRotationDate == nil || !closeTo(*st.NextRotationDate, time.Now().Add(180*24*time.Hour), 49*time.Hour) {
		t.Errorf("NextRotationDate = %v, want about 180 days from now", st.NextRotationDate)
	}

	_, err = c.DisableKeyRotation(ctx(t), &kms.DisableKeyRotationInput{KeyId: aws.String(id)})
	must(t, err)
	if st := rotationStatus(t, c, id); st.KeyRotationEnabled {
		t.Error("DisableKeyRotation left rotation enabled")
	}

	// Rotation ops take a key id or ARN only, and need a known key.
	missing := "11111111-2222-3333-4444-555555555555"
	_, err = c.EnableKeyRotation(ctx(t), &kms.EnableKeyRotationInput{KeyId: aws.String(missing)})
	wantType[*types.NotFoundException](t, err)
	_, err = c.DisableKeyRotation(ctx(t), &kms.DisableKeyRotationInput{KeyId: aws.String(missing)})
	wantType[*types.NotFoundException](t, err)
	_, err = c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(missing)})
	wantType[*types.NotFoundException](t, err)
	_, err = c.ListKeyRotations(ctx(t), &kms.ListKeyRotationsInput{KeyId: aws.String(missing)})
	wantType[*types.NotFoundException](t, err)

	// Disabled key: EnableKeyRotation and RotateKeyOnDemand fail with DisabledException.
	_, err = c.DisableKey(ctx(t), &kms.DisableKeyInput{KeyId: aws.String(id)})
	must(t, err)
	_, err = c.EnableKeyRotation(ctx(t), &kms.EnableKeyRotationInput{KeyId: aws.String(id)})
	wantType[*types.DisabledException](t, err)
	_, err = c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	wantType[*types.DisabledException](t, err)
}

func TestRotateOnDemand(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	id := aws.ToString(newKey(t, c, "on demand").KeyId)
	arn := keyARN(devRegion, devAccount, id)
	ec := map[string]string{"gen": "0"}

	lr, err := c.ListKeyRotations(ctx(t), &kms.ListKeyRotationsInput{KeyId: aws.String(id)})
	must(t, err)
	if len(lr.Rotations) != 0 {
		t.Errorf("a new key lists %d rotations", len(lr.Rotations))
	}

	// Ciphertexts of every generation keep decrypting.
	type gen struct {
		blob, pt []byte
	}
	var gens []gen
	pt0 := []byte("generation 0")
	gens = append(gens, gen{roundTrip(t, c, id, pt0, ec), pt0})
	start := time.Now().Add(-2 * time.Second)
	for i := 1; i <= 25; i++ {
		out, err := c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		if aws.ToString(out.KeyId) != arn {
			t.Fatalf("RotateKeyOnDemand KeyId = %q, want %q", aws.ToString(out.KeyId), arn)
		}
		if i == 1 || i == 25 {
			pt := []byte(fmt.Sprint("generation ", i))
			gens = append(gens, gen{roundTrip(t, c, id, pt, ec), pt})
		}
	}
	for i, g := range gens {
		dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: g.blob, EncryptionContext: ec})
		if err != nil {
			t.Errorf("generation %d ciphertext after 25 rotations: %v", i, err)
		} else if string(dec.Plaintext) != string(g.pt) {
			t.Errorf("generation %d decrypts to %q", i, dec.Plaintext)
		}
	}
	// The 26th on-demand rotation is over AWS's quota.
	_, err = c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	wantType[*types.LimitExceededException](t, err)

	// ListKeyRotations pages through the 25 rotations.
	var entries []types.RotationsListEntry
	var marker *string
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("ListKeyRotations: too many pages")
		}
		out, err := c.ListKeyRotations(ctx(t), &kms.ListKeyRotationsInput{KeyId: aws.String(arn), Limit: aws.Int32(10), Marker: marker})
		must(t, err)
		if len(out.Rotations) > 10 {
			t.Fatalf("%d rotations with Limit 10", len(out.Rotations))
		}
		entries = append(entries, out.Rotations...)
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	if len(entries) != 25 {
		t.Fatalf("ListKeyRotations: %d entries, want 25", len(entries))
	}
	materialIDs := map[string]bool{}
	for i, e := range entries {
		mid := aws.ToString(e.KeyMaterialId)
		if !materialRE.MatchString(mid) || materialIDs[mid] {
			t.Errorf("entry %d: KeyMaterialId %q not 64 hex or repeated", i, mid)
		}
		materialIDs[mid] = true
		if e.RotationType != types.RotationTypeOnDemand {
			t.Errorf("entry %d: RotationType %q", i, e.RotationType)
		}
		if e.RotationDate == nil || e.RotationDate.Before(start) || e.RotationDate.After(time.Now().Add(2*time.Second)) {
			t.Errorf("entry %d: RotationDate %v", i, e.RotationDate)
		}
		if k := aws.ToString(e.KeyId); k != id && k != arn {
			t.Errorf("entry %d: KeyId %q", i, k)
		}
	}
	// The newest rotation's material is the key's current material, and Decrypt
	// names the material of each ciphertext.
	cur := aws.ToString(describe(t, c, id).CurrentKeyMaterialId)
	if !materialIDs[cur] {
		t.Errorf("CurrentKeyMaterialId %q is not among the rotations' materials", cur)
	}
	d0, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: gens[0].blob, EncryptionContext: ec})
	must(t, err)
	dLast, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: gens[len(gens)-1].blob, EncryptionContext: ec})
	must(t, err)
	if aws.ToString(dLast.KeyMaterialId) != cur {
		t.Errorf("Decrypt of the newest ciphertext: KeyMaterialId %q, want current %q", aws.ToString(dLast.KeyMaterialId), cur)
	}
	if m := aws.ToString(d0.KeyMaterialId); !materialRE.MatchString(m) || materialIDs[m] {
		t.Errorf("Decrypt of the first ciphertext: KeyMaterialId %q, want the initial material (not a rotation's)", m)
	}
	_, err = c.ListKeyRotations(ctx(t), &kms.ListKeyRotationsInput{KeyId: aws.String(id), Marker: aws.String("bogus")})
	wantType[*types.InvalidMarkerException](t, err)

	// On-demand rotation does not turn on automatic rotation.
	if st := rotationStatus(t, c, id); st.KeyRotationEnabled {
		t.Error("RotateKeyOnDemand enabled automatic rotation")
	}
}

// TestListKeyRotationsPendingWithinLimit: material imported with
// NEW_KEY_MATERIAL and waiting for RotateKeyOnDemand is one row of
// ListKeyRotations (ALL_KEY_MATERIAL) like the others: a page holds at most
// Limit rows, and the pending row comes on the next page.
func TestListKeyRotationsPendingWithinLimit(t *testing.T) {
	t.Parallel()
	c := startDev(t).dev()
	ck, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	must(t, err)
	id := aws.ToString(ck.KeyMetadata.KeyId)
	must(t, importMaterial(t, c, id, randomBytes(t, 32), kms.ImportKeyMaterialInput{}))
	must(t, importMaterial(t, c, id, randomBytes(t, 32), kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial}))

	var states []types.KeyMaterialState
	var marker *string
	for range 3 {
		out, err := c.ListKeyRotations(ctx(t), &kms.ListKeyRotationsInput{KeyId: aws.String(id),
			IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial, Limit: aws.Int32(1), Marker: marker})
		must(t, err)
		if len(out.Rotations) > 1 {
			t.Fatalf("Limit 1: %d rotations", len(out.Rotations))
		}
		for _, r := range out.Rotations {
			states = append(states, r.KeyMaterialState)
		}
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	if want := []types.KeyMaterialState{types.KeyMaterialStateCurrent, types.KeyMaterialStatePendingRotation}; fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("pages of one: %v, want %v", states, want)
	}
}

// TestRotationStatusOfKeysThatDoNotRotate: AWS answers GetKeyRotationStatus
// for asymmetric and HMAC keys of origin AWS_KMS with KeyRotationEnabled
// false ("The key rotation status of these KMS keys is always false", the
// API reference; Terraform's aws_kms_key reads it for every AWS_KMS key),
// while EnableKeyRotation refuses them.
func TestRotationStatusOfKeysThatDoNotRotate(t *testing.T) {
	t.Parallel()
	c := startDev(t).dev()
	for _, k := range []struct {
		spec  types.KeySpec
		usage types.KeyUsageType
	}{{types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify}, {types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac}} {
		md := newKeyOf(t, c, k.spec, k.usage)
		st := rotationStatus(t, c, aws.ToString(md.Arn))
		if st.KeyRotationEnabled || st.RotationPeriodInDays != nil || st.NextRotationDate != nil || aws.ToString(st.KeyId) != aws.ToString(md.Arn) {
			t.Errorf("%s: GetKeyRotationStatus = %+v", k.spec, st)
		}
		_, err := c.EnableKeyRotation(ctx(t), &kms.EnableKeyRotationInput{KeyId: md.KeyId})
		wantCode(t, err, "UnsupportedOperationException")
	}
}
