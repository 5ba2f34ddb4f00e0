package kms

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/ciphertext"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/secret"
	"github.com/trent-kms/trent/internal/storage"
)

// wrapWithOpenSSL wraps material under GetParametersForImport's public key
// with OpenSSL, as AWS's documentation does it for each algorithm.
func wrapWithOpenSSL(t testing.TB, dir string, pub []byte, alg string, material []byte) []byte {
	t.Helper()
	pubPath := writePEM(t, dir, "wrap.pub.pem", "PUBLIC KEY", pub)
	md := "sha1"
	if alg == "RSAES_OAEP_SHA_256" || alg == "RSA_AES_KEY_WRAP_SHA_256" {
		md = "sha256"
	}
	oaep := []string{"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:" + md, "-pkeyopt", "rsa_mgf1_md:" + md}
	matPath := writeFile(t, dir, "material", material)
	switch alg {
	case "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256":
		return openssl(t, append([]string{"pkeyutl", "-encrypt", "-pubin", "-inkey", pubPath, "-in", matPath}, oaep...)...)
	}
	aesKey := make([]byte, 32)
	rand.Read(aesKey)
	wrappedKey := openssl(t, append([]string{"pkeyutl", "-encrypt", "-pubin", "-inkey", pubPath, "-in", writeFile(t, dir, "aes", aesKey)}, oaep...)...)
	out := filepath.Join(dir, "wrapped-material")
	openssl(t, "enc", "-id-aes256-wrap-pad", "-K", fmt.Sprintf("%x", aesKey), "-iv", "A65959A6", "-in", matPath, "-out", out)
	wm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return append(wrappedKey, wm...)
}

func (e *env) importParams(id, alg, spec string) *GetParametersForImportOutput {
	e.t.Helper()
	p, err := e.s.GetParametersForImport(bg, caller, &GetParametersForImportInput{KeyId: id, WrappingAlgorithm: alg, WrappingKeySpec: spec})
	if err != nil {
		e.t.Fatalf("GetParametersForImport(%s, %s) err = %v", alg, spec, err)
	}
	return p
}

// importWrapped imports material into keyID, wrapped by OpenSSL under new
// parameters (alg, RSA_2048), and returns its KeyMaterialId; with validTo
// nil the material does not expire.
func (e *env) importWrapped(dir, keyID, alg string, material []byte, importType string, validTo *Timestamp) string {
	e.t.Helper()
	model := "KEY_MATERIAL_DOES_NOT_EXPIRE"
	if validTo != nil {
		model = "KEY_MATERIAL_EXPIRES"
	}
	p := e.importParams(keyID, alg, "RSA_2048")
	out, err := e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: keyID, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: wrapWithOpenSSL(e.t, dir, p.PublicKey, alg, material),
		ExpirationModel:      model, ValidTo: validTo, ImportType: importType})
	if err != nil {
		e.t.Fatalf("ImportKeyMaterial(ImportType %q) err = %v", importType, err)
	}
	return out.KeyMaterialId
}

// TestImportOpenSSL imports symmetric material wrapped by OpenSSL with each
// wrapping algorithm and key spec, uses it, sees it expire, re-imports it.
func TestImportOpenSSL(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	for _, tc := range []struct{ alg, spec string }{
		{"RSAES_OAEP_SHA_1", "RSA_2048"}, {"RSAES_OAEP_SHA_256", "RSA_3072"},
		{"RSA_AES_KEY_WRAP_SHA_1", "RSA_4096"}, {"RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"},
	} {
		t.Run(tc.alg+"/"+tc.spec, func(t *testing.T) {
			dir := t.TempDir()
			out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{Origin: "EXTERNAL"})
			if err != nil {
				t.Fatal(err)
			}
			md := out.KeyMetadata
			if md.KeyState != "PendingImport" || md.Enabled || md.Origin != "EXTERNAL" || md.CurrentKeyMaterialId != "" {
				t.Fatalf("EXTERNAL key metadata = %+v", md)
			}
			_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
			wantErr(t, err, "KMSInvalidStateException", md.Arn+" is pending import.")
			p := e.importParams(md.KeyId, tc.alg, tc.spec)
			if !p.ParametersValidTo.Equal(e.clock.Now().Add(24 * time.Hour)) {
				t.Errorf("ParametersValidTo = %v, want 24 hours from now", p.ParametersValidTo)
			}
			material := make([]byte, 32)
			rand.Read(material)
			validTo := Timestamp{e.clock.Now().Add(time.Hour)}
			imp, err := e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p.ImportToken,
				EncryptedKeyMaterial: wrapWithOpenSSL(t, dir, p.PublicKey, tc.alg, material), ValidTo: &validTo})
			if err != nil {
				t.Fatalf("ImportKeyMaterial err = %v", err)
			}
			d, _ := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.KeyId})
			if d.KeyMetadata.KeyState != "Enabled" || d.KeyMetadata.ExpirationModel != "KEY_MATERIAL_EXPIRES" ||
				!d.KeyMetadata.ValidTo.Equal(validTo.Time) || d.KeyMetadata.CurrentKeyMaterialId != imp.KeyMaterialId || len(imp.KeyMaterialId) != 64 {
				t.Errorf("after import: metadata %+v, KeyMaterialId %q", d.KeyMetadata, imp.KeyMaterialId)
			}
			blob := e.encrypt(md.KeyId, []byte("imported"), nil)
			// A second service seeded with the same material decrypts: the material is what OpenSSL wrapped.
			other := newEnv(t)
			if err := other.s.SeedKey(bg, SeedKey{ID: md.KeyId, Material: material, AccountID: acct}); err != nil {
				t.Fatal(err)
			}
			if dec, err := other.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob}); err != nil || string(dec.Plaintext) != "imported" {
				t.Errorf("Decrypt with the same material elsewhere = %v, %v", dec, err)
			}
			// The token imports once.
			_, err = e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p.ImportToken,
				EncryptedKeyMaterial: []byte{1}, ValidTo: &validTo})
			wantErr(t, err, "InvalidImportTokenException", "*")

			// Expiry: at ValidTo the key is unusable at once; the background job
			// then deletes the material and the key waits for an import again.
			e.clock.Advance(time.Hour)
			_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("late")})
			wantErr(t, err, "KMSInvalidStateException", md.Arn+" is pending import.")
			if err := e.s.Tick(bg); err != nil {
				t.Fatal(err)
			}
			_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob})
			wantErr(t, err, "KMSInvalidStateException", md.Arn+" is pending import.")
			// Re-importing the same material brings it back; other material is refused.
			p2 := e.importParams(md.KeyId, tc.alg, tc.spec)
			otherMaterial := make([]byte, 32)
			rand.Read(otherMaterial)
			_, err = e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p2.ImportToken,
				EncryptedKeyMaterial: wrapWithOpenSSL(t, dir, p2.PublicKey, tc.alg, otherMaterial), ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE"})
			wantErr(t, err, "IncorrectKeyMaterialException", "*")
			p3 := e.importParams(md.KeyId, tc.alg, tc.spec)
			again, err := e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p3.ImportToken,
				EncryptedKeyMaterial: wrapWithOpenSSL(t, dir, p3.PublicKey, tc.alg, material), ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE"})
			if err != nil || again.KeyMaterialId != imp.KeyMaterialId {
				t.Fatalf("re-import = %+v, %v (first KeyMaterialId %s)", again, err, imp.KeyMaterialId)
			}
			if dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob}); err != nil || string(dec.Plaintext) != "imported" {
				t.Errorf("Decrypt after re-import = %v, %v", dec, err)
			}
			// Survives a restart.
			if dec, err := e.reopen().Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob}); err != nil || string(dec.Plaintext) != "imported" {
				t.Errorf("Decrypt after restart = %v, %v", dec, err)
			}
			del, err := e.s.DeleteImportedKeyMaterial(bg, caller, &DeleteImportedKeyMaterialInput{KeyId: md.KeyId})
			if err != nil || del.KeyMaterialId != imp.KeyMaterialId {
				t.Fatalf("DeleteImportedKeyMaterial = %+v, %v", del, err)
			}
			d, _ = e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.KeyId})
			if d.KeyMetadata.KeyState != "PendingImport" || d.KeyMetadata.ExpirationModel != "" {
				t.Errorf("after DeleteImportedKeyMaterial: %+v", d.KeyMetadata)
			}
		})
	}
}

