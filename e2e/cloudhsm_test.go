package e2e

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/attest/attesttest"
	"github.com/trent-kms/trent/internal/keyring/pkcs11"
	"github.com/trent-kms/trent/internal/keyring/pkcs11/softhsmtest"
)

// CloudHSM key stores backed by SoftHSM2 tokens, which each test makes
// (softhsmtest) before it starts the server that uses them: the server
// process sees every token made before it started.

const hsmCluster = "cluster-abcdefghijk"

// clusterFlag is the --cloudhsm-clusters value naming tok as cluster id.
func clusterFlag(id string, tok pkcs11.Config) string {
	return id + "=" + tok.Lib + ":" + tok.TokenLabel
}

func createHSMStore(t *testing.T, c *kms.Client, name, cluster, anchor, password string) (string, error) {
	t.Helper()
	out, err := c.CreateCustomKeyStore(ctx(t), &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(name),
		CloudHsmClusterId: aws.String(cluster), TrustAnchorCertificate: aws.String(anchor), KeyStorePassword: aws.String(password)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.CustomKeyStoreId), nil
}

func describeHSMStore(t *testing.T, c *kms.Client, id string) types.CustomKeyStoresListEntry {
	t.Helper()
	out, err := c.DescribeCustomKeyStores(ctx(t), &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
	must(t, err)
	if len(out.CustomKeyStores) != 1 {
		t.Fatalf("DescribeCustomKeyStores(%s) = %d stores", id, len(out.CustomKeyStores))
	}
	return out.CustomKeyStores[0]
}

func connectHSMStore(t *testing.T, c *kms.Client, id string) {
	t.Helper()
	_, err := c.ConnectCustomKeyStore(ctx(t), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	must(t, err)
}

func hsmKey(t *testing.T, c *kms.Client, store string) *types.KeyMetadata {
	t.Helper()
	out, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(store)})
	must(t, err)
	return out.KeyMetadata
}

