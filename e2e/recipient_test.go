package e2e

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/attest/attesttest"
	"github.com/trent-kms/trent/internal/awstest"
)

// openForEnclave decrypts a CiphertextForRecipient with the enclave's key
// twice, with attesttest's Go decoder and with `openssl cms -decrypt`, and
// returns the secret both agree on.
func openForEnclave(t *testing.T, e *attesttest.Enclave, cms []byte) []byte {
	t.Helper()
	got, err := e.Open(cms)
	if err != nil {
		t.Fatalf("open CiphertextForRecipient: %v", err)
	}
	dir := t.TempDir()
	in, key := filepath.Join(dir, "cms.der"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(in, cms, 0o600))
	must(t, os.WriteFile(key, e.KeyPEM(t), 0o600))
	if ossl := awstest.OpenSSL(t, "cms", "-decrypt", "-inform", "DER", "-in", in, "-inkey", key); !bytes.Equal(ossl, got) {
		t.Fatalf("openssl cms -decrypt = %x, Go decoder = %x", ossl, got)
	}
	return got
}

func recipient(doc []byte) *types.RecipientInfo {
	return &types.RecipientInfo{AttestationDocument: doc, KeyEncryptionAlgorithm: types.KeyEncryptionMechanismRsaesOaepSha256}
}

