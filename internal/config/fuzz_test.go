package config

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParseFile: any configuration file either fails to parse or gives
// settings that, written back the way Table.Example writes values
// (yamlScalar), parse again to the same settings.
func FuzzParseFile(f *testing.F) {
	f.Setenv("TRENT_FUZZ_DIR", "/srv/trent")
	for _, s := range []string{
		"version: v1\naddr: 127.0.0.1:8080\ndata-dir: ${TRENT_FUZZ_DIR}/data\ndev: true\n",
		"version: v1\naccount-id: 012345678901\nlog-level: debug\ntls-key: ''\n",
		"version: v1\na: [1]\nb: {c: d}\n",
		"version: v1\nversion: v1\n",
		"version: v2\n",
		"{version: v1, x: \"a\\tb\"}\n",
		"version: v1\nx: &a y\nz: *a\n",
		"version: v1\n---\nversion: v1\n",
		"version: v1\nx: |\n  multi\n  line\n",
		"- a\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile(data)
		if err != nil {
			return
		}
		got := file.Settings()
		if len(got) != len(file.entries) {
			t.Fatalf("%d entries, %d distinct settings", len(file.entries), len(got))
		}
		if _, ok := got["version"]; ok {
			t.Fatal(`"version" is a setting`)
		}
		var b strings.Builder
		b.WriteString("version: v1\n")
		for _, e := range file.entries {
			b.WriteString(yamlScalar(e.key) + ": " + yamlScalar(e.value) + "\n")
		}
		again, err := ParseFile([]byte(b.String()))
		if err != nil {
			t.Fatalf("written back as\n%s\ndoes not parse: %v", b.String(), err)
		}
		if diff := cmp.Diff(got, again.Settings()); diff != "" {
			t.Fatalf("written back as\n%s\nparses to other settings (-first +again):\n%s", b.String(), diff)
		}
	})
}

// FuzzParseSeed: any seed file either fails to parse or gives a seed whose
// entries have the shapes ParseSeed promises, and whose policies, given as
// JSON text or as YAML, are JSON.
func FuzzParseSeed(f *testing.F) {
	f.Setenv("APP_KEY_MATERIAL", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Setenv("SIGNING_KEY_PKCS8", base64.StdEncoding.EncodeToString([]byte("not pkcs8")))
	f.Setenv("APP_SECRET", "s3cr3t")
	example, err := os.ReadFile("testdata/seed.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, s := range []string{
		"users:\n  - name: u\n    policies:\n      p: {Version: 2012-10-17, Statement: [{Effect: Allow, Action: '*', Resource: '*', Condition: {NumericLessThan: {n: 400}, Bool: {b: true}, Null: {x: ~}}}]}\n",
		"roles:\n  - name: r\n    trust_policy: {Statement: [{Effect: Allow, Principal: {Service: [a, b]}, Action: sts:AssumeRole}], n: 1.5e3}\n",
		"roles:\n  - name: r\n    trust_policy: &t {a: *t}\n",
		"roles:\n  - name: r\n    trust_policy: 12\n",
		"keys:\n  - id: 11111111-2222-3333-4444-555555555555\n    material: AAAA\n",
		"access_keys:\n  - {id: A, secret: s, status: Inactive}\n",
		"nope: 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSeed(data, "us-east-1", "111122223333")
		if err != nil {
			return
		}
		for _, k := range s.Keys {
			if k.ID == "" || k.Region == "" || len(k.AccountID) != 12 {
				t.Fatalf("key %+v accepted", k)
			}
		}
		// Every policy given as YAML is written as JSON: so must be the whole
		// file, a mapping too.
		root, err := decodeNode(data)
		if err != nil {
			t.Fatalf("ParseSeed accepted what decodeNode rejects: %v", err)
		}
		if text, err := policyText(root.Content[0]); err == nil && !json.Valid([]byte(text)) {
			t.Fatalf("YAML written as %s, not JSON", text)
		}
	})
}
