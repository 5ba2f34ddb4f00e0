package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trent-kms/trent/internal/iam"
)

func TestParseFile(t *testing.T) {
	t.Setenv("TRENT_TEST_DIR", "/srv/trent")
	t.Setenv("TRENT_TEST_DEV", "true")
	f, err := ParseFile([]byte(`
version: v1
dev: ${TRENT_TEST_DEV}
addr: 127.0.0.1:0
data-dir: ${TRENT_TEST_DIR}/data
account-id: 012345678901
region: eu-west-1
insecure-http: false
log-level: debug
`))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	want := map[string]string{
		"dev":           "true",
		"addr":          "127.0.0.1:0",
		"data-dir":      "/srv/trent/data",
		"account-id":    "012345678901",
		"region":        "eu-west-1",
		"insecure-http": "false",
		"log-level":     "debug",
	}
	if diff := cmp.Diff(want, f.Settings()); diff != "" {
		t.Errorf("Settings() mismatch (-want +got):\n%s", diff)
	}
}

func TestParseFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the error, all required
	}{
		{"no version", "addr: x\n", []string{`missing "version: v1"`}},
		{"wrong version", "version: v2\n", []string{`unsupported version "v2"`}},
		{"unset env", "version: v1\ndata-dir: ${TRENT_TEST_SURELY_UNSET}\n", []string{"line 2", "TRENT_TEST_SURELY_UNSET is not set"}},
		{"bad env name", "version: v1\ndata-dir: ${1X}\n", []string{"invalid environment reference"}},
		{"unterminated env", "version: v1\ndata-dir: ${X\n", []string{"unterminated"}},
		{"all problems reported", "version: v3\naddr: [a]\naddr: b\n",
			[]string{"unsupported version", "line 2: addr: want a single value", "line 3: addr given twice"}},
		{"not a mapping", "- a\n- b\n", []string{"want a mapping"}},
		{"empty", "", []string{"empty document"}},
		{"two documents", "version: v1\n---\nversion: v1\n", []string{"more than one"}},
		{"wrong type", "version: v1\ndev: {a: 1}\n", []string{"line 2: dev: want a single value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParseFile(%q) err = nil, want %q", tc.yaml, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseFile(%q) err = %v, want it to contain %q", tc.yaml, err, w)
				}
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "trent.yaml")
	if err := os.WriteFile(p, []byte("version: v1\nregion: us-west-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFile(p)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if got := f.Settings()["region"]; got != "us-west-2" || f.Path != p {
		t.Errorf("region = %q (path %q), want us-west-2 (%s)", got, f.Path, p)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("LoadFile(missing) err = nil")
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#\n"), maxFileSize), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadFile(big) err = %v, want larger than", err)
	}
}

func TestParseSeed(t *testing.T) {
	t.Setenv("TRENT_TEST_SECRET", "s3cr3t/value")
	material := bytes.Repeat([]byte{7}, 32)
	s, err := ParseSeed([]byte(fmt.Sprintf(`
keys:
  - id: 11111111-2222-3333-4444-555555555555
    description: app key
    material: %q
    aliases: [alias/app, alias/app2]
    tags: {team: x}
    rotation: true
  - id: 22222222-2222-3333-4444-555555555555
    region: eu-west-1
    account: "123456789012"
users:
  - name: app
    path: /svc/
    tags: {b: "2", a: "1"}
    policies:
      text: '{"Version":"2012-10-17","Statement":[]}'
      yaml:
        Version: 2012-10-17
        Statement:
          - Effect: Allow
            Action: [kms:Encrypt]
            Resource: "*"
            Condition: {NumericLessThan: {"kms:RotationPeriodInDays": 400}, Bool: {"aws:SecureTransport": true}}
roles:
  - name: deployer
    account: "123456789012"
    max_session_duration: 7200
    trust_policy: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111122223333:user/app"}, Action: "sts:AssumeRole"}]}
access_keys:
  - id: AKIAEXAMPLE0000000001
    secret: ${TRENT_TEST_SECRET}
    user: app
  - id: AKIAEXAMPLE0000000002
    secret: plain
    account: "123456789012"
    status: Inactive
`, base64.StdEncoding.EncodeToString(material))), "us-east-1", "111122223333")
	if err != nil {
		t.Fatalf("ParseSeed: %v", err)
	}
	want := &Seed{
		Keys: []SeedKey{
			{ID: "11111111-2222-3333-4444-555555555555", Region: "us-east-1", AccountID: "111122223333",
				Description: "app key", Material: material, Aliases: []string{"alias/app", "alias/app2"},
				Tags: map[string]string{"team": "x"}, Rotation: true},
			{ID: "22222222-2222-3333-4444-555555555555", Region: "eu-west-1", AccountID: "123456789012"},
		},
		IAM: iam.Seed{
			Users: []iam.SeedUser{{AccountID: "111122223333", Name: "app", Path: "/svc/",
				Tags: []iam.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}},
				Policies: []iam.SeedPolicy{
					{Name: "text", Document: `{"Version":"2012-10-17","Statement":[]}`},
					{Name: "yaml", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt"],"Resource":"*",` +
						`"Condition":{"NumericLessThan":{"kms:RotationPeriodInDays":400},"Bool":{"aws:SecureTransport":true}}}]}`},
				}}},
			Roles: []iam.SeedRole{{AccountID: "123456789012", Name: "deployer", MaxSessionDuration: 7200,
				TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/app"},"Action":"sts:AssumeRole"}]}`}},
			AccessKeys: []iam.SeedAccessKey{
				{ID: "AKIAEXAMPLE0000000001", Secret: "s3cr3t/value", AccountID: "111122223333", UserName: "app"},
				{ID: "AKIAEXAMPLE0000000002", Secret: "plain", AccountID: "123456789012", Inactive: true},
			},
		},
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("ParseSeed mismatch (-want +got):\n%s", diff)
	}
}

func TestParseSeedErrors(t *testing.T) {
	_, err := ParseSeed([]byte(`
keys:
  - description: no id
  - id: k1
    material: "not base64!"
  - id: k2
    material: "AAAA"
    aliases: [app]
  - id: k2
    account: "12"
access_keys:
  - id: A1
  - id: A1
    secret: x
extra: 1
`), "us-east-1", "111122223333")
	if err == nil {
		t.Fatal("ParseSeed err = nil")
	}
	// Unknown top-level keys stop decoding first.
	if !strings.Contains(err.Error(), "field extra not found") {
		t.Errorf("err = %v, want unknown field", err)
	}

	_, err = ParseSeed([]byte(`
keys:
  - description: no id
  - id: k1
    material: "not base64!"
  - id: k2
    material: "AAAA"
    aliases: [app]
  - id: k2
  - id: k3
    account: "12"
users:
  - path: /
  - name: u
  - name: U
    policies: {p: [1]}
roles:
  - name: r
access_keys:
  - id: A1
  - id: A1
    secret: x
    status: Expired
`), "us-east-1", "111122223333")
	if err == nil {
		t.Fatal("ParseSeed err = nil")
	}
	for _, w := range []string{
		"users[0]: missing name",
		"users[2]: duplicate user U",
		"users[2]: policy p: line",
		"roles[0]: missing trust_policy",
		`access_keys[1]: status "Expired"`,
		"keys[0]: missing id",
		"keys[1]: material is not valid base64",
		"keys[2]: material is 3 bytes, want 32",
		`keys[2]: alias "app" must start with alias/ followed by 1 to 250 of [a-zA-Z0-9:/_-]`,
		"keys[3]: duplicate id k2",
		`keys[4]: account "12" is not 12 digits`,
		"access_keys[0]: missing secret",
		"access_keys[1]: duplicate id A1",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v\nwant it to contain %q", err, w)
		}
	}
}

