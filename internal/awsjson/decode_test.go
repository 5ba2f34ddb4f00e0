package awsjson

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// TestStrictDecoding sends each decoding case AWS refuses (or reads in its
// own way) through the whole pipeline: a parser differential here would be a
// policy bypass (kms:EncryptionContext:* conditions, grant constraints).
func TestStrictDecoding(t *testing.T) {
	f := newFixture(t, nil)
	var ck struct{ KeyMetadata struct{ KeyId string } }
	f.call(t, "CreateKey", map[string]any{}, &ck)
	key := ck.KeyMetadata.KeyId
	pt := base64.StdEncoding.EncodeToString([]byte("hello"))
	for _, tc := range []struct {
		name, op, body string
		code, message  string // code "" means success
	}{
		{"invalid UTF-8 in a value", "Encrypt", `{"KeyId":"` + key + `","Plaintext":"` + pt + `","EncryptionContext":{"a":"` + "\xff" + `"}}`,
			"SerializationException", "The request body is not valid UTF-8."},
		{"invalid UTF-8 in a name", "Encrypt", `{"KeyId":"` + key + `","Plaintext":"` + pt + `","EncryptionContext":{"` + "\xfe" + `":"a"}}`,
			"SerializationException", "The request body is not valid UTF-8."},
		{"lone surrogate escape", "Encrypt", `{"KeyId":"` + key + `","Plaintext":"` + pt + `","EncryptionContext":{"a":"\ud800"}}`,
			"SerializationException", "Malformed JSON"},
		{"duplicated member", "Encrypt", `{"KeyId":"alias/x","KeyId":"` + key + `","Plaintext":"` + pt + `"}`,
			"SerializationException", "The request repeats a JSON member name in one object."},
		{"duplicated encryption context key", "Encrypt", `{"KeyId":"` + key + `","Plaintext":"` + pt + `","EncryptionContext":{"tenant":"a","tenant":"b"}}`,
			"SerializationException", "The request repeats a JSON member name in one object."},
		{"wrongly cased required member", "Encrypt", `{"keyid":"` + key + `","Plaintext":"` + pt + `"}`,
			"ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"},
		{"wrongly cased optional member is unknown", "Encrypt", `{"KeyId":"` + key + `","Plaintext":"` + pt + `","encryptioncontext":{"a":"b"}}`,
			"", ""},
		{"unknown member ignored", "Encrypt", `{"KeyId":"` + key + `","Plaintext":"` + pt + `","Extra":1}`, "", ""},
		{"wrong type", "Encrypt", `{"KeyId":7,"Plaintext":"` + pt + `"}`,
			"SerializationException", "Value at 'KeyId' has the wrong type: expected string, got JSON number."},
		{"fraction for an integer", "GenerateRandom", `{"NumberOfBytes":1.5}`,
			"SerializationException", "Value at 'NumberOfBytes' has the wrong type: expected integer, got JSON number."},
		{"integer out of range", "GenerateRandom", `{"NumberOfBytes":2147483648}`,
			"SerializationException", "Value at 'NumberOfBytes' has the wrong type: expected integer, got JSON number."},
		{"bad base64", "Encrypt", `{"KeyId":"` + key + `","Plaintext":"%%%"}`, "SerializationException", "base64"},
		{"trailing data", "Encrypt", `{"KeyId":"` + key + `","Plaintext":"` + pt + `"} {}`, "SerializationException", "Malformed JSON"},
		{"not an object", "Encrypt", `["KeyId"]`, "SerializationException", "The request body must be a JSON object."},
		{"alias as alias target", "CreateAlias", `{"AliasName":"alias/a","TargetKeyId":"alias/b"}`,
			"ValidationException", "Aliases must refer to keys. Not aliases"},
		{"oversized policy", "PutKeyPolicy", `{"KeyId":"` + key + `","Policy":"` + strings.Repeat("\\u00e9", 131073) + `"}`,
			"ValidationException", "at 'policy' failed to satisfy constraint: Member must have length less than or equal to 131072"},
		{"policy past the body limit", "PutKeyPolicy", `{"KeyId":"` + key + `","Policy":"` + strings.Repeat("a", 1<<20) + `"}`,
			"ValidationException", "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 131072"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(signed(t, tc.op, adminKeyID, adminSecret, []byte(tc.body)))
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			json.Unmarshal(w.Body.Bytes(), &e)
			if tc.code == "" {
				if w.Code != 200 {
					t.Fatalf("%s = %d %s, want success", tc.op, w.Code, w.Body)
				}
				return
			}
			if e.Type != tc.code || !strings.Contains(e.Message, tc.message) {
				t.Errorf("%s = %d %s: %q, want %s containing %q", tc.op, w.Code, e.Type, e.Message, tc.code, tc.message)
			}
		})
	}
}

// FuzzDecodeInput: the strict decoder never panics, and what it accepts has
// no invalid UTF-8 in any string it yields.
func FuzzDecodeInput(f *testing.F) {
	for _, s := range []string{`{}`, `{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"a":"b"}}`, `{"a":1,"a":2}`,
		"{\"KeyId\":\"\xff\"}", `{"EncryptionContext":{"a":"\ud800"}}`, `{"Tags":[{"TagKey":"a","TagValue":"b"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, o := range operations {
			in, err := o.decode(b)
			if err != nil {
				continue
			}
			out, _ := json.Marshal(in)
			if !strings.Contains(string(out), "\ufffd") || strings.Contains(string(b), "\ufffd") || strings.Contains(string(b), `\ufffd`) || strings.Contains(string(b), `\uFFFD`) {
				continue
			}
			t.Errorf("%s decoded %q into %s: a replacement character appeared", o.Name, b, out)
		}
	})
}
