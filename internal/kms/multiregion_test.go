package kms

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const replicaRegion = "eu-west-1"

var inReplica = callerIn(replicaRegion, acct)

// newMultiRegion creates a multi-Region primary in region and a replica in
// replicaRegion; it returns the key id.
func (e *env) newMultiRegion(in *CreateKeyInput) string {
	e.t.Helper()
	in.MultiRegion = true
	out, err := e.s.CreateKey(bg, caller, in)
	if err != nil {
		e.t.Fatalf("CreateKey(MultiRegion) err = %v", err)
	}
	id := out.KeyMetadata.KeyId
	if _, err := e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: replicaRegion}); err != nil {
		e.t.Fatalf("ReplicateKey() err = %v", err)
	}
	return id
}

func (e *env) describe(c Caller, id string) *KeyMetadata {
	e.t.Helper()
	out, err := e.s.DescribeKey(bg, c, &DescribeKeyInput{KeyId: id})
	if err != nil {
		e.t.Fatalf("DescribeKey(%s in %s) err = %v", id, c.Region, err)
	}
	return out.KeyMetadata
}

func TestMultiRegionReplicate(t *testing.T) {
	e := newEnv(t)
	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{MultiRegion: true, Description: "primary"})
	if err != nil {
		t.Fatal(err)
	}
	md := out.KeyMetadata
	id := md.KeyId
	if !strings.HasPrefix(id, "mrk-") || len(id) != 36 || strings.Count(id, "-") != 1 {
		t.Fatalf("multi-Region key id %q, want mrk- and 32 hex digits", id)
	}
	if !md.MultiRegion || md.MultiRegionConfiguration == nil || md.MultiRegionConfiguration.MultiRegionKeyType != "PRIMARY" ||
		md.MultiRegionConfiguration.PrimaryKey.Region != region || len(md.MultiRegionConfiguration.ReplicaKeys) != 0 {
		t.Fatalf("CreateKey metadata %+v %+v", md, md.MultiRegionConfiguration)
	}

	rep, err := e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: md.Arn, ReplicaRegion: replicaRegion,
		Description: "replica", Tags: []Tag{{TagKey: "site", TagValue: "dublin"}}})
	if err != nil {
		t.Fatal(err)
	}
	rmd := rep.ReplicaKeyMetadata
	wantARN := "arn:aws:kms:" + replicaRegion + ":" + acct + ":key/" + id
	if rmd.KeyId != id || rmd.Arn != wantARN || rmd.KeyState != "Creating" || rmd.Enabled || rmd.CurrentKeyMaterialId != "" || rmd.Description != "replica" ||
		rmd.MultiRegionConfiguration.MultiRegionKeyType != "REPLICA" || rmd.MultiRegionConfiguration.PrimaryKey.Arn != md.Arn {
		t.Fatalf("replica metadata %+v %+v", rmd, rmd.MultiRegionConfiguration)
	}
	if len(rep.ReplicaTags) != 1 || !strings.Contains(rep.ReplicaPolicy, "arn:aws:iam::"+acct+":root") {
		t.Errorf("ReplicaTags %v, ReplicaPolicy %s", rep.ReplicaTags, rep.ReplicaPolicy)
	}
	if d := e.describe(inReplica, id); d.KeyState != "Enabled" || !d.Enabled || d.CurrentKeyMaterialId == "" {
		t.Errorf("DescribeKey of the replica: %s, enabled %v, material %q", d.KeyState, d.Enabled, d.CurrentKeyMaterialId)
	}
	// Every key of the set lists the replica; each keeps its description.
	for _, c := range []Caller{caller, inReplica} {
		d := e.describe(c, id)
		if got := d.MultiRegionConfiguration.ReplicaKeys; len(got) != 1 || got[0].Arn != wantARN || got[0].Region != replicaRegion {
			t.Errorf("DescribeKey in %s: ReplicaKeys %+v", c.Region, got)
		}
	}
	if d := e.describe(caller, id); d.Description != "primary" {
		t.Errorf("primary's description %q", d.Description)
	}
	lk, _ := e.s.ListKeys(bg, inReplica, &ListKeysInput{})
	if len(lk.Keys) != 1 || lk.Keys[0].KeyArn != wantARN {
		t.Errorf("ListKeys in the replica's region %+v", lk.Keys)
	}

	// A ciphertext of either region decrypts in the other.
	ec := map[string]string{"purpose": "mrk"}
	for _, from := range []Caller{caller, inReplica} {
		to := inReplica
		if from.Region == replicaRegion {
			to = caller
		}
		enc, err := e.s.Encrypt(bg, from, &EncryptInput{KeyId: id, Plaintext: []byte("across regions"), EncryptionContext: ec})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := e.s.Decrypt(bg, to, &DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
		if err != nil || string(dec.Plaintext) != "across regions" || dec.KeyId != to.keyARN(id) {
			t.Fatalf("Decrypt in %s of %s's ciphertext = %+v, %v", to.Region, from.Region, dec, err)
		}
	}

	// What ReplicateKey refuses.
	single := e.createKey(caller)
	_, err = e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: single.KeyId, ReplicaRegion: replicaRegion})
	wantErr(t, err, "UnsupportedOperationException", single.Arn+" is not a multi-region primary key.")
	_, err = e.s.ReplicateKey(bg, inReplica, &ReplicateKeyInput{KeyId: id, ReplicaRegion: "ap-south-1"})
	wantErr(t, err, "UnsupportedOperationException", wantARN+" is not a multi-region primary key.")
	_, err = e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: replicaRegion})
	wantErr(t, err, "AlreadyExistsException", "*")
	_, err = e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: region})
	wantErr(t, err, "AlreadyExistsException", "*")
	_, err = e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: "moon"})
	wantErr(t, err, "ValidationException", `1 validation error detected: Value 'moon' at 'replicaRegion' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\d+$`)
	_, err = e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: "us-gov-west-east-1"})
	wantErr(t, err, "ValidationException", `1 validation error detected: Value 'us-gov-west-east-1' at 'replicaRegion' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\d+$`)
	_, err = e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value null at 'replicaRegion' failed to satisfy constraint: Member must not be null")
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: "ap-south-1"})
	wantErr(t, err, "DisabledException", md.Arn+" is disabled.")
	// The replica's state is its own.
	if _, err := e.s.Encrypt(bg, inReplica, &EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Errorf("Encrypt with the replica while the primary is disabled: %v", err)
	}
}

