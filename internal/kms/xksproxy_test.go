package kms

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/trent-kms/trent/internal/xks"
)

// xksOf is the proxy request sender of a kms Caller.
func xksOf(c Caller) *xks.Caller {
	return &xks.Caller{Principal: c.Principal, AccessKeyID: "AKIAEXAMPLE", Region: c.Region}
}

var xksMD = &xks.RequestMetadata{AwsPrincipalArn: "arn:aws:iam::123456789012:user/kms", KmsOperation: "Encrypt", KmsRequestId: "r-1"}

func wantXKSErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	var xe *xks.Error
	if !errors.As(err, &xe) {
		t.Fatalf("err = %T %v, not an *xks.Error", err, err)
	}
}

func (e *env) xksEncrypt(b xks.Backend, c Caller, keyID string, pt, aad []byte) *xks.Sealed {
	e.t.Helper()
	s, err := b.Encrypt(bg, xksOf(c), keyID, xksMD, pt, aad)
	if err != nil {
		e.t.Fatalf("XKS Encrypt(%s) err = %v", keyID, err)
	}
	return s
}

func TestXKSRoundTrip(t *testing.T) {
	e := newEnv(t)
	b := e.s.XKSBackend()
	k := e.createKey(caller)

	md, err := b.KeyMetadata(bg, xksOf(caller), k.KeyId, xksMD)
	if err != nil {
		t.Fatal(err)
	}
	if md.KeySpec != "AES_256" || len(md.KeyUsage) != 2 || md.KeyUsage[0] != "ENCRYPT" || md.KeyUsage[1] != "DECRYPT" || md.KeyStatus != "ENABLED" {
		t.Errorf("KeyMetadata = %+v", md)
	}

	pt, aad := []byte("a data key of 32 bytes, more or less"), []byte("kms's own aad")
	s := e.xksEncrypt(b, caller, k.KeyId, pt, aad)
	if len(s.Ciphertext) != len(pt) || len(s.IV) != 12 || len(s.Tag) != xks.TagSize ||
		!bytes.Equal(s.Metadata, []byte{0xFF, 0, 0, 0, 1}) {
		t.Fatalf("Sealed = ct %d bytes, iv %d, tag %d, metadata %x", len(s.Ciphertext), len(s.IV), len(s.Tag), s.Metadata)
	}
	if bytes.Contains(s.Ciphertext, pt[:8]) {
		t.Error("ciphertext holds the plaintext")
	}
	got, err := b.Decrypt(bg, xksOf(caller), k.KeyId, xksMD, s, aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt = %q, %v; want %q", got, err, pt)
	}
	// No aad and an empty plaintext are fine too.
	s0 := e.xksEncrypt(b, caller, k.KeyId, nil, nil)
	if got, err := b.Decrypt(bg, xksOf(caller), k.KeyId, xksMD, s0, nil); err != nil || len(got) != 0 {
		t.Errorf("Decrypt(empty) = %q, %v", got, err)
	}
	// Two encryptions of one plaintext differ (fresh IV).
	if s2 := e.xksEncrypt(b, caller, k.KeyId, pt, aad); bytes.Equal(s2.IV, s.IV) || bytes.Equal(s2.Ciphertext, s.Ciphertext) {
		t.Error("two encryptions share an IV or ciphertext")
	}
	// They count against the version's encryptions, as Trent's Encrypt does.
	if n := e.s.getKey(scope{region, acct}, k.KeyId).current().Encryptions.Load(); n != 3 {
		t.Errorf("Encryptions = %d, want 3", n)
	}
}