// TestCloudHSMKeyStore: the lifecycle of a CloudHSM key store and of a key
// in it, whose material the token generated and keeps (sensitive, not
// extractable, labelled with the key id), and which encrypts, decrypts,
// makes data keys and re-encrypts through the token only.
func TestCloudHSMKeyStore(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.Token(t)
	ca := attesttest.NewValidCA(t)
	s := startDev(t, "--cloudhsm-clusters", clusterFlag(hsmCluster, tok)+","+
		clusterFlag("cluster-missingtoken", pkcs11.Config{Lib: tok.Lib, TokenLabel: "no-such-token"}),
		"--attestation-roots", ca.WriteRoot(t))
	c := s.dev()
	anchor := softhsmtest.TrustAnchor(t)

	_, err := createHSMStore(t, c, "hsm", "cluster-unknownclstr", anchor, softhsmtest.PIN)
	wantCode(t, err, "CloudHsmClusterNotFoundException")
	_, err = createHSMStore(t, c, "hsm", "cluster-missingtoken", anchor, softhsmtest.PIN)
	wantCode(t, err, "CloudHsmClusterNotActiveException")
	_, err = createHSMStore(t, c, "hsm", hsmCluster, "not a certificate", softhsmtest.PIN)
	wantCode(t, err, "IncorrectTrustAnchorException")
	id, err := createHSMStore(t, c, "hsm", hsmCluster, anchor, softhsmtest.PIN)
	must(t, err)
	_, err = createHSMStore(t, c, "hsm-2", hsmCluster, anchor, softhsmtest.PIN)
	wantCode(t, err, "CloudHsmClusterInUseException")

	e := describeHSMStore(t, c, id)
	if e.CustomKeyStoreType != types.CustomKeyStoreTypeAwsCloudhsm || aws.ToString(e.CloudHsmClusterId) != hsmCluster ||
		aws.ToString(e.TrustAnchorCertificate) != anchor || e.ConnectionState != types.ConnectionStateTypeDisconnected ||
		e.XksProxyConfiguration != nil {
		t.Errorf("new store = %+v", e)
	}
	_, err = c.CreateKey(ctx(t), &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")

	connectHSMStore(t, c, id)
	if e := describeHSMStore(t, c, id); e.ConnectionState != types.ConnectionStateTypeConnected || e.ConnectionErrorCode != "" {
		t.Fatalf("connected store = %s %s", e.ConnectionState, e.ConnectionErrorCode)
	}
	md := hsmKey(t, c, id)
	keyID := aws.ToString(md.KeyId)
	if md.Origin != types.OriginTypeAwsCloudhsm || aws.ToString(md.CustomKeyStoreId) != id || aws.ToString(md.CloudHsmClusterId) != hsmCluster ||
		md.KeySpec != types.KeySpecSymmetricDefault || md.KeyState != types.KeyStateEnabled || md.XksKeyConfiguration != nil {
		t.Errorf("key = %+v", md)
	}
	a, ok := softhsmtest.KeyAttributes(t, tok, keyID)
	if !ok || !a.Sensitive || a.Extractable || !a.Token || a.ValueLen != 32 || a.ValueErr == nil {
		t.Errorf("token key %s = %+v (found %v), want a sensitive, non-extractable AES-256 token key whose CKA_VALUE is refused", keyID, a, ok)
	}

	// Round trips.
	ec := map[string]string{"app": "hsm"}
	enc, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: md.Arn, Plaintext: []byte("secret"), EncryptionContext: ec})
	must(t, err)
	if enc.CiphertextBlob[0] != 0x02 || len(enc.CiphertextBlob) != len("secret")+138 {
		t.Errorf("blob format %#x, %d bytes, want 0x02 (the token's outer layer), 6 + 138 bytes (docs/ciphertext-format.md)", enc.CiphertextBlob[0], len(enc.CiphertextBlob))
	}
	dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	must(t, err)
	if string(dec.Plaintext) != "secret" || aws.ToString(dec.KeyId) != aws.ToString(md.Arn) {
		t.Errorf("Decrypt = %q under %s", dec.Plaintext, aws.ToString(dec.KeyId))
	}
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "InvalidCiphertextException")
	changed := bytes.Clone(enc.CiphertextBlob)
	changed[len(changed)-1] ^= 1
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: changed, EncryptionContext: ec})
	wantCode(t, err, "InvalidCiphertextException")
	dk, err := c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256})
	must(t, err)
	dec, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	must(t, err)
	if !bytes.Equal(dec.Plaintext, dk.Plaintext) || len(dk.Plaintext) != 32 {
		t.Error("GenerateDataKey's blob does not decrypt to its plaintext")
	}
	dkw, err := c.GenerateDataKeyWithoutPlaintext(ctx(t), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId, NumberOfBytes: aws.Int32(16)})
	must(t, err)
	if dec, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: dkw.CiphertextBlob}); err != nil || len(dec.Plaintext) != 16 {
		t.Errorf("GenerateDataKeyWithoutPlaintext's blob: %d bytes, %v", len(dec.Plaintext), err)
	}
	other := newKey(t, c, "outside the store")
	re, err := c.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: other.KeyId})
	must(t, err)
	back, err := c.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: re.CiphertextBlob, DestinationKeyId: md.KeyId, DestinationEncryptionContext: ec})
	must(t, err)
	if dec, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: back.CiphertextBlob, EncryptionContext: ec}); err != nil || string(dec.Plaintext) != "secret" {
		t.Errorf("ReEncrypt there and back = %q, %v", dec.Plaintext, err)
	}
	rnd, err := c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{CustomKeyStoreId: aws.String(id), NumberOfBytes: aws.Int32(48)})
	if err != nil || len(rnd.Plaintext) != 48 {
		t.Errorf("GenerateRandom(store) = %d bytes, %v", len(rnd.Plaintext), err)
	}

	// The token's bytes for an enclave: only in CiphertextForRecipient.
	enclave := attesttest.NewEnclave(t, 0x5a)
	rr, err := c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{CustomKeyStoreId: aws.String(id), NumberOfBytes: aws.Int32(24),
		Recipient: recipient(ca.Document(t, enclave))})
	must(t, err)
	if rr.Plaintext != nil || len(openForEnclave(t, enclave, rr.CiphertextForRecipient)) != 24 {
		t.Errorf("GenerateRandom(store, Recipient) = plaintext %x, %d bytes for the enclave", rr.Plaintext, len(rr.CiphertextForRecipient))
	}

	// Updates and deletion follow the connection state.
	_, err = c.UpdateCustomKeyStore(ctx(t), &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String("another-pin")})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	_, err = c.UpdateCustomKeyStore(ctx(t), &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), NewCustomKeyStoreName: aws.String("hsm-renamed")})
	must(t, err)
	_, err = c.DeleteCustomKeyStore(ctx(t), &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")

	// Disconnected: the key is Unavailable, its ciphertexts do not decrypt.
	_, err = c.DisconnectCustomKeyStore(ctx(t), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	must(t, err)
	dk2, err := c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: md.KeyId})
	must(t, err)
	if dk2.KeyMetadata.KeyState != types.KeyStateUnavailable || dk2.KeyMetadata.Enabled {
		t.Errorf("key of a disconnected store: %s enabled %v", dk2.KeyMetadata.KeyState, dk2.KeyMetadata.Enabled)
	}
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{CustomKeyStoreId: aws.String(id), NumberOfBytes: aws.Int32(8)})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	_, err = c.DeleteCustomKeyStore(ctx(t), &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "CustomKeyStoreHasCMKsException")

	connectHSMStore(t, c, id)
	if _, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}); err != nil {
		t.Errorf("Decrypt after reconnecting: %v", err)
	}
	sd, err := c.ScheduleKeyDeletion(ctx(t), &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)})
	must(t, err)
	if sd.KeyState != types.KeyStatePendingDeletion {
		t.Errorf("ScheduleKeyDeletion state %s", sd.KeyState)
	}
}

