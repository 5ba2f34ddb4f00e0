package config

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"testing"
)

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
