package keys

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/ciphertext"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/secret"
)

const keyID = "11111111-2222-3333-4444-555555555555"

// TestSpecUsages is AWS's table of the key usages each key spec allows
// (CreateKey KeyUsage documentation).
func TestSpecUsages(t *testing.T) {
	want := map[Spec][]Usage{
		SymmetricDefault: {EncryptDecrypt},
		RSA2048:          {EncryptDecrypt, SignVerify}, RSA3072: {EncryptDecrypt, SignVerify}, RSA4096: {EncryptDecrypt, SignVerify},
		ECCNISTP256: {KeyAgreement, SignVerify}, ECCNISTP384: {KeyAgreement, SignVerify}, ECCNISTP521: {KeyAgreement, SignVerify},
		ECCSECGP256K1: {SignVerify}, ECCNISTEdwards25519: {SignVerify},
		HMAC224: {GenerateVerifyMAC}, HMAC256: {GenerateVerifyMAC}, HMAC384: {GenerateVerifyMAC}, HMAC512: {GenerateVerifyMAC},
		SM2:     {EncryptDecrypt, KeyAgreement, SignVerify},
		MLDSA44: {SignVerify}, MLDSA65: {SignVerify}, MLDSA87: {SignVerify},
		MLKEM512: {EncapsulateDecapsulate}, MLKEM768: {EncapsulateDecapsulate}, MLKEM1024: {EncapsulateDecapsulate},
	}
	for spec, usages := range want {
		if got := spec.Usages(); !slices.Equal(got, usages) {
			t.Errorf("%s.Usages() = %v, want %v", spec, got, usages)
		}
	}
	if len(specs) != len(want) {
		t.Errorf("spec table has %d specs, want %d", len(specs), len(want))
	}
	if Spec("AES_256").Known() || Spec("AES_256").Allows(EncryptDecrypt) {
		t.Error("unknown spec reported known")
	}
	if got := SymmetricDefault.Algorithms(EncryptDecrypt).Encryption; !slices.Equal(got, []string{"SYMMETRIC_DEFAULT"}) {
		t.Errorf("SYMMETRIC_DEFAULT encryption algorithms = %v", got)
	}
	if got := SymmetricDefault.Algorithms(SignVerify); got.Encryption != nil || got.Signing != nil {
		t.Errorf("algorithms of a usage the spec does not allow = %+v", got)
	}
}

func TestSymmetricVersion(t *testing.T) {
	v, err := GenerateVersion(SymmetricDefault, keyID, 3, time.Now(), "ON_DEMAND")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.MaterialID) != 64 || v.Material().Len() != SymmetricKeySize {
		t.Fatalf("material id %q, material %d bytes", v.MaterialID, v.Material().Len())
	}
	ec := map[string]string{"a": "b"}
	blob := v.Seal([]byte("hello"), ec)
	b, err := ciphertext.Parse(blob)
	if err != nil || b.KeyID != keyID || b.Version != 3 {
		t.Fatalf("Parse(Seal()) = %+v, %v", b, err)
	}
	pt, err := v.Open(b, ec)
	if err != nil || string(pt) != "hello" {
		t.Fatalf("Open() = %q, %v", pt, err)
	}
	if _, err := v.Open(b, nil); !errors.Is(err, kmserr.ErrInvalidCiphertext) {
		t.Errorf("Open() with another context err = %v, want InvalidCiphertext", err)
	}
	if v.Encryptions.Load() != 1 {
		t.Errorf("Encryptions = %d, want 1", v.Encryptions.Load())
	}
	// The same material under the same key id and version opens the blob.
	w, err := NewVersion(SymmetricDefault, keyID, 3, secret.Copy(v.Material().Expose()), v.MaterialID, v.Created, "")
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := w.Open(b, ec); err != nil || !bytes.Equal(pt, []byte("hello")) {
		t.Errorf("Open() with rebuilt version = %q, %v", pt, err)
	}
	v.Wipe()
	if !v.Material().IsZero() {
		t.Error("Wipe left material")
	}
}

func TestNewVersionRejectsMaterial(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := NewVersion(SymmetricDefault, keyID, 1, secret.New(make([]byte, n)), NewMaterialID(), time.Now(), ""); !errors.Is(err, ErrMaterial) {
			t.Errorf("NewVersion(%d bytes) err = %v, want ErrMaterial", n, err)
		}
	}
}

// TestEmptyVersion: a version without material keeps its place and opens
// nothing, not even a ciphertext of the version it stands for.
func TestEmptyVersion(t *testing.T) {
	full, err := GenerateVersion(SymmetricDefault, keyID, 2, time.Now(), "ON_DEMAND")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ciphertext.Parse(full.Seal([]byte("hello"), nil))
	if err != nil {
		t.Fatal(err)
	}
	v := NewEmptyVersion(SymmetricDefault, 2, full.MaterialID, full.Created, full.RotationType)
	if v.HasMaterial() || !v.Material().IsZero() || !full.HasMaterial() {
		t.Errorf("HasMaterial() = %v (empty), %v (full); material %d bytes", v.HasMaterial(), full.HasMaterial(), v.Material().Len())
	}
	if pt, err := v.Open(b, nil); !errors.Is(err, kmserr.ErrInvalidCiphertext) {
		t.Errorf("Open with an empty version = %q, %v; want InvalidCiphertextException", pt, err)
	}
	full.Wipe()
	if !full.HasMaterial() {
		t.Error("HasMaterial() = false after Wipe: it reports how the version was built")
	}
}