// keyARN is the ARN of the key id in c's region and account.
func (c Caller) keyARN(id string) string {
	return "arn:aws:kms:" + c.Region + ":" + c.Principal.AccountID + ":key/" + id
}

// TestMultiRegionSharedProperties: rotation is set on the primary only and
// reaches every replica, with the new material, in the same write; the sets
// survive a restart.
func TestMultiRegionSharedProperties(t *testing.T) {
	e := newEnv(t)
	id := e.newMultiRegion(&CreateKeyInput{})
	replicaARN := inReplica.keyARN(id)

	_, err := e.s.EnableKeyRotation(bg, inReplica, &EnableKeyRotationInput{KeyId: id})
	wantErr(t, err, "UnsupportedOperationException", replicaARN+" is not a multi-region primary key.")
	_, err = e.s.RotateKeyOnDemand(bg, inReplica, &RotateKeyOnDemandInput{KeyId: id})
	wantErr(t, err, "UnsupportedOperationException", replicaARN+" is not a multi-region primary key.")
	if _, err := e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: id, RotationPeriodInDays: ptr(int32(90))}); err != nil {
		t.Fatal(err)
	}
	st, err := e.s.GetKeyRotationStatus(bg, inReplica, &GetKeyRotationStatusInput{KeyId: id})
	if err != nil || !st.KeyRotationEnabled || *st.RotationPeriodInDays != 90 {
		t.Fatalf("replica's rotation status %+v, %v", st, err)
	}

	if _, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(91 * 24 * time.Hour)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	materials := func(s *Service, c Caller) []string {
		t.Helper()
		out, err := s.ListKeyRotations(bg, c, &ListKeyRotationsInput{KeyId: id, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range out.Rotations {
			ids = append(ids, r.KeyMaterialId+"/"+r.RotationType+"/"+r.KeyMaterialState)
		}
		return ids
	}
	p, r := materials(e.s, caller), materials(e.s, inReplica)
	if len(p) != 3 || strings.Join(p, ",") != strings.Join(r, ",") {
		t.Fatalf("materials: primary %v, replica %v; want the same 3 (initial, on-demand, automatic)", p, r)
	}
	// The newest material encrypts in the replica's region, decrypts in the primary's.
	enc, err := e.s.Encrypt(bg, inReplica, &EncryptInput{KeyId: id, Plaintext: []byte("rotated")})
	if err != nil {
		t.Fatal(err)
	}

	s2 := e.reopen()
	if got := materials(s2, inReplica); strings.Join(got, ",") != strings.Join(p, ",") {
		t.Errorf("after a restart the replica has %v, want %v", got, p)
	}
	dec, err := s2.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || !bytes.Equal(dec.Plaintext, []byte("rotated")) {
		t.Fatalf("Decrypt after restart = %v, %v", dec, err)
	}
	md, err := s2.DescribeKey(bg, inReplica, &DescribeKeyInput{KeyId: id})
	if err != nil || md.KeyMetadata.MultiRegionConfiguration.MultiRegionKeyType != "REPLICA" {
		t.Fatalf("after a restart: %+v, %v", md, err)
	}
}

func TestMultiRegionUpdatePrimaryRegion(t *testing.T) {
	e := newEnv(t)
	id := e.newMultiRegion(&CreateKeyInput{})
	primaryARN := caller.keyARN(id)

	_, err := e.s.UpdatePrimaryRegion(bg, inReplica, &UpdatePrimaryRegionInput{KeyId: id, PrimaryRegion: region})
	wantErr(t, err, "UnsupportedOperationException", inReplica.keyARN(id)+" is not a multi-region primary key.")
	_, err = e.s.UpdatePrimaryRegion(bg, caller, &UpdatePrimaryRegionInput{KeyId: id, PrimaryRegion: "ap-south-1"})
	wantErr(t, err, "NotFoundException", "Key 'arn:aws:kms:ap-south-1:"+acct+":key/"+id+"' does not exist")
	_, err = e.s.UpdatePrimaryRegion(bg, caller, &UpdatePrimaryRegionInput{KeyId: id, PrimaryRegion: region})
	wantErr(t, err, "ValidationException", "*")
	if _, err := e.s.DisableKey(bg, inReplica, &DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.UpdatePrimaryRegion(bg, caller, &UpdatePrimaryRegionInput{KeyId: id, PrimaryRegion: replicaRegion})
	wantErr(t, err, "DisabledException", inReplica.keyARN(id)+" is disabled.")
	if _, err := e.s.EnableKey(bg, inReplica, &EnableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}

	if _, err := e.s.UpdatePrimaryRegion(bg, caller, &UpdatePrimaryRegionInput{KeyId: primaryARN, PrimaryRegion: replicaRegion}); err != nil {
		t.Fatal(err)
	}
	for c, want := range map[Caller]string{caller: "REPLICA", inReplica: "PRIMARY"} {
		cfg := e.describe(c, id).MultiRegionConfiguration
		if cfg.MultiRegionKeyType != want || cfg.PrimaryKey.Region != replicaRegion ||
			len(cfg.ReplicaKeys) != 1 || cfg.ReplicaKeys[0].Region != region {
			t.Errorf("in %s after UpdatePrimaryRegion: %+v", c.Region, cfg)
		}
	}
	// The rotation and the replication move with the primary.
	_, err = e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: id})
	wantErr(t, err, "UnsupportedOperationException", primaryARN+" is not a multi-region primary key.")
	if _, err := e.s.RotateKeyOnDemand(bg, inReplica, &RotateKeyOnDemandInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ReplicateKey(bg, inReplica, &ReplicateKeyInput{KeyId: id, ReplicaRegion: "ap-south-1"}); err != nil {
		t.Fatal(err)
	}
	cfg := e.describe(callerIn("ap-south-1", acct), id).MultiRegionConfiguration
	if cfg.PrimaryKey.Region != replicaRegion || len(cfg.ReplicaKeys) != 2 {
		t.Errorf("third key's configuration %+v", cfg)
	}
	enc := e.encrypt(id, []byte("v2"), nil) // in the old primary's region, under the on-demand material
	if _, err := e.s.Decrypt(bg, callerIn("ap-south-1", acct), &DecryptInput{CiphertextBlob: enc}); err != nil {
		t.Errorf("Decrypt in the third region: %v", err)
	}
}

// TestMultiRegionDeletion: a primary with replicas waits in
// PendingReplicaDeletion until the last replica is deleted, then its own
// waiting period runs.
func TestMultiRegionDeletion(t *testing.T) {
	e := newEnv(t)
	id := e.newMultiRegion(&CreateKeyInput{})
	primaryARN := caller.keyARN(id)

	sk, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: ptr(int32(10))})
	if err != nil {
		t.Fatal(err)
	}
	if sk.KeyState != "PendingReplicaDeletion" || sk.DeletionDate != nil || sk.PendingWindowInDays != 10 {
		t.Fatalf("ScheduleKeyDeletion of a primary with a replica = %+v", sk)
	}
	md := e.describe(caller, id)
	if md.KeyState != "PendingReplicaDeletion" || md.DeletionDate != nil || md.PendingDeletionWindowInDays == nil || *md.PendingDeletionWindowInDays != 10 {
		t.Fatalf("DescribeKey %+v", md)
	}
	_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantErr(t, err, "KMSInvalidStateException", primaryARN+" is pending replica deletion.")
	_, err = e.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: id})
	wantErr(t, err, "KMSInvalidStateException", primaryARN+" is pending replica deletion.")
	if _, err := e.s.CancelKeyDeletion(bg, caller, &CancelKeyDeletionInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if st := e.describe(caller, id).KeyState; st != "Disabled" {
		t.Fatalf("after CancelKeyDeletion: %s, want Disabled", st)
	}
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: ptr(int32(10))}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ScheduleKeyDeletion(bg, inReplica, &ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(8 * 24 * time.Hour)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DescribeKey(bg, inReplica, &DescribeKeyInput{KeyId: id}); err == nil {
		t.Fatal("the replica outlived its deletion date")
	}
	md = e.describe(caller, id)
	if md.KeyState != "PendingDeletion" || md.DeletionDate == nil || !md.DeletionDate.Time.Equal(e.clock.Now().Add(10*24*time.Hour)) ||
		len(md.MultiRegionConfiguration.ReplicaKeys) != 0 {
		t.Fatalf("the primary once its last replica is deleted: %+v", md)
	}
	e.clock.Advance(10 * 24 * time.Hour)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: id})
	wantErr(t, err, "NotFoundException", "*")
}

