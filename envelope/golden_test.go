package envelope_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/trent-kms/trent/envelope"
)

// The golden messages were made by the official AWS Encryption SDK for
// JavaScript (interop/golden.js); testdata/golden/README.md says what they
// cover. These tests read them with envelope's raw AES keyring, so a change
// that breaks compatibility with the official SDKs fails here.

const goldenDir = "testdata/golden"

type goldenKey struct {
	KeyNamespace string `json:"keyNamespace"`
	KeyName      string `json:"keyName"`
	Hex          string `json:"hex"`
}

type goldenMessage struct {
	File                       string            `json:"file"`
	MessageVersion             int               `json:"messageVersion"`
	Suite                      string            `json:"suite"`
	SuiteName                  string            `json:"suiteName"`
	Committing                 bool              `json:"committing"`
	Signed                     bool              `json:"signed"`
	FrameLength                int               `json:"frameLength"`
	PlaintextLength            int               `json:"plaintextLength"`
	PlaintextSHA256            string            `json:"plaintextSHA256"`
	EncryptionContext          map[string]string `json:"encryptionContext"`
	Keys                       []string          `json:"keys"`
	RequiresAllowNonCommitting bool              `json:"requiresAllowNonCommitting"`
	CiphertextLength           int               `json:"ciphertextLength"`
	CiphertextSHA256           string            `json:"ciphertextSHA256"`
}

type goldenManifest struct {
	Keyring struct {
		Keys []goldenKey `json:"keys"`
	} `json:"keyring"`
	Messages []goldenMessage `json:"messages"`
}

// loadGolden reads the manifest and the keyrings of its keys, by key name.
func loadGolden(t *testing.T) (*goldenManifest, map[string]*envelope.RawAESKeyring) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m goldenManifest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(m.Messages) == 0 || len(m.Keyring.Keys) == 0 {
		t.Fatal("manifest.json lists no messages or no keys")
	}
	keyrings := make(map[string]*envelope.RawAESKeyring)
	for _, k := range m.Keyring.Keys {
		key, err := hex.DecodeString(k.Hex)
		if err != nil || len(key) != 32 {
			t.Fatalf("manifest key %s: want 32 hex bytes (%v)", k.KeyName, err)
		}
		kr, err := envelope.NewRawAESKeyring(k.KeyNamespace, k.KeyName, key)
		if err != nil {
			t.Fatalf("NewRawAESKeyring(%s): %v", k.KeyName, err)
		}
		keyrings[k.KeyName] = kr
	}
	return &m, keyrings
}

func readGolden(t *testing.T, gm goldenMessage) []byte {
	t.Helper()
	msg, err := os.ReadFile(filepath.Join(goldenDir, gm.File))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(msg)
	if len(msg) != gm.CiphertextLength || hex.EncodeToString(sum[:]) != gm.CiphertextSHA256 {
		t.Fatalf("%s: file does not match its manifest entry (length %d, sha256 %x)", gm.File, len(msg), sum)
	}
	return msg
}

// policyFor is the commitment policy under which gm must decrypt.
func policyFor(gm goldenMessage) envelope.CommitmentPolicy {
	if gm.RequiresAllowNonCommitting {
		return envelope.RequireEncryptAllowDecrypt
	}
	return envelope.RequireEncryptRequireDecrypt
}

// openWith decrypts msg completely, reading it through wrap (to vary how
// the source returns data).
func openWith(kr envelope.Keyring, msg []byte, opts *envelope.DecryptOptions, wrap func(io.Reader) io.Reader) ([]byte, *envelope.Reader, error) {
	r, err := envelope.Decrypt(context.Background(), wrap(bytes.NewReader(msg)), kr, opts)
	if err != nil {
		return nil, nil, err
	}
	pt, err := io.ReadAll(r)
	return pt, r, err
}

func identity(r io.Reader) io.Reader { return r }

