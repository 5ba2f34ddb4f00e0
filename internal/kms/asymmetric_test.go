package kms

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
)

var seedIDs = 0

// seedFromOpenSSL seeds a key of spec/usage whose private key OpenSSL made
// (genpkey args) and returns its key id and the PEM path of the private key.
func seedFromOpenSSL(t *testing.T, e *env, dir, spec, usage string, args ...string) (string, string) {
	t.Helper()
	der, pemPath := genpkey(t, dir, strings.ToLower(spec+usage), args...)
	seedIDs++
	id := fmt.Sprintf("%08d-2222-3333-4444-555555555555", seedIDs)
	if err := e.s.SeedKey(bg, SeedKey{ID: id, Spec: spec, Usage: usage, Material: der, AccountID: acct}); err != nil {
		t.Fatalf("SeedKey(%s %s) err = %v", spec, usage, err)
	}
	return id, pemPath
}

// publicPEM writes GetPublicKey's key as PEM and checks that it is the
// public key OpenSSL derives from privPEM (byte for byte, DER).
func publicPEM(t *testing.T, e *env, dir, id, privPEM string) string {
	t.Helper()
	out, err := e.s.GetPublicKey(bg, caller, &GetPublicKeyInput{KeyId: id})
	if err != nil {
		t.Fatalf("GetPublicKey err = %v", err)
	}
	if privPEM != "" {
		want := openssl(t, "pkey", "-in", privPEM, "-pubout", "-outform", "DER")
		if !bytes.Equal(out.PublicKey, want) {
			t.Errorf("GetPublicKey = %x, OpenSSL's public key = %x", out.PublicKey, want)
		}
	}
	return writePEM(t, dir, id+".pub.pem", "PUBLIC KEY", out.PublicKey)
}