// TestMultiRegionConditions: kms:ReplicaRegion, kms:MultiRegion and
// kms:MultiRegionKeyType in a key policy.
func TestMultiRegionConditions(t *testing.T) {
	e := newEnv(t)
	pol := `{"Version":"2012-10-17","Statement":[
{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},
{"Effect":"Deny","Principal":"*","Action":"kms:ReplicateKey","Resource":"*","Condition":{"StringEquals":{"kms:ReplicaRegion":"ap-south-1"}}},
{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:MultiRegionKeyType":"PRIMARY"},"Bool":{"kms:MultiRegion":"true"}}}]}`
	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{MultiRegion: true, Policy: &pol})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	_, err = e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: "ap-south-1"})
	wantErr(t, err, "AccessDeniedException", "*")
	if _, err := e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: replicaRegion, Policy: &pol}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantErr(t, err, "AccessDeniedException", "*")
	if _, err := e.s.Encrypt(bg, inReplica, &EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Errorf("Encrypt with the replica (same policy, a REPLICA): %v", err)
	}
}

// TestMultiRegionAcrossNodes: a node that has not heard of a replica made on
// another node still writes the primary's new material to it (its write of
// the primary is stale, it reads the set again and redoes the write).
func TestMultiRegionAcrossNodes(t *testing.T) {
	nodes := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	out, err := a.s.CreateKey(bg, caller, &CreateKeyInput{MultiRegion: true})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	b.follow()
	if _, err := a.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: replicaRegion}); err != nil {
		t.Fatal(err)
	}
	// b has not followed: it rotates the primary it knows, without replicas.
	if _, err := b.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: id}); err != nil {
		t.Fatalf("RotateKeyOnDemand on b: %v", err)
	}
	enc, err := b.encrypt(id) // under the new material
	if err != nil {
		t.Fatal(err)
	}
	a.follow()
	if _, err := a.s.Decrypt(bg, inReplica, &DecryptInput{CiphertextBlob: enc}); err != nil {
		t.Fatalf("Decrypt with the replica of a ciphertext under material the primary got on b: %v", err)
	}
	b.follow()
	d, err := b.s.DescribeKey(bg, inReplica, &DescribeKeyInput{KeyId: id})
	if err != nil || d.KeyMetadata.CurrentKeyMaterialId != a.s.getKey(scope{region, acct}, id).currentMaterialID() {
		t.Fatalf("the replica on b: %+v, %v", d, err)
	}
}

