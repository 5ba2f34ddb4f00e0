package kms

import (
	"testing"
)

func BenchmarkEncrypt(b *testing.B) {
	for _, bc := range []struct {
		name string
		ec   map[string]string
		id   func(md *KeyMetadata) string
	}{
		{"KeyId", nil, func(md *KeyMetadata) string { return md.KeyId }},
		{"KeyARN", nil, func(md *KeyMetadata) string { return md.Arn }},
		{"KeyIdWithContext", map[string]string{"tenant": "acme", "purpose": "bench"}, func(md *KeyMetadata) string { return md.KeyId }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b)
			md := e.createKey(caller)
			in := &EncryptInput{KeyId: bc.id(md), Plaintext: make([]byte, 256), EncryptionContext: bc.ec}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.s.Encrypt(bg, caller, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	e := newEnv(b)
	md := e.createKey(caller)
	blob := e.encrypt(md.KeyId, make([]byte, 256), nil)
	in := &DecryptInput{CiphertextBlob: blob}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.s.Decrypt(bg, caller, in); err != nil {
			b.Fatal(err)
		}
	}
}
