package envelope

import (
	"errors"
	"fmt"
)

// Suite identifies an algorithm suite by its two-byte ID in the message header.
type Suite uint16

// Algorithm suites. Messages are written only with the committing suites
// (0x0478, 0x0578); the others are read, from version 1 messages, under
// [RequireEncryptAllowDecrypt].
const (
	// SuiteAES256GCMHKDFSHA512CommitKeyECDSAP384 is AES-256-GCM with
	// HKDF-SHA512 key derivation, key commitment and an ECDSA P-384
	// signature. It is the default.
	SuiteAES256GCMHKDFSHA512CommitKeyECDSAP384 Suite = 0x0578
	// SuiteAES256GCMHKDFSHA512CommitKey is AES-256-GCM with HKDF-SHA512 key
	// derivation and key commitment, unsigned.
	SuiteAES256GCMHKDFSHA512CommitKey Suite = 0x0478

	// Version 1 (non-committing) suites, decrypt only.
	SuiteAES256GCMIV12Tag16HKDFSHA384ECDSAP384 Suite = 0x0378
	SuiteAES192GCMIV12Tag16HKDFSHA384ECDSAP384 Suite = 0x0346
	SuiteAES128GCMIV12Tag16HKDFSHA256ECDSAP256 Suite = 0x0214
	SuiteAES256GCMIV12Tag16HKDFSHA256          Suite = 0x0178
	SuiteAES192GCMIV12Tag16HKDFSHA256          Suite = 0x0146
	SuiteAES128GCMIV12Tag16HKDFSHA256          Suite = 0x0114
	SuiteAES256GCMIV12Tag16NoKDF               Suite = 0x0078
	SuiteAES192GCMIV12Tag16NoKDF               Suite = 0x0046
	SuiteAES128GCMIV12Tag16NoKDF               Suite = 0x0014
)

// DefaultSuite is the suite used when [EncryptOptions.Suite] is zero.
const DefaultSuite = SuiteAES256GCMHKDFSHA512CommitKeyECDSAP384

// String returns the official name of the suite, such as
// "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384".
func (s Suite) String() string {
	if p := suiteParams(s); p != nil {
		return p.name
	}
	return fmt.Sprintf("Suite(0x%04X)", uint16(s))
}

// Committing reports whether the suite provides key commitment.
func (s Suite) Committing() bool {
	p := suiteParams(s)
	return p != nil && p.commit
}

// Signed reports whether messages with this suite carry an ECDSA signature.
func (s Suite) Signed() bool {
	p := suiteParams(s)
	return p != nil && p.curve != nil
}

// CommitmentPolicy decides which suites may be written and read, with the
// names and meaning of the official SDKs. The zero value is
// [RequireEncryptRequireDecrypt].
type CommitmentPolicy int

const (
	// RequireEncryptRequireDecrypt writes and reads only key-committing
	// messages. It is the default.
	RequireEncryptRequireDecrypt CommitmentPolicy = iota
	// RequireEncryptAllowDecrypt writes key-committing messages and also
	// reads version 1 messages of non-committing suites (to migrate data
	// written by old SDKs).
	RequireEncryptAllowDecrypt
)

func (p CommitmentPolicy) String() string {
	switch p {
	case RequireEncryptRequireDecrypt:
		return "REQUIRE_ENCRYPT_REQUIRE_DECRYPT"
	case RequireEncryptAllowDecrypt:
		return "REQUIRE_ENCRYPT_ALLOW_DECRYPT"
	}
	return fmt.Sprintf("CommitmentPolicy(%d)", int(p))
}

// DefaultFrameSize is the frame size used when [EncryptOptions.FrameSize] is zero.
const DefaultFrameSize = 4096

// MaxFrameSize is the largest frame size [Encrypt] accepts.
const MaxFrameSize = 1<<31 - 1

// DefaultMaxDecryptFrameSize bounds the frame length a [Reader] accepts when
// [DecryptOptions.MaxFrameSize] is zero; the Reader buffers one frame.
const DefaultMaxDecryptFrameSize = 64 << 20