// TestCloudHSMKeyStorePassword: a wrong password (the token's user PIN)
// leaves the store FAILED with INVALID_CREDENTIALS; the right one, set
// while disconnected, connects it.
func TestCloudHSMKeyStorePassword(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.Token(t)
	s := startDev(t, "--cloudhsm-clusters", clusterFlag(hsmCluster, tok))
	c := s.dev()
	id, err := createHSMStore(t, c, "hsm", hsmCluster, softhsmtest.TrustAnchor(t), "wrong-password")
	must(t, err)
	connectHSMStore(t, c, id)
	if e := describeHSMStore(t, c, id); e.ConnectionState != types.ConnectionStateTypeFailed || e.ConnectionErrorCode != types.ConnectionErrorCodeTypeInvalidCredentials {
		t.Fatalf("store with a wrong password: %s %s, want FAILED INVALID_CREDENTIALS", e.ConnectionState, e.ConnectionErrorCode)
	}
	_, err = c.ConnectCustomKeyStore(ctx(t), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	_, err = c.DisconnectCustomKeyStore(ctx(t), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	must(t, err)
	_, err = c.UpdateCustomKeyStore(ctx(t), &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String(softhsmtest.PIN)})
	must(t, err)
	connectHSMStore(t, c, id)
	if e := describeHSMStore(t, c, id); e.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("store with the right password: %s %s", e.ConnectionState, e.ConnectionErrorCode)
	}
	md := hsmKey(t, c, id)
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	must(t, err)
}

