package kms

import (
	"strconv"
	"strings"

	"github.com/trent-kms/trent/internal/policy"
)

// KeyKeyAgreementAlgorithm is kms:KeyAgreementAlgorithm (DeriveSharedSecret).
const KeyKeyAgreementAlgorithm = "kms:KeyAgreementAlgorithm"

// Conditions are the request values that KMS condition keys name
// (kms:SigningAlgorithm, kms:MessageType, kms:MacAlgorithm,
// kms:KeyAgreementAlgorithm, kms:EncryptionAlgorithm, kms:DataKeyPairSpec,
// kms:WrappingAlgorithm, kms:WrappingKeySpec, kms:ExpirationModel,
// kms:ValidTo): the one place where an operation's input becomes policy
// context. The authorization step passes them as policy.Request.Context;
// audit records the same values from the input (requestParameters).
type Conditions struct {
	EncryptionAlgorithm   string
	SigningAlgorithm      string
	MessageType           string
	MacAlgorithm          string
	KeyAgreementAlgorithm string
	DataKeyPairSpec       string
	WrappingAlgorithm     string
	WrappingKeySpec       string
	ExpirationModel       string
	ValidTo               *Timestamp
}

var _ policy.Context = Conditions{}

// ConditionsOf returns the condition values of an operation input (a
// pointer to one of the *Input types); zero for inputs that carry none.
// Defaults apply as AWS documents them: MessageType RAW, ExpirationModel
// KEY_MATERIAL_EXPIRES, EncryptionAlgorithm SYMMETRIC_DEFAULT.
func ConditionsOf(in any) Conditions {
	switch in := in.(type) {
	case *EncryptInput:
		return Conditions{EncryptionAlgorithm: orDefault(in.EncryptionAlgorithm, "SYMMETRIC_DEFAULT")}
	case *DecryptInput:
		return Conditions{EncryptionAlgorithm: orDefault(in.EncryptionAlgorithm, "SYMMETRIC_DEFAULT")}
	case *ReEncryptInput:
		// ReEncryptFrom and ReEncryptTo: the destination algorithm (AWS's
		// kms:EncryptionAlgorithm names both; the source one is in the input).
		return Conditions{EncryptionAlgorithm: orDefault(in.DestinationEncryptionAlgorithm, "SYMMETRIC_DEFAULT")}
	case *SignInput:
		return Conditions{SigningAlgorithm: in.SigningAlgorithm, MessageType: orDefault(in.MessageType, "RAW")}
	case *VerifyInput:
		return Conditions{SigningAlgorithm: in.SigningAlgorithm, MessageType: orDefault(in.MessageType, "RAW")}
	case *GenerateMacInput:
		return Conditions{MacAlgorithm: in.MacAlgorithm}
	case *VerifyMacInput:
		return Conditions{MacAlgorithm: in.MacAlgorithm}
	case *DeriveSharedSecretInput:
		return Conditions{KeyAgreementAlgorithm: in.KeyAgreementAlgorithm}
	case *GenerateDataKeyPairInput:
		return Conditions{DataKeyPairSpec: in.KeyPairSpec}
	case *GenerateDataKeyPairWithoutPlaintextInput:
		return Conditions{DataKeyPairSpec: in.KeyPairSpec}
	case *GetParametersForImportInput:
		return Conditions{WrappingAlgorithm: in.WrappingAlgorithm, WrappingKeySpec: in.WrappingKeySpec}
	case *ImportKeyMaterialInput:
		return Conditions{ExpirationModel: orDefault(in.ExpirationModel, expires), ValidTo: in.ValidTo}
	}
	return Conditions{}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Lookup implements policy.Context (condition key names match
// case-insensitively). kms:ValidTo is epoch seconds, as AWS compares it.
func (c Conditions) Lookup(key string) (policy.Values, bool) {
	var v string
	switch {
	case strings.EqualFold(key, policy.KeyEncryptionAlgorithm):
		v = c.EncryptionAlgorithm
	case strings.EqualFold(key, policy.KeySigningAlgorithm):
		v = c.SigningAlgorithm
	case strings.EqualFold(key, policy.KeyMessageType):
		v = c.MessageType
	case strings.EqualFold(key, policy.KeyMacAlgorithm):
		v = c.MacAlgorithm
	case strings.EqualFold(key, KeyKeyAgreementAlgorithm):
		v = c.KeyAgreementAlgorithm
	case strings.EqualFold(key, policy.KeyDataKeyPairSpec):
		v = c.DataKeyPairSpec
	case strings.EqualFold(key, policy.KeyWrappingAlgorithm):
		v = c.WrappingAlgorithm
	case strings.EqualFold(key, policy.KeyWrappingKeySpec):
		v = c.WrappingKeySpec
	case strings.EqualFold(key, policy.KeyExpirationModel):
		v = c.ExpirationModel
	case strings.EqualFold(key, policy.KeyValidTo):
		if c.ValidTo != nil {
			v = strconv.FormatInt(c.ValidTo.Unix(), 10)
		}
	}
	if v == "" {
		return policy.Values{}, false
	}
	return policy.One(v), true
}
