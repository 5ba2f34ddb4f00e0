package keys

import (
	"bytes"
	"compress/gzip"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// circlDir returns the directory of the circl module in the module cache
// (the Go module proxy brings it, with NIST's ACVP vectors as testdata);
// without it the test skips loudly, or fails under CI=true.
func circlDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cloudflare/circl").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("circl module not found (go list -m: %v)", err)
		}
		t.Skip("SKIPPED: the circl module (and its ACVP vectors) is not in the module cache: run `go mod download`")
	}
	return dir
}

// acvpGroups decodes a gzipped JSON vector file (ACVP, Wycheproof) into v.
func acvpGroups(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

type acvpFile[T any] struct {
	TestGroups []struct {
		ParameterSet string `json:"parameterSet"`
		Tests        []T    `json:"tests"`
	} `json:"testGroups"`
}

// TestMLKEMKeyGenACVP derives ML-KEM keys from NIST's ACVP keyGen seeds
// (d, z) through Trent's storage encoding (PKCS #8, seed format) and checks
// the encapsulation keys GetPublicKey would return.
func TestMLKEMKeyGenACVP(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(circlDir(t), "kem", "mlkem", "testdata", "ML-KEM-keyGen-FIPS203")
	var prompt acvpFile[struct {
		TcID int      `json:"tcId"`
		D    hexBytes `json:"d"`
		Z    hexBytes `json:"z"`
	}]
	var results acvpFile[struct {
		TcID int      `json:"tcId"`
		Ek   hexBytes `json:"ek"`
	}]
	acvpGroups(t, filepath.Join(dir, "prompt.json.gz"), &prompt)
	acvpGroups(t, filepath.Join(dir, "expectedResults.json.gz"), &results)
	want := map[int][]byte{}
	for _, g := range results.TestGroups {
		for _, tc := range g.Tests {
			want[tc.TcID] = tc.Ek
		}
	}
	specs := map[string]Spec{"ML-KEM-512": MLKEM512, "ML-KEM-768": MLKEM768, "ML-KEM-1024": MLKEM1024}
	n := 0
	for _, g := range prompt.TestGroups {
		spec := specs[g.ParameterSet]
		for _, tc := range g.Tests {
			seed := append(append([]byte{}, tc.D...), tc.Z...)
			m := marshalPKCS8(pkix.AlgorithmIdentifier{Algorithm: mlkemOID(spec)}, seedPrivateKey(seed))
			p, err := parsePrivate(spec, m)
			if err != nil {
				t.Fatalf("tc %d: %v", tc.TcID, err)
			}
			s, err := parseSPKI(p.public)
			if err != nil || !bytes.Equal(s.PublicKey.Bytes, want[tc.TcID]) {
				t.Errorf("tc %d (%s): encapsulation key differs from NIST's", tc.TcID, spec)
			}
			n++
		}
	}
	if n < 3 {
		t.Fatalf("only %d ACVP vectors", n)
	}
	t.Logf("%d ML-KEM keyGen vectors", n)
}

// TestMLDSAKeyGenACVP does the same for ML-DSA (seed -> public key).
func TestMLDSAKeyGenACVP(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(circlDir(t), "sign", "mldsa", "testdata", "ML-DSA-keyGen-FIPS204")
	var prompt acvpFile[struct {
		TcID int      `json:"tcId"`
		Seed hexBytes `json:"seed"`
	}]
	var results acvpFile[struct {
		TcID int      `json:"tcId"`
		Pk   hexBytes `json:"pk"`
	}]
	acvpGroups(t, filepath.Join(dir, "prompt.json.gz"), &prompt)
	acvpGroups(t, filepath.Join(dir, "expectedResults.json.gz"), &results)
	want := map[int][]byte{}
	for _, g := range results.TestGroups {
		for _, tc := range g.Tests {
			want[tc.TcID] = tc.Pk
		}
	}
	specs := map[string]Spec{"ML-DSA-44": MLDSA44, "ML-DSA-65": MLDSA65, "ML-DSA-87": MLDSA87}
	n := 0
	for _, g := range prompt.TestGroups {
		spec := specs[g.ParameterSet]
		for _, tc := range g.Tests {
			m := marshalPKCS8(pkix.AlgorithmIdentifier{Algorithm: mldsaOID(spec)}, seedPrivateKey(tc.Seed))
			p, err := parsePrivate(spec, m)
			if err != nil {
				t.Fatalf("tc %d: %v", tc.TcID, err)
			}
			s, err := parseSPKI(p.public)
			if err != nil || !bytes.Equal(s.PublicKey.Bytes, want[tc.TcID]) {
				t.Errorf("tc %d (%s): public key differs from NIST's", tc.TcID, spec)
			}
			n++
		}
	}
	if n < 3 {
		t.Fatalf("only %d ACVP vectors", n)
	}
	t.Logf("%d ML-DSA keyGen vectors", n)
}