// TestCloudHSMKeyStoreRestart: a connected store's keys work after a
// restart (the token is logged in to again on first use); when the
// cluster's token is missing, they are unusable and the store does not
// connect (INSUFFICIENT_CLOUDHSM_HSMS).
func TestCloudHSMKeyStoreRestart(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.Token(t)
	dir := t.TempDir()
	start := func(cluster pkcs11.Config) *server {
		return startDev(t, "--data-dir", dir, "--cloudhsm-clusters", clusterFlag(hsmCluster, cluster))
	}
	s := start(tok)
	c := s.dev()
	id, err := createHSMStore(t, c, "hsm", hsmCluster, softhsmtest.TrustAnchor(t), softhsmtest.PIN)
	must(t, err)
	connectHSMStore(t, c, id)
	md := hsmKey(t, c, id)
	enc, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("kept")})
	must(t, err)
	must(t, s.stop())

	s = start(tok)
	c = s.dev()
	dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "kept" {
		t.Fatalf("Decrypt after restart = %q, %v", dec.Plaintext, err)
	}
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("again")})
	must(t, err)
	must(t, s.stop())

	s = start(pkcs11.Config{Lib: tok.Lib, TokenLabel: "no-such-token"})
	c = s.dev()
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = c.DisconnectCustomKeyStore(ctx(t), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	must(t, err)
	connectHSMStore(t, c, id)
	if e := describeHSMStore(t, c, id); e.ConnectionState != types.ConnectionStateTypeFailed || e.ConnectionErrorCode != types.ConnectionErrorCodeTypeInsufficientCloudhsmHsms {
		t.Errorf("store whose token is missing: %s %s, want FAILED INSUFFICIENT_CLOUDHSM_HSMS", e.ConnectionState, e.ConnectionErrorCode)
	}
}

// TestCloudHSMKeyStoreUpdateCluster: a store moves to another cluster only
// while disconnected, to a configured one that no other store uses and
// whose token holds the store's keys (a related cluster).
func TestCloudHSMKeyStoreUpdateCluster(t *testing.T) {
	t.Parallel()
	a, b, cl := softhsmtest.Token(t), softhsmtest.Token(t), softhsmtest.Token(t)
	const clusterB, clusterC = "cluster-bbbbbbbbbbb", "cluster-ccccccccccc"
	s := startDev(t, "--cloudhsm-clusters", clusterFlag(hsmCluster, a)+","+clusterFlag(clusterB, b)+","+clusterFlag(clusterC, cl))
	c := s.dev()
	update := func(id, cluster string) error {
		_, err := c.UpdateCustomKeyStore(ctx(t), &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), CloudHsmClusterId: aws.String(cluster)})
		return err
	}
	withKey, err := createHSMStore(t, c, "with-key", hsmCluster, softhsmtest.TrustAnchor(t), softhsmtest.PIN)
	must(t, err)
	connectHSMStore(t, c, withKey)
	hsmKey(t, c, withKey)
	wantCode(t, update(withKey, clusterB), "CustomKeyStoreInvalidStateException")
	_, err = c.DisconnectCustomKeyStore(ctx(t), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(withKey)})
	must(t, err)
	wantCode(t, update(withKey, "cluster-unknownclstr"), "CloudHsmClusterNotFoundException")
	wantCode(t, update(withKey, clusterB), "CloudHsmClusterNotRelatedException")

	empty, err := createHSMStore(t, c, "empty", clusterB, softhsmtest.TrustAnchor(t), softhsmtest.PIN)
	must(t, err)
	wantCode(t, update(empty, hsmCluster), "CloudHsmClusterInUseException")
	must(t, update(empty, clusterC))
	if e := describeHSMStore(t, c, empty); aws.ToString(e.CloudHsmClusterId) != clusterC {
		t.Errorf("store moved to %s shows %s", clusterC, aws.ToString(e.CloudHsmClusterId))
	}
	connectHSMStore(t, c, empty)
	if e := describeHSMStore(t, c, empty); e.ConnectionState != types.ConnectionStateTypeConnected {
		t.Errorf("store on its new cluster: %s %s", e.ConnectionState, e.ConnectionErrorCode)
	}
}