// Every change to what was sealed, or to what binds it, is one answer:
// InvalidCiphertextException with no message.
func TestXKSTamper(t *testing.T) {
	e := newEnv(t)
	b := e.s.XKSBackend()
	k := e.createKey(caller)
	other := e.createKey(caller)
	pt, aad := []byte("0123456789abcdef0123456789abcdef"), []byte("aad")
	s := e.xksEncrypt(b, caller, k.KeyId, pt, aad)

	flip := func(p []byte, i int) []byte { q := bytes.Clone(p); q[i] ^= 1; return q }
	cases := []struct {
		name   string
		keyID  string
		sealed xks.Sealed
		aad    []byte
	}{
		{"wrong aad", k.KeyId, *s, []byte("aae")},
		{"no aad", k.KeyId, *s, nil},
		{"other key", other.KeyId, *s, aad},
		{"ciphertext bit", k.KeyId, xks.Sealed{Ciphertext: flip(s.Ciphertext, 3), IV: s.IV, Tag: s.Tag, Metadata: s.Metadata}, aad},
		{"short ciphertext", k.KeyId, xks.Sealed{Ciphertext: s.Ciphertext[1:], IV: s.IV, Tag: s.Tag, Metadata: s.Metadata}, aad},
		{"iv bit", k.KeyId, xks.Sealed{Ciphertext: s.Ciphertext, IV: flip(s.IV, 0), Tag: s.Tag, Metadata: s.Metadata}, aad},
		{"16-byte iv", k.KeyId, xks.Sealed{Ciphertext: s.Ciphertext, IV: append(bytes.Clone(s.IV), 0, 0, 0, 0), Tag: s.Tag, Metadata: s.Metadata}, aad},
		{"tag bit", k.KeyId, xks.Sealed{Ciphertext: s.Ciphertext, IV: s.IV, Tag: flip(s.Tag, 15), Metadata: s.Metadata}, aad},
		{"short tag", k.KeyId, xks.Sealed{Ciphertext: s.Ciphertext, IV: s.IV, Tag: s.Tag[:12], Metadata: s.Metadata}, aad},
		{"metadata format", k.KeyId, xks.Sealed{Ciphertext: s.Ciphertext, IV: s.IV, Tag: s.Tag, Metadata: []byte{0x01, 0, 0, 0, 1}}, aad},
		{"metadata version 0", k.KeyId, xks.Sealed{Ciphertext: s.Ciphertext, IV: s.IV, Tag: s.Tag, Metadata: []byte{0xFF, 0, 0, 0, 0}}, aad},
		{"metadata unknown version", k.KeyId, xks.Sealed{Ciphertext: s.Ciphertext, IV: s.IV, Tag: s.Tag, Metadata: []byte{0xFF, 0, 0, 0, 2}}, aad},
		{"metadata longer", k.KeyId, xks.Sealed{Ciphertext: s.Ciphertext, IV: s.IV, Tag: s.Tag, Metadata: append(bytes.Clone(s.Metadata), 0)}, aad},
		{"no metadata", k.KeyId, xks.Sealed{Ciphertext: s.Ciphertext, IV: s.IV, Tag: s.Tag}, aad},
		{"aad too long", k.KeyId, *s, make([]byte, xks.MaxAAD+1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.Decrypt(bg, xksOf(caller), tc.keyID, xksMD, &tc.sealed, tc.aad)
			wantXKSErr(t, err, xks.ErrInvalidCiphertext)
			if err.(*xks.Error).Message != "" || got != nil {
				t.Errorf("Decrypt = %q, %v: want no plaintext and no message", got, err)
			}
		})
	}
	// The original still opens (nothing above changed it in place).
	if got, err := b.Decrypt(bg, xksOf(caller), k.KeyId, xksMD, s, aad); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt(original) = %q, %v", got, err)
	}
}

