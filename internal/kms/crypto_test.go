package kms

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/ciphertext"
)

var bg = context.Background()

func TestEncryptDecryptRoundTrip(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	if _, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/app", TargetKeyId: md.KeyId}); err != nil {
		t.Fatalf("CreateAlias err = %v", err)
	}
	aliasARN := "arn:aws:kms:us-east-1:" + acct + ":alias/app"
	ec := map[string]string{"purpose": "test", "ünï": "cödé"}
	for _, id := range []string{md.KeyId, md.Arn, "alias/app", aliasARN} {
		for _, n := range []int{1, 17, 4096} {
			pt := bytes.Repeat([]byte{byte(n)}, n)
			out, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: id, Plaintext: pt, EncryptionContext: ec})
			if err != nil {
				t.Fatalf("Encrypt(%s, %d bytes) err = %v", id, n, err)
			}
			if out.KeyId != md.Arn || out.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
				t.Errorf("Encrypt() = KeyId %q alg %q, want %q SYMMETRIC_DEFAULT", out.KeyId, out.EncryptionAlgorithm, md.Arn)
			}
			b, err := ciphertext.Parse(out.CiphertextBlob)
			if err != nil || b.KeyID != md.KeyId || b.Version != 1 {
				t.Fatalf("Parse(blob) = %+v, %v", b, err)
			}
			if !bytes.Equal(b.Marshal(), out.CiphertextBlob) {
				t.Errorf("blob is not canonical ciphertext.Marshal output")
			}
			for _, kid := range []string{"", id} {
				dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: out.CiphertextBlob, KeyId: kid, EncryptionContext: ec})
				if err != nil {
					t.Fatalf("Decrypt(KeyId %q) err = %v", kid, err)
				}
				if !bytes.Equal(dec.Plaintext, pt) || dec.KeyId != md.Arn || dec.KeyMaterialId != md.CurrentKeyMaterialId ||
					dec.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
					t.Errorf("Decrypt() = %+v", dec)
				}
			}
		}
	}
	if n := e.s.getKey(scope{region, acct}, md.KeyId).current().Encryptions.Load(); n != 12 {
		t.Errorf("encryptions counted = %d, want 12", n)
	}
}

func TestEncryptionContextBinding(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	ec := map[string]string{"a": "bc"}
	blob := e.encrypt(md.KeyId, []byte("secret"), ec)
	for _, bad := range []map[string]string{nil, {}, {"ab": "c"}, {"a": "bC"}, {"A": "bc"}, {"a": "bc", "x": ""}} {
		_, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob, EncryptionContext: bad})
		wantErr(t, err, "InvalidCiphertextException", "")
	}
	// Order-insensitive: a context with several pairs in any map order.
	ec2 := map[string]string{"z": "1", "a": "2", "m": "3"}
	blob2 := e.encrypt(md.KeyId, []byte("x"), ec2)
	if _, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob2, EncryptionContext: map[string]string{"m": "3", "a": "2", "z": "1"}}); err != nil {
		t.Errorf("Decrypt with equal context err = %v", err)
	}
	// Empty and absent context are the same.
	blob3 := e.encrypt(md.KeyId, []byte("x"), map[string]string{})
	if _, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob3}); err != nil {
		t.Errorf("Decrypt with nil context of blob made with empty context err = %v", err)
	}
}

func TestDecryptTamper(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	ec := map[string]string{"k": "v"}
	blob := e.encrypt(md.KeyId, []byte("attack at dawn"), ec)
	idEnd := 2 + len(md.KeyId)
	for i := range blob {
		for _, flip := range []byte{0x01, 0x80} {
			bad := bytes.Clone(blob)
			bad[i] ^= flip
			_, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: bad, EncryptionContext: ec})
			if i >= 2 && i < idEnd && err != nil && strings.Contains(err.Error(), "AccessDenied") {
				continue // a changed key id can name a key that does not exist
			}
			wantErr(t, err, "InvalidCiphertextException", "")
		}
	}
	for n := 0; n < len(blob); n++ {
		_, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob[:n], EncryptionContext: ec})
		if n == 0 {
			wantErr(t, err, "ValidationException", "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1")
			continue
		}
		wantErr(t, err, "InvalidCiphertextException", "")
	}
	_, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: append(bytes.Clone(blob), 0), EncryptionContext: ec})
	wantErr(t, err, "InvalidCiphertextException", "")
	// Unknown backing-key version.
	b, _ := ciphertext.Parse(bytes.Clone(blob))
	b.Version = 2
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: b.Marshal(), EncryptionContext: ec})
	wantErr(t, err, "InvalidCiphertextException", "")
}

