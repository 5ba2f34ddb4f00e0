// Package envelope implements client-side envelope encryption of data of any
// size in the AWS Encryption SDK message format, so that messages written here
// are read by the official AWS Encryption SDKs (Java, Python, JavaScript, C,
// .NET, CLI) and the other way round.
//
// # Messages
//
// [Encrypt] returns an [io.WriteCloser] that writes a message in format
// version 2: a header carrying the algorithm suite, a random 32-byte message
// ID, the encryption context and the encrypted data keys, followed by a
// framed body (default frame size 4096 bytes) and, for signed suites, a
// footer with an ECDSA P-384 signature over everything before it. Only the
// key-committing suites are written:
//
//   - [SuiteAES256GCMHKDFSHA512CommitKeyECDSAP384] (0x0578, the default, as in
//     the official SDKs): AES-256-GCM, HKDF-SHA512, key commitment and an
//     ECDSA P-384 signature, so holders of a data key who may decrypt cannot
//     forge messages;
//   - [SuiteAES256GCMHKDFSHA512CommitKey] (0x0478): the same without the
//     signature, faster, for when readers and writers are equally trusted.
//
// [Decrypt] returns a [Reader] that verifies the header (its authentication
// tag and the key commitment) before it releases any plaintext, checks every
// frame, rejects truncated messages, out-of-order frames and trailing data,
// and checks the signature at the end. Version 1 (non-committing) messages
// are read only when [DecryptOptions.CommitmentPolicy] is
// [RequireEncryptAllowDecrypt]; the default, [RequireEncryptRequireDecrypt],
// refuses them, as the official SDKs do. Non-framed bodies, which old SDKs
// could write, are read too: held and authenticated whole, so only up to
// [DecryptOptions.MaxFrameSize].
//
// # Releasing plaintext before the end
//
// Memory stays bounded by one frame whatever the message size, so a [Reader]
// releases the plaintext of each frame as soon as that frame is
// authenticated, before the end of the message (and its signature) has been
// checked. A message cut short or with a bad signature therefore fails only at
// the end. Callers must treat everything read as untrusted until Read returns
// [io.EOF]; for example write it to a temporary file and rename it into place
// only then (the trent CLI does this). The final frame is held back until the
// signature and the absence of trailing data are verified;
// [DecryptOptions.Unsigned] refuses signed messages outright, for callers
// that must not release plaintext before its signature is checked. A Reader decrypts
// each frame in place in its input buffer; io.Copy uses its WriteTo method,
// which saves one more copy.
//
// # Keyrings
//
// A [Keyring] produces and wraps the data key of a message and unwraps it
// again:
//
//   - [NewKMSKeyring] wraps the data key under one or more AWS KMS (or Trent)
//     keys through any [KMSClient], such as *kms.Client from aws-sdk-go-v2.
//     The first key generates the data key, each further key encrypts it, and
//     any one of them can open the message. On decryption it is an allow-list:
//     it opens only data keys wrapped under its keys.
//   - [NewKMSDiscoveryKeyring] opens data keys wrapped under any KMS key the
//     caller may use, optionally restricted to a partition and accounts.
//   - [NewRawAESKeyring] wraps with a local AES-GCM key (provider ID = key
//     namespace), byte compatible with the official raw AES keyrings.
//   - [NewMultiKeyring] combines keyrings.
//
// # Caching
//
// Each message needs a fresh data key, which for KMS keyrings means one KMS
// call per message. A [Cache] passed in the options reuses data keys across
// messages within limits on age, number of messages and bytes, as the
// official caching cryptographic materials manager does.
//
// # Encryption context
//
// The encryption context is a map of non-secret strings bound to the message:
// it is stored in the header, authenticated, and passed to KMS. Keys starting
// with "aws-crypto-" are reserved; signed suites store the verification key
// under "aws-crypto-public-key" (a base64 compressed P-384 point).
// [DecryptOptions.EncryptionContext] makes decryption fail unless the message
// carries the given pairs.
package envelope
