package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// docBlob builds a CiphertextBlob as docs/ciphertext-format.md describes it
// (format 1), written independently of internal/ciphertext.
func docBlob(t *testing.T, material []byte, keyID string, version uint32, pt []byte, ec map[string]string) []byte {
	t.Helper()
	header := []byte{1, byte(len(keyID))}
	header = append(header, keyID...)
	header = binary.BigEndian.AppendUint32(header, version)
	nonce := randomBytes(t, 12)
	aead := gcm(t, material)
	out := append(append([]byte(nil), header...), nonce...)
	return aead.Seal(out, nonce, pt, append(append([]byte(nil), header...), docContext(ec)...))
}

// docOpen opens a format-1 blob with material.
func docOpen(t *testing.T, material, blob []byte, ec map[string]string) []byte {
	t.Helper()
	if len(blob) < 2 || blob[0] != 1 {
		t.Fatalf("blob does not start with format version 1: % x", blob[:min(len(blob), 8)])
	}
	l := int(blob[1])
	hdr := blob[:2+l+4]
	nonce := blob[2+l+4 : 2+l+4+12]
	pt, err := gcm(t, material).Open(nil, nonce, blob[2+l+4+12:], append(append([]byte(nil), hdr...), docContext(ec)...))
	if err != nil {
		t.Fatalf("documented format: open: %v", err)
	}
	return pt
}

func docContext(ec map[string]string) []byte {
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := binary.BigEndian.AppendUint16(nil, uint16(len(keys)))
	for _, k := range keys {
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(ec[k])))
		b = append(b, ec[k]...)
	}
	return b
}

func gcm(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	must(t, err)
	a, err := cipher.NewGCM(block)
	must(t, err)
	return a
}

// TestDocumentedCiphertextFormat checks docs/ciphertext-format.md against the
// server with a key whose material is known (seeded): a blob built from the
// document decrypts, and the server's blobs open by the document.
func TestDocumentedCiphertextFormat(t *testing.T) {
	t.Parallel()
	material := randomBytes(t, 32)
	secret := base64.RawURLEncoding.EncodeToString(randomBytes(t, 30))
	s := startDev(t, "--seed", seedFile(t, seedYAML(material, secret)))
	c := s.client(devRegion, seedAccessKey, secret)
	ec := map[string]string{"b": "2", "a": "1", "ab": ""}

	mine := docBlob(t, material, seedKeyID, 1, []byte("built from the document"), ec)
	decryptOK(t, c, mine, []byte("built from the document"), ec)

	enc, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(seedKeyID), Plaintext: []byte("made by the server"), EncryptionContext: ec})
	must(t, err)
	if got := docOpen(t, material, enc.CiphertextBlob, ec); !bytes.Equal(got, []byte("made by the server")) {
		t.Errorf("documented format opened to %q", got)
	}
	if want := 2 + len(seedKeyID) + 4 + 12 + len("made by the server") + 16; len(enc.CiphertextBlob) != want {
		t.Errorf("blob is %d bytes, the document says %d", len(enc.CiphertextBlob), want)
	}
}