// importInto wraps material under the parameters of GetParametersForImport
// (RSAES_OAEP_SHA_256, with Go's crypto) and imports it into the key id of
// c's region.
func (e *env) importInto(c Caller, id string, material []byte) (*ImportKeyMaterialOutput, error) {
	e.t.Helper()
	return e.importTyped(c, id, material, "")
}

// TestMultiRegionImported: each key of a set with imported material imports
// it itself, and only the material of its primary.
func TestMultiRegionImported(t *testing.T) {
	e := newEnv(t)
	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{MultiRegion: true, Origin: "EXTERNAL"})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	material, other := make([]byte, 32), make([]byte, 32)
	rand.Read(material)
	rand.Read(other)
	imp, err := e.importInto(caller, id, material)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: replicaRegion})
	if err != nil {
		t.Fatal(err)
	}
	if st := rep.ReplicaKeyMetadata.KeyState; st != "Creating" {
		t.Fatalf("ReplicateKey of an imported key: %s, want Creating", st)
	}
	// Without tags AWS's answer has no ReplicaTags member.
	if b, _ := json.Marshal(rep); bytes.Contains(b, []byte("ReplicaTags")) {
		t.Errorf("ReplicateKey without tags: %s", b)
	}
	if st := e.describe(inReplica, id).KeyState; st != "PendingImport" {
		t.Fatalf("replica of an imported key: %s, want PendingImport", st)
	}
	enc := e.encrypt(id, []byte("imported"), nil)
	_, err = e.s.Decrypt(bg, inReplica, &DecryptInput{CiphertextBlob: enc})
	wantErr(t, err, "KMSInvalidStateException", inReplica.keyARN(id)+" is pending import.")
	_, err = e.importInto(inReplica, id, other)
	wantErr(t, err, "IncorrectKeyMaterialException", "The key material in the request is not the same key material that was previously imported into this KMS key.")
	rimp, err := e.importInto(inReplica, id, material)
	if err != nil {
		t.Fatal(err)
	}
	if rimp.KeyMaterialId != imp.KeyMaterialId {
		t.Errorf("KeyMaterialId in the replica %s, in the primary %s: the same material has one id in the set", rimp.KeyMaterialId, imp.KeyMaterialId)
	}
	dec, err := e.s.Decrypt(bg, inReplica, &DecryptInput{CiphertextBlob: enc})
	if err != nil || string(dec.Plaintext) != "imported" {
		t.Fatalf("Decrypt with the replica after its import: %v, %v", dec, err)
	}
	// The replica's material is its own: deleting it leaves the primary's.
	if _, err := e.s.DeleteImportedKeyMaterial(bg, inReplica, &DeleteImportedKeyMaterialInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: enc}); err != nil {
		t.Errorf("Decrypt with the primary after the replica's material was deleted: %v", err)
	}
	_, err = e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: id})
	wantErr(t, err, "UnsupportedOperationException", "*")
}