// TestImportAsymmetricAndHMAC imports RSA, ECC (PKCS #8 from OpenSSL) and
// HMAC material and checks the key is OpenSSL's: signatures verify against
// OpenSSL's public key, MACs equal `openssl mac`.
func TestImportAsymmetricAndHMAC(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	dir := t.TempDir()
	msg := []byte("imported keys sign")
	msgPath := writeFile(t, dir, "msg", msg)
	for _, tc := range []struct {
		spec, alg string
		genpkey   []string
	}{
		{"RSA_2048", "RSASSA_PSS_SHA_256", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}},
		{"ECC_NIST_P384", "ECDSA_SHA_384", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"}},
		{"ECC_SECG_P256K1", "ECDSA_SHA_256", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			der, priv := genpkey(t, dir, tc.spec, tc.genpkey...)
			md := e.createExternal(tc.spec, "SIGN_VERIFY")
			p := e.importParams(md.KeyId, "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
			if _, err := e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p.ImportToken,
				EncryptedKeyMaterial: wrapWithOpenSSL(t, dir, p.PublicKey, "RSA_AES_KEY_WRAP_SHA_256", der), ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE"}); err != nil {
				t.Fatalf("ImportKeyMaterial err = %v", err)
			}
			pub := publicPEM(t, e, dir, md.KeyId, priv)
			out, err := e.s.Sign(bg, caller, &SignInput{KeyId: md.KeyId, Message: msg, SigningAlgorithm: tc.alg})
			if err != nil {
				t.Fatal(err)
			}
			openssl(t, append(append([]string{"dgst", "-" + digestName(tc.alg), "-verify", pub, "-signature", writeFile(t, dir, "sig", out.Signature)}, pssOpts(tc.alg)...), msgPath)...)
		})
	}
	t.Run("HMAC_256", func(t *testing.T) {
		key := bytes.Repeat([]byte{0x42}, 32)
		md := e.createExternal("HMAC_256", "GENERATE_VERIFY_MAC")
		p := e.importParams(md.KeyId, "RSAES_OAEP_SHA_256", "RSA_2048")
		if _, err := e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p.ImportToken,
			EncryptedKeyMaterial: wrapWithOpenSSL(t, dir, p.PublicKey, "RSAES_OAEP_SHA_256", key), ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE"}); err != nil {
			t.Fatal(err)
		}
		out, err := e.s.GenerateMac(bg, caller, &GenerateMacInput{KeyId: md.KeyId, MacAlgorithm: "HMAC_SHA_256", Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		want := string(bytes.TrimSpace(openssl(t, "mac", "-digest", "SHA256", "-macopt", fmt.Sprintf("hexkey:%x", key), "-in", msgPath, "HMAC")))
		if got := fmt.Sprintf("%X", out.Mac); got != want {
			t.Errorf("GenerateMac = %s, openssl mac = %s", got, want)
		}
		// Deleted, the material must come back the same; an HMAC key
		// shows no CurrentKeyMaterialId.
		if _, err := e.s.DeleteImportedKeyMaterial(bg, caller, &DeleteImportedKeyMaterialInput{KeyId: md.KeyId}); err != nil {
			t.Fatal(err)
		}
		if d := e.describe(caller, md.KeyId); d.KeyState != "PendingImport" || d.CurrentKeyMaterialId != "" {
			t.Errorf("after DeleteImportedKeyMaterial: %s, CurrentKeyMaterialId %q", d.KeyState, d.CurrentKeyMaterialId)
		}
		_, err = e.s.GenerateMac(bg, caller, &GenerateMacInput{KeyId: md.KeyId, MacAlgorithm: "HMAC_SHA_256", Message: msg})
		wantErr(t, err, "KMSInvalidStateException", md.Arn+" is pending import.")
		p = e.importParams(md.KeyId, "RSAES_OAEP_SHA_256", "RSA_2048")
		_, err = e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p.ImportToken,
			EncryptedKeyMaterial: wrapWithOpenSSL(t, dir, p.PublicKey, "RSAES_OAEP_SHA_256", bytes.Repeat([]byte{0x43}, 32)), ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE"})
		wantErr(t, err, "IncorrectKeyMaterialException", "The key material in the request is not the same key material that was previously imported into this KMS key.")
		p = e.importParams(md.KeyId, "RSAES_OAEP_SHA_256", "RSA_2048")
		if _, err := e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p.ImportToken,
			EncryptedKeyMaterial: wrapWithOpenSSL(t, dir, p.PublicKey, "RSAES_OAEP_SHA_256", key), ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE"}); err != nil {
			t.Fatal(err)
		}
		again, err := e.s.GenerateMac(bg, caller, &GenerateMacInput{KeyId: md.KeyId, MacAlgorithm: "HMAC_SHA_256", Message: msg})
		if err != nil || !bytes.Equal(again.Mac, out.Mac) {
			t.Errorf("GenerateMac after the re-import = %v, %v; want the MAC before", again, err)
		}
	})
}

