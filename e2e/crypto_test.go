package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestEncryptDecrypt(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	k1 := aws.ToString(newKey(t, c, "crypto one").KeyId)
	k2 := aws.ToString(newKey(t, c, "crypto two").KeyId)
	arn1 := keyARN(devRegion, devAccount, k1)

	// Without encryption context; Decrypt needs no KeyId.
	pt := []byte("attack at dawn")
	enc, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(k1), Plaintext: pt})
	must(t, err)
	if aws.ToString(enc.KeyId) != arn1 || enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Errorf("Encrypt KeyId %q algorithm %q", aws.ToString(enc.KeyId), enc.EncryptionAlgorithm)
	}
	if bytes.Contains(enc.CiphertextBlob, pt) {
		t.Error("ciphertext contains the plaintext")
	}
	dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	must(t, err)
	if !bytes.Equal(dec.Plaintext, pt) || aws.ToString(dec.KeyId) != arn1 || dec.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Errorf("Decrypt = %q %q %q", dec.Plaintext, aws.ToString(dec.KeyId), dec.EncryptionAlgorithm)
	}
	// The explicit default algorithm works both ways.
	explicit, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(k1), Plaintext: pt, EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault})
	must(t, err)
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: explicit.CiphertextBlob, EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault})
	must(t, err)
	// Two encryptions of the same plaintext differ.
	enc2, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(k1), Plaintext: pt})
	must(t, err)
	if bytes.Equal(enc.CiphertextBlob, enc2.CiphertextBlob) {
		t.Error("two Encrypts gave the same ciphertext")
	}
	// A context is not optional at decrypt time when none was used... and vice versa.
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"a": "b"}})
	wantType[*types.InvalidCiphertextException](t, err)

	// With encryption context.
	ec := map[string]string{"purpose": "e2e", "tenant": "t-1", "unicode": "grüße ✓"}
	blob := roundTrip(t, c, k1, pt, ec)
	for name, bad := range map[string]map[string]string{
		"missing":     nil,
		"wrong value": {"purpose": "e2e", "tenant": "t-2", "unicode": "grüße ✓"},
		"extra pair":  {"purpose": "e2e", "tenant": "t-1", "unicode": "grüße ✓", "x": "y"},
		"fewer pairs": {"purpose": "e2e", "tenant": "t-1"},
		"key case":    {"Purpose": "e2e", "tenant": "t-1", "unicode": "grüße ✓"},
	} {
		_, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: bad})
		if err == nil {
			t.Errorf("Decrypt with %s context succeeded", name)
			continue
		}
		wantType[*types.InvalidCiphertextException](t, err)
	}

	// KeyId at decrypt: the right key in any form works, another key is IncorrectKeyException.
	must(t, func() error {
		_, err := c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/crypto-one"), TargetKeyId: aws.String(k1)})
		return err
	}())
	for _, ref := range []string{k1, arn1, "alias/crypto-one", aliasARN(devRegion, devAccount, "alias/crypto-one")} {
		dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, KeyId: aws.String(ref)})
		if err != nil {
			t.Errorf("Decrypt with KeyId %s: %v", ref, err)
		} else if !bytes.Equal(dec.Plaintext, pt) {
			t.Errorf("Decrypt with KeyId %s: wrong plaintext", ref)
		}
	}
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, KeyId: aws.String(k2)})
	wantType[*types.IncorrectKeyException](t, err)

	// Tampered, truncated and foreign ciphertext.
	for _, i := range []int{0, 1, len(blob) / 2, len(blob) - 1} {
		bad := bytes.Clone(blob)
		bad[i] ^= 0x01
		_, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: bad, EncryptionContext: ec})
		if err == nil {
			t.Errorf("Decrypt of a blob with byte %d flipped succeeded", i)
			continue
		}
		// Flipping the key id may name no key at all; the body flips must be InvalidCiphertext.
		if i >= len(blob)/2 {
			wantType[*types.InvalidCiphertextException](t, err)
		}
	}
	for name, bad := range map[string][]byte{
		"truncated": blob[:len(blob)-1],
		"header":    blob[:10],
		"garbage":   []byte("this is not a ciphertext blob at all"),
	} {
		_, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: bad, EncryptionContext: ec})
		if err == nil {
			t.Errorf("Decrypt of %s blob succeeded", name)
			continue
		}
		wantType[*types.InvalidCiphertextException](t, err)
	}

	// Size limits: plaintext 1..4096, ciphertext 1..6144.
	roundTrip(t, c, k1, bytes.Repeat([]byte{7}, 4096), nil)
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(k1), Plaintext: make([]byte, 4097)})
	wantCode(t, err, "ValidationException")
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(k1), Plaintext: []byte{}})
	wantCode(t, err, "ValidationException")
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: make([]byte, 6145)})
	wantCode(t, err, "ValidationException")

	// DryRun: the request would have succeeded.
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(k1), Plaintext: pt, DryRun: aws.Bool(true)})
	wantType[*types.DryRunOperationException](t, err)
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, DryRun: aws.Bool(true)})
	wantType[*types.DryRunOperationException](t, err)
	// ... but a failing request fails for its own reason.
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob, DryRun: aws.Bool(true)})
	wantType[*types.InvalidCiphertextException](t, err)
}