// TestMultiRegionMaterialDroppedWhilePending: the imported material of a
// primary pending replica deletion is deleted (expiry makes the same
// change); the primary stays pending (its deletion is not undone).
func TestMultiRegionMaterialDroppedWhilePending(t *testing.T) {
	e := newEnv(t)
	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{MultiRegion: true, Origin: "EXTERNAL"})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	material := make([]byte, 32)
	rand.Read(material)
	if _, err := e.importInto(caller, id, material); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: replicaRegion}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DeleteImportedKeyMaterial(bg, caller, &DeleteImportedKeyMaterialInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if st := e.describe(caller, id).KeyState; st != "PendingReplicaDeletion" {
		t.Fatalf("after its material was deleted the primary is %s, want PendingReplicaDeletion", st)
	}
}

// TestMultiRegionKeyTypeOnCreate: kms:MultiRegionKeyType controls CreateKey
// by the type of the key it makes (AWS: "to allow or deny permission to
// create multi-Region primary keys"): PRIMARY for CreateKey with
// MultiRegion, REPLICA for the key ReplicateKey makes in the replica's
// Region, absent for a single-Region key.
func TestMultiRegionKeyTypeOnCreate(t *testing.T) {
	e := newEnv(t)
	d := newIDP(t, acct)
	createOnly := func(user, keyType string) Caller {
		return d.user(acct, user, `{"Version":"2012-10-17","Statement":[
{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*","Condition":{"StringEquals":{"kms:MultiRegionKeyType":"`+keyType+`"}}},
{"Effect":"Allow","Action":"kms:ReplicateKey","Resource":"*"}]}`)
	}
	primaries, replicas := createOnly("primaries", "PRIMARY"), createOnly("replicas", "REPLICA")
	_, err := e.s.CreateKey(bg, primaries, &CreateKeyInput{})
	wantErr(t, err, "AccessDeniedException", "*")
	out, err := e.s.CreateKey(bg, primaries, &CreateKeyInput{MultiRegion: true})
	if err != nil {
		t.Fatalf("CreateKey(MultiRegion) with kms:CreateKey for PRIMARY keys: %v", err)
	}
	id := out.KeyMetadata.KeyId
	_, err = e.s.ReplicateKey(bg, primaries, &ReplicateKeyInput{KeyId: id, ReplicaRegion: replicaRegion})
	wantErr(t, err, "AccessDeniedException", "*")
	_, err = e.s.CreateKey(bg, replicas, &CreateKeyInput{MultiRegion: true})
	wantErr(t, err, "AccessDeniedException", "*")
	if _, err := e.s.ReplicateKey(bg, replicas, &ReplicateKeyInput{KeyId: id, ReplicaRegion: replicaRegion}); err != nil {
		t.Fatalf("ReplicateKey with kms:CreateKey for REPLICA keys: %v", err)
	}
}