func (e *env) createExternal(spec, usage string) *KeyMetadata {
	e.t.Helper()
	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{KeySpec: spec, KeyUsage: usage, Origin: "EXTERNAL"})
	if err != nil {
		e.t.Fatalf("CreateKey(%s EXTERNAL) err = %v", spec, err)
	}
	return out.KeyMetadata
}

// TestImportErrors: expired token, another key's token, material of the
// wrong size, a changed wrapped key, ValidTo rules, origin checks.
func TestImportErrors(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	dir := t.TempDir()
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	other := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	material := make([]byte, 32)
	rand.Read(material)
	imp := func(token, wrapped []byte, model string, validTo *Timestamp) error {
		_, err := e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: token, EncryptedKeyMaterial: wrapped,
			ExpirationModel: model, ValidTo: validTo})
		return err
	}
	p := e.importParams(md.KeyId, "RSAES_OAEP_SHA_256", "RSA_2048")
	wrapped := wrapWithOpenSSL(t, dir, p.PublicKey, "RSAES_OAEP_SHA_256", material)
	wantErr(t, imp(p.ImportToken, wrapped, "", nil), "ValidationException", "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
	wantErr(t, imp(p.ImportToken, wrapped, "KEY_MATERIAL_EXPIRES", &Timestamp{e.clock.Now().Add(-time.Minute)}), "ValidationException", "*")
	wantErr(t, imp(p.ImportToken, wrapped, "KEY_MATERIAL_DOES_NOT_EXPIRE", &Timestamp{e.clock.Now().Add(time.Hour)}), "ValidationException", "*")
	po := e.importParams(other.KeyId, "RSAES_OAEP_SHA_256", "RSA_2048")
	wantErr(t, imp(po.ImportToken, wrapped, "KEY_MATERIAL_DOES_NOT_EXPIRE", nil), "InvalidImportTokenException", "*")
	wantErr(t, imp([]byte("not a token"), wrapped, "KEY_MATERIAL_DOES_NOT_EXPIRE", nil), "InvalidImportTokenException", "*")
	bad := bytes.Clone(wrapped)
	bad[5] ^= 1
	wantErr(t, imp(p.ImportToken, bad, "KEY_MATERIAL_DOES_NOT_EXPIRE", nil), "InvalidCiphertextException", "")
	short := wrapWithOpenSSL(t, dir, p.PublicKey, "RSAES_OAEP_SHA_256", material[:16])
	wantErr(t, imp(p.ImportToken, short, "KEY_MATERIAL_DOES_NOT_EXPIRE", nil), "IncorrectKeyMaterialException", "The key material is not valid for key spec SYMMETRIC_DEFAULT.")
	e.clock.Advance(24 * time.Hour)
	wantErr(t, imp(p.ImportToken, wrapped, "KEY_MATERIAL_DOES_NOT_EXPIRE", nil), "ExpiredImportTokenException", "*")

	sym := e.createKey(caller)
	_, err := e.s.GetParametersForImport(bg, caller, &GetParametersForImportInput{KeyId: sym.KeyId, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"})
	wantErr(t, err, "UnsupportedOperationException", sym.Arn+" origin is AWS_KMS which is not valid for this operation.")
	_, err = e.s.CreateKey(bg, caller, &CreateKeyInput{KeySpec: "ML_DSA_44", KeyUsage: "SIGN_VERIFY", Origin: "EXTERNAL"})
	wantErr(t, err, "UnsupportedOperationException", "*")
	_, err = e.s.GetParametersForImport(bg, caller, &GetParametersForImportInput{KeyId: md.KeyId, WrappingAlgorithm: "RSA_AES", WrappingKeySpec: "RSA_2048"})
	wantErr(t, err, "ValidationException", "*")
	_, err = e.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: md.KeyId})
	wantErr(t, err, "KMSInvalidStateException", md.Arn+" is pending import.")
}