// TestRecipientEndToEnd: with a Recipient (a Nitro Enclaves attestation
// document signed under a root the server trusts through
// --attestation-roots), Decrypt, GenerateDataKey, GenerateDataKeyPair,
// GenerateRandom and DeriveSharedSecret answer the secret only in
// CiphertextForRecipient, a CMS envelope that the enclave's key opens;
// without KeyEncryptionAlgorithm, its one value; untrusted, tampered and
// misdeclared documents are ValidationException.
func TestRecipientEndToEnd(t *testing.T) {
	t.Parallel()
	ca := attesttest.NewValidCA(t)
	enclave := attesttest.NewEnclave(t, 0xaa)
	doc := ca.Document(t, enclave)
	dir := t.TempDir()
	s := startDev(t, "--attestation-roots", ca.WriteRoot(t), "--data-dir", dir)
	c := s.dev()
	key := newKey(t, c, "for the enclave")

	pt := []byte("enclave secret")
	enc, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: pt})
	must(t, err)
	dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, Recipient: recipient(doc)})
	must(t, err)
	if dec.Plaintext != nil || aws.ToString(dec.KeyId) != aws.ToString(key.Arn) {
		t.Fatalf("Decrypt with Recipient: Plaintext %x, KeyId %s", dec.Plaintext, aws.ToString(dec.KeyId))
	}
	if got := openForEnclave(t, enclave, dec.CiphertextForRecipient); !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt for the enclave = %q", got)
	}
	// KeyEncryptionAlgorithm is optional: without it, its one value
	// (RSAES_OAEP_SHA_256).
	dec, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob,
		Recipient: &types.RecipientInfo{AttestationDocument: doc}})
	must(t, err)
	if got := openForEnclave(t, enclave, dec.CiphertextForRecipient); dec.Plaintext != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt with a Recipient without KeyEncryptionAlgorithm: Plaintext %x, for the enclave %q", dec.Plaintext, got)
	}

	dk, err := c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: key.KeyId, KeySpec: types.DataKeySpecAes256, Recipient: recipient(doc)})
	must(t, err)
	if dk.Plaintext != nil {
		t.Fatal("GenerateDataKey with Recipient returned Plaintext")
	}
	dataKey := openForEnclave(t, enclave, dk.CiphertextForRecipient)
	if len(dataKey) != 32 {
		t.Fatalf("data key of %d bytes", len(dataKey))
	}
	decryptOK(t, c, dk.CiphertextBlob, dataKey, nil) // the blob holds the same key

	rnd, err := c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(64), Recipient: recipient(doc)})
	must(t, err)
	if rnd.Plaintext != nil || len(openForEnclave(t, enclave, rnd.CiphertextForRecipient)) != 64 {
		t.Fatalf("GenerateRandom with Recipient: Plaintext %x", rnd.Plaintext)
	}

	kp, err := c.GenerateDataKeyPair(ctx(t), &kms.GenerateDataKeyPairInput{KeyId: key.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP256,
		Recipient: recipient(doc)})
	must(t, err)
	if kp.PrivateKeyPlaintext != nil {
		t.Fatal("GenerateDataKeyPair with Recipient returned PrivateKeyPlaintext")
	}
	priv, err := x509.ParsePKCS8PrivateKey(openForEnclave(t, enclave, kp.CiphertextForRecipient))
	must(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(priv.(*ecdsa.PrivateKey).Public())
	must(t, err)
	if !bytes.Equal(pubDER, kp.PublicKey) {
		t.Fatal("the private key for the enclave is not the pair's")
	}

	agree, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeKeyAgreement})
	must(t, err)
	kmsPub, err := c.GetPublicKey(ctx(t), &kms.GetPublicKeyInput{KeyId: agree.KeyMetadata.KeyId})
	must(t, err)
	peer, err := ecdh.P256().GenerateKey(rand.Reader)
	must(t, err)
	peerDER, err := x509.MarshalPKIXPublicKey(peer.PublicKey())
	must(t, err)
	ss, err := c.DeriveSharedSecret(ctx(t), &kms.DeriveSharedSecretInput{KeyId: agree.KeyMetadata.KeyId, PublicKey: peerDER,
		KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, Recipient: recipient(doc)})
	must(t, err)
	pk, err := x509.ParsePKIXPublicKey(kmsPub.PublicKey)
	must(t, err)
	ecdhPub, err := pk.(*ecdsa.PublicKey).ECDH()
	must(t, err)
	want, err := peer.ECDH(ecdhPub)
	must(t, err)
	if ss.SharedSecret != nil || !bytes.Equal(openForEnclave(t, enclave, ss.CiphertextForRecipient), want) {
		t.Fatal("DeriveSharedSecret for the enclave: not the shared secret")
	}

	// Refused documents.
	payload := ca.Payload(t, enclave)
	for name, r := range map[string]*types.RecipientInfo{
		"untrusted CA": recipient(attesttest.NewValidCA(t).Document(t, enclave)),
		"tampered PCR0": recipient(ca.Tampered(t, payload, func(p map[string]any) {
			p["pcrs"] = map[int][]byte{0: make([]byte, 48), 1: enclave.PCRs[1]} // a new map: enclave.PCRs stays
		})),
		"unsigned":        recipient(doc[:len(doc)-10]),
		"no document":     {KeyEncryptionAlgorithm: types.KeyEncryptionMechanismRsaesOaepSha256},
		"wrong algorithm": {AttestationDocument: doc, KeyEncryptionAlgorithm: "RSAES_OAEP_SHA_1"},
	} {
		_, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, Recipient: r})
		wantCode(t, err, "ValidationException")
		_, err = c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(8), Recipient: r})
		wantCode(t, err, "ValidationException")
		if t.Failed() {
			t.Fatalf("%s: accepted", name)
		}
	}

	// The audit records of the attested calls carry the recipient's
	// attestation facts as CloudTrail does, and none of the secrets.
	must(t, s.stop())
	var attested int
	for _, l := range auditLines(t, dir) {
		var r struct {
			EventName, ErrorCode string
			AdditionalEventData  struct {
				Recipient map[string]string `json:"recipient"`
			} `json:"additionalEventData"`
		}
		must(t, json.Unmarshal(l, &r))
		rec := r.AdditionalEventData.Recipient
		if rec == nil {
			continue
		}
		attested++
		if r.ErrorCode != "" || rec["attestationDocumentModuleId"] != enclave.ModuleID ||
			rec["attestationDocumentEnclaveImageDigest"] != hex.EncodeToString(enclave.PCRs[0]) ||
			rec["attestationDocumentEnclavePCR8"] != hex.EncodeToString(enclave.PCRs[8]) || len(rec) != 7 {
			t.Errorf("%s: recipient %v (error %q)", r.EventName, rec, r.ErrorCode)
		}
	}
	if attested != 6 { // Decrypt (twice), GenerateDataKey, GenerateRandom, GenerateDataKeyPair, DeriveSharedSecret
		t.Errorf("%d audit records with a recipient, want 6", attested)
	}
	noSecretsInAudit(t, dir, [][]byte{pt, dataKey, want})
}