// EncryptOptions configures [Encrypt]. The zero value (or nil) is valid.
type EncryptOptions struct {
	// EncryptionContext is bound to the message (stored in the header,
	// authenticated, and passed to the keyrings). Keys starting with
	// "aws-crypto-" are reserved.
	EncryptionContext map[string]string
	// Suite is the algorithm suite, [DefaultSuite] if zero. It must be
	// committing.
	Suite Suite
	// FrameSize is the plaintext length of each frame, [DefaultFrameSize]
	// if zero, at most [MaxFrameSize]. The writer buffers one frame.
	FrameSize int
	// MaxEncryptedDataKeys makes Encrypt fail if the keyring produces more
	// encrypted data keys. Zero means no limit.
	MaxEncryptedDataKeys int
	// MaxPlaintextLength, if positive, bounds the plaintext: writing more
	// fails. A [Cache] reuses data keys only for messages with a bound, and
	// counts the bound against its byte limit.
	MaxPlaintextLength int64
	// Cache, if not nil, reuses encryption materials across messages.
	Cache *Cache
}

// DecryptOptions configures [Decrypt]. The zero value (or nil) is valid.
type DecryptOptions struct {
	// CommitmentPolicy decides whether version 1 non-committing messages
	// are read; the default refuses them.
	CommitmentPolicy CommitmentPolicy
	// EncryptionContext lists pairs the message must carry (with equal
	// values); otherwise Decrypt fails with [ErrContextMismatch] before
	// releasing any plaintext.
	EncryptionContext map[string]string
	// MaxEncryptedDataKeys makes Decrypt fail on messages with more
	// encrypted data keys, before any key is unwrapped. Zero means no limit.
	MaxEncryptedDataKeys int
	// MaxFrameSize bounds the frame length of the message, and the
	// length of a non-framed body (the Reader buffers one frame, or the
	// whole non-framed body); [DefaultMaxDecryptFrameSize] if zero.
	MaxFrameSize int
	// Cache, if not nil, reuses unwrapped data keys across messages.
	Cache *Cache
	// Unsigned makes Decrypt fail with [ErrUnsupported] on a message of a
	// signed suite, right after parsing its header and before any key is
	// unwrapped (the official SDKs' "decrypt unsigned" mode). A Reader
	// releases the plaintext of each frame before a signed message's
	// signature is checked at its end; a caller that streams plaintext and
	// must never release data of an unchecked signature sets Unsigned.
	Unsigned bool
}

// Errors. Decrypt and the Reader wrap these, so test with [errors.Is].
var (
	// ErrInvalidMessage means the input is not a well-formed message, or
	// it was modified, truncated or followed by trailing data, or its
	// authentication (header tag, key commitment, frame tag, signature)
	// failed.
	ErrInvalidMessage = errors.New("envelope: invalid or tampered message")
	// ErrCommitmentPolicy means the message's suite is not allowed by the
	// commitment policy.
	ErrCommitmentPolicy = errors.New("envelope: algorithm suite not allowed by commitment policy")
	// ErrNoDecryptableKey means no keyring could unwrap any of the
	// message's encrypted data keys (wrong key, or no access).
	ErrNoDecryptableKey = errors.New("envelope: no encrypted data key could be decrypted")
	// ErrContextMismatch means the message's encryption context lacks a pair
	// given in DecryptOptions.EncryptionContext.
	ErrContextMismatch = errors.New("envelope: encryption context mismatch")
	// ErrTooManyEncryptedDataKeys means the message has more encrypted data
	// keys than MaxEncryptedDataKeys allows.
	ErrTooManyEncryptedDataKeys = errors.New("envelope: too many encrypted data keys")
	// ErrUnsupported means the message uses a feature this package does
	// not read (for example a frame or non-framed body longer than
	// [DecryptOptions.MaxFrameSize]), or a signed suite under
	// [DecryptOptions.Unsigned].
	ErrUnsupported = errors.New("envelope: unsupported message")
)

// reservedPrefix starts the encryption context keys reserved to the SDK.
const reservedPrefix = "aws-crypto-"

// publicKeyContextKey holds the base64 compressed signature verification key.
const publicKeyContextKey = "aws-crypto-public-key"