// TestImportedRotation: new material imported with NEW_KEY_MATERIAL becomes
// current on RotateKeyOnDemand; ListKeyRotations reports both materials;
// ciphertext under the old material still decrypts.
func TestImportedRotation(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	dir := t.TempDir()
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	importOne := func(importType string) (string, error) {
		m := make([]byte, 32)
		rand.Read(m)
		p := e.importParams(md.KeyId, "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048")
		out, err := e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p.ImportToken,
			EncryptedKeyMaterial: wrapWithOpenSSL(t, dir, p.PublicKey, "RSA_AES_KEY_WRAP_SHA_1", m), ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType: importType})
		if err != nil {
			return "", err
		}
		return out.KeyMaterialId, nil
	}
	first, err := importOne("")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId})
	wantErr(t, err, "KMSInvalidStateException", "No available key material pending rotation for the key: "+md.Arn+".")
	old := e.encrypt(md.KeyId, []byte("before"), nil)
	second, err := importOne("NEW_KEY_MATERIAL")
	if err != nil {
		t.Fatal(err)
	}
	_, err = importOne("NEW_KEY_MATERIAL")
	wantErr(t, err, "KMSInvalidStateException", "*")
	pend, err := e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
	if err != nil || len(pend.Rotations) != 2 || pend.Rotations[1].KeyMaterialState != "PENDING_ROTATION" || pend.Rotations[1].KeyMaterialId != second ||
		pend.Rotations[0].KeyMaterialState != "CURRENT" || pend.Rotations[0].ImportState != "IMPORTED" || pend.Rotations[0].ExpirationModel != "KEY_MATERIAL_DOES_NOT_EXPIRE" {
		t.Fatalf("ListKeyRotations with pending material = %+v, %v", pend, err)
	}
	if _, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	rot, err := e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
	if err != nil || len(rot.Rotations) != 2 || rot.Rotations[0].KeyMaterialId != first || rot.Rotations[1].KeyMaterialId != second ||
		rot.Rotations[1].KeyMaterialState != "CURRENT" || rot.Rotations[1].RotationType != "ON_DEMAND" {
		t.Fatalf("ListKeyRotations = %+v, %v", rot, err)
	}
	enc, err := e.s.GenerateDataKey(bg, caller, &GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_256"})
	if err != nil || enc.KeyMaterialId != second {
		t.Errorf("GenerateDataKey KeyMaterialId = %v, %v; want %s", enc, err, second)
	}
	dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: old})
	if err != nil || string(dec.Plaintext) != "before" || dec.KeyMaterialId != first {
		t.Errorf("Decrypt of ciphertext under the first material = %+v, %v", dec, err)
	}
	_, err = e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: md.KeyId})
	wantErr(t, err, "UnsupportedOperationException", md.Arn+" origin is EXTERNAL which is not valid for this operation.")
}

// TestDeleteImportedMaterialKeepsVersions: a symmetric EXTERNAL key with two
// materials (the second imported as NEW_KEY_MATERIAL and rotated in) loses
// one material at a time, the current one or one named by KeyMaterialId.
// Each version keeps its place: the key is PendingImport (its current
// material id still shown) until every material is imported again, then
// every ciphertext decrypts and new ones use the current material. The
// deleted material is wiped from memory and gone from the stored record, and
// a restart over bbolt keeps it all.
func TestDeleteImportedMaterialKeepsVersions(t *testing.T) {
	opensslPath(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "trent.db")
	s, closeDB := boltService(t, path)
	defer func() { closeDB() }()
	e := &env{t: t, s: s}
	restart := func() {
		t.Helper()
		before := snapshot(t, e.s)
		closeDB()
		e.s, closeDB = boltService(t, path)
		if got := snapshot(t, e.s); got != before {
			t.Errorf("state after restart differs:\nbefore %s\nafter  %s", before, got)
		}
	}
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	first, second := make([]byte, 32), make([]byte, 32)
	rand.Read(first)
	rand.Read(second)
	imp := func(material []byte, importType string) string {
		return e.importWrapped(dir, md.KeyId, "RSA_AES_KEY_WRAP_SHA_256", material, importType, nil)
	}
	del := func(materialID string) string {
		t.Helper()
		out, err := e.s.DeleteImportedKeyMaterial(bg, caller, &DeleteImportedKeyMaterialInput{KeyId: md.KeyId, KeyMaterialId: materialID})
		if err != nil {
			t.Fatalf("DeleteImportedKeyMaterial(%q) err = %v", materialID, err)
		}
		return out.KeyMaterialId
	}
	firstID := imp(first, "")
	blob1 := e.encrypt(md.KeyId, []byte("first"), nil)
	secondID := imp(second, "NEW_KEY_MATERIAL")
	if _, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	blob2 := e.encrypt(md.KeyId, []byte("second"), nil)

	// check compares DescribeKey and ListKeyRotations with the state
	// wanted: the key state and the ImportState of each material.
	check := func(state string, imports ...string) {
		t.Helper()
		d, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		if m := d.KeyMetadata; m.KeyState != state || m.Enabled != (state == "Enabled") || m.CurrentKeyMaterialId != secondID {
			t.Errorf("DescribeKey: KeyState %s, Enabled %v, CurrentKeyMaterialId %s; want %s, CurrentKeyMaterialId %s",
				m.KeyState, m.Enabled, m.CurrentKeyMaterialId, state, secondID)
		}
		rot, err := e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rot.Rotations {
			got = append(got, r.KeyMaterialId[:8]+" "+r.KeyMaterialState+" "+r.ImportState)
		}
		want := []string{firstID[:8] + " NON_CURRENT " + imports[0], secondID[:8] + " CURRENT " + imports[1]}
		if !slices.Equal(got, want) {
			t.Errorf("ListKeyRotations = %q, want %q", got, want)
		}
	}
	decrypts := func(blobs ...[]byte) {
		t.Helper()
		for i, b := range blobs {
			dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: b})
			if err != nil || dec.KeyMaterialId != []string{firstID, secondID, secondID}[i] {
				t.Errorf("Decrypt of ciphertext %d = %+v, %v", i+1, dec, err)
			}
		}
	}
	pendingImport := func(blobs ...[]byte) {
		t.Helper()
		_, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
		wantErr(t, err, "KMSInvalidStateException", md.Arn+" is pending import.")
		for _, b := range blobs {
			_, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: b})
			wantErr(t, err, "KMSInvalidStateException", md.Arn+" is pending import.")
		}
	}
	check("Enabled", "IMPORTED", "IMPORTED")

	// The current material goes.
	held := e.s.getKey(scope{region, acct}, md.KeyId).versions[1]
	if got := del(""); got != secondID {
		t.Fatalf("DeleteImportedKeyMaterial deleted %s, want the current material %s", got, secondID)
	}
	if !held.Material().IsZero() {
		t.Error("the deleted material is still in memory")
	}
	storedWithout(t, e.s, md.KeyId, second)
	check("PendingImport", "IMPORTED", "PENDING_IMPORT")
	pendingImport(blob1, blob2)
	// The first material (still there) again does not bring the key back.
	if got := imp(first, ""); got != firstID {
		t.Fatalf("re-import of the first material: KeyMaterialId %s, want %s", got, firstID)
	}
	check("PendingImport", "IMPORTED", "PENDING_IMPORT")
	restart()
	pendingImport(blob1, blob2)
	if got := imp(second, ""); got != secondID {
		t.Fatalf("re-import of the second material: KeyMaterialId %s, want %s", got, secondID)
	}
	check("Enabled", "IMPORTED", "IMPORTED")
	blob3 := e.encrypt(md.KeyId, []byte("third"), nil)
	if b, err := ciphertext.Parse(blob3); err != nil || b.Version != 2 {
		t.Errorf("a new ciphertext names version %v (%v), want 2", b, err)
	}
	decrypts(blob1, blob2, blob3)

	// The first material, by its id.
	if got := del(firstID); got != firstID {
		t.Fatalf("DeleteImportedKeyMaterial(%s) deleted %s", firstID, got)
	}
	storedWithout(t, e.s, md.KeyId, first)
	check("PendingImport", "PENDING_IMPORT", "IMPORTED")
	pendingImport(blob1, blob2, blob3)
	if got := del(firstID); got != firstID { // deleted already: nothing changes
		t.Fatalf("DeleteImportedKeyMaterial(%s) again deleted %s", firstID, got)
	}
	unknown := strings.Repeat("0", 64)
	_, err := e.s.DeleteImportedKeyMaterial(bg, caller, &DeleteImportedKeyMaterialInput{KeyId: md.KeyId, KeyMaterialId: unknown})
	wantErr(t, err, "NotFoundException", "Key material "+unknown+" does not exist in "+md.Arn+".")
	restart()
	check("PendingImport", "PENDING_IMPORT", "IMPORTED")
	imp(first, "")
	check("Enabled", "IMPORTED", "IMPORTED")
	decrypts(blob1, blob2, blob3)

	// Pending deletion: deleting material leaves the key so, and a
	// cancellation brings it back to PendingImport until the material is
	// imported again.
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	del("")
	check("PendingDeletion", "IMPORTED", "PENDING_IMPORT")
	if _, err := e.s.CancelKeyDeletion(bg, caller, &CancelKeyDeletionInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	check("PendingImport", "IMPORTED", "PENDING_IMPORT")
	_, err = e.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: md.KeyId})
	wantErr(t, err, "KMSInvalidStateException", md.Arn+" is pending import.")
	imp(second, "")
	check("Enabled", "IMPORTED", "IMPORTED")
	decrypts(blob1, blob2, blob3)
}

