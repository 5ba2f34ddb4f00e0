package awsjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trent-kms/trent/internal/kms"
)

// fastInputs are new values of the inputs decodeFast knows.
func fastInputs() []func() any {
	return []func() any{
		func() any { return new(kms.EncryptInput) },
		func() any { return new(kms.DecryptInput) },
		func() any { return new(kms.GenerateDataKeyInput) },
		func() any { return new(kms.GenerateDataKeyWithoutPlaintextInput) },
	}
}

// sameAsFull fails t unless decodeFast of body either declines (leaving in
// zero) or yields what the full decoder yields. It reports whether
// decodeFast took the body.
func sameAsFull(t *testing.T, newIn func() any, body []byte) bool {
	t.Helper()
	fast := newIn()
	if !decodeFast(body, fast) {
		if !reflect.DeepEqual(fast, newIn()) {
			t.Fatalf("%T: decodeFast declined %q but left %+v", fast, body, fast)
		}
		return false
	}
	full := newIn()
	if err := decodeFull(body, full); err != nil {
		t.Fatalf("%T: decodeFast took %q, the full decoder refuses it: %v", fast, body, err)
	}
	if !reflect.DeepEqual(fast, full) {
		t.Fatalf("%T: %q: decodeFast yields %+v, the full decoder %+v", fast, body, fast, full)
	}
	return true
}

// TestDecodeFastTakesSDKBodies: the bodies the AWS SDKs send for the hot
// operations take the fast path, and yield what the full decoder yields.
func TestDecodeFastTakesSDKBodies(t *testing.T) {
	const arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, tc := range []struct {
		in   func() any
		body string
	}{
		{func() any { return new(kms.EncryptInput) }, `{"EncryptionContext":{"purpose":"test","tenant":"é"},"KeyId":"` + arn + `","Plaintext":"aGVsbG8="}`},
		{func() any { return new(kms.EncryptInput) }, `{"KeyId": "alias/app", "Plaintext": "", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "GrantTokens": ["t1", "t2"], "DryRun": false}`},
		{func() any { return new(kms.EncryptInput) }, "{\n  \"KeyId\" : \"k\",\n\t\"Plaintext\":\"aGk=\", \"EncryptionContext\": {}, \"GrantTokens\": [ ]\n}"},
		{func() any { return new(kms.DecryptInput) }, `{"CiphertextBlob":"AQIDBA==","EncryptionContext":{"a":"b"},"KeyId":"` + arn + `","DryRun":true}`},
		{func() any { return new(kms.GenerateDataKeyInput) }, `{"KeyId":"` + arn + `","KeySpec":"AES_256","EncryptionContext":{"a":"b"}}`},
		{func() any { return new(kms.GenerateDataKeyInput) }, `{"KeyId":"k","NumberOfBytes":64}`},
		{func() any { return new(kms.GenerateDataKeyInput) }, `{"KeyId":"k","NumberOfBytes":0}`},
		{func() any { return new(kms.GenerateDataKeyInput) }, `{"KeyId":"k","NumberOfBytes":2147483647}`},
		{func() any { return new(kms.GenerateDataKeyWithoutPlaintextInput) }, `{"KeyId":"k","KeySpec":"AES_128","GrantTokens":["g"]}`},
		{func() any { return new(kms.EncryptInput) }, `{}`},
	} {
		if !sameAsFull(t, tc.in, []byte(tc.body)) {
			t.Errorf("%T: decodeFast declined %s", tc.in(), tc.body)
		}
	}
}

// TestDecodeFastDeclines: what is outside the simple forms goes to the full
// decoder, which words the error or reads it its own way.
func TestDecodeFastDeclines(t *testing.T) {
	for _, body := range []string{
		`{"KeyId":"a\"b","Plaintext":"aGk="}`,                 // escape
		`{"KeyId":"k","Plaintext":"aGk=","Extra":1}`,          // unknown member
		`{"KeyId":"k","KeyId":"k"}`,                           // repeated member
		`{"KeyId":"k","EncryptionContext":{"a":"b","a":"c"}}`, // repeated context key
		`{"KeyId":null}`,
		`{"KeyId":"k","Plaintext":"aGk"}`,    // unpadded
		`{"KeyId":"k","Plaintext":"aG\nk="}`, // control character
		`{"KeyId":"k","Plaintext":"%%%%"}`,
		`{"KeyId":"k","NumberOfBytes":-1}`,
		`{"KeyId":"k","NumberOfBytes":01}`,
		`{"KeyId":"k","NumberOfBytes":1.0}`,
		`{"KeyId":"k","NumberOfBytes":1e2}`,
		`{"KeyId":"k","NumberOfBytes":2147483648}`,
		`{"KeyId":"k","NumberOfBytes":99999999999}`,
		`{"KeyId":"k","DryRun":truex}`,
		`{"KeyId":"k","GrantTokens":[1]}`,
		`{"KeyId":"k","EncryptionContext":{"a":1}}`,
		`{"KeyId":"k",}`,
		`{"KeyId":"k"} {}`,
		`{"KeyId":"k"`,
		`{"KeyId":"k","EncryptionContext":`,
		`{"KeyId":"k","GrantTokens":`,
		`{"KeyId":"k","GrantTokens":["a",]}`,
		`{"KeyId":"k","EncryptionContext":{,}}`,
		`{,"KeyId":"k"}`,
		`{"KeyId":"k","Recipient":{}}`,
	} {
		for _, newIn := range fastInputs() {
			if sameAsFull(t, newIn, []byte(body)) {
				t.Errorf("%T: decodeFast took %s", newIn(), body)
			}
		}
	}
}