func TestReEncrypt(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	k1 := aws.ToString(newKey(t, c, "re one").KeyId)
	k2 := aws.ToString(newKey(t, c, "re two").KeyId)
	pt := []byte("re-encrypt me")
	ec1 := map[string]string{"stage": "one"}
	ec2 := map[string]string{"stage": "two"}
	blob := roundTrip(t, c, k1, pt, ec1)

	out, err := c.ReEncrypt(ctx(t), &kms.ReEncryptInput{
		CiphertextBlob: blob, SourceEncryptionContext: ec1,
		DestinationKeyId: aws.String(k2), DestinationEncryptionContext: ec2,
	})
	must(t, err)
	if aws.ToString(out.SourceKeyId) != keyARN(devRegion, devAccount, k1) || aws.ToString(out.KeyId) != keyARN(devRegion, devAccount, k2) {
		t.Errorf("ReEncrypt SourceKeyId %q KeyId %q", aws.ToString(out.SourceKeyId), aws.ToString(out.KeyId))
	}
	if out.SourceEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault || out.DestinationEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Errorf("ReEncrypt algorithms %q %q", out.SourceEncryptionAlgorithm, out.DestinationEncryptionAlgorithm)
	}
	decryptOK(t, c, out.CiphertextBlob, pt, ec2)
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec1})
	wantType[*types.InvalidCiphertextException](t, err)
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec2, KeyId: aws.String(k1)})
	wantType[*types.IncorrectKeyException](t, err)

	// Same key, new context (no DestinationEncryptionContext = none).
	same, err := c.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ec1, DestinationKeyId: aws.String(k1)})
	must(t, err)
	decryptOK(t, c, same.CiphertextBlob, pt, nil)

	// Wrong source context, wrong SourceKeyId, DryRun.
	_, err = c.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ec2, DestinationKeyId: aws.String(k2)})
	wantType[*types.InvalidCiphertextException](t, err)
	_, err = c.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ec1, SourceKeyId: aws.String(k2), DestinationKeyId: aws.String(k2)})
	wantType[*types.IncorrectKeyException](t, err)
	_, err = c.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ec1, DestinationKeyId: aws.String(k2), DryRun: aws.Bool(true)})
	wantType[*types.DryRunOperationException](t, err)
	_, err = c.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ec1, DestinationKeyId: aws.String("alias/none")})
	wantType[*types.NotFoundException](t, err)
	// Disabled destination.
	_, err = c.DisableKey(ctx(t), &kms.DisableKeyInput{KeyId: aws.String(k2)})
	must(t, err)
	_, err = c.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ec1, DestinationKeyId: aws.String(k2)})
	wantType[*types.DisabledException](t, err)
}