// storedWithout checks that the stored record of key id holds no copy of
// material.
func storedWithout(t *testing.T, s *Service, id string, material []byte) {
	t.Helper()
	err := s.store.View(bg, func(tx storage.Tx) error {
		b, err := tx.Get(keyPath(region, acct, id))
		if err != nil {
			return err
		}
		defer clear(b)
		if bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(material))) || bytes.Contains(b, material) {
			t.Error("the stored key record holds the deleted material")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestImportedMaterialExpiresPerVersion: each material expires at its own
// ValidTo. The first material of a key expires after the second (which does
// not expire) is current: the key is PendingImport at once, the background
// job deletes that material only, and its re-import brings the key back.
// Expired material pending rotation is deleted too, and the key stays
// Enabled.
func TestImportedMaterialExpiresPerVersion(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	dir := t.TempDir()
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	imp := func(material []byte, importType string, validTo *Timestamp) string {
		return e.importWrapped(dir, md.KeyId, "RSAES_OAEP_SHA_256", material, importType, validTo)
	}
	first, second, third := make([]byte, 32), make([]byte, 32), make([]byte, 32)
	rand.Read(first)
	rand.Read(second)
	rand.Read(third)
	hour := &Timestamp{e.clock.Now().Add(time.Hour)}
	firstID := imp(first, "", hour)
	blob1 := e.encrypt(md.KeyId, []byte("first"), nil)
	secondID := imp(second, "NEW_KEY_MATERIAL", nil)
	if _, err := e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	rot, err := e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
	if err != nil || len(rot.Rotations) != 2 || rot.Rotations[0].ExpirationModel != "KEY_MATERIAL_EXPIRES" || !rot.Rotations[0].ValidTo.Equal(hour.Time) ||
		rot.Rotations[1].ExpirationModel != "KEY_MATERIAL_DOES_NOT_EXPIRE" || rot.Rotations[1].ValidTo != nil {
		t.Fatalf("ListKeyRotations = %+v, %v; want each material's expiration", rot, err)
	}
	if d := e.describe(caller, md.KeyId); d.ExpirationModel != "KEY_MATERIAL_EXPIRES" || d.ValidTo == nil || !d.ValidTo.Equal(hour.Time) {
		t.Errorf("DescribeKey: ExpirationModel %s, ValidTo %v; want the first material's, the earliest (AWS)", d.ExpirationModel, d.ValidTo)
	}
	blob2 := e.encrypt(md.KeyId, []byte("second"), nil)

	e.clock.Advance(time.Hour)
	_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("late")})
	wantErr(t, err, "KMSInvalidStateException", md.Arn+" is pending import.")
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	rot, err = e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
	if err != nil || len(rot.Rotations) != 2 || rot.Rotations[0].ImportState != "PENDING_IMPORT" || rot.Rotations[1].ImportState != "IMPORTED" {
		t.Fatalf("ListKeyRotations after the first material expired = %+v, %v", rot, err)
	}
	if d := e.describe(caller, md.KeyId); d.KeyState != "PendingImport" || d.CurrentKeyMaterialId != secondID {
		t.Errorf("DescribeKey after the first material expired: %s, CurrentKeyMaterialId %s", d.KeyState, d.CurrentKeyMaterialId)
	}
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob2})
	wantErr(t, err, "KMSInvalidStateException", md.Arn+" is pending import.")
	if got := imp(first, "", nil); got != firstID {
		t.Fatalf("re-import of the first material: KeyMaterialId %s, want %s", got, firstID)
	}
	for i, b := range [][]byte{blob1, blob2} {
		if dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: b}); err != nil || dec.KeyMaterialId != []string{firstID, secondID}[i] {
			t.Errorf("Decrypt of ciphertext %d after the re-import = %+v, %v", i+1, dec, err)
		}
	}

	// Material pending rotation expires too, without changing the key's state.
	thirdID := imp(third, "NEW_KEY_MATERIAL", &Timestamp{e.clock.Now().Add(time.Hour)})
	e.clock.Advance(time.Hour)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(caller, md.KeyId); d.KeyState != "Enabled" {
		t.Errorf("after the material pending rotation expired the key is %s, want Enabled", d.KeyState)
	}
	_, err = e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId})
	wantErr(t, err, "KMSInvalidStateException", "No available key material pending rotation for the key: "+md.Arn+".")
	// Gone as if never imported: it may be imported as new material again.
	if got := imp(third, "NEW_KEY_MATERIAL", nil); got != thirdID {
		t.Errorf("new material again: KeyMaterialId %s, want %s", got, thirdID)
	}
}

