// Package xks is the External Key Store (XKS) proxy API of AWS KMS, version
// 1 (the "External Key Store Proxy API Specification"): the four calls a KMS
// makes to a proxy in front of an external key manager (GetKeyMetadata,
// Encrypt, Decrypt, GetHealthStatus), JSON over HTTP(S) signed with SigV4
// under the service name "kms-xks-proxy".
//
// Trent is on both sides of it. As a KMS, its keys in an external key store
// (Origin EXTERNAL_KEY_STORE) call a proxy through Client. As a proxy,
// Handler serves the API over Trent's own symmetric keys, so that AWS KMS
// (or another Trent) can keep a key's material in Trent.
//
// This file holds the wire types and the contract between the two halves;
// client.go and proxy.go hold the HTTP sides, wire.go their JSON bodies and
// the checks both make (sizes, Base64, the CDIV of Appendix C).
package xks

import (
	"context"
	"encoding/binary"
	"net/http"

	"github.com/trent-kms/trent/internal/iam"
)

const (
	// SigningService is the SigV4 service name of every proxy request.
	SigningService = "kms-xks-proxy"
	// APIPath ends every proxy's base path: XksProxyUriPath is
	// "[/prefix]/kms/xks/v1".
	APIPath = "/kms/xks/v1"

	// AlgorithmAESGCM is the only encryptionAlgorithm of version 1.
	AlgorithmAESGCM = "AES_GCM"
	// CDIVSHA256 is the only ciphertextDataIntegrityValueAlgorithm.
	CDIVSHA256 = "SHA_256"

	// MaxMetadata is the largest ciphertextMetadata, in bytes.
	MaxMetadata = 20
	// MaxAAD is the largest additionalAuthenticatedData a proxy must take.
	MaxAAD = 8192
	// MaxKeyID is the longest external key id.
	MaxKeyID = 128
	// TagSize is AES-GCM's authentication tag size, the only one allowed.
	TagSize = 16
)

// RequestMetadata is the context KMS sends with every call, for the proxy's
// log and its optional secondary authorization. The proxy validates none of
// it beyond the signature over the body.
type RequestMetadata struct {
	AwsPrincipalArn string `json:"awsPrincipalArn"`
	AwsSourceVpc    string `json:"awsSourceVpc,omitempty"`
	AwsSourceVpce   string `json:"awsSourceVpce,omitempty"`
	KmsKeyArn       string `json:"kmsKeyArn,omitempty"`
	KmsOperation    string `json:"kmsOperation"`
	KmsRequestId    string `json:"kmsRequestId"`
	KmsViaService   string `json:"kmsViaService,omitempty"`
}

// KeyMetadata is GetKeyMetadata's answer.
type KeyMetadata struct {
	KeySpec   string   `json:"keySpec"`   // "AES_256" for a key KMS can use
	KeyUsage  []string `json:"keyUsage"`  // must hold "ENCRYPT" and "DECRYPT"
	KeyStatus string   `json:"keyStatus"` // "ENABLED" or "DISABLED"
}

// Sealed is what a proxy's Encrypt returns and its Decrypt takes back.
type Sealed struct {
	Ciphertext []byte // as long as the plaintext
	IV         []byte // 12 or 16 bytes
	Tag        []byte // TagSize bytes
	Metadata   []byte // ciphertextMetadata: 0..MaxMetadata bytes, the proxy's own
}

// Health is GetHealthStatus's answer.
type Health struct {
	XksProxyFleetSize int          `json:"xksProxyFleetSize"`
	XksProxyVendor    string       `json:"xksProxyVendor"`
	XksProxyModel     string       `json:"xksProxyModel"` // product name and version
	EkmVendor         string       `json:"ekmVendor"`
	EkmFleetDetails   []EkmDetails `json:"ekmFleetDetails"` // 1..MaxEkmFleet entries
}

// EkmDetails is one external key manager of Health's fleet.
type EkmDetails struct {
	Id           string `json:"id"`
	Model        string `json:"model"`
	HealthStatus string `json:"healthStatus"` // HealthActive, HealthDegraded or HealthUnavailable
}

// The health statuses of an external key manager.
const (
	HealthActive      = "ACTIVE"      // healthy
	HealthDegraded    = "DEGRADED"    // unhealthy, but still serves traffic
	HealthUnavailable = "UNAVAILABLE" // cannot serve traffic
)