// The sealed value is AES-256-GCM under the key's material with the
// specification's AAD: a key with imported material, opened by crypto/cipher.
func TestXKSImportedMaterial(t *testing.T) {
	e := newEnv(t)
	b := e.s.XKSBackend()
	k := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	_, err := b.Encrypt(bg, xksOf(caller), k.KeyId, xksMD, []byte("x"), nil)
	wantXKSErr(t, err, xks.ErrInvalidState)
	_, err = b.KeyMetadata(bg, xksOf(caller), k.KeyId, xksMD)
	wantXKSErr(t, err, xks.ErrInvalidState)

	material := make([]byte, 32)
	rand.Read(material)
	if _, err := e.importWith(caller, k.KeyId, material, ImportKeyMaterialInput{}); err != nil {
		t.Fatal(err)
	}

	pt, aad := []byte("held by Trent"), []byte("bound")
	s := e.xksEncrypt(b, caller, k.KeyId, pt, aad)
	block, _ := aes.NewCipher(material)
	gcm, _ := cipher.NewGCM(block)
	got, err := gcm.Open(nil, s.IV, append(bytes.Clone(s.Ciphertext), s.Tag...), xks.AAD(aad, s.Metadata))
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("AES-GCM under the imported material = %q, %v; want %q", got, err, pt)
	}
	// And the other way: a value sealed outside opens in Trent.
	iv := make([]byte, 12)
	rand.Read(iv)
	out := gcm.Seal(nil, iv, pt, xks.AAD(aad, s.Metadata))
	n := len(out) - xks.TagSize
	got, err = b.Decrypt(bg, xksOf(caller), k.KeyId, xksMD, &xks.Sealed{Ciphertext: out[:n], IV: iv, Tag: out[n:], Metadata: s.Metadata}, aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt(sealed by crypto/cipher) = %q, %v", got, err)
	}
}

// After a rotation, values sealed before still open; new ones use the new
// material version.
func TestXKSRotation(t *testing.T) {
	e := newEnv(t)
	b := e.s.XKSBackend()
	k := e.createKey(caller)
	old := e.xksEncrypt(b, caller, k.KeyId, []byte("before"), []byte("a"))
	if _, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	cur := e.xksEncrypt(b, caller, k.KeyId, []byte("after"), []byte("a"))
	if !bytes.Equal(old.Metadata, []byte{0xFF, 0, 0, 0, 1}) || !bytes.Equal(cur.Metadata, []byte{0xFF, 0, 0, 0, 2}) {
		t.Errorf("metadata before/after rotation = %x / %x, want version 1 / 2", old.Metadata, cur.Metadata)
	}
	for _, s := range []*xks.Sealed{old, cur} {
		if _, err := b.Decrypt(bg, xksOf(caller), k.KeyId, xksMD, s, []byte("a")); err != nil {
			t.Errorf("Decrypt(version %x) err = %v", s.Metadata, err)
		}
	}
	// Version 1's material does not open what version 2 sealed.
	moved := *cur
	moved.Metadata = old.Metadata
	_, err := b.Decrypt(bg, xksOf(caller), k.KeyId, xksMD, &moved, []byte("a"))
	wantXKSErr(t, err, xks.ErrInvalidCiphertext)
	// A restarted service (material from storage) opens both.
	s2 := e.reopen().XKSBackend()
	for _, s := range []*xks.Sealed{old, cur} {
		if _, err := s2.Decrypt(bg, xksOf(caller), k.KeyId, xksMD, s, []byte("a")); err != nil {
			t.Errorf("Decrypt(version %x) after reopen err = %v", s.Metadata, err)
		}
	}
}