// TestDeletePendingMaterial: DeleteImportedKeyMaterial naming the material
// pending rotation forgets it (it can be imported again as new material);
// the key's state and its current material stay.
func TestDeletePendingMaterial(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	dir := t.TempDir()
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	imp := func(material []byte, importType string) string {
		return e.importWrapped(dir, md.KeyId, "RSAES_OAEP_SHA_256", material, importType, nil)
	}
	first, next := make([]byte, 32), make([]byte, 32)
	rand.Read(first)
	rand.Read(next)
	firstID := imp(first, "")
	nextID := imp(next, "NEW_KEY_MATERIAL")
	out, err := e.s.DeleteImportedKeyMaterial(bg, caller, &DeleteImportedKeyMaterialInput{KeyId: md.KeyId, KeyMaterialId: nextID})
	if err != nil || out.KeyMaterialId != nextID {
		t.Fatalf("DeleteImportedKeyMaterial(pending) = %+v, %v", out, err)
	}
	if d := e.describe(caller, md.KeyId); d.KeyState != "Enabled" || d.CurrentKeyMaterialId != firstID {
		t.Errorf("after the pending material was deleted: %s, CurrentKeyMaterialId %s", d.KeyState, d.CurrentKeyMaterialId)
	}
	storedWithout(t, e.s, md.KeyId, next)
	rot, err := e.s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
	if err != nil || len(rot.Rotations) != 1 {
		t.Errorf("ListKeyRotations = %+v, %v; want the first material only", rot, err)
	}
	_, err = e.s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId})
	wantErr(t, err, "KMSInvalidStateException", "*")
	if got := imp(next, "NEW_KEY_MATERIAL"); got != nextID {
		t.Errorf("the deleted pending material as new material again: KeyMaterialId %s, want %s", got, nextID)
	}
}

// TestDeletedMaterialFollowsAnotherNode: a node that applies another node's
// deletion of imported material wipes the version it held and refuses the
// key; the re-import brings the material back on it.
func TestDeletedMaterialFollowsAnotherNode(t *testing.T) {
	nodes := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ea := &env{t: t, s: a.s, clock: a.clock}
	md := ea.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	material := make([]byte, 32)
	rand.Read(material)
	if _, err := ea.importInto(caller, md.KeyId, material); err != nil {
		t.Fatal(err)
	}
	b.follow()
	blob, err := b.encrypt(md.KeyId)
	if err != nil {
		t.Fatal(err)
	}
	held := b.s.getKey(scope{region, acct}, md.KeyId).versions[0]
	if _, err := a.s.DeleteImportedKeyMaterial(bg, caller, &DeleteImportedKeyMaterialInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	b.follow()
	if !held.Material().IsZero() {
		t.Error("the node that followed the deletion still holds the material")
	}
	if v := b.s.getKey(scope{region, acct}, md.KeyId).versions[0]; v.HasMaterial() {
		t.Error("the node that followed the deletion has a version with material")
	}
	_, err = b.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob})
	wantErr(t, err, "KMSInvalidStateException", md.Arn+" is pending import.")
	if _, err := ea.importInto(caller, md.KeyId, material); err != nil {
		t.Fatal(err)
	}
	b.follow()
	if dec, err := b.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob}); err != nil || string(dec.Plaintext) != "hello" {
		t.Errorf("Decrypt on the node that followed the re-import = %+v, %v", dec, err)
	}
}