func TestGenerateDataKey(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	id := aws.ToString(newKey(t, c, "data keys").KeyId)
	arn := keyARN(devRegion, devAccount, id)
	ec := map[string]string{"file": "report.pdf"}

	for _, tc := range []struct {
		name string
		in   kms.GenerateDataKeyInput
		n    int
	}{
		{"AES_256", kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes256}, 32},
		{"AES_128", kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes128}, 16},
		{"NumberOfBytes 1", kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(1)}, 1},
		{"NumberOfBytes 64", kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(64)}, 64},
		{"NumberOfBytes 1024", kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(1024)}, 1024},
	} {
		in := tc.in
		in.KeyId = aws.String(id)
		in.EncryptionContext = ec
		out, err := c.GenerateDataKey(ctx(t), &in)
		if err != nil {
			t.Errorf("GenerateDataKey %s: %v", tc.name, err)
			continue
		}
		if len(out.Plaintext) != tc.n || aws.ToString(out.KeyId) != arn {
			t.Errorf("GenerateDataKey %s: %d bytes, KeyId %q", tc.name, len(out.Plaintext), aws.ToString(out.KeyId))
		}
		if tc.n >= 16 && bytes.Equal(out.Plaintext, make([]byte, tc.n)) {
			t.Errorf("GenerateDataKey %s: all-zero key", tc.name)
		}
		decryptOK(t, c, out.CiphertextBlob, out.Plaintext, ec)
		_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
		wantType[*types.InvalidCiphertextException](t, err)
	}
	a, err := c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
	must(t, err)
	b, err := c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
	must(t, err)
	if bytes.Equal(a.Plaintext, b.Plaintext) {
		t.Error("two data keys are equal")
	}

	// Exactly one of KeySpec and NumberOfBytes.
	_, err = c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256, NumberOfBytes: aws.Int32(32)})
	wantCode(t, err, "ValidationException")
	_, err = c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(id)})
	wantCode(t, err, "ValidationException")
	for _, n := range []int32{0, 1025} {
		_, err = c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(id), NumberOfBytes: aws.Int32(n)})
		wantCode(t, err, "ValidationException")
	}
	_, err = c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: "AES_512"})
	wantCode(t, err, "ValidationException")
	_, err = c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256, DryRun: aws.Bool(true)})
	wantType[*types.DryRunOperationException](t, err)
	_, err = c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String("alias/missing"), KeySpec: types.DataKeySpecAes256})
	wantType[*types.NotFoundException](t, err)

	// Without plaintext.
	wp, err := c.GenerateDataKeyWithoutPlaintext(ctx(t), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes128, EncryptionContext: ec})
	must(t, err)
	if aws.ToString(wp.KeyId) != arn {
		t.Errorf("GenerateDataKeyWithoutPlaintext KeyId %q", aws.ToString(wp.KeyId))
	}
	dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: wp.CiphertextBlob, EncryptionContext: ec})
	must(t, err)
	if len(dec.Plaintext) != 16 {
		t.Errorf("GenerateDataKeyWithoutPlaintext blob decrypts to %d bytes, want 16", len(dec.Plaintext))
	}
	_, err = c.GenerateDataKeyWithoutPlaintext(ctx(t), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(id)})
	wantCode(t, err, "ValidationException")
	_, err = c.GenerateDataKeyWithoutPlaintext(ctx(t), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(id), NumberOfBytes: aws.Int32(32), DryRun: aws.Bool(true)})
	wantType[*types.DryRunOperationException](t, err)
}

func TestGenerateRandom(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	seen := map[string]bool{}
	for _, n := range []int32{1, 32, 32, 1024} {
		out, err := c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(n)})
		must(t, err)
		if len(out.Plaintext) != int(n) {
			t.Errorf("GenerateRandom(%d): %d bytes", n, len(out.Plaintext))
		}
		if n >= 32 {
			if seen[string(out.Plaintext)] {
				t.Errorf("GenerateRandom(%d) repeated itself", n)
			}
			seen[string(out.Plaintext)] = true
		}
	}
	for _, n := range []int32{0, 1025} {
		_, err := c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(n)})
		wantCode(t, err, "ValidationException")
	}
	_, err := c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{})
	wantCode(t, err, "ValidationException")
}

// TestEncryptionContextNumbers: AWS's encryption context rules: "The key and
// value in an encryption context pair must be simple literal strings. If you
// use a different type, such as an integer or float, AWS KMS interprets it as
// a string." A number is its JSON text; an object is still refused.
func TestEncryptionContextNumbers(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	id := aws.ToString(newKey(t, c, "numeric context").KeyId)
	r := signedCall(t, s, "TrentService.Encrypt", `{"KeyId":"`+id+`","Plaintext":"aGk=","EncryptionContext":{"n":42,"f":1.50,"s":"x"}}`, time.Now())
	if r.Status != http.StatusOK {
		t.Fatalf("Encrypt with numbers in the context: %d %s", r.Status, r.Body)
	}
	var out struct{ CiphertextBlob []byte }
	must(t, json.Unmarshal(r.Body, &out))
	decryptOK(t, c, out.CiphertextBlob, []byte("hi"), map[string]string{"n": "42", "f": "1.50", "s": "x"})

	r = signedCall(t, s, "TrentService.Encrypt", `{"KeyId":"`+id+`","Plaintext":"aGk=","EncryptionContext":{"o":{"a":"b"}}}`, time.Now())
	if r.Status != http.StatusBadRequest || r.Type != "SerializationException" {
		t.Errorf("Encrypt with an object in the context: %d %s, want 400 SerializationException", r.Status, r.Body)
	}
}
