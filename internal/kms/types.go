package kms

import (
	"bytes"
	"context"
	"crypto/x509"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/storage"
)

// Caller is who makes a request and where: keys live in (Region, Principal.AccountID).
type Caller struct {
	Principal iam.Principal
	Region    string // region of the request's SigV4 credential scope; keys are regional
	RequestID string
	Facts     *Facts // when set, the operation reports what it used
	// SourceIP and SecureTransport are aws:SourceIp and aws:SecureTransport
	// (the wire layer sets them; the zero Addr means unknown).
	SourceIP        netip.Addr
	SecureTransport bool
}

// Config configures a Service.
type Config struct {
	Store     storage.Store    // already wrapped by the barrier
	Partition string           // "aws" when empty
	Now       func() time.Time // time.Now when nil
	Logger    *slog.Logger
	Usage     UsageIndex // answers GetKeyLastUsage (the audit log); none when nil
	// Shared: other nodes write the store too (PostgreSQL). A quota counted
	// on this node's memory, which may not have heard of another node's
	// write yet, is then counted again on what the store holds.
	Shared bool
	// XKSHTTPClient calls the proxies of external key stores; nil: a client
	// of internal/xks's (TLS verified with the system's roots, which
	// SSL_CERT_FILE and SSL_CERT_DIR can name).
	XKSHTTPClient *http.Client
	// CloudHSMClusters are the CloudHSM cluster ids a CloudHSM key store
	// may name (CloudHsmClusterId), each a token of a PKCS#11 module.
	CloudHSMClusters map[string]CloudHSMCluster
	// Principals tells which IAM users and roles exist (an *iam.Service): a
	// key policy may name only those, and is bound to their unique ids, as
	// in AWS. Nil: names are neither checked nor bound (a KMS service
	// without IAM, in tests).
	Principals Principals
	// Events is told of what the service does on its own, asked by no
	// request: a key deleted at the end of its waiting period, an automatic
	// rotation, imported key material deleted at its expiry (the audit log
	// records them, as CloudTrail records AWS KMS's service events). It is
	// called once the change is stored, from the background jobs. Nil: no
	// one is told.
	Events func(context.Context, *ServiceEvent)
	// AttestationRoots are the trust anchors of the attestation documents
	// of Recipient parameters (attest.Roots); nil: the AWS Nitro Enclaves
	// root alone.
	AttestationRoots *x509.CertPool
}

// Principals resolves the principal ARN of an IAM user, role or role session
// named in a policy to the unique id of its user or role; ok is false when
// it does not exist.
type Principals interface {
	PrincipalID(arn string) (id string, ok bool)
}

// Timestamp is an AWS timestamp: on the wire a JSON number of epoch seconds
// (fractional part = milliseconds).
type Timestamp struct{ time.Time }

// MarshalJSON encodes t as epoch seconds.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		return strconv.AppendInt(nil, ms/1000, 10), nil
	}
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON decodes epoch seconds (integer or fractional).
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return &strconv.NumError{Func: "kms.Timestamp", Num: string(b), Err: strconv.ErrSyntax}
	}
	sec, frac := math.Modf(f)
	t.Time = time.Unix(int64(sec), int64(math.Round(frac*1000))*int64(time.Millisecond)).UTC()
	return nil
}

func ts(t time.Time) Timestamp { return Timestamp{t.UTC()} }

func tsp(t time.Time) *Timestamp {
	if t.IsZero() {
		return nil
	}
	v := ts(t)
	return &v
}

// Tag is a key tag.
type Tag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

// RecipientInfo is the AWS Nitro Enclaves attestation of a request: the
// secret of the response goes, encrypted under the document's public key,
// to the output's CiphertextForRecipient instead of its plaintext member
// (recipient.go).
type RecipientInfo struct {
	AttestationDocument    []byte `json:"AttestationDocument,omitempty"`
	KeyEncryptionAlgorithm string `json:"KeyEncryptionAlgorithm,omitempty"`
}