func TestXKSKeyStates(t *testing.T) {
	e := newEnv(t)
	b := e.s.XKSBackend()
	k := e.createKey(caller)
	s := e.xksEncrypt(b, caller, k.KeyId, []byte("x"), nil)
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	md, err := b.KeyMetadata(bg, xksOf(caller), k.KeyId, xksMD)
	if err != nil || md.KeyStatus != "DISABLED" {
		t.Fatalf("KeyMetadata(disabled) = %+v, %v; want DISABLED", md, err)
	}
	_, err = b.Encrypt(bg, xksOf(caller), k.KeyId, xksMD, []byte("x"), nil)
	wantXKSErr(t, err, xks.ErrInvalidState)
	_, err = b.Decrypt(bg, xksOf(caller), k.KeyId, xksMD, s, nil)
	wantXKSErr(t, err, xks.ErrInvalidState)

	if _, err := e.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(bg, xksOf(caller), k.KeyId, xksMD, s, nil); err != nil {
		t.Fatalf("Decrypt after EnableKey err = %v", err)
	}
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}
	_, err = b.KeyMetadata(bg, xksOf(caller), k.KeyId, xksMD)
	wantXKSErr(t, err, xks.ErrInvalidState)
	_, err = b.Encrypt(bg, xksOf(caller), k.KeyId, xksMD, []byte("x"), nil)
	wantXKSErr(t, err, xks.ErrInvalidState)
}

// Only symmetric encryption keys are external keys.
func TestXKSKeyUsage(t *testing.T) {
	e := newEnv(t)
	b := e.s.XKSBackend()
	for _, in := range []CreateKeyInput{
		{KeySpec: "RSA_2048", KeyUsage: "ENCRYPT_DECRYPT"},
		{KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC"},
		{KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY"},
	} {
		out, err := e.s.CreateKey(bg, caller, &in)
		if err != nil {
			t.Fatal(err)
		}
		id := out.KeyMetadata.KeyId
		_, err = b.KeyMetadata(bg, xksOf(caller), id, xksMD)
		wantXKSErr(t, err, xks.ErrInvalidKeyUsage)
		_, err = b.Encrypt(bg, xksOf(caller), id, xksMD, []byte("x"), nil)
		wantXKSErr(t, err, xks.ErrInvalidKeyUsage)
		_, err = b.Decrypt(bg, xksOf(caller), id, xksMD, &xks.Sealed{}, nil)
		wantXKSErr(t, err, xks.ErrInvalidKeyUsage)
	}
}

// Keys are found by key id in the caller's account and Region only; another
// account's key is not found, whatever its policy says.
func TestXKSKeyNotFound(t *testing.T) {
	e := newEnv(t)
	b := e.s.XKSBackend()
	k := e.createKey(caller)
	if _, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/xks", TargetKeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	// The other account opens its key to everyone.
	them := callerIn(region, otherAcct)
	theirs := e.createKey(them)
	open := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`
	if _, err := e.s.PutKeyPolicy(bg, them, &PutKeyPolicyInput{KeyId: theirs.KeyId, Policy: &open, BypassPolicyLockoutSafetyCheck: true}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{otherID, "alias/xks", k.Arn, theirs.KeyId, theirs.Arn, "", "mrk-0123456789abcdef0123456789abcdef"} {
		_, err := b.KeyMetadata(bg, xksOf(caller), id, xksMD)
		wantXKSErr(t, err, xks.ErrKeyNotFound)
		_, err = b.Encrypt(bg, xksOf(caller), id, xksMD, []byte("x"), nil)
		wantXKSErr(t, err, xks.ErrKeyNotFound)
	}
	// Another Region of the same account.
	_, err := b.KeyMetadata(bg, xksOf(callerIn("eu-west-1", acct)), k.KeyId, xksMD)
	wantXKSErr(t, err, xks.ErrKeyNotFound)
}

// Authorization is Trent's: the key policy, identity policies and grants,
// for the action each call stands for.
func TestXKSAuthorization(t *testing.T) {
	e := newEnv(t)
	b := e.s.XKSBackend()
	k := e.createKey(caller)
	bob := userCaller(acct, "bob")
	s := e.xksEncrypt(b, caller, k.KeyId, []byte("x"), nil)

	// bob has no identity policy and the default key policy names no one.
	_, err := b.Encrypt(bg, xksOf(bob), k.KeyId, xksMD, []byte("x"), nil)
	wantXKSErr(t, err, xks.ErrAccessDenied)
	if msg := err.(*xks.Error).Message; msg != "User: arn:aws:iam::"+acct+":user/bob is not authorized to perform: kms:Encrypt on resource: "+
		k.Arn+" because no identity-based policy allows the kms:Encrypt action" {
		t.Errorf("AccessDenied message = %q", msg)
	}

	// The key policy allows bob to decrypt and describe only.
	e.putPolicy(k.KeyId, keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:user/bob"},"Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}`))
	if _, err := b.KeyMetadata(bg, xksOf(bob), k.KeyId, xksMD); err != nil {
		t.Errorf("bob KeyMetadata err = %v", err)
	}
	if _, err := b.Decrypt(bg, xksOf(bob), k.KeyId, xksMD, s, nil); err != nil {
		t.Errorf("bob Decrypt err = %v", err)
	}
	_, err = b.Encrypt(bg, xksOf(bob), k.KeyId, xksMD, []byte("x"), nil)
	wantXKSErr(t, err, xks.ErrAccessDenied)

	// An explicit deny of kms:Encrypt refuses even the account root.
	e.putPolicy(k.KeyId, keyPolicy(`{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"}`))
	_, err = b.Encrypt(bg, xksOf(caller), k.KeyId, xksMD, []byte("x"), nil)
	wantXKSErr(t, err, xks.ErrAccessDenied)
	if _, err := b.Decrypt(bg, xksOf(caller), k.KeyId, xksMD, s, nil); err != nil {
		t.Errorf("root Decrypt under a deny of kms:Encrypt err = %v", err)
	}

	// A grant allows what the policies do not.
	e.putPolicy(k.KeyId, keyPolicy())
	if _, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: "arn:aws:iam::" + acct + ":user/bob",
		Operations: []string{"Encrypt"}}); err != nil {
		t.Fatal(err)
	}
	var f Facts
	bobF := bob
	bobF.Facts = &f
	if _, err := e.s.XKSEncrypt(bg, bobF, k.KeyId, []byte("x"), nil); err != nil {
		t.Errorf("bob Encrypt by grant err = %v", err)
	}
	if !f.Authorized || f.Grant == "" || f.Keys[0] != k.Arn || f.Encrypted.KeyARN != k.Arn || f.Encrypted.MaterialID == "" {
		t.Errorf("Facts = %+v, want authorized by a grant, the key and its material", f)
	}
}