func TestGoldenMessagesDecrypt(t *testing.T) {
	m, keyrings := loadGolden(t)
	var v1, v2 int
	for _, gm := range m.Messages {
		t.Run(gm.File, func(t *testing.T) {
			msg := readGolden(t, gm)
			// Open with the last key only: for messages with two encrypted
			// data keys, that is the second one in the header.
			kr := keyrings[gm.Keys[len(gm.Keys)-1]]
			if kr == nil {
				t.Fatalf("unknown key %v", gm.Keys)
			}
			for name, wrap := range map[string]func(io.Reader) io.Reader{
				"whole":    identity,
				"one-byte": iotest.OneByteReader,
				"half":     iotest.HalfReader,
			} {
				pt, r, err := openWith(kr, msg, &envelope.DecryptOptions{
					CommitmentPolicy:  policyFor(gm),
					EncryptionContext: gm.EncryptionContext, // required pairs
				}, wrap)
				if err != nil {
					t.Fatalf("%s: decrypt: %v", name, err)
				}
				sum := sha256.Sum256(pt)
				if len(pt) != gm.PlaintextLength || hex.EncodeToString(sum[:]) != gm.PlaintextSHA256 {
					t.Fatalf("%s: plaintext of %d bytes, sha256 %x; want %d bytes, %s", name, len(pt), sum, gm.PlaintextLength, gm.PlaintextSHA256)
				}
				checkGoldenHeader(t, gm, r.Header(), r.EncryptionContext())
			}
			if gm.MessageVersion == 1 {
				v1++
			} else {
				v2++
			}
		})
	}
	if v1 == 0 || v2 == 0 {
		t.Errorf("manifest has %d version 1 and %d version 2 messages; want both", v1, v2)
	}
}

func checkGoldenHeader(t *testing.T, gm goldenMessage, hd *envelope.Header, ec map[string]string) {
	t.Helper()
	if int(hd.Version) != gm.MessageVersion {
		t.Errorf("version %d, want %d", hd.Version, gm.MessageVersion)
	}
	if got := "0x" + hex.EncodeToString([]byte{byte(hd.Suite >> 8), byte(hd.Suite)}); got != gm.Suite {
		t.Errorf("suite %s, want %s", got, gm.Suite)
	}
	if hd.Suite.String() != gm.SuiteName {
		t.Errorf("suite name %q, want %q", hd.Suite, gm.SuiteName)
	}
	if hd.Suite.Committing() != gm.Committing || hd.Suite.Signed() != gm.Signed {
		t.Errorf("suite %v: committing %v signed %v, want %v %v", hd.Suite, hd.Suite.Committing(), hd.Suite.Signed(), gm.Committing, gm.Signed)
	}
	if !hd.Framed || int(hd.FrameLength) != gm.FrameLength {
		t.Errorf("framed %v, frame length %d; want framed, %d", hd.Framed, hd.FrameLength, gm.FrameLength)
	}
	if len(hd.EncryptedDataKeys) != len(gm.Keys) {
		t.Errorf("%d encrypted data keys, want %d", len(hd.EncryptedDataKeys), len(gm.Keys))
	}
	// The context is exactly what the SDK was given, plus the reserved
	// public key of signed suites.
	want := maps.Clone(gm.EncryptionContext)
	if gm.Signed {
		pub, ok := ec["aws-crypto-public-key"]
		if !ok || pub == "" {
			t.Errorf("signed message without aws-crypto-public-key: %v", ec)
		}
		want["aws-crypto-public-key"] = pub
	}
	if !maps.Equal(ec, want) {
		t.Errorf("encryption context %q, want %q", ec, want)
	}
}

func TestGoldenParseHeader(t *testing.T) {
	m, _ := loadGolden(t)
	for _, gm := range m.Messages {
		msg := readGolden(t, gm)
		hd, err := envelope.ParseHeader(bytes.NewReader(msg), 0)
		if err != nil {
			t.Errorf("%s: ParseHeader: %v", gm.File, err)
			continue
		}
		ec := maps.Clone(hd.EncryptionContext)
		t.Run(gm.File, func(t *testing.T) { checkGoldenHeader(t, gm, hd, ec) })
		if _, err := envelope.ParseHeader(bytes.NewReader(msg), len(gm.Keys)-1); len(gm.Keys) > 1 && !errors.Is(err, envelope.ErrTooManyEncryptedDataKeys) {
			t.Errorf("%s: ParseHeader with max %d keys: %v, want ErrTooManyEncryptedDataKeys", gm.File, len(gm.Keys)-1, err)
		}
	}
}

// Version 1 (non-committing) messages are refused unless the caller allows
// them, before any key is unwrapped.
func TestGoldenNonCommittingNeedsOptIn(t *testing.T) {
	m, keyrings := loadGolden(t)
	n := 0
	for _, gm := range m.Messages {
		if !gm.RequiresAllowNonCommitting {
			continue
		}
		n++
		msg := readGolden(t, gm)
		kr := keyrings[gm.Keys[0]]
		for _, opts := range []*envelope.DecryptOptions{nil, {}, {CommitmentPolicy: envelope.RequireEncryptRequireDecrypt}} {
			r, err := envelope.Decrypt(context.Background(), bytes.NewReader(msg), kr, opts)
			if !errors.Is(err, envelope.ErrCommitmentPolicy) || r != nil {
				t.Errorf("%s with %+v: got reader %v, err %v; want ErrCommitmentPolicy", gm.File, opts, r != nil, err)
			}
		}
		if _, _, err := openWith(kr, msg, &envelope.DecryptOptions{CommitmentPolicy: envelope.RequireEncryptAllowDecrypt}, identity); err != nil {
			t.Errorf("%s with RequireEncryptAllowDecrypt: %v", gm.File, err)
		}
	}
	if n == 0 {
		t.Fatal("manifest has no non-committing message")
	}
}