var signCases = []struct {
	spec, alg string
	genpkey   []string
}{
	{"RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}},
	{"RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}},
	{"RSA_3072", "RSASSA_PKCS1_V1_5_SHA_512", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"}},
	{"RSA_2048", "RSASSA_PSS_SHA_256", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}},
	{"RSA_3072", "RSASSA_PSS_SHA_384", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"}},
	{"RSA_4096", "RSASSA_PSS_SHA_512", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"}},
	{"ECC_NIST_P256", "ECDSA_SHA_256", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}},
	{"ECC_NIST_P384", "ECDSA_SHA_384", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"}},
	{"ECC_NIST_P521", "ECDSA_SHA_512", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"}},
	{"ECC_SECG_P256K1", "ECDSA_SHA_256", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"}},
}

func pssOpts(alg string) []string {
	if strings.HasPrefix(alg, "RSASSA_PSS") {
		return []string{"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1", "-sigopt", "rsa_mgf1_md:" + digestName(alg)}
	}
	return nil
}

// TestSignVerifyOpenSSL: every signature Trent makes verifies with OpenSSL
// against GetPublicKey's key (RAW and DIGEST), and OpenSSL's signatures
// verify in Trent; a changed signature is KMSInvalidSignatureException.
func TestSignVerifyOpenSSL(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	msg := []byte("the message Trent signs, 4096 bytes at most")
	for _, tc := range signCases {
		t.Run(tc.spec+"/"+tc.alg, func(t *testing.T) {
			dir := t.TempDir()
			id, priv := seedFromOpenSSL(t, e, dir, tc.spec, "SIGN_VERIFY", tc.genpkey...)
			pub := publicPEM(t, e, dir, id, priv)
			msgPath := writeFile(t, dir, "msg", msg)
			md := "-" + digestName(tc.alg)
			for _, mt := range []string{"RAW", "DIGEST"} {
				in := msg
				if mt == "DIGEST" {
					in = sum(tc.alg, msg)
				}
				out, err := e.s.Sign(bg, caller, &SignInput{KeyId: id, Message: in, MessageType: mt, SigningAlgorithm: tc.alg})
				if err != nil {
					t.Fatalf("Sign(%s) err = %v", mt, err)
				}
				sig := writeFile(t, dir, "sig-"+mt, out.Signature)
				openssl(t, append(append([]string{"dgst", md, "-verify", pub, "-signature", sig}, pssOpts(tc.alg)...), msgPath)...)
				bad := bytes.Clone(out.Signature)
				bad[len(bad)/2] ^= 1
				badPath := writeFile(t, dir, "bad-"+mt, bad)
				if !opensslFails(t, append(append([]string{"dgst", md, "-verify", pub, "-signature", badPath}, pssOpts(tc.alg)...), msgPath)...) {
					t.Error("OpenSSL verified a changed signature: the check cannot fail")
				}
				_, err = e.s.Verify(bg, caller, &VerifyInput{KeyId: id, Message: in, MessageType: mt, Signature: bad, SigningAlgorithm: tc.alg})
				wantErr(t, err, "KMSInvalidSignatureException", "")
			}
			sigPath := filepath.Join(dir, "openssl.sig")
			openssl(t, append(append([]string{"dgst", md, "-sign", priv, "-out", sigPath}, pssOpts(tc.alg)...), msgPath)...)
			sig, _ := os.ReadFile(sigPath)
			for _, mt := range []string{"", "RAW", "DIGEST"} {
				in := msg
				if mt == "DIGEST" {
					in = sum(tc.alg, msg)
				}
				out, err := e.s.Verify(bg, caller, &VerifyInput{KeyId: id, Message: in, MessageType: mt, Signature: sig, SigningAlgorithm: tc.alg})
				if err != nil || !out.SignatureValid || out.SigningAlgorithm != tc.alg {
					t.Errorf("Verify(OpenSSL's signature, %q) = %+v, %v", mt, out, err)
				}
			}
			// A digest hashed again (RAW) is another message.
			_, err := e.s.Verify(bg, caller, &VerifyInput{KeyId: id, Message: sum(tc.alg, msg), Signature: sig, SigningAlgorithm: tc.alg})
			wantErr(t, err, "KMSInvalidSignatureException", "")
		})
	}
}

// TestEd25519OpenSSL: ED25519_SHA_512 (RAW) against OpenSSL's pure Ed25519
// both ways; ED25519_PH_SHA_512 (DIGEST, prehashed again as AWS does)
// against crypto/ed25519's Ed25519ph (OpenSSL 3.0 has no Ed25519ph).
func TestEd25519OpenSSL(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	dir := t.TempDir()
	id, priv := seedFromOpenSSL(t, e, dir, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "-algorithm", "ED25519")
	pub := publicPEM(t, e, dir, id, priv)
	msg := []byte("pure Ed25519 signs the message itself")
	msgPath := writeFile(t, dir, "msg", msg)
	out, err := e.s.Sign(bg, caller, &SignInput{KeyId: id, Message: msg, SigningAlgorithm: "ED25519_SHA_512"})
	if err != nil {
		t.Fatal(err)
	}
	openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", msgPath, "-sigfile", writeFile(t, dir, "sig", out.Signature))
	sigPath := filepath.Join(dir, "openssl.sig")
	openssl(t, "pkeyutl", "-sign", "-inkey", priv, "-rawin", "-in", msgPath, "-out", sigPath)
	sig, _ := os.ReadFile(sigPath)
	if _, err := e.s.Verify(bg, caller, &VerifyInput{KeyId: id, Message: msg, Signature: sig, SigningAlgorithm: "ED25519_SHA_512"}); err != nil {
		t.Errorf("Verify(OpenSSL's Ed25519 signature) err = %v", err)
	}
	_, err = e.s.Sign(bg, caller, &SignInput{KeyId: id, Message: sum("SHA_512", msg), MessageType: "DIGEST", SigningAlgorithm: "ED25519_SHA_512"})
	wantErr(t, err, "ValidationException", "Message type DIGEST is incompatible with algorithm ED25519_SHA_512.")
	_, err = e.s.Sign(bg, caller, &SignInput{KeyId: id, Message: msg, SigningAlgorithm: "ED25519_PH_SHA_512"})
	wantErr(t, err, "ValidationException", "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512.")

	digest := sum("SHA_512", msg)
	ph, err := e.s.Sign(bg, caller, &SignInput{KeyId: id, Message: digest, MessageType: "DIGEST", SigningAlgorithm: "ED25519_PH_SHA_512"})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.ParsePKIXPublicKey(mustPublicKey(t, e, id))
	if err != nil {
		t.Fatal(err)
	}
	pre := sha512.Sum512(digest)
	if err := ed25519.VerifyWithOptions(pk.(ed25519.PublicKey), pre[:], ph.Signature, &ed25519.Options{Hash: crypto.SHA512}); err != nil {
		t.Errorf("Ed25519ph signature does not verify with crypto/ed25519: %v", err)
	}
	if _, err := e.s.Verify(bg, caller, &VerifyInput{KeyId: id, Message: digest, MessageType: "DIGEST", Signature: ph.Signature, SigningAlgorithm: "ED25519_PH_SHA_512"}); err != nil {
		t.Errorf("Verify(Ed25519ph) err = %v", err)
	}
}

// TestEd25519MessageTypes: each Ed25519 algorithm takes one message type
// (ED25519_SHA_512 RAW, ED25519_PH_SHA_512 DIGEST); another is a
// ValidationException that names the algorithm, as AWS answers (measured
// against AWS KMS in ap-northeast-1 by floci-io/floci#2930, #2924), in Sign,
// Verify and a DryRun alike. ML-DSA's answer names the key spec (floci #3025).
func TestEd25519MessageTypes(t *testing.T) {
	e := newEnv(t)
	ed := e.createKeyOf("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
	digest := sha512.Sum512([]byte("m"))
	for _, tc := range []struct {
		alg, mt string
		msg     []byte
		want    string
	}{
		{"ED25519_SHA_512", "DIGEST", digest[:], "Message type DIGEST is incompatible with algorithm ED25519_SHA_512."},
		{"ED25519_PH_SHA_512", "RAW", []byte("m"), "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512."},
		{"ED25519_PH_SHA_512", "", digest[:], "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512."},
	} {
		_, err := e.s.Sign(bg, caller, &SignInput{KeyId: ed.KeyId, Message: tc.msg, MessageType: tc.mt, SigningAlgorithm: tc.alg})
		wantErr(t, err, "ValidationException", tc.want)
		_, err = e.s.Sign(bg, caller, &SignInput{KeyId: ed.KeyId, Message: tc.msg, MessageType: tc.mt, SigningAlgorithm: tc.alg, DryRun: true})
		wantErr(t, err, "ValidationException", tc.want)
		_, err = e.s.Verify(bg, caller, &VerifyInput{KeyId: ed.KeyId, Message: tc.msg, MessageType: tc.mt, Signature: make([]byte, 64), SigningAlgorithm: tc.alg})
		wantErr(t, err, "ValidationException", tc.want)
	}
	ml := e.createKeyOf("ML_DSA_44", "SIGN_VERIFY")
	_, err := e.s.Verify(bg, caller, &VerifyInput{KeyId: ml.KeyId, Message: make([]byte, 32), MessageType: "DIGEST", Signature: make([]byte, 64), SigningAlgorithm: "ML_DSA_SHAKE_256"})
	wantErr(t, err, "ValidationException", "Message type DIGEST is incompatible with key spec ML_DSA_44.")
}

// TestRSADecryptWithoutAlgorithm: Decrypt with an RSA KeyId and no
// EncryptionAlgorithm (so SYMMETRIC_DEFAULT) reads the ciphertext as a
// symmetric blob first, as AWS does: a raw RSAES-OAEP ciphertext is
// InvalidCiphertextException with no message, not InvalidKeyUsageException
// (measured in us-east-1 by floci-io/floci#3038; a user's report of the same
// answer from AWS: aws/aws-sdk-js-v3#2600), and another key's blob is
// IncorrectKeyException. With its algorithm the ciphertext, made by
// crypto/rsa with GetPublicKey's key, decrypts.
func TestRSADecryptWithoutAlgorithm(t *testing.T) {
	e := newEnv(t)
	md := e.createKeyOf("RSA_2048", "ENCRYPT_DECRYPT")
	pk, err := x509.ParsePKIXPublicKey(mustPublicKey(t, e, md.KeyId))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("offline")
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pk.(*rsa.PublicKey), msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"", "SYMMETRIC_DEFAULT"} {
		_, err = e.s.Decrypt(bg, caller, &DecryptInput{KeyId: md.KeyId, CiphertextBlob: ct, EncryptionAlgorithm: alg})
		wantErr(t, err, "InvalidCiphertextException", "")
		_, err = e.s.ReEncrypt(bg, caller, &ReEncryptInput{SourceKeyId: md.KeyId, CiphertextBlob: ct, SourceEncryptionAlgorithm: alg,
			DestinationKeyId: e.createKey(caller).KeyId})
		wantErr(t, err, "InvalidCiphertextException", "")
	}
	other := e.encrypt(e.createKey(caller).KeyId, msg, nil)
	for _, id := range []string{md.Arn, e.createKeyOf("RSA_2048", "SIGN_VERIFY").Arn} {
		// A signing key's KeyId too (floci-io/floci#3968,
		// decryptRejectsAKeyIdThatDidNotEncryptTheCiphertext).
		_, err = e.s.Decrypt(bg, caller, &DecryptInput{KeyId: id, CiphertextBlob: other})
		wantErr(t, err, "IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
	}
	out, err := e.s.Decrypt(bg, caller, &DecryptInput{KeyId: md.KeyId, CiphertextBlob: ct, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	if err != nil || !bytes.Equal(out.Plaintext, msg) || out.EncryptionAlgorithm != "RSAES_OAEP_SHA_256" {
		t.Fatalf("Decrypt with the algorithm = %+v, %v", out, err)
	}
}

func mustPublicKey(t *testing.T, e *env, id string) []byte {
	t.Helper()
	out, err := e.s.GetPublicKey(bg, caller, &GetPublicKeyInput{KeyId: id})
	if err != nil {
		t.Fatalf("GetPublicKey err = %v", err)
	}
	return out.PublicKey
}

// TestRSAEncryptionOpenSSL: OAEP ciphertext made by OpenSSL decrypts in
// Trent and Trent's decrypts in OpenSSL, with SHA-1 and SHA-256; AWS's
// plaintext limits per spec and algorithm.
func TestRSAEncryptionOpenSSL(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	dir := t.TempDir()
	id, priv := seedFromOpenSSL(t, e, dir, "RSA_2048", "ENCRYPT_DECRYPT", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
	pub := publicPEM(t, e, dir, id, priv)
	for _, tc := range []struct {
		alg, md string
		max     int
	}{{"RSAES_OAEP_SHA_1", "sha1", 214}, {"RSAES_OAEP_SHA_256", "sha256", 190}} {
		t.Run(tc.alg, func(t *testing.T) {
			oaep := []string{"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:" + tc.md, "-pkeyopt", "rsa_mgf1_md:" + tc.md}
			pt := bytes.Repeat([]byte{'p'}, tc.max)
			ptPath := writeFile(t, dir, "pt-"+tc.alg, pt)
			ct := openssl(t, append([]string{"pkeyutl", "-encrypt", "-pubin", "-inkey", pub, "-in", ptPath}, oaep...)...)
			dec, err := e.s.Decrypt(bg, caller, &DecryptInput{KeyId: id, CiphertextBlob: ct, EncryptionAlgorithm: tc.alg})
			if err != nil || !bytes.Equal(dec.Plaintext, pt) || dec.EncryptionAlgorithm != tc.alg || dec.KeyMaterialId != "" {
				t.Fatalf("Decrypt(OpenSSL's ciphertext) = %+v, %v", dec, err)
			}
			enc, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: id, Plaintext: pt, EncryptionAlgorithm: tc.alg})
			if err != nil || len(enc.CiphertextBlob) != 256 || enc.EncryptionAlgorithm != tc.alg {
				t.Fatalf("Encrypt = %+v, %v", enc, err)
			}
			got := openssl(t, append([]string{"pkeyutl", "-decrypt", "-inkey", priv, "-in", writeFile(t, dir, "ct-"+tc.alg, enc.CiphertextBlob)}, oaep...)...)
			if !bytes.Equal(got, pt) {
				t.Errorf("OpenSSL decrypted Trent's ciphertext to %q", got)
			}
			_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: id, Plaintext: append(pt, 'x'), EncryptionAlgorithm: tc.alg})
			wantErr(t, err, "ValidationException", fmt.Sprintf("Algorithm %s and key spec RSA_2048 cannot encrypt data larger than %d bytes.", tc.alg, tc.max))
			bad := bytes.Clone(ct)
			bad[10] ^= 1
			_, err = e.s.Decrypt(bg, caller, &DecryptInput{KeyId: id, CiphertextBlob: bad, EncryptionAlgorithm: tc.alg})
			wantErr(t, err, "InvalidCiphertextException", "")
		})
	}
	// ReEncrypt from RSA to a symmetric key and back.
	sym := e.createKey(caller)
	ct := openssl(t, "pkeyutl", "-encrypt", "-pubin", "-inkey", pub, "-in", writeFile(t, dir, "re", []byte("re-encrypt me")),
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
	re, err := e.s.ReEncrypt(bg, caller, &ReEncryptInput{CiphertextBlob: ct, SourceKeyId: id, SourceEncryptionAlgorithm: "RSAES_OAEP_SHA_256", DestinationKeyId: sym.KeyId})
	if err != nil || re.SourceEncryptionAlgorithm != "RSAES_OAEP_SHA_256" || re.DestinationEncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
		t.Fatalf("ReEncrypt RSA -> symmetric = %+v, %v", re, err)
	}
	back, err := e.s.ReEncrypt(bg, caller, &ReEncryptInput{CiphertextBlob: re.CiphertextBlob, DestinationKeyId: id, DestinationEncryptionAlgorithm: "RSAES_OAEP_SHA_1"})
	if err != nil {
		t.Fatalf("ReEncrypt symmetric -> RSA err = %v", err)
	}
	got := openssl(t, "pkeyutl", "-decrypt", "-inkey", priv, "-in", writeFile(t, dir, "back", back.CiphertextBlob),
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1", "-pkeyopt", "rsa_mgf1_md:sha1")
	if string(got) != "re-encrypt me" {
		t.Errorf("OpenSSL decrypted the re-encrypted ciphertext to %q", got)
	}
	// Asymmetric decryption needs the algorithm (without it the ciphertext
	// is read as a symmetric blob: TestRSADecryptWithoutAlgorithm); an
	// encryption context is refused.
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{KeyId: id, CiphertextBlob: ct})
	wantErr(t, err, "InvalidCiphertextException", "")
	_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: id, Plaintext: []byte("x"), EncryptionAlgorithm: "RSAES_OAEP_SHA_1", EncryptionContext: map[string]string{"a": "b"}})
	wantErr(t, err, "ValidationException", "*")
	_, err = e.s.GenerateDataKey(bg, caller, &GenerateDataKeyInput{KeyId: id, KeySpec: "AES_256"})
	wantErr(t, err, "InvalidKeyUsageException", "*")
}

// TestECDHOpenSSL: DeriveSharedSecret equals `openssl pkeyutl -derive`;
// malformed and wrong-curve public keys are refused.
func TestECDHOpenSSL(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	for _, curve := range []struct{ spec, name, other string }{
		{"ECC_NIST_P256", "P-256", "P-384"}, {"ECC_NIST_P384", "P-384", "P-521"}, {"ECC_NIST_P521", "P-521", "P-256"},
	} {
		t.Run(curve.spec, func(t *testing.T) {
			dir := t.TempDir()
			id, priv := seedFromOpenSSL(t, e, dir, curve.spec, "KEY_AGREEMENT", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:"+curve.name)
			pub := publicPEM(t, e, dir, id, priv)
			_, peer := genpkey(t, dir, "peer", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:"+curve.name)
			want := openssl(t, "pkeyutl", "-derive", "-inkey", peer, "-peerkey", pub)
			peerPub := openssl(t, "pkey", "-in", peer, "-pubout", "-outform", "DER")
			out, err := e.s.DeriveSharedSecret(bg, caller, &DeriveSharedSecretInput{KeyId: id, KeyAgreementAlgorithm: "ECDH", PublicKey: peerPub})
			if err != nil || !bytes.Equal(out.SharedSecret, want) || out.KeyOrigin != "AWS_KMS" || out.KeyAgreementAlgorithm != "ECDH" {
				t.Fatalf("DeriveSharedSecret = %+v, %v; OpenSSL derives %x", out, err, want)
			}
			_, other := genpkey(t, dir, "other", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:"+curve.other)
			otherPub := openssl(t, "pkey", "-in", other, "-pubout", "-outform", "DER")
			_, err = e.s.DeriveSharedSecret(bg, caller, &DeriveSharedSecretInput{KeyId: id, KeyAgreementAlgorithm: "ECDH", PublicKey: otherPub})
			wantErr(t, err, "ValidationException", "The public key must be on the curve of key spec "+curve.spec+".")
			for name, bad := range map[string][]byte{
				"truncated": peerPub[:len(peerPub)-3], "garbage": []byte("not a key"), "trailing": append(bytes.Clone(peerPub), 0),
			} {
				_, err = e.s.DeriveSharedSecret(bg, caller, &DeriveSharedSecretInput{KeyId: id, KeyAgreementAlgorithm: "ECDH", PublicKey: bad})
				if !strings.Contains(fmt.Sprint(err), "ValidationException") {
					t.Errorf("DeriveSharedSecret(%s public key) err = %v, want ValidationException", name, err)
				}
			}
			_, err = e.s.DeriveSharedSecret(bg, caller, &DeriveSharedSecretInput{KeyId: id, KeyAgreementAlgorithm: "INVALID", PublicKey: peerPub})
			wantErr(t, err, "ValidationException", "1 validation error detected: Value 'INVALID' at 'keyAgreementAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [ECDH]")
		})
	}
}

// TestHMACOpenSSL: GenerateMac equals `openssl mac` for every HMAC spec.
func TestHMACOpenSSL(t *testing.T) {
	opensslPath(t)
	e := newEnv(t)
	msg := []byte("a message to authenticate")
	dir := t.TempDir()
	msgPath := writeFile(t, dir, "msg", msg)
	for i, tc := range []struct {
		spec, alg, digest string
		keyLen            int
	}{
		{"HMAC_224", "HMAC_SHA_224", "SHA224", 28}, {"HMAC_256", "HMAC_SHA_256", "SHA256", 40},
		{"HMAC_384", "HMAC_SHA_384", "SHA384", 48}, {"HMAC_512", "HMAC_SHA_512", "SHA512", 128},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			key := bytes.Repeat([]byte{byte(i + 1), 0xa5}, tc.keyLen/2)
			id := fmt.Sprintf("%08d-aaaa-3333-4444-555555555555", i)
			if err := e.s.SeedKey(bg, SeedKey{ID: id, Spec: tc.spec, Usage: "GENERATE_VERIFY_MAC", Material: key, AccountID: acct}); err != nil {
				t.Fatal(err)
			}
			out, err := e.s.GenerateMac(bg, caller, &GenerateMacInput{KeyId: id, MacAlgorithm: tc.alg, Message: msg})
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(string(openssl(t, "mac", "-digest", tc.digest, "-macopt", "hexkey:"+fmt.Sprintf("%x", key), "-in", msgPath, "HMAC")))
			if got := fmt.Sprintf("%X", out.Mac); got != strings.ToUpper(want) {
				t.Errorf("GenerateMac = %s, openssl mac = %s", got, want)
			}
			if v, err := e.s.VerifyMac(bg, caller, &VerifyMacInput{KeyId: id, MacAlgorithm: tc.alg, Message: msg, Mac: out.Mac}); err != nil || !v.MacValid {
				t.Errorf("VerifyMac = %+v, %v", v, err)
			}
			bad := bytes.Clone(out.Mac)
			bad[0] ^= 1
			_, err = e.s.VerifyMac(bg, caller, &VerifyMacInput{KeyId: id, MacAlgorithm: tc.alg, Message: msg, Mac: bad})
			wantErr(t, err, "KMSInvalidMacException", "")
			_, err = e.s.VerifyMac(bg, caller, &VerifyMacInput{KeyId: id, MacAlgorithm: tc.alg, Message: msg, Mac: out.Mac[:len(out.Mac)-1]})
			wantErr(t, err, "KMSInvalidMacException", "")
		})
	}
	md := e.createKeyOf("HMAC_224", "GENERATE_VERIFY_MAC")
	_, err := e.s.GenerateMac(bg, caller, &GenerateMacInput{KeyId: md.KeyId, MacAlgorithm: "HMAC_SHA_256", Message: msg})
	wantErr(t, err, "InvalidKeyUsageException", "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.")
	if !slices.Equal(md.MacAlgorithms, []string{"HMAC_SHA_224"}) || md.EncryptionAlgorithms != nil || md.CurrentKeyMaterialId != "" {
		t.Errorf("HMAC key metadata = %+v", md)
	}
	_, err = e.s.GetPublicKey(bg, caller, &GetPublicKeyInput{KeyId: md.KeyId})
	wantErr(t, err, "UnsupportedOperationException", "*")
}

func (e *env) createKeyOf(spec, usage string) *KeyMetadata {
	e.t.Helper()
	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{KeySpec: spec, KeyUsage: usage})
	if err != nil {
		e.t.Fatalf("CreateKey(%s, %s) err = %v", spec, usage, err)
	}
	return out.KeyMetadata
}

// TestMLKEM: what another implementation encapsulates to GetPublicKey's key
// (crypto/mlkem for 768 and 1024, circl for 512) decapsulates in Trent,
// and the other way round through Encapsulate.
func TestMLKEM(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		spec string
		ct   int
	}{{"ML_KEM_512", 768}, {"ML_KEM_768", 1088}, {"ML_KEM_1024", 1568}} {
		t.Run(tc.spec, func(t *testing.T) {
			md := e.createKeyOf(tc.spec, "ENCAPSULATE_DECAPSULATE")
			if !slices.Equal(md.EncapsulationAlgorithms, []string{"ML_KEM"}) {
				t.Errorf("EncapsulationAlgorithms = %v", md.EncapsulationAlgorithms)
			}
			ek := spkiKey(t, mustPublicKey(t, e, md.KeyId))
			var ss, ct []byte
			switch tc.spec {
			case "ML_KEM_512":
				pk, err := mlkem512.Scheme().UnmarshalBinaryPublicKey(ek)
				if err != nil {
					t.Fatal(err)
				}
				ct, ss, err = mlkem512.Scheme().Encapsulate(pk)
				if err != nil {
					t.Fatal(err)
				}
			case "ML_KEM_768":
				k, err := mlkem.NewEncapsulationKey768(ek)
				if err != nil {
					t.Fatal(err)
				}
				ss, ct = k.Encapsulate()
			default:
				k, err := mlkem.NewEncapsulationKey1024(ek)
				if err != nil {
					t.Fatal(err)
				}
				ss, ct = k.Encapsulate()
			}
			out, err := e.s.Decapsulate(bg, caller, &DecapsulateInput{KeyId: md.KeyId, EncapsulationAlgorithm: "ML_KEM", SharedSecretCiphertextBlob: ct})
			if err != nil || !bytes.Equal(out.SharedSecret, ss) {
				t.Fatalf("Decapsulate = %+v, %v; want %x", out, err, ss)
			}
			enc, err := e.s.Encapsulate(bg, caller, &EncapsulateInput{KeyId: md.KeyId, EncapsulationAlgorithm: "ML_KEM"})
			if err != nil || len(enc.SharedSecretCiphertextBlob) != tc.ct || len(enc.SharedSecret) != 32 {
				t.Fatalf("Encapsulate = %+v, %v", enc, err)
			}
			dec, err := e.s.Decapsulate(bg, caller, &DecapsulateInput{KeyId: md.KeyId, EncapsulationAlgorithm: "ML_KEM", SharedSecretCiphertextBlob: enc.SharedSecretCiphertextBlob})
			if err != nil || !bytes.Equal(dec.SharedSecret, enc.SharedSecret) {
				t.Errorf("Decapsulate(Encapsulate) = %+v, %v", dec, err)
			}
			// Implicit rejection: a changed ciphertext gives another secret, no error.
			bad := bytes.Clone(ct)
			bad[0] ^= 1
			rej, err := e.s.Decapsulate(bg, caller, &DecapsulateInput{KeyId: md.KeyId, EncapsulationAlgorithm: "ML_KEM", SharedSecretCiphertextBlob: bad})
			if err != nil || bytes.Equal(rej.SharedSecret, ss) || len(rej.SharedSecret) != 32 {
				t.Errorf("Decapsulate(changed ciphertext) = %+v, %v", rej, err)
			}
			_, err = e.s.Decapsulate(bg, caller, &DecapsulateInput{KeyId: md.KeyId, EncapsulationAlgorithm: "ML_KEM", SharedSecretCiphertextBlob: ct[1:]})
			wantErr(t, err, "InvalidCiphertextException", "")
		})
	}
}

// spkiKey returns the subjectPublicKey bits of a SubjectPublicKeyInfo.
func spkiKey(t *testing.T, der []byte) []byte {
	t.Helper()
	var s struct {
		Algo      asn1.RawValue
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &s); err != nil || len(rest) != 0 {
		t.Fatalf("public key is not a SubjectPublicKeyInfo: %v", err)
	}
	return s.PublicKey.Bytes
}

// TestMLDSA signs and verifies with every ML-DSA spec (RAW); DIGEST is
// refused with AWS's message and EXTERNAL_MU is not supported.
func TestMLDSA(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		spec      string
		sig, pubN int
	}{{"ML_DSA_44", 2420, 1312}, {"ML_DSA_65", 3309, 1952}, {"ML_DSA_87", 4627, 2592}} {
		t.Run(tc.spec, func(t *testing.T) {
			md := e.createKeyOf(tc.spec, "SIGN_VERIFY")
			if !slices.Equal(md.SigningAlgorithms, []string{"ML_DSA_SHAKE_256"}) {
				t.Errorf("SigningAlgorithms = %v", md.SigningAlgorithms)
			}
			if n := len(spkiKey(t, mustPublicKey(t, e, md.KeyId))); n != tc.pubN {
				t.Errorf("public key %d bytes, want %d", n, tc.pubN)
			}
			msg := []byte("post-quantum")
			out, err := e.s.Sign(bg, caller, &SignInput{KeyId: md.KeyId, Message: msg, SigningAlgorithm: "ML_DSA_SHAKE_256"})
			if err != nil || len(out.Signature) != tc.sig {
				t.Fatalf("Sign = %d bytes, %v", len(out.Signature), err)
			}
			if _, err := e.s.Verify(bg, caller, &VerifyInput{KeyId: md.KeyId, Message: msg, Signature: out.Signature, SigningAlgorithm: "ML_DSA_SHAKE_256"}); err != nil {
				t.Errorf("Verify err = %v", err)
			}
			_, err = e.s.Verify(bg, caller, &VerifyInput{KeyId: md.KeyId, Message: []byte("other"), Signature: out.Signature, SigningAlgorithm: "ML_DSA_SHAKE_256"})
			wantErr(t, err, "KMSInvalidSignatureException", "")
			_, err = e.s.Sign(bg, caller, &SignInput{KeyId: md.KeyId, Message: make([]byte, 64), MessageType: "DIGEST", SigningAlgorithm: "ML_DSA_SHAKE_256"})
			wantErr(t, err, "ValidationException", "Message type DIGEST is incompatible with key spec "+tc.spec+".")
			_, err = e.s.Sign(bg, caller, &SignInput{KeyId: md.KeyId, Message: make([]byte, 64), MessageType: "EXTERNAL_MU", SigningAlgorithm: "ML_DSA_SHAKE_256"})
			wantErr(t, err, "UnsupportedOperationException", "*")
		})
	}
}

// TestBadInputs: the errors of the list, with AWS's exceptions and
// (where recorded) messages.
func TestBadInputs(t *testing.T) {
	e := newEnv(t)
	sym := e.createKey(caller)
	p256 := e.createKeyOf("ECC_NIST_P256", "SIGN_VERIFY")
	rsa := e.createKeyOf("RSA_2048", "SIGN_VERIFY")
	agree := e.createKeyOf("ECC_NIST_P256", "KEY_AGREEMENT")
	msg := []byte("m")
	cases := []struct {
		name      string
		call      func() error
		code, msg string
	}{
		{"sign with an encryption key", func() error {
			_, err := e.s.Sign(bg, caller, &SignInput{KeyId: sym.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"})
			return err
		}, "InvalidKeyUsageException", sym.Arn + " key usage is ENCRYPT_DECRYPT which is not valid for Sign."},
		{"encrypt with a signing key", func() error {
			_, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: rsa.KeyId, Plaintext: msg, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
			return err
		}, "InvalidKeyUsageException", rsa.Arn + " key usage is SIGN_VERIFY which is not valid for Encrypt."},
		{"derive with a signing key", func() error {
			_, err := e.s.DeriveSharedSecret(bg, caller, &DeriveSharedSecretInput{KeyId: p256.KeyId, KeyAgreementAlgorithm: "ECDH", PublicKey: mustPublicKey(t, e, agree.KeyId)})
			return err
		}, "InvalidKeyUsageException", p256.Arn + " key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret."},
		{"sign with an agreement key", func() error {
			_, err := e.s.Sign(bg, caller, &SignInput{KeyId: agree.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"})
			return err
		}, "InvalidKeyUsageException", agree.Arn + " key usage is KEY_AGREEMENT which is not valid for Sign."},
		{"algorithm of another spec", func() error {
			_, err := e.s.Sign(bg, caller, &SignInput{KeyId: p256.KeyId, Message: msg, SigningAlgorithm: "ECDSA_SHA_384"})
			return err
		}, "InvalidKeyUsageException", "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256."},
		{"RSA algorithm on an EC key", func() error {
			_, err := e.s.Verify(bg, caller, &VerifyInput{KeyId: p256.KeyId, Message: msg, Signature: msg, SigningAlgorithm: "RSASSA_PSS_SHA_256"})
			return err
		}, "InvalidKeyUsageException", "Algorithm RSASSA_PSS_SHA_256 is incompatible with key spec ECC_NIST_P256."},
		{"digest of the wrong length", func() error {
			_, err := e.s.Sign(bg, caller, &SignInput{KeyId: rsa.KeyId, Message: make([]byte, 20), MessageType: "DIGEST", SigningAlgorithm: "RSASSA_PSS_SHA_256"})
			return err
		}, "ValidationException", "Digest is invalid length for algorithm RSASSA_PSS_SHA_256."},
		{"digest of another hash", func() error {
			_, err := e.s.Sign(bg, caller, &SignInput{KeyId: rsa.KeyId, Message: make([]byte, 32), MessageType: "DIGEST", SigningAlgorithm: "RSASSA_PKCS1_V1_5_SHA_512"})
			return err
		}, "ValidationException", "Digest is invalid length for algorithm RSASSA_PKCS1_V1_5_SHA_512."},
		{"message too long", func() error {
			_, err := e.s.Sign(bg, caller, &SignInput{KeyId: rsa.KeyId, Message: make([]byte, 4097), SigningAlgorithm: "RSASSA_PSS_SHA_256"})
			return err
		}, "ValidationException", "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096"},
		{"no signing algorithm", func() error {
			_, err := e.s.Sign(bg, caller, &SignInput{KeyId: rsa.KeyId, Message: msg})
			return err
		}, "ValidationException", "1 validation error detected: Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null"},
		{"unknown message type", func() error {
			_, err := e.s.Sign(bg, caller, &SignInput{KeyId: rsa.KeyId, Message: msg, MessageType: "HASH", SigningAlgorithm: "RSASSA_PSS_SHA_256"})
			return err
		}, "ValidationException", "1 validation error detected: Value 'HASH' at 'messageType' failed to satisfy constraint: Member must satisfy enum value set: [RAW, DIGEST, EXTERNAL_MU]"},
		{"public key of a symmetric key", func() error {
			_, err := e.s.GetPublicKey(bg, caller, &GetPublicKeyInput{KeyId: sym.KeyId})
			return err
		}, "UnsupportedOperationException", "*"},
		{"data key pair of SM2", func() error {
			_, err := e.s.GenerateDataKeyPair(bg, caller, &GenerateDataKeyPairInput{KeyId: sym.KeyId, KeyPairSpec: "SM2"})
			return err
		}, "UnsupportedOperationException", "KeyPairSpec SM2 is not supported in this Region"},
		{"data key pair under an RSA key", func() error {
			_, err := e.s.GenerateDataKeyPair(bg, caller, &GenerateDataKeyPairInput{KeyId: rsa.KeyId, KeyPairSpec: "ECC_NIST_P256"})
			return err
		}, "InvalidKeyUsageException", "*"},
		{"dry run sign", func() error {
			_, err := e.s.Sign(bg, caller, &SignInput{KeyId: rsa.KeyId, Message: msg, SigningAlgorithm: "RSASSA_PSS_SHA_256", DryRun: true})
			return err
		}, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.call(), tc.code, tc.msg) })
	}
}

// TestAsymmetricKeyStates: the key-state checks of the new operations.
func TestAsymmetricKeyStates(t *testing.T) {
	e := newEnv(t)
	md := e.createKeyOf("ECC_NIST_P256", "SIGN_VERIFY")
	sign := func() error {
		_, err := e.s.Sign(bg, caller, &SignInput{KeyId: md.KeyId, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
		return err
	}
	if err := sign(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, sign(), "DisabledException", md.Arn+" is disabled.")
	if _, err := e.s.GetPublicKey(bg, caller, &GetPublicKeyInput{KeyId: md.KeyId}); err != nil {
		t.Errorf("GetPublicKey of a disabled key err = %v (AWS answers it: TestGetPublicKeyStates)", err)
	}
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, sign(), "KMSInvalidStateException", md.Arn+" is pending deletion.")
	_, err := e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: e.createKeyOf("RSA_2048", "ENCRYPT_DECRYPT").KeyId})
	wantErr(t, err, "UnsupportedOperationException", "*")
}

// TestDataKeyPairs: every pair spec; the private key is PKCS #8 DER of the
// public key returned (checked with OpenSSL where it knows the algorithm),
// and the encrypted copy decrypts to it under the encryption context.
func TestDataKeyPairs(t *testing.T) {
	e := newEnv(t)
	sym := e.createKey(caller)
	ec := map[string]string{"purpose": "pair"}
	_, hasOpenSSL := lookOpenSSL()
	for _, spec := range []string{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
		"ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"} {
		t.Run(spec, func(t *testing.T) {
			out, err := e.s.GenerateDataKeyPair(bg, caller, &GenerateDataKeyPairInput{KeyId: sym.Arn, KeyPairSpec: spec, EncryptionContext: ec})
			if err != nil || out.KeyPairSpec != spec || out.KeyId != sym.Arn || out.KeyMaterialId != sym.CurrentKeyMaterialId {
				t.Fatalf("GenerateDataKeyPair = %+v, %v", out, err)
			}
			dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: out.PrivateKeyCiphertextBlob, EncryptionContext: ec})
			if err != nil || !bytes.Equal(dec.Plaintext, out.PrivateKeyPlaintext) {
				t.Fatalf("Decrypt(PrivateKeyCiphertextBlob) = %v, %v", dec, err)
			}
			if hasOpenSSL && !strings.HasPrefix(spec, "ML_KEM") {
				dir := t.TempDir()
				priv := writeFile(t, dir, "priv.der", out.PrivateKeyPlaintext)
				pub := openssl(t, "pkey", "-inform", "DER", "-in", priv, "-pubout", "-outform", "DER")
				if !bytes.Equal(pub, out.PublicKey) {
					t.Errorf("OpenSSL's public key of the private key = %x, PublicKey = %x", pub, out.PublicKey)
				}
			}
			wo, err := e.s.GenerateDataKeyPairWithoutPlaintext(bg, caller, &GenerateDataKeyPairWithoutPlaintextInput{KeyId: sym.KeyId, KeyPairSpec: spec})
			if err != nil || len(wo.PublicKey) == 0 || len(wo.PrivateKeyCiphertextBlob) == 0 {
				t.Fatalf("GenerateDataKeyPairWithoutPlaintext = %+v, %v", wo, err)
			}
		})
	}
}

func lookOpenSSL() (string, bool) {
	p, err := exec.LookPath("openssl")
	return p, err == nil
}

// TestSigningAlgorithmValidation: AWS's answers for the signing algorithm,
// measured against AWS KMS in us-east-1 (floci-io/floci#3968,
// KmsIntegrationTest): an unknown value is a ValidationException listing
// the enum in AWS's order (Ed25519 before SM2DSA and ML-DSA, not the
// model's), before the key is looked up; SYMMETRIC_DEFAULT, outside the
// enum, passes it and is InvalidKeyUsageException for the key spec; an
// encryption algorithm stays a ValidationException.
func TestSigningAlgorithmValidation(t *testing.T) {
	e := newEnv(t)
	_, err := e.s.Sign(bg, caller, &SignInput{KeyId: "00000000-0000-0000-0000-000000000000", Message: []byte("message"), SigningAlgorithm: "FOO"})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value 'FOO' at 'signingAlgorithm' failed to "+
		"satisfy constraint: Member must satisfy enum value set: [RSASSA_PSS_SHA_256, RSASSA_PSS_SHA_384, RSASSA_PSS_SHA_512, "+
		"RSASSA_PKCS1_V1_5_SHA_256, RSASSA_PKCS1_V1_5_SHA_384, RSASSA_PKCS1_V1_5_SHA_512, ECDSA_SHA_256, ECDSA_SHA_384, "+
		"ECDSA_SHA_512, ED25519_SHA_512, ED25519_PH_SHA_512, SM2DSA, ML_DSA_SHAKE_256]")
	rsa := e.createKeyOf("RSA_2048", "SIGN_VERIFY")
	_, err = e.s.Sign(bg, caller, &SignInput{KeyId: rsa.Arn, Message: []byte("message"), SigningAlgorithm: "SYMMETRIC_DEFAULT"})
	wantErr(t, err, "InvalidKeyUsageException", "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.")
	_, err = e.s.Sign(bg, caller, &SignInput{KeyId: rsa.Arn, Message: []byte("message"), SigningAlgorithm: "SYMMETRIC_DEFAULT", DryRun: true})
	wantErr(t, err, "InvalidKeyUsageException", "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.")
	_, err = e.s.Verify(bg, caller, &VerifyInput{KeyId: rsa.Arn, Message: []byte("message"), Signature: make([]byte, 64), SigningAlgorithm: "SYMMETRIC_DEFAULT"})
	wantErr(t, err, "InvalidKeyUsageException", "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.")
	_, err = e.s.Sign(bg, caller, &SignInput{KeyId: rsa.Arn, Message: []byte("message"), SigningAlgorithm: "RSAES_OAEP_SHA_256"})
	wantErr(t, err, "ValidationException", "*")
}

