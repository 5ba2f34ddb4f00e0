package envelope

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInteropJS round-trips messages with the official AWS Encryption SDK
// for JavaScript. It runs when TRENT_TEST_ESDK_JS names a directory where
// `npm install @aws-crypto/client-node` was run; testdata/esdk.js is copied
// there.
func TestInteropJS(t *testing.T) {
	dir := os.Getenv("TRENT_TEST_ESDK_JS")
	if dir == "" {
		t.Skip("TRENT_TEST_ESDK_JS not set")
	}
	script, err := os.ReadFile("testdata/esdk.js")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "esdk.js"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	keyHex := hex.EncodeToString(key)
	kr, err := NewRawAESKeyring("trent-test", "k1", key)
	if err != nil {
		t.Fatal(err)
	}
	node := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("node", append([]string{filepath.Join(dir, "esdk.js")}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	tmp := t.TempDir()
	ec := map[string]string{"purpose": "interop", "tenant": "ü-42"}
	ecJSON, _ := json.Marshal(ec)
	for _, s := range bothSuites {
		for _, size := range []int{0, 1, 4095, 4096, 4097, 10000} {
			for _, fs := range []int{4096, 1000} {
				pt := make([]byte, size)
				for i := range pt {
					pt[i] = byte(i % 251)
				}
				// Go encrypts, JS decrypts.
				msg := mustEncrypt(t, kr, pt, &EncryptOptions{Suite: s, FrameSize: fs, EncryptionContext: ec})
				in, out := filepath.Join(tmp, "go.msg"), filepath.Join(tmp, "go.pt")
				os.WriteFile(in, msg, 0o644)
				gotEC := node("dec", keyHex, "req", in, out)
				got, _ := os.ReadFile(out)
				if !bytes.Equal(got, pt) {
					t.Errorf("%v size %d fs %d: JS decrypt of Go message differs", s, size, fs)
				}
				var m map[string]string
				if err := json.Unmarshal([]byte(strings.TrimSpace(gotEC)), &m); err != nil || m["tenant"] != ec["tenant"] {
					t.Errorf("%v: JS saw context %q", s, gotEC)
				}
				// JS encrypts, Go decrypts.
				ptf, jsMsg := filepath.Join(tmp, "js.pt"), filepath.Join(tmp, "js.msg")
				os.WriteFile(ptf, pt, 0o644)
				node("enc", keyHex, "0x"+hex.EncodeToString([]byte{byte(s >> 8), byte(s)}), itoa(fs), string(ecJSON), ptf, jsMsg)
				jm, _ := os.ReadFile(jsMsg)
				got, err := decryptAll(kr, jm, &DecryptOptions{EncryptionContext: ec})
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("%v size %d fs %d: Go decrypt of JS message: %v", s, size, fs, err)
				}
			}
		}
	}
	// Version 1 messages from JS decrypt only under RequireEncryptAllowDecrypt.
	for _, s := range []Suite{0x0378, 0x0178, 0x0214, 0x0014} {
		pt := []byte("legacy message of a non-committing suite")
		ptf, jsMsg := filepath.Join(tmp, "v1.pt"), filepath.Join(tmp, "v1.msg")
		os.WriteFile(ptf, pt, 0o644)
		node("encv1", keyHex, "0x"+hex.EncodeToString([]byte{byte(s >> 8), byte(s)}), "4096", string(ecJSON), ptf, jsMsg)
		jm, _ := os.ReadFile(jsMsg)
		if _, err := decryptAll(kr, jm, nil); err == nil {
			t.Errorf("%v: v1 message decrypted under the default policy", s)
		}
		got, err := decryptAll(kr, jm, &DecryptOptions{CommitmentPolicy: RequireEncryptAllowDecrypt})
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("%v: Go decrypt of JS v1 message: %v", s, err)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