// KeyMetadata is AWS's KeyMetadata.
type KeyMetadata struct {
	AWSAccountId                string                    `json:"AWSAccountId"`
	Arn                         string                    `json:"Arn"`
	CloudHsmClusterId           string                    `json:"CloudHsmClusterId,omitempty"`
	CreationDate                Timestamp                 `json:"CreationDate"`
	CurrentKeyMaterialId        string                    `json:"CurrentKeyMaterialId,omitempty"`
	CustomerMasterKeySpec       string                    `json:"CustomerMasterKeySpec,omitempty"`
	CustomKeyStoreId            string                    `json:"CustomKeyStoreId,omitempty"`
	DeletionDate                *Timestamp                `json:"DeletionDate,omitempty"`
	Description                 string                    `json:"Description"`
	Enabled                     bool                      `json:"Enabled"`
	EncapsulationAlgorithms     []string                  `json:"EncapsulationAlgorithms,omitempty"`
	EncryptionAlgorithms        []string                  `json:"EncryptionAlgorithms,omitempty"`
	ExpirationModel             string                    `json:"ExpirationModel,omitempty"`
	KeyAgreementAlgorithms      []string                  `json:"KeyAgreementAlgorithms,omitempty"`
	KeyId                       string                    `json:"KeyId"`
	KeyManager                  string                    `json:"KeyManager"`
	KeySpec                     string                    `json:"KeySpec"`
	KeyState                    string                    `json:"KeyState"`
	KeyUsage                    string                    `json:"KeyUsage"`
	MacAlgorithms               []string                  `json:"MacAlgorithms,omitempty"`
	MultiRegion                 bool                      `json:"MultiRegion"`
	MultiRegionConfiguration    *MultiRegionConfiguration `json:"MultiRegionConfiguration,omitempty"`
	Origin                      string                    `json:"Origin"`
	PendingDeletionWindowInDays *int32                    `json:"PendingDeletionWindowInDays,omitempty"`
	SigningAlgorithms           []string                  `json:"SigningAlgorithms,omitempty"`
	ValidTo                     *Timestamp                `json:"ValidTo,omitempty"`
	XksKeyConfiguration         *XksKeyConfiguration      `json:"XksKeyConfiguration,omitempty"`
}

// MultiRegionConfiguration is where the keys of a multi-Region key are.
type MultiRegionConfiguration struct {
	MultiRegionKeyType string           `json:"MultiRegionKeyType"`
	PrimaryKey         *MultiRegionKey  `json:"PrimaryKey"`
	ReplicaKeys        []MultiRegionKey `json:"ReplicaKeys"`
}

// MultiRegionKey is one key of a multi-Region key.
type MultiRegionKey struct {
	Arn    string `json:"Arn"`
	Region string `json:"Region"`
}

// KeyListEntry is one entry of ListKeys.
type KeyListEntry struct {
	KeyArn string `json:"KeyArn"`
	KeyId  string `json:"KeyId"`
}

// AliasListEntry is one entry of ListAliases.
type AliasListEntry struct {
	AliasArn        string     `json:"AliasArn"`
	AliasName       string     `json:"AliasName"`
	CreationDate    *Timestamp `json:"CreationDate,omitempty"`
	LastUpdatedDate *Timestamp `json:"LastUpdatedDate,omitempty"`
	TargetKeyId     string     `json:"TargetKeyId,omitempty"`
}

// RotationsListEntry is one entry of ListKeyRotations.
type RotationsListEntry struct {
	ExpirationModel        string     `json:"ExpirationModel,omitempty"`
	ImportState            string     `json:"ImportState,omitempty"`
	KeyId                  string     `json:"KeyId"`
	KeyMaterialDescription string     `json:"KeyMaterialDescription,omitempty"`
	KeyMaterialId          string     `json:"KeyMaterialId,omitempty"`
	KeyMaterialState       string     `json:"KeyMaterialState,omitempty"`
	RotationDate           *Timestamp `json:"RotationDate,omitempty"`
	RotationType           string     `json:"RotationType,omitempty"`
	ValidTo                *Timestamp `json:"ValidTo,omitempty"`
}

// ---- key management ----

type CreateKeyInput struct {
	BypassPolicyLockoutSafetyCheck bool    `json:"BypassPolicyLockoutSafetyCheck,omitempty"`
	CustomKeyStoreId               string  `json:"CustomKeyStoreId,omitempty"`
	CustomerMasterKeySpec          string  `json:"CustomerMasterKeySpec,omitempty"`
	Description                    string  `json:"Description,omitempty"`
	KeySpec                        string  `json:"KeySpec,omitempty"`
	KeyUsage                       string  `json:"KeyUsage,omitempty"`
	MultiRegion                    bool    `json:"MultiRegion,omitempty"`
	Origin                         string  `json:"Origin,omitempty"`
	Policy                         *string `json:"Policy,omitempty"`
	Tags                           []Tag   `json:"Tags,omitempty"`
	XksKeyId                       string  `json:"XksKeyId,omitempty"`
}

type CreateKeyOutput struct {
	KeyMetadata *KeyMetadata `json:"KeyMetadata"`
}

type DescribeKeyInput struct {
	KeyId       string   `json:"KeyId"`
	GrantTokens []string `json:"GrantTokens,omitempty"`
}