func goldenByFile(t *testing.T, m *goldenManifest, file string) goldenMessage {
	t.Helper()
	for _, gm := range m.Messages {
		if gm.File == file {
			return gm
		}
	}
	t.Fatalf("manifest lacks %s", file)
	return goldenMessage{}
}

func TestGoldenWrongKeyOrContext(t *testing.T) {
	m, keyrings := loadGolden(t)
	for _, file := range []string{"v2-0478-f128-n129.bin", "v2-0578-f128-n129.bin"} {
		gm := goldenByFile(t, m, file)
		msg := readGolden(t, gm)
		right := m.Keyring.Keys[0]
		key, _ := hex.DecodeString(right.Hex)

		// Another key, the right key under another name or namespace.
		others := []envelope.Keyring{keyrings["golden-key-2"]}
		for _, nn := range [][2]string{{right.KeyNamespace, "golden-key-x"}, {"trent-other", right.KeyName}} {
			kr, err := envelope.NewRawAESKeyring(nn[0], nn[1], key)
			if err != nil {
				t.Fatal(err)
			}
			others = append(others, kr)
		}
		for i, kr := range others {
			if _, _, err := openWith(kr, msg, nil, identity); !errors.Is(err, envelope.ErrNoDecryptableKey) {
				t.Errorf("%s, wrong keyring %d: %v, want ErrNoDecryptableKey", file, i, err)
			}
		}

		// Required context pairs that the message lacks.
		for _, want := range []map[string]string{
			{"purpose": "other"},
			{"missing": "x"},
		} {
			if _, _, err := openWith(keyrings[right.KeyName], msg, &envelope.DecryptOptions{EncryptionContext: want}, identity); !errors.Is(err, envelope.ErrContextMismatch) {
				t.Errorf("%s, required context %v: %v, want ErrContextMismatch", file, want, err)
			}
		}

		// A multi-keyring whose first keyring fails still opens it.
		multi := envelope.NewMultiKeyring(nil, keyrings["golden-key-2"], keyrings[right.KeyName])
		if _, _, err := openWith(multi, msg, nil, identity); err != nil {
			t.Errorf("%s, multi-keyring: %v", file, err)
		}
	}
}

// Every single-bit change, every truncation and any trailing data make
// decryption fail: nothing is returned as a complete plaintext.
func TestGoldenTampered(t *testing.T) {
	m, keyrings := loadGolden(t)
	files := []string{"v2-0478-f128-n129.bin", "v2-0578-f128-n129.bin", "v1-0378-f128-n1000.bin"}
	if testing.Short() {
		files = files[:1]
	}
	for _, file := range files {
		gm := goldenByFile(t, m, file)
		msg := readGolden(t, gm)
		kr := keyrings[gm.Keys[0]]
		opts := &envelope.DecryptOptions{CommitmentPolicy: policyFor(gm)}
		if _, _, err := openWith(kr, msg, opts, identity); err != nil {
			t.Fatalf("%s: untouched message: %v", file, err)
		}
		bad := bytes.Clone(msg)
		for i := range bad {
			for _, bit := range []byte{0x01, 0x80} {
				bad[i] ^= bit
				if _, _, err := openWith(kr, bad, opts, identity); err == nil {
					t.Errorf("%s: flipping bit %#02x of byte %d/%d went unnoticed", file, bit, i, len(bad))
				}
				bad[i] ^= bit
			}
		}
		for n := 0; n < len(msg); n++ {
			if _, _, err := openWith(kr, msg[:n], opts, identity); err == nil {
				t.Errorf("%s: truncated to %d of %d bytes went unnoticed", file, n, len(msg))
			}
		}
		for _, extra := range [][]byte{{0}, []byte("trailing")} {
			if _, _, err := openWith(kr, append(bytes.Clone(msg), extra...), opts, identity); !errors.Is(err, envelope.ErrInvalidMessage) {
				t.Errorf("%s: %d trailing bytes: %v, want ErrInvalidMessage", file, len(extra), err)
			}
		}
	}
}