func TestSeedSecretsNotPrinted(t *testing.T) {
	k := iam.SeedAccessKey{ID: "AKIA1", Secret: "topsecret", AccountID: "111122223333"}
	sk := SeedKey{ID: "k", Material: []byte("0123456789abcdef0123456789abcdef")}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("seed", "access_key", k, "key", sk)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("seed", "access_key", k, "key", sk)
	for _, s := range []string{
		fmt.Sprintf("%v %+v %#v %s %x %d", k, k, k, k, k, k),
		fmt.Sprintf("%v %+v %#v %s %x %d", sk, sk, sk, sk, sk, sk),
		fmt.Sprintf("%+v", struct{ Keys []SeedKey }{[]SeedKey{sk}}),
		buf.String(),
	} {
		if strings.Contains(s, "topsecret") || strings.Contains(s, "0123456789abcdef") || strings.Contains(s, fmt.Sprint(sk.Material[:4])) ||
			strings.Contains(s, fmt.Sprintf("%x", sk.Material[:4])) {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func TestExampleFilesParse(t *testing.T) {
	t.Setenv("APP_KEY_MATERIAL", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	t.Setenv("APP_SECRET", "example-secret")
	sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(sk)
	t.Setenv("SIGNING_KEY_PKCS8", base64.StdEncoding.EncodeToString(der))
	s, err := LoadSeed("testdata/seed.example.yaml", "us-east-1", "111122223333")
	if err != nil {
		t.Fatalf("seed.example.yaml: %v", err)
	}
	if len(s.Keys) != 2 || s.Keys[1].Spec != "ECC_NIST_P256" || s.Keys[1].Usage != "SIGN_VERIFY" || len(s.Keys[1].Material) != len(der) || len(s.IAM.AccessKeys) != 2 || len(s.Keys[0].Material) != 32 || s.IAM.AccessKeys[0].Secret != "example-secret" ||
		len(s.IAM.Users) != 1 || len(s.IAM.Roles) != 1 || len(s.IAM.Users[0].Policies) != 1 {
		t.Errorf("seed.example.yaml = %+v", s)
	}
}

// TestSeedPolicyNumbers: a number in a policy written as YAML becomes a JSON
// number, and YAML numbers that JSON has no syntax for are an error naming
// the line, not a policy document that is not JSON.
func TestSeedPolicyNumbers(t *testing.T) {
	seed := func(v string) string {
		return "roles:\n  - name: r\n    trust_policy: {Version: \"2012-10-17\", N: " + v + "}\n"
	}
	for _, v := range []string{"0", "-1", "400", "1.5", "-2.5e-3", "1E3"} {
		s, err := ParseSeed([]byte(seed(v)), "us-east-1", "111122223333")
		if err != nil {
			t.Errorf("%s: %v", v, err)
			continue
		}
		if got, want := s.IAM.Roles[0].TrustPolicy, `{"Version":"2012-10-17","N":`+v+`}`; got != want {
			t.Errorf("%s: trust policy %s, want %s", v, got, want)
		}
	}
	for _, v := range []string{"0123", "+1", ".5", "1.", "1_000", "0x1F", "0o17", ".inf", "!!float nan", "!!int 1x"} {
		_, err := ParseSeed([]byte(seed(v)), "us-east-1", "111122223333")
		if err == nil || !strings.Contains(err.Error(), "line 3: number") || !strings.Contains(err.Error(), "is not valid in JSON") {
			t.Errorf("%s: err = %v, want line 3: number ... is not valid in JSON", v, err)
		}
	}
}