// TestEncryptionAlgorithmEnumOrder: an unknown EncryptionAlgorithm is a
// ValidationException listing the enum in AWS's order, which is not the
// model's (measured against AWS KMS in us-east-1 for Encrypt and Decrypt:
// floci-io/floci#3968, KmsIntegrationTest).
func TestEncryptionAlgorithmEnumOrder(t *testing.T) {
	e := newEnv(t)
	k := e.createKeyOf("RSA_2048", "ENCRYPT_DECRYPT")
	const want = "1 validation error detected: Value 'FOO' at 'encryptionAlgorithm' failed to satisfy constraint: " +
		"Member must satisfy enum value set: [RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE, SYMMETRIC_DEFAULT]"
	_, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: k.KeyId, Plaintext: []byte("hello"), EncryptionAlgorithm: "FOO"})
	wantErr(t, err, "ValidationException", want)
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{KeyId: k.KeyId, CiphertextBlob: make([]byte, 256), EncryptionAlgorithm: "FOO"})
	wantErr(t, err, "ValidationException", want)
}

// TestMissingMessage: a missing Message (Sign, Verify, GenerateMac,
// VerifyMac) or Plaintext (Encrypt), sensitive members, is reported
// without the word null ("Value at 'message' ..."), while a missing
// Signature or Mac is "Value null at ...", as AWS answers before it looks
// up the key (measured against AWS KMS in us-east-1: floci-io/floci#3968,
// KmsIntegrationTest blobMembersAreValidatedBeforeTheKeyIsLookedUp).
func TestMissingMessage(t *testing.T) {
	e := newEnv(t)
	const id = "00000000-0000-0000-0000-000000000000"
	missing := func(member string) string {
		return "1 validation error detected: Value at '" + member + "' failed to satisfy constraint: Member must not be null"
	}
	_, err := e.s.Sign(bg, caller, &SignInput{KeyId: id, SigningAlgorithm: "ECDSA_SHA_256"})
	wantErr(t, err, "ValidationException", missing("message"))
	_, err = e.s.Verify(bg, caller, &VerifyInput{KeyId: id, Signature: []byte{0, 0, 0}, SigningAlgorithm: "ECDSA_SHA_256"})
	wantErr(t, err, "ValidationException", missing("message"))
	_, err = e.s.GenerateMac(bg, caller, &GenerateMacInput{KeyId: id, MacAlgorithm: "HMAC_SHA_256"})
	wantErr(t, err, "ValidationException", missing("message"))
	_, err = e.s.VerifyMac(bg, caller, &VerifyMacInput{KeyId: id, Mac: []byte{0, 0, 0}, MacAlgorithm: "HMAC_SHA_256"})
	wantErr(t, err, "ValidationException", missing("message"))
	_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: id})
	wantErr(t, err, "ValidationException", missing("plaintext"))
	_, err = e.s.Verify(bg, caller, &VerifyInput{KeyId: id, Message: []byte("message"), SigningAlgorithm: "ECDSA_SHA_256"})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value null at 'signature' failed to satisfy constraint: Member must not be null")
	_, err = e.s.VerifyMac(bg, caller, &VerifyMacInput{KeyId: id, Message: []byte("message"), MacAlgorithm: "HMAC_SHA_256"})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value null at 'mac' failed to satisfy constraint: Member must not be null")
}

