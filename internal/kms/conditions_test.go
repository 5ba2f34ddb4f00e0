package kms

import (
	"reflect"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/policy"
)

func TestConditionsOf(t *testing.T) {
	validTo := &Timestamp{time.Unix(1767225600, 0)}
	for _, tc := range []struct {
		in       any
		key, val string
	}{
		{&SignInput{SigningAlgorithm: "ECDSA_SHA_256"}, "kms:SigningAlgorithm", "ECDSA_SHA_256"},
		{&SignInput{SigningAlgorithm: "ECDSA_SHA_256"}, "kms:messagetype", "RAW"},
		{&VerifyInput{MessageType: "DIGEST"}, "kms:MessageType", "DIGEST"},
		{&GenerateMacInput{MacAlgorithm: "HMAC_SHA_256"}, "kms:MacAlgorithm", "HMAC_SHA_256"},
		{&VerifyMacInput{MacAlgorithm: "HMAC_SHA_384"}, "kms:MacAlgorithm", "HMAC_SHA_384"},
		{&DeriveSharedSecretInput{KeyAgreementAlgorithm: "ECDH"}, "kms:KeyAgreementAlgorithm", "ECDH"},
		{&GetParametersForImportInput{WrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec: "RSA_4096"}, "kms:WrappingAlgorithm", "RSA_AES_KEY_WRAP_SHA_256"},
		{&GetParametersForImportInput{WrappingKeySpec: "RSA_4096"}, "kms:WrappingKeySpec", "RSA_4096"},
		{&ImportKeyMaterialInput{ValidTo: validTo}, "kms:ExpirationModel", "KEY_MATERIAL_EXPIRES"},
		{&ImportKeyMaterialInput{ValidTo: validTo}, "kms:ValidTo", "1767225600"},
		{&EncryptInput{}, "kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT"},
		{&GenerateDataKeyPairInput{KeyPairSpec: "RSA_2048"}, "kms:DataKeyPairSpec", "RSA_2048"},
	} {
		got, ok := ConditionsOf(tc.in).Lookup(tc.key)
		if !ok || !reflect.DeepEqual(got, policy.One(tc.val)) {
			t.Errorf("ConditionsOf(%T).Lookup(%q) = %v, %v, want %q", tc.in, tc.key, got, ok, tc.val)
		}
	}
	if _, ok := ConditionsOf(&ImportKeyMaterialInput{ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE"}).Lookup("kms:ValidTo"); ok {
		t.Error("kms:ValidTo present without ValidTo")
	}
	if _, ok := ConditionsOf(&DescribeKeyInput{}).Lookup("kms:SigningAlgorithm"); ok {
		t.Error("DescribeKey carries kms:SigningAlgorithm")
	}
}
