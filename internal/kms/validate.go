package kms

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trent-kms/trent/internal/kmserr"
)

// Enum value sets as AWS lists them in validation messages.
var (
	enumKeyUsage           = []string{"ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT", "ENCAPSULATE_DECAPSULATE"}
	enumKeySpec            = []string{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ECC_NIST_EDWARDS25519", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"}
	enumCustomerMasterSpec = []string{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2"}
	enumOrigin             = []string{"AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"}
	enumDataKeySpec        = []string{"AES_256", "AES_128"}
	enumEncryptionAlg      = []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE", "SYMMETRIC_DEFAULT"} // AWS's order, not the model's
	enumIncludeKeyMaterial = []string{"ALL_KEY_MATERIAL", "ROTATIONS_ONLY"}
	enumDryRunModifier     = []string{"IGNORE_CIPHERTEXT"}
	enumKeyEncryptionAlg   = []string{"RSAES_OAEP_SHA_256"}
)

const (
	maxKeyIDLen       = 2048
	maxGrantTokens    = 10
	maxGrantTokenLen  = 8192
	maxPlaintextLen   = 4096
	maxCiphertextLen  = 6144
	maxDescriptionLen = 8192
	maxPolicyLen      = 131072
	maxMarkerLen      = 1024
	maxAliasNameLen   = 256
	maxTagKeyLen      = 128
	maxTagValueLen    = 256
	maxTagsPerKey     = 50
	maxAliasesPerKey  = 50
	aliasPattern      = "^[a-zA-Z0-9:/_-]+$"
	markerPattern     = `[\u0020-\u00FF]*`
	policyPattern     = `[\u0009\u000A\u000D\u0020-\u00FF]+`
	policyNamePattern = `[\w]+`
)

// validator collects AWS model-constraint violations, and a malformed
// grant token (InvalidGrantTokenException, reported after them).
type validator struct {
	kmserr.Validation
	tokenErr error
}

// Err returns the ValidationException of the violations, else the grant
// token error, else nil.
func (v *validator) Err() error {
	if err := v.Validation.Err(); err != nil {
		return err
	}
	return v.tokenErr
}

func (v *validator) strLen(member, val string, min, max int) {
	n := utf8.RuneCountInString(val) // the model's lengths count characters, not bytes
	if n < min {
		v.Add(member, val, true, fmt.Sprintf("Member must have length greater than or equal to %d", min))
	} else if n > max {
		v.Add(member, val, true, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
}

// matches checks a member against its model pattern (re).
func (v *validator) matches(member, val string, re *regexp.Regexp) {
	if !re.MatchString(val) {
		v.Add(member, val, true, "Member must satisfy regular expression pattern: "+re.String())
	}
}

// keyID checks a KeyId-like member (1..2048). Missing means the empty string.
func (v *validator) keyID(member, val string, required bool) {
	if val == "" {
		if required {
			v.Required(member)
		}
		return
	}
	v.strLen(member, val, 1, maxKeyIDLen)
}

// blob checks a sensitive/binary member; AWS leaves the value out of the message.
func (v *validator) blob(member string, b []byte, max int, required bool) {
	switch {
	case b == nil:
		if required {
			v.Required(member)
		}
	case len(b) < 1:
		v.Add(member, "", false, "Member must have length greater than or equal to 1")
	case len(b) > max:
		v.Add(member, "", false, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
}

// plaintext checks a required member of AWS's sensitive PlaintextType
// (Plaintext, Message: 1..4096 bytes). AWS leaves even the word null out
// of its message when one is missing: "Value at 'message' failed to
// satisfy constraint: Member must not be null".
func (v *validator) plaintext(member string, b []byte) {
	if b == nil {
		v.Add(member, "", false, "Member must not be null")
		return
	}
	v.blob(member, b, maxPlaintextLen, true)
}

func (v *validator) intRange(member string, p *int32, min, max int32) {
	if p == nil {
		return
	}
	if *p < min {
		v.Add(member, strconv.Itoa(int(*p)), true, fmt.Sprintf("Member must have value greater than or equal to %d", min))
	} else if *p > max {
		v.Add(member, strconv.Itoa(int(*p)), true, fmt.Sprintf("Member must have value less than or equal to %d", max))
	}
}

func (v *validator) enum(member, val string, set []string) {
	if val == "" {
		return
	}
	for _, s := range set {
		if s == val {
			return
		}
	}
	v.Add(member, val, true, "Member must satisfy enum value set: ["+strings.Join(set, ", ")+"]")
}

// grantToken checks the length of one grant token, leaving the value out of
// the message (see grantTokens).
func (v *validator) grantToken(member, t string) {
	if t == "" {
		v.strLen(member, t, 1, maxGrantTokenLen)
	} else if utf8.RuneCountInString(t) > maxGrantTokenLen {
		v.Add(member, "", false, fmt.Sprintf("Member must have length less than or equal to %d", maxGrantTokenLen))
	}
}

// grantTokens checks a request's GrantTokens. Messages leave the values
// out, as AWS does for sensitive members: a message reaches the audit log,
// which never records grant tokens (docs/audit.md).
func (v *validator) grantTokens(toks []string) {
	if len(toks) > maxGrantTokens {
		v.Add("grantTokens", "", false, fmt.Sprintf("Member must have length less than or equal to %d", maxGrantTokens))
	}
	for i, t := range toks {
		v.grantToken(fmt.Sprintf("grantTokens.%d.member", i+1), t)
		if _, err := parseGrantToken(t); err != nil && v.tokenErr == nil && t != "" {
			v.tokenErr = err
		}
	}
}

func (v *validator) marker(m string) {
	if m == "" {
		return
	}
	v.strLen("marker", m, 1, maxMarkerLen)
	for _, r := range m {
		if r < 0x20 || r > 0xFF {
			v.Add("marker", m, true, "Member must satisfy regular expression pattern: "+markerPattern)
			return
		}
	}
}

func (v *validator) dryRunModifiers(mods []string) {
	for _, m := range mods {
		if m != "IGNORE_CIPHERTEXT" {
			v.Add("dryRunModifiers", "["+strings.Join(mods, ", ")+"]", true,
				"Member must satisfy constraint: [Member must satisfy enum value set: ["+strings.Join(enumDryRunModifier, ", ")+"]]")
			return
		}
	}
}

func (v *validator) recipient(r *RecipientInfo) {
	if r == nil {
		return
	}
	v.enum("recipient.keyEncryptionAlgorithm", r.KeyEncryptionAlgorithm, enumKeyEncryptionAlg)
	if r.AttestationDocument != nil {
		v.blob("recipient.attestationDocument", r.AttestationDocument, 262144, false)
	}
}

func hasIgnoreCiphertext(mods []string) bool {
	for _, m := range mods {
		if m == "IGNORE_CIPHERTEXT" {
			return true
		}
	}
	return false
}

// checkContext guards the canonical encoding's uint16 length fields.
func checkContext(ec map[string]string) error {
	if len(ec) > 0xFFFF {
		return kmserr.ErrValidation.With("Encryption context has too many entries.")
	}
	for k, val := range ec {
		if len(k) > 0xFFFF || len(val) > 0xFFFF {
			return kmserr.ErrValidation.With("Encryption context entry is too long.")
		}
	}
	return nil
}

// paging limit with AWS default
func limitOr(p *int32, def int) int {
	if p == nil {
		return def
	}
	return int(*p)
}