func TestDecryptKeyChecks(t *testing.T) {
	e := newEnv(t)
	k1 := e.createKey(caller)
	k2 := e.createKey(caller)
	blob := e.encrypt(k1.KeyId, []byte("x"), nil)

	_, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob, KeyId: k2.KeyId})
	wantErr(t, err, "IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")

	// Another region: the blob's key does not exist there.
	_, err = e.s.Decrypt(bg, callerIn("eu-central-1", acct), &DecryptInput{CiphertextBlob: blob})
	wantErr(t, err, "AccessDeniedException", errUnknownCiphertextKey)
	// Another account: the key is found, and its policy does not allow that account.
	_, err = e.s.Decrypt(bg, callerIn(region, "444455556666"), &DecryptInput{CiphertextBlob: blob})
	wantErr(t, err, "AccessDeniedException", "User: arn:aws:iam::444455556666:root is not authorized to perform: kms:Decrypt on resource: "+k1.Arn+" because no resource-based policy allows the kms:Decrypt action")

	if _, err := e.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: k1.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob})
	wantErr(t, err, "DisabledException", k1.Arn+" is disabled.")
	_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: k1.KeyId, Plaintext: []byte("x")})
	wantErr(t, err, "DisabledException", k1.Arn+" is disabled.")
	_, err = e.s.GenerateDataKey(bg, caller, &GenerateDataKeyInput{KeyId: k1.KeyId, KeySpec: "AES_256"})
	wantErr(t, err, "DisabledException", k1.Arn+" is disabled.")

	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: k1.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob})
	wantErr(t, err, "KMSInvalidStateException", k1.Arn+" is pending deletion.")
	_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: k1.Arn, Plaintext: []byte("x")})
	wantErr(t, err, "KMSInvalidStateException", k1.Arn+" is pending deletion.")
}

func TestEncryptValidation(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	long := strings.Repeat("a", 2049)
	tests := []struct {
		name      string
		in        EncryptInput
		code, msg string
	}{
		{"missing key", EncryptInput{Plaintext: []byte("x")}, "ValidationException",
			"1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"},
		{"long key", EncryptInput{KeyId: long, Plaintext: []byte("x")}, "ValidationException",
			"1 validation error detected: Value '" + long + "' at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048"},
		{"missing plaintext", EncryptInput{KeyId: md.KeyId}, "ValidationException",
			"1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must not be null"},
		{"empty plaintext", EncryptInput{KeyId: md.KeyId, Plaintext: []byte{}}, "ValidationException",
			"1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"big plaintext", EncryptInput{KeyId: md.KeyId, Plaintext: make([]byte, 4097)}, "ValidationException",
			"1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"},
		{"two errors", EncryptInput{Plaintext: make([]byte, 4097)}, "ValidationException",
			"2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null; Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"},
		{"bad algorithm", EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: "AES"}, "ValidationException",
			"1 validation error detected: Value 'AES' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE, SYMMETRIC_DEFAULT]"},
		{"rsa algorithm", EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"}, "InvalidKeyUsageException",
			"Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT."},
		{"too many grant tokens", EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), GrantTokens: strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")}, "ValidationException",
			"1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10"},
		{"empty grant token", EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), GrantTokens: []string{""}}, "ValidationException",
			"1 validation error detected: Value '' at 'grantTokens.1.member' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"invalid key id", EncryptInput{KeyId: "fake-key-id", Plaintext: []byte("x")}, "NotFoundException", "Invalid keyId 'fake-key-id'"},
		{"unknown key", EncryptInput{KeyId: otherID, Plaintext: []byte("x")}, "NotFoundException",
			"Key 'arn:aws:kms:us-east-1:111122223333:key/" + otherID + "' does not exist"},
		{"other region arn", EncryptInput{KeyId: "arn:aws:kms:us-west-2:111122223333:key/" + md.KeyId, Plaintext: []byte("x")}, "NotFoundException",
			"Invalid arn us-west-2"},
		{"unknown alias", EncryptInput{KeyId: "alias/nope", Plaintext: []byte("x")}, "NotFoundException",
			"Alias arn:aws:kms:us-east-1:111122223333:alias/nope is not found."},
		{"other account arn", EncryptInput{KeyId: "arn:aws:kms:us-east-1:444455556666:key/" + md.KeyId, Plaintext: []byte("x")}, "AccessDeniedException", "*"},
		{"dry run", EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), DryRun: true}, "DryRunOperationException",
			"The request would have succeeded, but the DryRun option is set."},
		{"dry run after validation", EncryptInput{KeyId: otherID, Plaintext: []byte("x"), DryRun: true}, "NotFoundException", "*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.Encrypt(bg, caller, &tc.in)
			wantErr(t, err, tc.code, tc.msg)
		})
	}
	// A grant token that CreateGrant did not make is refused.
	_, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), GrantTokens: []string{"tok"}})
	wantErr(t, err, "InvalidGrantTokenException", "Invalid grant token.")
}

