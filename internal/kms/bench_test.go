package kms

import (
	"fmt"
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

// signBenchSpecs are the specs of BenchmarkSign and BenchmarkVerify, each
// with the algorithm docs/benchmarks.md reports.
var signBenchSpecs = []struct{ spec, alg string }{
	{"RSA_2048", "RSASSA_PSS_SHA_256"}, {"RSA_3072", "RSASSA_PSS_SHA_256"}, {"RSA_4096", "RSASSA_PSS_SHA_256"},
	{"RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"},
	{"ECC_NIST_P256", "ECDSA_SHA_256"}, {"ECC_NIST_P384", "ECDSA_SHA_384"}, {"ECC_NIST_P521", "ECDSA_SHA_512"},
	{"ECC_SECG_P256K1", "ECDSA_SHA_256"}, {"ECC_NIST_EDWARDS25519", "ED25519_SHA_512"},
	{"ML_DSA_44", "ML_DSA_SHAKE_256"}, {"ML_DSA_65", "ML_DSA_SHAKE_256"}, {"ML_DSA_87", "ML_DSA_SHAKE_256"},
}

func BenchmarkSign(b *testing.B) {
	e := newEnv(b)
	msg := make([]byte, 256)
	for _, bc := range signBenchSpecs {
		b.Run(bc.spec+"/"+bc.alg, func(b *testing.B) {
			md := e.createKeyOf(bc.spec, "SIGN_VERIFY")
			in := &SignInput{KeyId: md.KeyId, Message: msg, SigningAlgorithm: bc.alg}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.s.Sign(bg, caller, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	msg := make([]byte, 256)
	for _, bc := range signBenchSpecs {
		b.Run(bc.spec+"/"+bc.alg, func(b *testing.B) {
			md := e.createKeyOf(bc.spec, "SIGN_VERIFY")
			out, err := e.s.Sign(bg, caller, &SignInput{KeyId: md.KeyId, Message: msg, SigningAlgorithm: bc.alg})
			if err != nil {
				b.Fatal(err)
			}
			in := &VerifyInput{KeyId: md.KeyId, Message: msg, Signature: out.Signature, SigningAlgorithm: bc.alg}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.s.Verify(bg, caller, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncryptAuthz is Encrypt with its authorization: the account root
// under the default key policy, and an IAM user allowed by a grant
// (EncryptionContextSubset) on a key whose policy has 10 statements, none of
// which allows it.
func BenchmarkEncryptAuthz(b *testing.B) {
	stmts := make([]string, 9)
	for i := range stmts {
		stmts[i] = fmt.Sprintf(`{"Sid":"s%d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:user/other%d"},"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"app%d"},"Bool":{"aws:SecureTransport":"true"}}}`, i, acct, i, i)
	}
	ec := map[string]string{"app": "bench"}
	for _, bc := range []struct {
		name   string
		c      Caller
		policy *string
		grant  bool
	}{
		{"root/default-policy", caller, nil, false},
		{"user/10-statements+grant", userCaller(acct, "bench"), keyPolicy(stmts...), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b)
			out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{Policy: bc.policy})
			if err != nil {
				b.Fatal(err)
			}
			if bc.grant {
				_, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: out.KeyMetadata.KeyId, GranteePrincipal: bc.c.Principal.ARN,
					Operations: []string{"Encrypt"}, Constraints: &GrantConstraintsInput{EncryptionContextSubset: ec}})
				if err != nil {
					b.Fatal(err)
				}
			}
			in := &EncryptInput{KeyId: out.KeyMetadata.KeyId, Plaintext: make([]byte, 256), EncryptionContext: ec}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.s.Encrypt(bg, bc.c, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
