package kms

import (
	"github.com/trent-kms/trent/internal/attest"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
)

// The Recipient parameter (AWS Nitro Enclaves): Decrypt, GenerateDataKey,
// GenerateDataKeyPair, GenerateRandom and DeriveSharedSecret take a signed
// attestation document, verify it (package attest) before authorizing, let
// key and identity policies test its measurements
// (kms:RecipientAttestation:ImageSha384, kms:RecipientAttestation:PCR<n>),
// report it to the audit log (Facts.Recipient), and answer the secret only
// in CiphertextForRecipient, encrypted for the document's public key; the
// plaintext member is then null.

// keyEncryptionRSAOAEPSHA256 is RecipientInfo's one KeyEncryptionAlgorithm,
// and so what a Recipient without one gets (the member is optional).
const keyEncryptionRSAOAEPSHA256 = "RSAES_OAEP_SHA_256"

// attestation verifies r (nil: no recipient, nil document) and records it
// in c.Facts. Every document it refuses is a ValidationException (AWS's
// message for it is not recorded: ours).
func (s *Service) attestation(c Caller, r *RecipientInfo) (*attest.Document, error) {
	if r == nil {
		return nil, nil
	}
	if len(r.AttestationDocument) == 0 {
		return nil, kmserr.ErrValidation.With("Recipient must include an AttestationDocument.")
	}
	if a := r.KeyEncryptionAlgorithm; a != "" && a != keyEncryptionRSAOAEPSHA256 {
		return nil, kmserr.ErrValidation.With("The KeyEncryptionAlgorithm of a Recipient must be %s.", keyEncryptionRSAOAEPSHA256)
	}
	doc, err := attest.Verify(r.AttestationDocument, s.attRoots, s.now())
	if err != nil {
		s.log.Info("kms: attestation document refused", "err", err, "request_id", c.RequestID)
		return nil, kmserr.ErrValidation.With("The attestation document in the Recipient parameter is not valid.")
	}
	if c.Facts != nil {
		c.Facts.Recipient = doc
	}
	return doc, nil
}

// forRecipient returns secret encrypted for doc's enclave, and wipes secret.
func forRecipient(doc *attest.Document, secret []byte) ([]byte, error) {
	defer clear(secret)
	return attest.Seal(doc.PublicKey, secret)
}

// attestationValue answers the kms:RecipientAttestation:* condition keys
// from doc (lower-case hexadecimal, as AWS documents them).
func attestationValue(doc *attest.Document, name string) (policy.Values, bool) {
	if doc == nil {
		return policy.Values{}, false
	}
	n, ok := policy.RecipientPCR(name)
	if name == policy.KeyRecipientImageSha384 {
		n, ok = 0, true
	}
	if !ok {
		return policy.Values{}, false
	}
	v := doc.PCRHex(n)
	return policy.One(v), v != ""
}