func TestKeysAreRegional(t *testing.T) {
	e := newEnv(t)
	west := callerIn("us-west-2", acct)
	md := e.createKey(west)
	if !strings.HasPrefix(md.Arn, "arn:aws:kms:us-west-2:111122223333:key/") {
		t.Errorf("Arn = %q", md.Arn)
	}
	_, err := e.s.DescribeKey(bg, callerIn("eu-central-1", acct), &DescribeKeyInput{KeyId: md.KeyId})
	wantErr(t, err, "NotFoundException", "Key 'arn:aws:kms:eu-central-1:111122223333:key/"+md.KeyId+"' does not exist")
	_, err = e.s.DescribeKey(bg, callerIn("eu-central-1", acct), &DescribeKeyInput{KeyId: md.Arn})
	wantErr(t, err, "NotFoundException", "Invalid arn us-west-2")
	_, err = e.s.DescribeKey(bg, callerIn("us-west-2", "444455556666"), &DescribeKeyInput{KeyId: md.KeyId})
	wantErr(t, err, "NotFoundException", "*")
	if _, err := e.s.DescribeKey(bg, west, &DescribeKeyInput{KeyId: md.Arn}); err != nil {
		t.Errorf("DescribeKey in its region err = %v", err)
	}
	lk, _ := e.s.ListKeys(bg, caller, &ListKeysInput{})
	if len(lk.Keys) != 0 {
		t.Errorf("ListKeys in us-east-1 = %v, want none", lk.Keys)
	}
}

func TestGenerateDataKey(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	ec := map[string]string{"ctx": "1"}
	for _, tc := range []struct {
		spec string
		n    *int32
		want int
	}{{"AES_256", nil, 32}, {"AES_128", nil, 16}, {"", ptr[int32](1), 1}, {"", ptr[int32](1024), 1024}} {
		out, err := e.s.GenerateDataKey(bg, caller, &GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: tc.spec, NumberOfBytes: tc.n, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("GenerateDataKey(%s) err = %v", tc.spec, err)
		}
		if len(out.Plaintext) != tc.want || out.KeyId != md.Arn || out.KeyMaterialId != md.CurrentKeyMaterialId {
			t.Errorf("GenerateDataKey(%s) = %d bytes, KeyId %q, material %q", tc.spec, len(out.Plaintext), out.KeyId, out.KeyMaterialId)
		}
		dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec})
		if err != nil || !bytes.Equal(dec.Plaintext, out.Plaintext) {
			t.Errorf("Decrypt(data key) = %v, %v", dec, err)
		}
		wo, err := e.s.GenerateDataKeyWithoutPlaintext(bg, caller, &GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId, KeySpec: tc.spec, NumberOfBytes: tc.n, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("GenerateDataKeyWithoutPlaintext err = %v", err)
		}
		dec, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: wo.CiphertextBlob, EncryptionContext: ec})
		if err != nil || len(dec.Plaintext) != tc.want {
			t.Errorf("Decrypt(data key without plaintext) = %v, %v", dec, err)
		}
	}
	bad := []struct {
		name      string
		in        GenerateDataKeyInput
		code, msg string
	}{
		{"neither", GenerateDataKeyInput{KeyId: md.KeyId}, "ValidationException", "Please specify either number of bytes or key spec."},
		{"both", GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_256", NumberOfBytes: ptr[int32](32)}, "ValidationException", "Please specify either number of bytes or key spec."},
		{"zero", GenerateDataKeyInput{KeyId: md.KeyId, NumberOfBytes: ptr[int32](0)}, "ValidationException",
			"1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"1025", GenerateDataKeyInput{KeyId: md.KeyId, NumberOfBytes: ptr[int32](1025)}, "ValidationException",
			"1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"},
		{"bad spec", GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_512"}, "ValidationException",
			"1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"},
		{"dry run", GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_256", DryRun: true}, "DryRunOperationException", "*"},
		{"dry run bad spec", GenerateDataKeyInput{KeyId: md.KeyId, DryRun: true}, "ValidationException", "*"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.GenerateDataKey(bg, caller, &tc.in)
			wantErr(t, err, tc.code, tc.msg)
		})
	}
	_, err := e.s.GenerateDataKeyWithoutPlaintext(bg, caller, &GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId, KeySpec: "AES_256", DryRun: true})
	wantErr(t, err, "DryRunOperationException", "*")
}

