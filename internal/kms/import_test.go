package kms

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/secret"
)

// wrapWithOpenSSL wraps material under GetParametersForImport's public key
// with OpenSSL, as AWS's documentation does it for each algorithm.
func wrapWithOpenSSL(t *testing.T, dir string, pub []byte, alg string, material []byte) []byte {
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