func TestXKSFactsAndHealth(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(caller)
	c := caller
	var f Facts
	c.Facts = &f
	s, err := e.s.XKSEncrypt(bg, c, k.KeyId, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var g Facts
	c.Facts = &g
	if _, err := e.s.XKSDecrypt(bg, c, k.KeyId, s, nil); err != nil {
		t.Fatal(err)
	}
	if f.Encrypted != g.Decrypted || f.Encrypted.KeyARN != k.Arn || !f.Authorized || !g.Authorized {
		t.Errorf("Facts of Encrypt = %+v, of Decrypt = %+v", f, g)
	}
	var d Facts
	c = userCaller(acct, "mallory")
	c.Facts = &d
	_, err = e.s.XKSDecrypt(bg, c, k.KeyId, s, nil)
	wantXKSErr(t, err, xks.ErrAccessDenied)
	if d.Authorized || d.Denied == "" || d.Keys[0] != k.Arn || d.Decrypted != (KeyUse{}) {
		t.Errorf("Facts of a denied Decrypt = %+v", d)
	}

	if err := e.s.XKSHealth(bg); err != nil {
		t.Errorf("XKSHealth err = %v", err)
	}
	e.s.Wipe()
	if err := e.s.XKSHealth(context.Background()); err == nil {
		t.Error("XKSHealth after Wipe = nil, want an error")
	}
	_, err = e.s.XKSEncrypt(bg, caller, k.KeyId, []byte("x"), nil)
	wantXKSErr(t, err, xks.ErrKeyNotFound)
}