func TestDecryptDryRun(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	blob := e.encrypt(md.KeyId, []byte("x"), nil)
	_, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob, DryRun: true})
	wantErr(t, err, "DryRunOperationException", "*")
	// A bad ciphertext fails before DryRun...
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob[:len(blob)-1], DryRun: true})
	wantErr(t, err, "InvalidCiphertextException", "")
	// ...unless IGNORE_CIPHERTEXT, which needs KeyId.
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{DryRun: true, DryRunModifiers: []string{"IGNORE_CIPHERTEXT"}, KeyId: md.KeyId})
	wantErr(t, err, "DryRunOperationException", "*")
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{DryRun: true, DryRunModifiers: []string{"IGNORE_CIPHERTEXT"}})
	wantErr(t, err, "ValidationException", "*")
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{DryRunModifiers: []string{"IGNORE_CIPHERTEXT"}, KeyId: md.KeyId})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob, DryRunModifiers: []string{"NOPE"}})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value '[NOPE]' at 'dryRunModifiers' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [IGNORE_CIPHERTEXT]]")
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: make([]byte, 6145)})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144")
}

func TestGenerateRandom(t *testing.T) {
	e := newEnv(t)
	for _, n := range []int32{1, 32, 1024} {
		out, err := e.s.GenerateRandom(bg, caller, &GenerateRandomInput{NumberOfBytes: &n})
		if err != nil || len(out.Plaintext) != int(n) {
			t.Errorf("GenerateRandom(%d) = %v, %v", n, out, err)
		}
	}
	a, _ := e.s.GenerateRandom(bg, caller, &GenerateRandomInput{NumberOfBytes: ptr[int32](32)})
	b, _ := e.s.GenerateRandom(bg, caller, &GenerateRandomInput{NumberOfBytes: ptr[int32](32)})
	if bytes.Equal(a.Plaintext, b.Plaintext) {
		t.Error("GenerateRandom returned the same bytes twice")
	}
	_, err := e.s.GenerateRandom(bg, caller, &GenerateRandomInput{NumberOfBytes: ptr[int32](0)})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1")
	_, err = e.s.GenerateRandom(bg, caller, &GenerateRandomInput{NumberOfBytes: ptr[int32](1025)})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024")
	_, err = e.s.GenerateRandom(bg, caller, &GenerateRandomInput{})
	wantErr(t, err, "ValidationException", "NumberOfBytes is required.")
}