// TestMultiRegionUpdatePrimaryRegionPerRegion: kms:UpdatePrimaryRegion on
// each key must be effective in that key's Region (AWS), so an identity
// policy allowing it per Region with aws:RequestedRegion is decided with
// the replica's Region for the replica.
func TestMultiRegionUpdatePrimaryRegionPerRegion(t *testing.T) {
	e := newEnv(t)
	id := e.newMultiRegion(&CreateKeyInput{})
	d := newIDP(t, acct)
	inRegion := func(r string) string {
		return `{"Effect":"Allow","Action":"kms:UpdatePrimaryRegion","Resource":"arn:aws:kms:` + r + `:` + acct + `:key/*","Condition":{"StringEquals":{"aws:RequestedRegion":"` + r + `"}}}`
	}
	onlyPrimary := d.user(acct, "east", `{"Version":"2012-10-17","Statement":[`+inRegion(region)+`]}`)
	_, err := e.s.UpdatePrimaryRegion(bg, onlyPrimary, &UpdatePrimaryRegionInput{KeyId: id, PrimaryRegion: replicaRegion})
	wantErr(t, err, "AccessDeniedException", "User: arn:aws:iam::"+acct+":user/east is not authorized to perform: kms:UpdatePrimaryRegion on resource: "+
		inReplica.keyARN(id)+" because no identity-based policy allows the kms:UpdatePrimaryRegion action")
	both := d.user(acct, "both", `{"Version":"2012-10-17","Statement":[`+inRegion(region)+`,`+inRegion(replicaRegion)+`]}`)
	if _, err := e.s.UpdatePrimaryRegion(bg, both, &UpdatePrimaryRegionInput{KeyId: id, PrimaryRegion: replicaRegion}); err != nil {
		t.Fatalf("UpdatePrimaryRegion allowed in each key's Region: %v", err)
	}
}