// TestRecipientPolicyEndToEnd: a key policy condition on
// kms:RecipientAttestation:ImageSha384 lets one enclave image decrypt and
// denies another, and a request without an attestation; one on
// kms:RecipientAttestation:PCR<n> tests that PCR.
func TestRecipientPolicyEndToEnd(t *testing.T) {
	t.Parallel()
	ca := attesttest.NewValidCA(t)
	good, bad := attesttest.NewEnclave(t, 0xaa), attesttest.NewEnclave(t, 0xbb)
	otherPCR1 := attesttest.NewEnclave(t, 0xaa)
	otherPCR1.PCRs[1] = bytes.Repeat([]byte{0x11}, 48)
	s := startDev(t, "--attestation-roots", ca.WriteRoot(t))
	c := s.dev()
	key := newKey(t, c, "enclave only")
	_, err := c.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: key.KeyId, Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + devAccount + `:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"image","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
		 "Condition":{"StringNotEqualsIgnoreCase":{"kms:RecipientAttestation:ImageSha384":"` + hex.EncodeToString(good.PCRs[0]) + `"}}},
		{"Sid":"pcr1","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
		 "Condition":{"StringNotEquals":{"kms:RecipientAttestation:PCR1":"` + hex.EncodeToString(good.PCRs[1]) + `"}}}]}`)})
	must(t, err)
	enc, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("for the good image")})
	must(t, err)
	decrypt := func(e *attesttest.Enclave) (*kms.DecryptOutput, error) {
		var r *types.RecipientInfo
		if e != nil {
			r = recipient(ca.Document(t, e))
		}
		return c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, Recipient: r})
	}
	out, err := decrypt(good)
	must(t, err)
	if got := openForEnclave(t, good, out.CiphertextForRecipient); string(got) != "for the good image" {
		t.Fatalf("good image: %q", got)
	}
	_, err = decrypt(bad)
	wantCode(t, err, "AccessDeniedException")
	_, err = decrypt(otherPCR1)
	wantCode(t, err, "AccessDeniedException")
	_, err = decrypt(nil)
	wantCode(t, err, "AccessDeniedException")
}

// TestRecipientPCRKeyNames: kms:RecipientAttestation:PCR<n> is PCR n only
// for n in canonical decimal, 0 to 31: "PCR01", "PCR+1", "PCR 1", "PCR-0"
// are other condition keys, which no request has, so a Deny on them does
// not apply; on "PCR1" (in any case, as condition key names are) it does.
func TestRecipientPCRKeyNames(t *testing.T) {
	t.Parallel()
	ca := attesttest.NewValidCA(t)
	e := attesttest.NewEnclave(t, 0xaa)
	s := startDev(t, "--attestation-roots", ca.WriteRoot(t))
	c := s.dev()
	key := newKey(t, c, "PCR key names")
	enc, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("pcr")})
	must(t, err)
	for _, tc := range []struct {
		suffix string
		pcr    int
		denied bool
	}{
		{"1", 1, true}, {"0", 0, true}, {"8", 8, true},
		{"01", 1, false}, {"+1", 1, false}, {" 1", 1, false}, {"1 ", 1, false}, {"-0", 0, false},
		{"00", 0, false}, {"+0", 0, false}, {"0x1", 1, false}, {"08", 8, false}, {"32", 0, false},
	} {
		name := "kms:RecipientAttestation:PCR" + tc.suffix
		if tc.suffix == "8" {
			name = "KMS:recipientattestation:pcr8"
		}
		cond, _ := json.Marshal(map[string]map[string]string{"StringEquals": {name: hex.EncodeToString(e.PCRs[tc.pcr])}})
		_, err := c.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: key.KeyId, Policy: aws.String(`{"Version":"2012-10-17","Statement":[
			{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + devAccount + `:root"},"Action":"kms:*","Resource":"*"},
			{"Sid":"pcr","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":` + string(cond) + `}]}`)})
		must(t, err)
		_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, Recipient: recipient(ca.Document(t, e))})
		switch {
		case tc.denied:
			wantCode(t, err, "AccessDeniedException")
		case err != nil:
			t.Errorf("Deny on %q (not PCR%d): %v", name, tc.pcr, err)
		}
	}
}
