package xks

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// The JSON bodies of the four calls. Base64 members are strings encoded and
// decoded here rather than []byte, so that an empty value goes out as ""
// (never null) and, on the reading side, a missing member (nil) is told
// apart from an empty one.

// metadataRequest is GetKeyMetadata's request.
type metadataRequest struct {
	RequestMetadata *RequestMetadata `json:"requestMetadata"`
}

// healthRequest is GetHealthStatus's request: its requestMetadata holds
// only kmsRequestId and kmsOperation.
type healthRequest struct {
	RequestMetadata healthMetadata `json:"requestMetadata"`
}

type healthMetadata struct {
	KmsRequestId string `json:"kmsRequestId"`
	KmsOperation string `json:"kmsOperation"`
}

type encryptRequest struct {
	RequestMetadata                       *RequestMetadata `json:"requestMetadata"`
	AdditionalAuthenticatedData           string           `json:"additionalAuthenticatedData,omitempty"`
	Plaintext                             string           `json:"plaintext"`
	EncryptionAlgorithm                   string           `json:"encryptionAlgorithm"`
	CiphertextDataIntegrityValueAlgorithm string           `json:"ciphertextDataIntegrityValueAlgorithm,omitempty"`
}

type decryptRequest struct {
	RequestMetadata             *RequestMetadata `json:"requestMetadata"`
	Ciphertext                  string           `json:"ciphertext"`
	CiphertextMetadata          string           `json:"ciphertextMetadata,omitempty"`
	EncryptionAlgorithm         string           `json:"encryptionAlgorithm"`
	AdditionalAuthenticatedData string           `json:"additionalAuthenticatedData,omitempty"`
	AuthenticationTag           string           `json:"authenticationTag"`
	InitializationVector        string           `json:"initializationVector"`
}

// proxyRequest is any request as the proxy reads it: every member
// optional, so that a missing one is reported by name.
type proxyRequest struct {
	RequestMetadata                       *RequestMetadata `json:"requestMetadata"`
	Plaintext                             *string          `json:"plaintext"`
	Ciphertext                            *string          `json:"ciphertext"`
	CiphertextMetadata                    *string          `json:"ciphertextMetadata"`
	EncryptionAlgorithm                   *string          `json:"encryptionAlgorithm"`
	AdditionalAuthenticatedData           *string          `json:"additionalAuthenticatedData"`
	InitializationVector                  *string          `json:"initializationVector"`
	AuthenticationTag                     *string          `json:"authenticationTag"`
	CiphertextDataIntegrityValueAlgorithm *string          `json:"ciphertextDataIntegrityValueAlgorithm"`
}

type encryptResponse struct {
	Ciphertext                   *string `json:"ciphertext"`
	CiphertextMetadata           *string `json:"ciphertextMetadata,omitempty"`
	InitializationVector         *string `json:"initializationVector"`
	AuthenticationTag            *string `json:"authenticationTag"`
	CiphertextDataIntegrityValue *string `json:"ciphertextDataIntegrityValue,omitempty"`
}

type decryptResponse struct {
	Plaintext *string `json:"plaintext"`
}

type errorResponse struct {
	ErrorName    string `json:"errorName"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// maxErrorMessage bounds an errorMessage: fewer than 512 characters.
const maxErrorMessage = 511

func encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// encodeOpt is encode for an optional member: nil when b is empty.
func encodeOpt(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := encode(b)
	return &s
}

// decode decodes the Base64 member name, which must not hold more than max
// bytes (no bound when max < 0). The length is checked before decoding.
// Errors name the member, never its value.
func decode(name, s string, max int) ([]byte, error) {
	if max >= 0 && len(s) > base64.StdEncoding.EncodedLen(max) {
		return nil, fmt.Errorf("%s must be at most %d bytes", name, max)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not valid Base64", name)
	}
	if max >= 0 && len(b) > max {
		return nil, fmt.Errorf("%s must be at most %d bytes", name, max)
	}
	return b, nil
}

// checkSealed checks the sizes of s that the specification fixes.
func checkSealed(s *Sealed) error {
	switch {
	case len(s.IV) != 12 && len(s.IV) != 16:
		return fmt.Errorf("initializationVector must be 12 or 16 bytes, not %d", len(s.IV))
	case len(s.Tag) != TagSize:
		return fmt.Errorf("authenticationTag must be %d bytes, not %d", TagSize, len(s.Tag))
	case len(s.Metadata) > MaxMetadata:
		return fmt.Errorf("ciphertextMetadata must be at most %d bytes, not %d", MaxMetadata, len(s.Metadata))
	}
	return nil
}

// cdiv is the ciphertextDataIntegrityValue of an Encrypt (Appendix C), before
// Base64: SHA-256 over aad || metadata || iv || ciphertext || tag, aad as
// sent in the request, the rest as answered. Lengths are not part of it.
func cdiv(aad []byte, s *Sealed) [sha256.Size]byte {
	h := sha256.New()
	h.Write(aad)
	h.Write(s.Metadata)
	h.Write(s.IV)
	h.Write(s.Ciphertext)
	h.Write(s.Tag)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// ValidKeyID reports whether id is a valid externalKeyId: 1 to MaxKeyID
// characters among A-Z, a-z, 0-9, '-', '.' and '_'.
func ValidKeyID(id string) bool {
	if len(id) == 0 || len(id) > MaxKeyID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// printable returns s with every byte outside printable ASCII (0x20..0x7e)
// replaced by '?', clipped to max bytes: what may go into an errorMessage
// or a log line.
func printable(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < 0x20 || b[j] > 0x7e {
					b[j] = '?'
				}
			}
			return string(b)
		}
	}
	return s
}