func TestCreateDescribeKey(t *testing.T) {
	e := newEnv(t)
	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{Description: "d", Tags: []Tag{{TagKey: "b", TagValue: "2"}, {TagKey: "a", TagValue: ""}}})
	if err != nil {
		t.Fatal(err)
	}
	md := out.KeyMetadata
	if !arn.IsKeyID(md.KeyId) || md.Arn != "arn:aws:kms:us-east-1:111122223333:key/"+md.KeyId || md.AWSAccountId != acct ||
		!md.Enabled || md.KeyState != "Enabled" || md.KeySpec != "SYMMETRIC_DEFAULT" || md.CustomerMasterKeySpec != "SYMMETRIC_DEFAULT" ||
		md.KeyUsage != "ENCRYPT_DECRYPT" || md.Origin != "AWS_KMS" || md.KeyManager != "CUSTOMER" || md.MultiRegion ||
		md.Description != "d" || len(md.EncryptionAlgorithms) != 1 || md.EncryptionAlgorithms[0] != "SYMMETRIC_DEFAULT" ||
		!md.CreationDate.Equal(e.clock.Now()) || md.DeletionDate != nil || md.PendingDeletionWindowInDays != nil {
		t.Errorf("CreateKey metadata = %+v", md)
	}
	if len(md.CurrentKeyMaterialId) != 64 || strings.ToLower(md.CurrentKeyMaterialId) != md.CurrentKeyMaterialId {
		t.Errorf("CurrentKeyMaterialId = %q", md.CurrentKeyMaterialId)
	}
	if _, err := hex.DecodeString(md.CurrentKeyMaterialId); err != nil {
		t.Errorf("CurrentKeyMaterialId not hex: %v", err)
	}
	d, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: md.Arn})
	if err != nil || d.KeyMetadata.KeyId != md.KeyId || d.KeyMetadata.CurrentKeyMaterialId != md.CurrentKeyMaterialId {
		t.Errorf("DescribeKey = %+v, %v", d, err)
	}
	_, err = e.s.DescribeKey(bg, caller, &DescribeKeyInput{})
	wantErr(t, err, "ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")

	bad := []struct {
		name      string
		in        CreateKeyInput
		code, msg string
	}{
		{"bad usage", CreateKeyInput{KeyUsage: "RANDOM"}, "ValidationException",
			"1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]"},
		{"bad spec", CreateKeyInput{KeySpec: "AES"}, "ValidationException", "*"},
		{"sm2", CreateKeyInput{KeySpec: "SM2", KeyUsage: "SIGN_VERIFY"}, "UnsupportedOperationException", "KeySpec SM2 is not supported in this Region"},
		{"rsa mac", CreateKeyInput{KeySpec: "RSA_2048", KeyUsage: "GENERATE_VERIFY_MAC"}, "ValidationException", "KeyUsage GENERATE_VERIFY_MAC is not compatible with KeySpec RSA_2048"},
		{"p256k1 agreement", CreateKeyInput{KeySpec: "ECC_SECG_P256K1", KeyUsage: "KEY_AGREEMENT"}, "ValidationException", "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_SECG_P256K1"},
		{"hmac encrypt", CreateKeyInput{CustomerMasterKeySpec: "HMAC_256", KeyUsage: "ENCRYPT_DECRYPT"}, "ValidationException", "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec HMAC_256"},
		{"hmac without usage", CreateKeyInput{KeySpec: "HMAC_256"}, "ValidationException", "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."},
		{"sign symmetric", CreateKeyInput{KeyUsage: "SIGN_VERIFY"}, "ValidationException", "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT"},
		{"both specs", CreateKeyInput{KeySpec: "SYMMETRIC_DEFAULT", CustomerMasterKeySpec: "SYMMETRIC_DEFAULT"}, "ValidationException", "*"},
		{"external ML-KEM", CreateKeyInput{KeySpec: "ML_KEM_768", KeyUsage: "ENCAPSULATE_DECAPSULATE", Origin: "EXTERNAL"}, "UnsupportedOperationException", "KeySpec ML_KEM_768 does not support origin EXTERNAL."},
		{"xks origin", CreateKeyInput{Origin: "EXTERNAL_KEY_STORE"}, "ValidationException", "CustomKeyStoreId is required when Origin is EXTERNAL_KEY_STORE."},
		{"cloudhsm origin", CreateKeyInput{Origin: "AWS_CLOUDHSM"}, "ValidationException", "CustomKeyStoreId is required when Origin is AWS_CLOUDHSM."},
		{"bad origin", CreateKeyInput{Origin: "MARS"}, "ValidationException", "*"},
		{"custom store", CreateKeyInput{CustomKeyStoreId: "cks-1"}, "CustomKeyStoreNotFoundException", "*"},
		{"long description", CreateKeyInput{Description: strings.Repeat("d", 8193)}, "ValidationException", "*"},
		{"dup tags", CreateKeyInput{Tags: []Tag{{TagKey: "a"}, {TagKey: "a"}}}, "TagException", "Duplicate tag keys"},
		{"aws tag", CreateKeyInput{Tags: []Tag{{TagKey: "AWS:x"}}}, "TagException", "Tags beginning with aws: are reserved"},
		{"empty policy", CreateKeyInput{Policy: ptr("")}, "ValidationException", "1 validation error detected: Value '' at 'policy' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"bad policy", CreateKeyInput{Policy: ptr("not json")}, "MalformedPolicyDocumentException", "*"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.CreateKey(bg, caller, &tc.in)
			wantErr(t, err, tc.code, tc.msg)
		})
	}
	lk, _ := e.s.ListKeys(bg, caller, &ListKeysInput{})
	if len(lk.Keys) != 1 {
		t.Errorf("after failed CreateKeys ListKeys = %d keys, want 1", len(lk.Keys))
	}
}