type DescribeKeyOutput struct {
	KeyMetadata *KeyMetadata `json:"KeyMetadata"`
}

type ListKeysInput struct {
	Limit  *int32 `json:"Limit,omitempty"`
	Marker string `json:"Marker,omitempty"`
}

type ListKeysOutput struct {
	Keys       []KeyListEntry `json:"Keys"`
	NextMarker string         `json:"NextMarker,omitempty"`
	Truncated  bool           `json:"Truncated"`
}

type UpdateKeyDescriptionInput struct {
	Description *string `json:"Description"`
	KeyId       string  `json:"KeyId"`
}

type UpdateKeyDescriptionOutput struct{}

type EnableKeyInput struct {
	KeyId string `json:"KeyId"`
}

type EnableKeyOutput struct{}

type DisableKeyInput struct {
	KeyId string `json:"KeyId"`
}

type DisableKeyOutput struct{}

type ScheduleKeyDeletionInput struct {
	KeyId               string `json:"KeyId"`
	PendingWindowInDays *int32 `json:"PendingWindowInDays,omitempty"`
}

type ScheduleKeyDeletionOutput struct {
	DeletionDate        *Timestamp `json:"DeletionDate,omitempty"`
	KeyId               string     `json:"KeyId"`
	KeyState            string     `json:"KeyState"`
	PendingWindowInDays int32      `json:"PendingWindowInDays"`
}

type CancelKeyDeletionInput struct {
	KeyId string `json:"KeyId"`
}

type CancelKeyDeletionOutput struct {
	KeyId string `json:"KeyId"`
}

// ---- aliases ----

type CreateAliasInput struct {
	AliasName   string `json:"AliasName"`
	TargetKeyId string `json:"TargetKeyId"`
}

type CreateAliasOutput struct{}

type UpdateAliasInput struct {
	AliasName   string `json:"AliasName"`
	TargetKeyId string `json:"TargetKeyId"`
}

type UpdateAliasOutput struct{}

type DeleteAliasInput struct {
	AliasName string `json:"AliasName"`
}

type DeleteAliasOutput struct{}

type ListAliasesInput struct {
	KeyId  string `json:"KeyId,omitempty"`
	Limit  *int32 `json:"Limit,omitempty"`
	Marker string `json:"Marker,omitempty"`
}

type ListAliasesOutput struct {
	Aliases    []AliasListEntry `json:"Aliases"`
	NextMarker string           `json:"NextMarker,omitempty"`
	Truncated  bool             `json:"Truncated"`
}

// ---- tags ----

type TagResourceInput struct {
	KeyId string `json:"KeyId"`
	Tags  []Tag  `json:"Tags"`
}

type TagResourceOutput struct{}

type UntagResourceInput struct {
	KeyId   string   `json:"KeyId"`
	TagKeys []string `json:"TagKeys"`
}

type UntagResourceOutput struct{}

type ListResourceTagsInput struct {
	KeyId  string `json:"KeyId"`
	Limit  *int32 `json:"Limit,omitempty"`
	Marker string `json:"Marker,omitempty"`
}

type ListResourceTagsOutput struct {
	NextMarker string `json:"NextMarker,omitempty"`
	Tags       []Tag  `json:"Tags"`
	Truncated  bool   `json:"Truncated"`
}

// ---- crypto ----

type EncryptInput struct {
	KeyId               string            `json:"KeyId"`
	Plaintext           []byte            `json:"Plaintext"`
	DryRun              bool              `json:"DryRun,omitempty"`
	EncryptionAlgorithm string            `json:"EncryptionAlgorithm,omitempty"`
	EncryptionContext   map[string]string `json:"EncryptionContext,omitempty"`
	GrantTokens         []string          `json:"GrantTokens,omitempty"`
}