// TestGetPublicKeyStates: GetPublicKey answers for a disabled key (its
// public key, unchanged, checked with crypto/x509), refuses a key pending
// deletion or import with KMSInvalidStateException before it looks at the
// spec, and refuses a symmetric or HMAC key with an
// UnsupportedOperationException without a message, as AWS does (measured
// against AWS KMS in us-east-1: floci-io/floci#3968, KmsIntegrationTest
// getPublicKeyWorksOnADisabledKey, getPublicKeyRejectsAKeyPendingDeletionOrImport,
// getPublicKeyRejectsASymmetricKeyWithoutAMessage; LocalStack's provider
// notes the same of the disabled key).
func TestGetPublicKeyStates(t *testing.T) {
	e := newEnv(t)
	md := e.createKeyOf("RSA_2048", "SIGN_VERIFY")
	before := mustPublicKey(t, e, md.KeyId)
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	out, err := e.s.GetPublicKey(bg, caller, &GetPublicKeyInput{KeyId: md.Arn})
	if err != nil || out.KeyId != md.Arn || !bytes.Equal(out.PublicKey, before) {
		t.Fatalf("GetPublicKey of a disabled key = %+v, %v", out, err)
	}
	if _, err := x509.ParsePKIXPublicKey(out.PublicKey); err != nil {
		t.Errorf("public key of the disabled key: %v", err)
	}
	for _, k := range []*KeyMetadata{e.createKeyOf("ECC_NIST_P256", "SIGN_VERIFY"), e.createKeyOf("HMAC_256", "GENERATE_VERIFY_MAC")} {
		if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: k.KeyId}); err != nil {
			t.Fatal(err)
		}
		_, err = e.s.GetPublicKey(bg, caller, &GetPublicKeyInput{KeyId: k.KeyId})
		wantErr(t, err, "KMSInvalidStateException", k.Arn+" is pending deletion.")
	}
	imp, err := e.s.CreateKey(bg, caller, &CreateKeyInput{Origin: "EXTERNAL"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.GetPublicKey(bg, caller, &GetPublicKeyInput{KeyId: imp.KeyMetadata.KeyId})
	wantErr(t, err, "KMSInvalidStateException", imp.KeyMetadata.Arn+" is pending import.")
	sym := e.createKey(caller)
	_, err = e.s.GetPublicKey(bg, caller, &GetPublicKeyInput{KeyId: sym.KeyId})
	wantErr(t, err, "UnsupportedOperationException", "")
	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: sym.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.GetPublicKey(bg, caller, &GetPublicKeyInput{KeyId: sym.KeyId})
	wantErr(t, err, "UnsupportedOperationException", "")
	_, err = e.s.GetPublicKey(bg, caller, &GetPublicKeyInput{KeyId: e.createKeyOf("HMAC_384", "GENERATE_VERIFY_MAC").KeyId})
	wantErr(t, err, "UnsupportedOperationException", "")
}

// TestKeyUsageBeforeKeyState: the key usage is checked before the key
// state, the key state before the algorithm, as AWS does (measured against
// AWS KMS in us-east-1: floci-io/floci#3968, KmsIntegrationTest
// keyUsageIsCheckedBeforeTheKeyState, cryptoOperationsRejectADisabledKey).
func TestKeyUsageBeforeKeyState(t *testing.T) {
	e := newEnv(t)
	hmacKey := e.createKeyOf("HMAC_256", "GENERATE_VERIFY_MAC")
	deleted := e.createKeyOf("HMAC_256", "GENERATE_VERIFY_MAC")
	signer := e.createKeyOf("RSA_2048", "SIGN_VERIFY")
	for _, id := range []string{hmacKey.KeyId, signer.KeyId} {
		if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: deleted.KeyId, PendingWindowInDays: ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []*KeyMetadata{hmacKey, deleted} {
		_, err := e.s.Sign(bg, caller, &SignInput{KeyId: k.Arn, Message: []byte("message"), SigningAlgorithm: "RSASSA_PSS_SHA_256"})
		wantErr(t, err, "InvalidKeyUsageException", k.Arn+" key usage is GENERATE_VERIFY_MAC which is not valid for Sign.")
	}
	_, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: signer.Arn, Plaintext: []byte("hello"), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
	wantErr(t, err, "InvalidKeyUsageException", signer.Arn+" key usage is SIGN_VERIFY which is not valid for Encrypt.")
	_, err = e.s.Sign(bg, caller, &SignInput{KeyId: signer.Arn, Message: []byte("message"), SigningAlgorithm: "ECDSA_SHA_256"})
	wantErr(t, err, "DisabledException", signer.Arn+" is disabled.")
	_, err = e.s.GenerateMac(bg, caller, &GenerateMacInput{KeyId: hmacKey.Arn, Message: []byte("message"), MacAlgorithm: "HMAC_SHA_512"})
	wantErr(t, err, "DisabledException", hmacKey.Arn+" is disabled.")
}

// TestDataKeyUnderAsymmetricKey: GenerateDataKey and
// GenerateDataKeyWithoutPlaintext with an RSA encryption key answer AWS's
// InvalidKeyUsageException "You cannot generate a data key with an
// asymmetric CMK" (as the AWS SDKs' users report it: S3A, Secrets Manager),
// DryRun too; a signing key gets the key usage error first.
func TestDataKeyUnderAsymmetricKey(t *testing.T) {
	e := newEnv(t)
	rsa := e.createKeyOf("RSA_2048", "ENCRYPT_DECRYPT")
	const want = "You cannot generate a data key with an asymmetric CMK"
	for _, dryRun := range []bool{false, true} {
		_, err := e.s.GenerateDataKey(bg, caller, &GenerateDataKeyInput{KeyId: rsa.Arn, KeySpec: "AES_256", DryRun: dryRun})
		wantErr(t, err, "InvalidKeyUsageException", want)
		_, err = e.s.GenerateDataKeyWithoutPlaintext(bg, caller, &GenerateDataKeyWithoutPlaintextInput{KeyId: rsa.Arn, NumberOfBytes: ptr(int32(32)), DryRun: dryRun})
		wantErr(t, err, "InvalidKeyUsageException", want)
	}
	ecc := e.createKeyOf("ECC_NIST_P256", "SIGN_VERIFY")
	_, err := e.s.GenerateDataKey(bg, caller, &GenerateDataKeyInput{KeyId: ecc.Arn, KeySpec: "AES_256"})
	wantErr(t, err, "InvalidKeyUsageException", "*")
	if err != nil && strings.Contains(err.Error(), want) {
		t.Errorf("a signing key: %v, want the key usage error", err)
	}
}