// TestImportRecordOfEarlierRelease: a key record written before each
// material had its own expiry (the current material's in the import
// record) loads with that expiry on the current material.
func TestImportRecordOfEarlierRelease(t *testing.T) {
	e := newEnv(t)
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	material := make([]byte, 32)
	rand.Read(material)
	if _, err := e.importInto(caller, md.KeyId, material); err != nil {
		t.Fatal(err)
	}
	validTo := e.clock.Now().Add(time.Hour)
	path := keyPath(region, acct, md.KeyId)
	err := e.store.Update(bg, func(tx storage.Tx) error {
		b, err := tx.Get(path)
		if err != nil {
			return err
		}
		var rec map[string]any
		if err := json.Unmarshal(b, &rec); err != nil {
			return err
		}
		imp := rec["import"].(map[string]any)
		if _, ok := imp["expiry"]; !ok {
			t.Errorf("the import record has no expiry: %v", imp)
		}
		delete(imp, "expiry")
		imp["expiration"], imp["validTo"] = "KEY_MATERIAL_EXPIRES", validTo
		b, err = json.Marshal(rec)
		if err != nil {
			return err
		}
		return tx.Put(path, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	e.s = e.reopen()
	if d := e.describe(caller, md.KeyId); d.KeyState != "Enabled" || d.ExpirationModel != "KEY_MATERIAL_EXPIRES" || !d.ValidTo.Equal(validTo) {
		t.Fatalf("DescribeKey of the earlier record: %s, ExpirationModel %s, ValidTo %v", d.KeyState, d.ExpirationModel, d.ValidTo)
	}
	e.clock.Advance(time.Hour)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(caller, md.KeyId); d.KeyState != "PendingImport" || d.CurrentKeyMaterialId == "" {
		t.Errorf("DescribeKey after the expiry: %s, CurrentKeyMaterialId %q", d.KeyState, d.CurrentKeyMaterialId)
	}
}

func FuzzImportToken(f *testing.F) {
	f.Add(newImportToken("11111111-2222-3333-4444-555555555555"))
	f.Add([]byte{1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, tok []byte) {
		if id, ok := parseImportToken(tok); ok && (!arn.IsKeyID(id) || len(tok) != 2+len(id)+importTokenRandom) {
			t.Errorf("parseImportToken(%x) = %q, true", tok, id)
		}
	})
}

// TestParametersWithoutTheLock: GetParametersForImport takes its wrapping
// key pair (an RSA generation when none is ready) without the key's lock:
// a change of the same key goes through meanwhile, and the parameters are
// then built on the changed key (the change stays).
func TestParametersWithoutTheLock(t *testing.T) {
	e := newEnv(t)
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	generating, release := make(chan struct{}), make(chan struct{})
	orig := generateWrappingKey
	generateWrappingKey = func(spec keys.Spec) (secret.Bytes, []byte, error) {
		close(generating)
		<-release
		return orig(spec)
	}
	t.Cleanup(func() { generateWrappingKey = orig })
	params := make(chan error, 1)
	go func() {
		_, err := e.s.GetParametersForImport(bg, caller, &GetParametersForImportInput{KeyId: md.KeyId,
			WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"})
		params <- err
	}()
	<-generating
	tagged := make(chan error, 1)
	go func() {
		_, err := e.s.TagResource(bg, caller, &TagResourceInput{KeyId: md.KeyId, Tags: []Tag{{TagKey: "during", TagValue: "generation"}}})
		tagged <- err
	}()
	select {
	case err := <-tagged:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("TagResource waited for the wrapping key's generation: GetParametersForImport holds the key's lock")
	}
	close(release)
	if err := <-params; err != nil {
		t.Fatal(err)
	}
	tags, err := e.s.ListResourceTags(bg, caller, &ListResourceTagsInput{KeyId: md.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.Tags) != 1 || tags.Tags[0].TagKey != "during" {
		t.Errorf("tags after GetParametersForImport = %v, want the one added during its generation", tags.Tags)
	}
	if k := e.s.getKey(scope{region, acct}, md.KeyId); k.imp.params == nil {
		t.Error("no import parameters on the key")
	}
}

// importWith imports material into id in c's region, wrapped under fresh
// import parameters (RSAES_OAEP_SHA_256) by the standard library, with in's
// other members (ImportType, KeyMaterialDescription; never expiring unless
// in says otherwise).
func (e *env) importWith(c Caller, id string, material []byte, in ImportKeyMaterialInput) (*ImportKeyMaterialOutput, error) {
	e.t.Helper()
	p, err := e.s.GetParametersForImport(bg, c, &GetParametersForImportInput{KeyId: id, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"})
	if err != nil {
		e.t.Fatalf("GetParametersForImport in %s: %v", c.Region, err)
	}
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	if err != nil {
		e.t.Fatal(err)
	}
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	in.KeyId, in.ImportToken, in.EncryptedKeyMaterial = id, p.ImportToken, wrapped
	if in.ExpirationModel == "" {
		in.ExpirationModel = "KEY_MATERIAL_DOES_NOT_EXPIRE"
	}
	return e.s.ImportKeyMaterial(bg, c, &in)
}

// importTyped imports material into id with ImportType importType.
func (e *env) importTyped(c Caller, id string, material []byte, importType string) (*ImportKeyMaterialOutput, error) {
	e.t.Helper()
	return e.importWith(c, id, material, ImportKeyMaterialInput{ImportType: importType})
}

// TestFirstImportNewKeyMaterial: AWS's ImportType defaults to
// NEW_KEY_MATERIAL when no material was ever imported into the key, so the
// first import may name it, into a single-Region key or a multi-Region
// primary; a replica still takes its primary's material only.
func TestFirstImportNewKeyMaterial(t *testing.T) {
	e := newEnv(t)
	material := make([]byte, 32)
	rand.Read(material)
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	if _, err := e.importTyped(caller, md.KeyId, material, "NEW_KEY_MATERIAL"); err != nil {
		t.Fatalf("first ImportKeyMaterial(NEW_KEY_MATERIAL) err = %v", err)
	}
	if d := e.describe(caller, md.KeyId); d.KeyState != "Enabled" {
		t.Errorf("after the first import: %s, want Enabled", d.KeyState)
	}
	e.encrypt(md.KeyId, []byte("new"), nil)

	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{MultiRegion: true, Origin: "EXTERNAL"})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	if _, err := e.importTyped(caller, id, material, "NEW_KEY_MATERIAL"); err != nil {
		t.Fatalf("first ImportKeyMaterial(NEW_KEY_MATERIAL) into a multi-Region primary err = %v", err)
	}
	if _, err := e.s.ReplicateKey(bg, caller, &ReplicateKeyInput{KeyId: id, ReplicaRegion: replicaRegion}); err != nil {
		t.Fatal(err)
	}
	other := make([]byte, 32)
	rand.Read(other)
	_, err = e.importTyped(inReplica, id, other, "NEW_KEY_MATERIAL")
	wantErr(t, err, "UnsupportedOperationException", "*")
	if _, err := e.importTyped(inReplica, id, material, "EXISTING_KEY_MATERIAL"); err != nil {
		t.Fatalf("ImportKeyMaterial(EXISTING_KEY_MATERIAL) of the primary's material into the replica err = %v", err)
	}
	enc := e.encrypt(id, []byte("set"), nil)
	if dec, err := e.s.Decrypt(bg, inReplica, &DecryptInput{CiphertextBlob: enc}); err != nil || string(dec.Plaintext) != "set" {
		t.Errorf("Decrypt in the replica = %v, %v", dec, err)
	}
}

// TestImportMemberPatterns: KeyMaterialDescription and KeyMaterialId are
// checked against their model patterns (ValidationException), as AWS's
// model constrains them, before the key is looked at.
func TestImportMemberPatterns(t *testing.T) {
	e := newEnv(t)
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	upper := strings.Repeat("AB", 32) // 64 characters, not lower-case hex
	_, err := e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: []byte{1}, EncryptedKeyMaterial: []byte{1},
		ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialDescription: "key #1"})
	wantErr(t, err, "ValidationException", `1 validation error detected: Value 'key #1' at 'keyMaterialDescription' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_\s.-]+$`)
	_, err = e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: []byte{1}, EncryptedKeyMaterial: []byte{1},
		ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId: upper})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value '"+upper+"' at 'keyMaterialId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-f0-9]+$")
	_, err = e.s.DeleteImportedKeyMaterial(bg, caller, &DeleteImportedKeyMaterialInput{KeyId: md.KeyId, KeyMaterialId: upper})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value '"+upper+"' at 'keyMaterialId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-f0-9]+$")
	// A description of the allowed characters is accepted.
	material := make([]byte, 32)
	rand.Read(material)
	if _, err := e.importWith(caller, md.KeyId, material, ImportKeyMaterialInput{KeyMaterialDescription: "HSM export 2026-12/a_b:c"}); err != nil {
		t.Errorf("ImportKeyMaterial(KeyMaterialDescription of allowed characters) err = %v", err)
	}
}

// importDescribed imports material into id (RSAES_OAEP_SHA_256 by the
// standard library) with ImportType importType and KeyMaterialDescription
// desc.
func (e *env) importDescribed(id string, material []byte, importType, desc string) {
	e.t.Helper()
	if _, err := e.importWith(caller, id, material, ImportKeyMaterialInput{ImportType: importType, KeyMaterialDescription: desc}); err != nil {
		e.t.Fatalf("ImportKeyMaterial(%q, %q) err = %v", importType, desc, err)
	}
}

// TestKeyMaterialDescription: ListKeyRotations gives each imported
// material's KeyMaterialDescription, as AWS does; a re-import without one
// keeps the last one given, a re-import with one replaces it, and it
// survives a restart.
func TestKeyMaterialDescription(t *testing.T) {
	e := newEnv(t)
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	first, second := make([]byte, 32), make([]byte, 32)
	rand.Read(first)
	rand.Read(second)
	e.importDescribed(md.KeyId, first, "", "from HSM A")
	e.importDescribed(md.KeyId, second, "NEW_KEY_MATERIAL", "from HSM B")
	descs := func(s *Service) []string {
		t.Helper()
		out, err := s.ListKeyRotations(bg, caller, &ListKeyRotationsInput{KeyId: md.KeyId, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range out.Rotations {
			got = append(got, r.KeyMaterialState+":"+r.KeyMaterialDescription)
		}
		return got
	}
	if got, want := descs(e.s), []string{"CURRENT:from HSM A", "PENDING_ROTATION:from HSM B"}; !slices.Equal(got, want) {
		t.Errorf("ListKeyRotations descriptions = %q, want %q", got, want)
	}
	e.importDescribed(md.KeyId, first, "", "")
	if got, want := descs(e.s), []string{"CURRENT:from HSM A", "PENDING_ROTATION:from HSM B"}; !slices.Equal(got, want) {
		t.Errorf("after a re-import without a description: %q, want %q", got, want)
	}
	e.importDescribed(md.KeyId, first, "EXISTING_KEY_MATERIAL", "renamed")
	if got, want := descs(e.reopen()), []string{"CURRENT:renamed", "PENDING_ROTATION:from HSM B"}; !slices.Equal(got, want) {
		t.Errorf("after a re-import with a description, over the same store: %q, want %q", got, want)
	}
}

// TestImportTypeRefusedForOneMaterialKeys: an asymmetric or HMAC key has one
// material, and AWS refuses an ImportKeyMaterial request that gives
// ImportType for it (either value); without ImportType it imports.
func TestImportTypeRefusedForOneMaterialKeys(t *testing.T) {
	e := newEnv(t)
	key := make([]byte, 32)
	rand.Read(key)
	md := e.createExternal("HMAC_256", "GENERATE_VERIFY_MAC")
	for _, it := range []string{"EXISTING_KEY_MATERIAL", "NEW_KEY_MATERIAL"} {
		_, err := e.importTyped(caller, md.KeyId, key, it)
		wantErr(t, err, "UnsupportedOperationException", "*")
	}
	if _, err := e.importTyped(caller, md.KeyId, key, ""); err != nil {
		t.Fatalf("ImportKeyMaterial without ImportType err = %v", err)
	}
	_, err := e.importTyped(caller, md.KeyId, key, "EXISTING_KEY_MATERIAL")
	wantErr(t, err, "UnsupportedOperationException", "*")
}

// TestFirstImportExistingKeyMaterial: ImportType EXISTING_KEY_MATERIAL
// names material previously associated with the key (AWS's developer
// guide), so the first import into a key may not give it; a replica's
// first import of its primary's material may.
func TestFirstImportExistingKeyMaterial(t *testing.T) {
	e := newEnv(t)
	material := make([]byte, 32)
	rand.Read(material)
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	_, err := e.importTyped(caller, md.KeyId, material, "EXISTING_KEY_MATERIAL")
	wantErr(t, err, "IncorrectKeyMaterialException", "*")
	if d := e.describe(caller, md.KeyId); d.KeyState != "PendingImport" {
		t.Errorf("after the refused import: %s, want PendingImport", d.KeyState)
	}
	if _, err := e.importTyped(caller, md.KeyId, material, ""); err != nil {
		t.Fatalf("first ImportKeyMaterial without ImportType err = %v", err)
	}
	if _, err := e.importTyped(caller, md.KeyId, material, "EXISTING_KEY_MATERIAL"); err != nil {
		t.Errorf("re-import with EXISTING_KEY_MATERIAL err = %v", err)
	}
}