// MaxEkmFleet is the most ekmFleetDetails entries a Health may hold.
const MaxEkmFleet = 10

// Available reports whether at least one external key manager of the fleet
// can serve traffic (is ACTIVE or DEGRADED).
func (h *Health) Available() bool {
	for _, e := range h.EkmFleetDetails {
		if e.HealthStatus == HealthActive || e.HealthStatus == HealthDegraded {
			return true
		}
	}
	return false
}

// Error is a proxy's error answer ({"errorName": ..., "errorMessage": ...}
// with the specification's HTTP status), as Client returns it and as a
// Backend returns it to have Handler answer it.
type Error struct {
	Status  int    // HTTP status
	Name    string // errorName, e.g. "KeyNotFoundException"
	Message string // errorMessage; may be empty
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "xks: " + e.Name
	}
	return "xks: " + e.Name + ": " + e.Message
}

// The errors of the specification, by errorName, with their HTTP status.
var (
	ErrValidation           = &Error{Status: http.StatusBadRequest, Name: "ValidationException"}
	ErrInvalidState         = &Error{Status: http.StatusBadRequest, Name: "InvalidStateException"}
	ErrInvalidCiphertext    = &Error{Status: http.StatusBadRequest, Name: "InvalidCiphertextException"}
	ErrInvalidKeyUsage      = &Error{Status: http.StatusBadRequest, Name: "InvalidKeyUsageException"}
	ErrAuthenticationFailed = &Error{Status: http.StatusUnauthorized, Name: "AuthenticationFailedException"}
	ErrAccessDenied         = &Error{Status: http.StatusForbidden, Name: "AccessDeniedException"}
	ErrKeyNotFound          = &Error{Status: http.StatusNotFound, Name: "KeyNotFoundException"}
	ErrInvalidURIPath       = &Error{Status: http.StatusNotFound, Name: "InvalidUriPathException"}
	ErrUnsupportedOperation = &Error{Status: http.StatusNotImplemented, Name: "UnsupportedOperationException"}
	ErrThrottling           = &Error{Status: http.StatusTooManyRequests, Name: "ThrottlingException"}
	ErrInternal             = &Error{Status: http.StatusInternalServerError, Name: "InternalException"}
	ErrDependencyTimeout    = &Error{Status: http.StatusServiceUnavailable, Name: "DependencyTimeoutException"}
)

// With returns a copy of the sentinel e carrying msg.
func (e *Error) With(msg string) *Error { return &Error{Status: e.Status, Name: e.Name, Message: msg} }

// Is matches any *Error with the same Name, so that
// errors.Is(err, xks.ErrKeyNotFound) holds for every KeyNotFoundException.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Name == e.Name
}

// AAD is the additional data an external key manager's AES-GCM takes for
// the request's additionalAuthenticatedData and the ciphertextMetadata, as
// the specification gives it: uint16be(len(aad)) || aad || uint8(len(md))
// || md. len(aad) <= MaxAAD and len(md) <= MaxMetadata.
func AAD(aad, md []byte) []byte {
	out := make([]byte, 0, 3+len(aad)+len(md))
	out = binary.BigEndian.AppendUint16(out, uint16(len(aad)))
	out = append(out, aad...)
	out = append(out, byte(len(md)))
	return append(out, md...)
}

// Caller is the authenticated sender of a proxy request (the SigV4
// credential's principal and the Region of its scope).
type Caller struct {
	Principal   iam.Principal
	AccessKeyID string
	Region      string
}

// Backend is the key manager behind Handler. An *Error it returns is the
// answer; any other error answers InternalException (its text goes only
// to the log).
type Backend interface {
	// Health reports whether the key manager can do cryptographic work.
	Health(ctx context.Context) error
	KeyMetadata(ctx context.Context, c *Caller, keyID string, md *RequestMetadata) (*KeyMetadata, error)
	Encrypt(ctx context.Context, c *Caller, keyID string, md *RequestMetadata, plaintext, aad []byte) (*Sealed, error)
	Decrypt(ctx context.Context, c *Caller, keyID string, md *RequestMetadata, s *Sealed, aad []byte) ([]byte, error)
}