type EncryptOutput struct {
	CiphertextBlob      []byte `json:"CiphertextBlob"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
	KeyId               string `json:"KeyId"`
}

type DecryptInput struct {
	CiphertextBlob      []byte            `json:"CiphertextBlob,omitempty"`
	DryRun              bool              `json:"DryRun,omitempty"`
	DryRunModifiers     []string          `json:"DryRunModifiers,omitempty"`
	EncryptionAlgorithm string            `json:"EncryptionAlgorithm,omitempty"`
	EncryptionContext   map[string]string `json:"EncryptionContext,omitempty"`
	GrantTokens         []string          `json:"GrantTokens,omitempty"`
	KeyId               string            `json:"KeyId,omitempty"`
	Recipient           *RecipientInfo    `json:"Recipient,omitempty"`
}

type DecryptOutput struct {
	CiphertextForRecipient []byte `json:"CiphertextForRecipient,omitempty"`
	EncryptionAlgorithm    string `json:"EncryptionAlgorithm"`
	KeyId                  string `json:"KeyId"`
	KeyMaterialId          string `json:"KeyMaterialId,omitempty"`
	Plaintext              []byte `json:"Plaintext"`
}

type ReEncryptInput struct {
	CiphertextBlob                 []byte            `json:"CiphertextBlob,omitempty"`
	DestinationEncryptionAlgorithm string            `json:"DestinationEncryptionAlgorithm,omitempty"`
	DestinationEncryptionContext   map[string]string `json:"DestinationEncryptionContext,omitempty"`
	DestinationKeyId               string            `json:"DestinationKeyId"`
	DryRun                         bool              `json:"DryRun,omitempty"`
	DryRunModifiers                []string          `json:"DryRunModifiers,omitempty"`
	GrantTokens                    []string          `json:"GrantTokens,omitempty"`
	SourceEncryptionAlgorithm      string            `json:"SourceEncryptionAlgorithm,omitempty"`
	SourceEncryptionContext        map[string]string `json:"SourceEncryptionContext,omitempty"`
	SourceKeyId                    string            `json:"SourceKeyId,omitempty"`
}

type ReEncryptOutput struct {
	CiphertextBlob                 []byte `json:"CiphertextBlob"`
	DestinationEncryptionAlgorithm string `json:"DestinationEncryptionAlgorithm"`
	DestinationKeyMaterialId       string `json:"DestinationKeyMaterialId,omitempty"`
	KeyId                          string `json:"KeyId"`
	SourceEncryptionAlgorithm      string `json:"SourceEncryptionAlgorithm"`
	SourceKeyId                    string `json:"SourceKeyId"`
	SourceKeyMaterialId            string `json:"SourceKeyMaterialId,omitempty"`
}

type GenerateDataKeyInput struct {
	KeyId             string            `json:"KeyId"`
	DryRun            bool              `json:"DryRun,omitempty"`
	EncryptionContext map[string]string `json:"EncryptionContext,omitempty"`
	GrantTokens       []string          `json:"GrantTokens,omitempty"`
	KeySpec           string            `json:"KeySpec,omitempty"`
	NumberOfBytes     *int32            `json:"NumberOfBytes,omitempty"`
	Recipient         *RecipientInfo    `json:"Recipient,omitempty"`
}

type GenerateDataKeyOutput struct {
	CiphertextForRecipient []byte `json:"CiphertextForRecipient,omitempty"`
	CiphertextBlob         []byte `json:"CiphertextBlob"`
	KeyId                  string `json:"KeyId"`
	KeyMaterialId          string `json:"KeyMaterialId,omitempty"`
	Plaintext              []byte `json:"Plaintext"`
}

type GenerateDataKeyWithoutPlaintextInput struct {
	KeyId             string            `json:"KeyId"`
	DryRun            bool              `json:"DryRun,omitempty"`
	EncryptionContext map[string]string `json:"EncryptionContext,omitempty"`
	GrantTokens       []string          `json:"GrantTokens,omitempty"`
	KeySpec           string            `json:"KeySpec,omitempty"`
	NumberOfBytes     *int32            `json:"NumberOfBytes,omitempty"`
}

type GenerateDataKeyWithoutPlaintextOutput struct {
	CiphertextBlob []byte `json:"CiphertextBlob"`
	KeyId          string `json:"KeyId"`
	KeyMaterialId  string `json:"KeyMaterialId,omitempty"`
}

type GenerateRandomInput struct {
	CustomKeyStoreId string         `json:"CustomKeyStoreId,omitempty"`
	NumberOfBytes    *int32         `json:"NumberOfBytes,omitempty"`
	Recipient        *RecipientInfo `json:"Recipient,omitempty"`
}

type GenerateRandomOutput struct {
	CiphertextForRecipient []byte `json:"CiphertextForRecipient,omitempty"`
	Plaintext              []byte `json:"Plaintext"`
}

// ---- asymmetric, HMAC, key agreement, KEM ----

type GetPublicKeyInput struct {
	KeyId       string   `json:"KeyId"`
	GrantTokens []string `json:"GrantTokens,omitempty"`
}

type GetPublicKeyOutput struct {
	CustomerMasterKeySpec   string   `json:"CustomerMasterKeySpec,omitempty"`
	EncryptionAlgorithms    []string `json:"EncryptionAlgorithms,omitempty"`
	EncapsulationAlgorithms []string `json:"EncapsulationAlgorithms,omitempty"`
	KeyAgreementAlgorithms  []string `json:"KeyAgreementAlgorithms,omitempty"`
	KeyId                   string   `json:"KeyId"`
	KeySpec                 string   `json:"KeySpec"`
	KeyUsage                string   `json:"KeyUsage"`
	PublicKey               []byte   `json:"PublicKey"`
	SigningAlgorithms       []string `json:"SigningAlgorithms,omitempty"`
}

type SignInput struct {
	KeyId            string   `json:"KeyId"`
	Message          []byte   `json:"Message"`
	SigningAlgorithm string   `json:"SigningAlgorithm"`
	MessageType      string   `json:"MessageType,omitempty"`
	DryRun           bool     `json:"DryRun,omitempty"`
	GrantTokens      []string `json:"GrantTokens,omitempty"`
}

type SignOutput struct {
	KeyId            string `json:"KeyId"`
	Signature        []byte `json:"Signature"`
	SigningAlgorithm string `json:"SigningAlgorithm"`
}

type VerifyInput struct {
	KeyId            string   `json:"KeyId"`
	Message          []byte   `json:"Message"`
	Signature        []byte   `json:"Signature"`
	SigningAlgorithm string   `json:"SigningAlgorithm"`
	MessageType      string   `json:"MessageType,omitempty"`
	DryRun           bool     `json:"DryRun,omitempty"`
	GrantTokens      []string `json:"GrantTokens,omitempty"`
}

type VerifyOutput struct {
	KeyId            string `json:"KeyId"`
	SignatureValid   bool   `json:"SignatureValid"`
	SigningAlgorithm string `json:"SigningAlgorithm"`
}

type GenerateMacInput struct {
	KeyId        string   `json:"KeyId"`
	MacAlgorithm string   `json:"MacAlgorithm"`
	Message      []byte   `json:"Message"`
	DryRun       bool     `json:"DryRun,omitempty"`
	GrantTokens  []string `json:"GrantTokens,omitempty"`
}

type GenerateMacOutput struct {
	KeyId        string `json:"KeyId"`
	Mac          []byte `json:"Mac"`
	MacAlgorithm string `json:"MacAlgorithm"`
}

type VerifyMacInput struct {
	KeyId        string   `json:"KeyId"`
	Mac          []byte   `json:"Mac"`
	MacAlgorithm string   `json:"MacAlgorithm"`
	Message      []byte   `json:"Message"`
	DryRun       bool     `json:"DryRun,omitempty"`
	GrantTokens  []string `json:"GrantTokens,omitempty"`
}

type VerifyMacOutput struct {
	KeyId        string `json:"KeyId"`
	MacAlgorithm string `json:"MacAlgorithm"`
	MacValid     bool   `json:"MacValid"`
}

type DeriveSharedSecretInput struct {
	KeyId                 string         `json:"KeyId"`
	KeyAgreementAlgorithm string         `json:"KeyAgreementAlgorithm"`
	PublicKey             []byte         `json:"PublicKey"`
	DryRun                bool           `json:"DryRun,omitempty"`
	GrantTokens           []string       `json:"GrantTokens,omitempty"`
	Recipient             *RecipientInfo `json:"Recipient,omitempty"`
}

type DeriveSharedSecretOutput struct {
	CiphertextForRecipient []byte `json:"CiphertextForRecipient,omitempty"`
	KeyAgreementAlgorithm  string `json:"KeyAgreementAlgorithm"`
	KeyId                  string `json:"KeyId"`
	KeyOrigin              string `json:"KeyOrigin"`
	SharedSecret           []byte `json:"SharedSecret"`
}

type EncapsulateInput struct {
	KeyId                  string   `json:"KeyId"`
	EncapsulationAlgorithm string   `json:"EncapsulationAlgorithm"`
	DryRun                 bool     `json:"DryRun,omitempty"`
	GrantTokens            []string `json:"GrantTokens,omitempty"`
}

type EncapsulateOutput struct {
	EncapsulationAlgorithm     string `json:"EncapsulationAlgorithm"`
	KeyId                      string `json:"KeyId"`
	SharedSecret               []byte `json:"SharedSecret"`
	SharedSecretCiphertextBlob []byte `json:"SharedSecretCiphertextBlob"`
}

type DecapsulateInput struct {
	KeyId                      string   `json:"KeyId"`
	EncapsulationAlgorithm     string   `json:"EncapsulationAlgorithm"`
	SharedSecretCiphertextBlob []byte   `json:"SharedSecretCiphertextBlob"`
	DryRun                     bool     `json:"DryRun,omitempty"`
	GrantTokens                []string `json:"GrantTokens,omitempty"`
}

type DecapsulateOutput struct {
	EncapsulationAlgorithm string `json:"EncapsulationAlgorithm"`
	KeyId                  string `json:"KeyId"`
	SharedSecret           []byte `json:"SharedSecret"`
}

type GenerateDataKeyPairInput struct {
	KeyId             string            `json:"KeyId"`
	KeyPairSpec       string            `json:"KeyPairSpec"`
	DryRun            bool              `json:"DryRun,omitempty"`
	EncryptionContext map[string]string `json:"EncryptionContext,omitempty"`
	GrantTokens       []string          `json:"GrantTokens,omitempty"`
	Recipient         *RecipientInfo    `json:"Recipient,omitempty"`
}

type GenerateDataKeyPairOutput struct {
	CiphertextForRecipient   []byte `json:"CiphertextForRecipient,omitempty"`
	KeyId                    string `json:"KeyId"`
	KeyMaterialId            string `json:"KeyMaterialId,omitempty"`
	KeyPairSpec              string `json:"KeyPairSpec"`
	PrivateKeyCiphertextBlob []byte `json:"PrivateKeyCiphertextBlob"`
	PrivateKeyPlaintext      []byte `json:"PrivateKeyPlaintext,omitempty"`
	PublicKey                []byte `json:"PublicKey"`
}

type GenerateDataKeyPairWithoutPlaintextInput struct {
	KeyId             string            `json:"KeyId"`
	KeyPairSpec       string            `json:"KeyPairSpec"`
	DryRun            bool              `json:"DryRun,omitempty"`
	EncryptionContext map[string]string `json:"EncryptionContext,omitempty"`
	GrantTokens       []string          `json:"GrantTokens,omitempty"`
}

type GenerateDataKeyPairWithoutPlaintextOutput struct {
	KeyId                    string `json:"KeyId"`
	KeyMaterialId            string `json:"KeyMaterialId,omitempty"`
	KeyPairSpec              string `json:"KeyPairSpec"`
	PrivateKeyCiphertextBlob []byte `json:"PrivateKeyCiphertextBlob"`
	PublicKey                []byte `json:"PublicKey"`
}

// ---- import ----

type GetParametersForImportInput struct {
	KeyId             string `json:"KeyId"`
	WrappingAlgorithm string `json:"WrappingAlgorithm"`
	WrappingKeySpec   string `json:"WrappingKeySpec"`
}

type GetParametersForImportOutput struct {
	ImportToken       []byte     `json:"ImportToken"`
	KeyId             string     `json:"KeyId"`
	ParametersValidTo *Timestamp `json:"ParametersValidTo,omitempty"`
	PublicKey         []byte     `json:"PublicKey"`
}

type ImportKeyMaterialInput struct {
	KeyId                  string     `json:"KeyId"`
	ImportToken            []byte     `json:"ImportToken"`
	EncryptedKeyMaterial   []byte     `json:"EncryptedKeyMaterial"`
	ExpirationModel        string     `json:"ExpirationModel,omitempty"`
	ValidTo                *Timestamp `json:"ValidTo,omitempty"`
	ImportType             string     `json:"ImportType,omitempty"`
	KeyMaterialDescription string     `json:"KeyMaterialDescription,omitempty"`
	KeyMaterialId          string     `json:"KeyMaterialId,omitempty"`
}

type ImportKeyMaterialOutput struct {
	KeyId         string `json:"KeyId"`
	KeyMaterialId string `json:"KeyMaterialId,omitempty"`
}

type DeleteImportedKeyMaterialInput struct {
	KeyId         string `json:"KeyId"`
	KeyMaterialId string `json:"KeyMaterialId,omitempty"`
}

type DeleteImportedKeyMaterialOutput struct {
	KeyId         string `json:"KeyId"`
	KeyMaterialId string `json:"KeyMaterialId,omitempty"`
}

// ---- policies ----

type GetKeyPolicyInput struct {
	KeyId      string  `json:"KeyId"`
	PolicyName *string `json:"PolicyName,omitempty"`
}

type GetKeyPolicyOutput struct {
	Policy     string `json:"Policy"`
	PolicyName string `json:"PolicyName"`
}

type PutKeyPolicyInput struct {
	KeyId                          string  `json:"KeyId"`
	Policy                         *string `json:"Policy"`
	BypassPolicyLockoutSafetyCheck bool    `json:"BypassPolicyLockoutSafetyCheck,omitempty"`
	PolicyName                     *string `json:"PolicyName,omitempty"`
}

type PutKeyPolicyOutput struct{}

type ListKeyPoliciesInput struct {
	KeyId  string `json:"KeyId"`
	Limit  *int32 `json:"Limit,omitempty"`
	Marker string `json:"Marker,omitempty"`
}

type ListKeyPoliciesOutput struct {
	NextMarker  string   `json:"NextMarker,omitempty"`
	PolicyNames []string `json:"PolicyNames"`
	Truncated   bool     `json:"Truncated"`
}

// ---- rotation ----

type EnableKeyRotationInput struct {
	KeyId                string `json:"KeyId"`
	RotationPeriodInDays *int32 `json:"RotationPeriodInDays,omitempty"`
}

type EnableKeyRotationOutput struct{}

type DisableKeyRotationInput struct {
	KeyId string `json:"KeyId"`
}

type DisableKeyRotationOutput struct{}

type GetKeyRotationStatusInput struct {
	KeyId string `json:"KeyId"`
}

type GetKeyRotationStatusOutput struct {
	KeyId                     string     `json:"KeyId"`
	KeyRotationEnabled        bool       `json:"KeyRotationEnabled"`
	NextRotationDate          *Timestamp `json:"NextRotationDate,omitempty"`
	OnDemandRotationStartDate *Timestamp `json:"OnDemandRotationStartDate,omitempty"`
	RotationPeriodInDays      *int32     `json:"RotationPeriodInDays,omitempty"`
}

type RotateKeyOnDemandInput struct {
	KeyId string `json:"KeyId"`
}

type RotateKeyOnDemandOutput struct {
	KeyId string `json:"KeyId"`
}

type ListKeyRotationsInput struct {
	KeyId              string `json:"KeyId"`
	IncludeKeyMaterial string `json:"IncludeKeyMaterial,omitempty"`
	Limit              *int32 `json:"Limit,omitempty"`
	Marker             string `json:"Marker,omitempty"`
}

type ListKeyRotationsOutput struct {
	NextMarker string               `json:"NextMarker,omitempty"`
	Rotations  []RotationsListEntry `json:"Rotations"`
	Truncated  bool                 `json:"Truncated"`
}

// SeedKey describes a key created at startup with a fixed id (seed file).
type SeedKey struct {
	ID, Description   string
	Spec, Usage       string // KeySpec and KeyUsage; empty: SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT
	Material          []byte // optional: 32 bytes, the HMAC key, or PKCS #8 DER of an asymmetric key
	Aliases           []string
	Tags              map[string]string
	Region, AccountID string
	RotationEnabled   bool
}

type ReplicateKeyInput struct {
	BypassPolicyLockoutSafetyCheck bool    `json:"BypassPolicyLockoutSafetyCheck,omitempty"`
	Description                    string  `json:"Description,omitempty"`
	KeyId                          string  `json:"KeyId"`
	Policy                         *string `json:"Policy,omitempty"`
	ReplicaRegion                  string  `json:"ReplicaRegion"`
	Tags                           []Tag   `json:"Tags,omitempty"`
}

type ReplicateKeyOutput struct {
	ReplicaKeyMetadata *KeyMetadata `json:"ReplicaKeyMetadata"`
	ReplicaPolicy      string       `json:"ReplicaPolicy"`
	ReplicaTags        []Tag        `json:"ReplicaTags,omitempty"`
}

type UpdatePrimaryRegionInput struct {
	KeyId         string `json:"KeyId"`
	PrimaryRegion string `json:"PrimaryRegion"`
}

type UpdatePrimaryRegionOutput struct{}

// ---- custom key stores (keystores.go) ----

// XksProxyAuthenticationCredential is the SigV4 credential KMS signs its
// requests to an external key store proxy with.
type XksProxyAuthenticationCredential struct {
	AccessKeyId        string `json:"AccessKeyId"`
	RawSecretAccessKey string `json:"RawSecretAccessKey"`
}

// XksProxyConfiguration is an external key store's proxy, as
// DescribeCustomKeyStores reports it (never the secret).
type XksProxyConfiguration struct {
	AccessKeyId             string `json:"AccessKeyId,omitempty"`
	Connectivity            string `json:"Connectivity,omitempty"`
	UriEndpoint             string `json:"UriEndpoint,omitempty"`
	UriPath                 string `json:"UriPath,omitempty"`
	VpcEndpointServiceName  string `json:"VpcEndpointServiceName,omitempty"`
	VpcEndpointServiceOwner string `json:"VpcEndpointServiceOwner,omitempty"`
}

// XksKeyConfiguration names a key's external key (KeyMetadata).
type XksKeyConfiguration struct {
	Id string `json:"Id"`
}

type CreateCustomKeyStoreInput struct {
	CustomKeyStoreName               string                            `json:"CustomKeyStoreName"`
	CloudHsmClusterId                string                            `json:"CloudHsmClusterId,omitempty"`
	CustomKeyStoreType               string                            `json:"CustomKeyStoreType,omitempty"`
	KeyStorePassword                 string                            `json:"KeyStorePassword,omitempty"`
	TrustAnchorCertificate           string                            `json:"TrustAnchorCertificate,omitempty"`
	XksProxyAuthenticationCredential *XksProxyAuthenticationCredential `json:"XksProxyAuthenticationCredential,omitempty"`
	XksProxyConnectivity             string                            `json:"XksProxyConnectivity,omitempty"`
	XksProxyUriEndpoint              string                            `json:"XksProxyUriEndpoint,omitempty"`
	XksProxyUriPath                  string                            `json:"XksProxyUriPath,omitempty"`
	XksProxyVpcEndpointServiceName   string                            `json:"XksProxyVpcEndpointServiceName,omitempty"`
	XksProxyVpcEndpointServiceOwner  string                            `json:"XksProxyVpcEndpointServiceOwner,omitempty"`
}

type CreateCustomKeyStoreOutput struct {
	CustomKeyStoreId string `json:"CustomKeyStoreId"`
}

type UpdateCustomKeyStoreInput struct {
	CustomKeyStoreId                 string                            `json:"CustomKeyStoreId"`
	CloudHsmClusterId                string                            `json:"CloudHsmClusterId,omitempty"`
	KeyStorePassword                 string                            `json:"KeyStorePassword,omitempty"`
	NewCustomKeyStoreName            string                            `json:"NewCustomKeyStoreName,omitempty"`
	XksProxyAuthenticationCredential *XksProxyAuthenticationCredential `json:"XksProxyAuthenticationCredential,omitempty"`
	XksProxyConnectivity             string                            `json:"XksProxyConnectivity,omitempty"`
	XksProxyUriEndpoint              string                            `json:"XksProxyUriEndpoint,omitempty"`
	XksProxyUriPath                  string                            `json:"XksProxyUriPath,omitempty"`
	XksProxyVpcEndpointServiceName   string                            `json:"XksProxyVpcEndpointServiceName,omitempty"`
	XksProxyVpcEndpointServiceOwner  string                            `json:"XksProxyVpcEndpointServiceOwner,omitempty"`
}

type UpdateCustomKeyStoreOutput struct{}

type ConnectCustomKeyStoreInput struct {
	CustomKeyStoreId string `json:"CustomKeyStoreId"`
}

type DisconnectCustomKeyStoreInput struct {
	CustomKeyStoreId string `json:"CustomKeyStoreId"`
}

type DeleteCustomKeyStoreInput struct {
	CustomKeyStoreId string `json:"CustomKeyStoreId"`
}

type (
	ConnectCustomKeyStoreOutput    struct{}
	DisconnectCustomKeyStoreOutput struct{}
	DeleteCustomKeyStoreOutput     struct{}
)

type DescribeCustomKeyStoresInput struct {
	CustomKeyStoreId   string `json:"CustomKeyStoreId,omitempty"`
	CustomKeyStoreName string `json:"CustomKeyStoreName,omitempty"`
	Limit              *int32 `json:"Limit,omitempty"`
	Marker             string `json:"Marker,omitempty"`
}

type DescribeCustomKeyStoresOutput struct {
	CustomKeyStores []CustomKeyStoresListEntry `json:"CustomKeyStores"`
	NextMarker      string                     `json:"NextMarker,omitempty"`
	Truncated       bool                       `json:"Truncated"`
}

// CustomKeyStoresListEntry is one custom key store.
type CustomKeyStoresListEntry struct {
	CloudHsmClusterId      string                 `json:"CloudHsmClusterId,omitempty"`
	ConnectionErrorCode    string                 `json:"ConnectionErrorCode,omitempty"`
	ConnectionState        string                 `json:"ConnectionState"`
	CreationDate           Timestamp              `json:"CreationDate"`
	CustomKeyStoreId       string                 `json:"CustomKeyStoreId"`
	CustomKeyStoreName     string                 `json:"CustomKeyStoreName"`
	CustomKeyStoreType     string                 `json:"CustomKeyStoreType"`
	TrustAnchorCertificate string                 `json:"TrustAnchorCertificate,omitempty"`
	XksProxyConfiguration  *XksProxyConfiguration `json:"XksProxyConfiguration,omitempty"`
}