// FuzzDecodeFast: whatever decodeFast takes, the full decoder takes too and
// reads the same (a difference would let a policy condition see one
// encryption context and the cryptography another).
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"a":"b"}}`, `{"KeyId":"k","NumberOfBytes":32,"GrantTokens":["a"]}`,
		`{"CiphertextBlob":"AQIDBA==","DryRun":true}`, `{"KeyId":"k","KeyId":"k"}`, `{"KeyId":"k","NumberOfBytes":01}`,
		"{\"KeyId\":\"\xff\"}", `{"EncryptionContext":{"a":"b","a":"c"}}`, `{"Plaintext":"aG\rk="}`,
		`{"KeyId":"alias/app","Plaintext":"AAECAw==","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","EncryptionContext":{"a":"1","b":"2"},"GrantTokens":["t1","t2"],"DryRun":false}`,
		`{"CiphertextBlob":"AQID","KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","EncryptionContext":{},"GrantTokens":[]}`,
		`{"KeyId":"k","KeySpec":"AES_128","NumberOfBytes":1024,"EncryptionContext":{"tenant":"é"},"DryRun":true}`,
		"{ \"KeyId\" : \"k\" ,\n\t\"NumberOfBytes\" : 0 , \"GrantTokens\" : [ \"a\" , \"b\" ] }",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// decodeInput's checks come first: decodeFast sees only trimmed,
		// valid UTF-8 starting with '{'.
		b := bytes.TrimSpace(body)
		if len(b) == 0 || !utf8.Valid(b) || b[0] != '{' {
			return
		}
		for _, newIn := range fastInputs() {
			sameAsFull(t, newIn, b)
		}
	})
}

// sameAsEncodingJSON fails t unless encodeFast of out writes what
// encoding/json (as encodeOutput sets it up) writes, or declines and
// writes nothing. It reports whether encodeFast took out.
func sameAsEncodingJSON(t *testing.T, out any) bool {
	t.Helper()
	var fast bytes.Buffer
	fast.WriteString("x") // encodeFast appends
	took := encodeFast(&fast, out)
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	if !took {
		if fast.String() != "x" {
			t.Fatalf("encodeFast declined %+v but wrote %q", out, fast.String()[1:])
		}
		return false
	}
	if got := fast.String()[1:]; got != strings.TrimSuffix(want.String(), "\n") {
		t.Fatalf("encodeFast(%+v) = %s, encoding/json %s", out, got, want.String())
	}
	return true
}

func fastOutputs(blob []byte, s string) []any {
	return []any{
		&kms.EncryptOutput{CiphertextBlob: blob, EncryptionAlgorithm: s, KeyId: s},
		&kms.DecryptOutput{EncryptionAlgorithm: "SYMMETRIC_DEFAULT", KeyId: s, KeyMaterialId: s, Plaintext: blob},
		&kms.GenerateDataKeyOutput{CiphertextBlob: blob, KeyId: s, KeyMaterialId: s, Plaintext: blob},
		&kms.GenerateDataKeyWithoutPlaintextOutput{CiphertextBlob: blob, KeyId: s, KeyMaterialId: s},
	}
}

// TestEncodeFast: the hot outputs as the service makes them take the fast
// path and read as encoding/json writes them; strings it would escape go to
// encoding/json.
func TestEncodeFast(t *testing.T) {
	const arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, blob := range [][]byte{nil, {}, []byte("hello"), bytes.Repeat([]byte{0xff}, 4096)} {
		for _, s := range []string{arn, "", "SYMMETRIC_DEFAULT", "<&>"} {
			for _, out := range fastOutputs(blob, s) {
				if !sameAsEncodingJSON(t, out) {
					t.Errorf("encodeFast declined %+v", out)
				}
			}
		}
	}
	for _, s := range []string{"a\"b", `a\b`, "a\nb", "é", "\u2028", "\xff"} {
		for _, out := range fastOutputs([]byte("x"), s) {
			if sameAsEncodingJSON(t, out) {
				t.Errorf("encodeFast took %+v", out)
			}
		}
	}
	if sameAsEncodingJSON(t, &kms.DescribeKeyOutput{}) {
		t.Error("encodeFast took an output it does not know")
	}
}

// FuzzEncodeFast: what encodeFast writes is what encoding/json writes.
func FuzzEncodeFast(f *testing.F) {
	f.Add([]byte("hello"), "arn:aws:kms:us-east-1:111122223333:key/k", false)
	f.Add([]byte{}, "a\"b\u2028", true)
	f.Fuzz(func(t *testing.T, blob []byte, s string, nilBlob bool) {
		if nilBlob {
			blob = nil
		}
		for _, out := range fastOutputs(blob, s) {
			sameAsEncodingJSON(t, out)
		}
	})
}
