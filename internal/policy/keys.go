package policy

import "strings"

// Condition keys named by their canonical spelling. Condition key names are
// case-insensitive in policies; [Context.Lookup] always receives these
// spellings for the keys below (for the prefixed keys, the canonical prefix
// followed by the suffix as the policy writes it).
//
// The evaluator supplies the aws:* keys and kms:CallerAccount,
// kms:EncryptionContext:* and kms:EncryptionContextKeys itself from the
// [Request]; every other key comes from Request.Context.
const (
	KeyPrincipalArn     = "aws:PrincipalArn"
	KeyPrincipalAccount = "aws:PrincipalAccount"
	KeyPrincipalType    = "aws:PrincipalType"
	KeyPrincipalTag     = "aws:PrincipalTag/" // + tag key
	KeyResourceTag      = "aws:ResourceTag/"  // + tag key
	KeyRequestTag       = "aws:RequestTag/"   // + tag key
	KeyTagKeys          = "aws:TagKeys"
	KeySourceIP         = "aws:SourceIp"
	KeyCurrentTime      = "aws:CurrentTime"
	KeyEpochTime        = "aws:EpochTime"
	KeySecureTransport  = "aws:SecureTransport"
	KeyUsername         = "aws:username"
	KeyUserID           = "aws:userid"
	KeyRequestedRegion  = "aws:RequestedRegion"

	KeyTokenIssueTime         = "aws:TokenIssueTime"
	KeyMultiFactorAuthPresent = "aws:MultiFactorAuthPresent"
	KeyViaAWSService          = "aws:ViaAWSService"
	KeyPrincipalIsAWSService  = "aws:PrincipalIsAWSService"

	KeyCallerAccount                  = "kms:CallerAccount"
	KeyEncryptionContext              = "kms:EncryptionContext:" // + context key
	KeyEncryptionContextKeys          = "kms:EncryptionContextKeys"
	KeyRequestAlias                   = "kms:RequestAlias"
	KeyResourceAliases                = "kms:ResourceAliases"
	KeyKeySpec                        = "kms:KeySpec"
	KeyKeyUsage                       = "kms:KeyUsage"
	KeyKeyOrigin                      = "kms:KeyOrigin"
	KeyEncryptionAlgorithm            = "kms:EncryptionAlgorithm"
	KeyGrantOperations                = "kms:GrantOperations"
	KeyGranteePrincipal               = "kms:GranteePrincipal"
	KeyRetiringPrincipal              = "kms:RetiringPrincipal"
	KeyGrantConstraintType            = "kms:GrantConstraintType"
	KeyGrantIsForAWSResource          = "kms:GrantIsForAWSResource"
	KeyViaService                     = "kms:ViaService"
	KeyRotationPeriodInDays           = "kms:RotationPeriodInDays"
	KeyScheduleKeyDeletionPendingDays = "kms:ScheduleKeyDeletionPendingWindowInDays"
	KeyReEncryptOnSameKey             = "kms:ReEncryptOnSameKey"
	KeyDataKeyPairSpec                = "kms:DataKeyPairSpec"
	KeyMessageType                    = "kms:MessageType"
	KeySigningAlgorithm               = "kms:SigningAlgorithm"
	KeyMacAlgorithm                   = "kms:MacAlgorithm"
	KeyKeyAgreementAlgorithm          = "kms:KeyAgreementAlgorithm"
	KeyBypassPolicyLockoutSafetyCheck = "kms:BypassPolicyLockoutSafetyCheck"
	KeyMultiRegion                    = "kms:MultiRegion"
	KeyMultiRegionKeyType             = "kms:MultiRegionKeyType"
	KeyExpirationModel                = "kms:ExpirationModel"
	KeyValidTo                        = "kms:ValidTo"
	KeyWrappingAlgorithm              = "kms:WrappingAlgorithm"
	KeyWrappingKeySpec                = "kms:WrappingKeySpec"
	KeyPrimaryRegion                  = "kms:PrimaryRegion"
	KeyReplicaRegion                  = "kms:ReplicaRegion"
	KeyRecipientImageSha384           = "kms:RecipientAttestation:ImageSha384"
	KeyRecipientPCR                   = "kms:RecipientAttestation:PCR" // + PCR index
)

// RecipientPCR returns n of the condition key kms:RecipientAttestation:PCR<n>
// as a compiled policy names it (with the canonical prefix): only n in
// canonical decimal, 0 to 31, with no sign, space or leading zero, is PCR n;
// "PCR01", "PCR+1", "PCR 1" are other keys, which no request has.
func RecipientPCR(name string) (int, bool) {
	d, ok := strings.CutPrefix(name, KeyRecipientPCR)
	if !ok || len(d) == 0 || len(d) > 2 || (len(d) == 2 && d[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range []byte(d) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n < 32
}

// keySource says where the evaluator finds a key's values.
type keySource uint8

const (
	srcContext keySource = iota // Request.Context
	srcPrincipalArn
	srcPrincipalAccount
	srcPrincipalType
	srcPrincipalTag
	srcResourceTag
	srcRequestTag
	srcTagKeys
	srcSourceIP
	srcCurrentTime
	srcEpochTime
	srcSecureTransport
	srcUsername
	srcUserID
	srcRequestedRegion
	srcTokenIssueTime
	srcMultiFactorAuthPresent
	srcViaAWSService
	srcPrincipalIsAWSService
	srcCallerAccount
	srcEncryptionContext
	srcEncryptionContextKeys
)

// keyRef is a compiled condition key (or policy variable).
type keyRef struct {
	src    keySource
	name   string // canonical name (for srcContext: what Context.Lookup gets)
	suffix string // tag key or encryption context key for the prefixed keys
}

var exactKeys = []keyRef{
	{srcPrincipalArn, KeyPrincipalArn, ""},
	{srcPrincipalAccount, KeyPrincipalAccount, ""},
	{srcPrincipalType, KeyPrincipalType, ""},
	{srcTagKeys, KeyTagKeys, ""},
	{srcSourceIP, KeySourceIP, ""},
	{srcCurrentTime, KeyCurrentTime, ""},
	{srcEpochTime, KeyEpochTime, ""},
	{srcSecureTransport, KeySecureTransport, ""},
	{srcUsername, KeyUsername, ""},
	{srcUserID, KeyUserID, ""},
	{srcRequestedRegion, KeyRequestedRegion, ""},
	{srcTokenIssueTime, KeyTokenIssueTime, ""},
	{srcMultiFactorAuthPresent, KeyMultiFactorAuthPresent, ""},
	{srcViaAWSService, KeyViaAWSService, ""},
	{srcPrincipalIsAWSService, KeyPrincipalIsAWSService, ""},
	{srcCallerAccount, KeyCallerAccount, ""},
	{srcEncryptionContextKeys, KeyEncryptionContextKeys, ""},
	{srcContext, KeyRequestAlias, ""},
	{srcContext, KeyResourceAliases, ""},
	{srcContext, KeyKeySpec, ""},
	{srcContext, KeyKeyUsage, ""},
	{srcContext, KeyKeyOrigin, ""},
	{srcContext, KeyEncryptionAlgorithm, ""},
	{srcContext, KeyGrantOperations, ""},
	{srcContext, KeyGranteePrincipal, ""},
	{srcContext, KeyRetiringPrincipal, ""},
	{srcContext, KeyGrantConstraintType, ""},
	{srcContext, KeyGrantIsForAWSResource, ""},
	{srcContext, KeyViaService, ""},
	{srcContext, KeyRotationPeriodInDays, ""},
	{srcContext, KeyScheduleKeyDeletionPendingDays, ""},
	{srcContext, KeyReEncryptOnSameKey, ""},
	{srcContext, KeyDataKeyPairSpec, ""},
	{srcContext, KeyMessageType, ""},
	{srcContext, KeySigningAlgorithm, ""},
	{srcContext, KeyMacAlgorithm, ""},
	{srcContext, KeyKeyAgreementAlgorithm, ""},
	{srcContext, KeyBypassPolicyLockoutSafetyCheck, ""},
	{srcContext, KeyMultiRegion, ""},
	{srcContext, KeyMultiRegionKeyType, ""},
	{srcContext, KeyExpirationModel, ""},
	{srcContext, KeyValidTo, ""},
	{srcContext, KeyWrappingAlgorithm, ""},
	{srcContext, KeyWrappingKeySpec, ""},
	{srcContext, KeyPrimaryRegion, ""},
	{srcContext, KeyReplicaRegion, ""},
	{srcContext, KeyRecipientImageSha384, ""},
}

var prefixKeys = []keyRef{
	{srcPrincipalTag, KeyPrincipalTag, ""},
	{srcResourceTag, KeyResourceTag, ""},
	{srcRequestTag, KeyRequestTag, ""},
	{srcEncryptionContext, KeyEncryptionContext, ""},
	{srcContext, KeyRecipientPCR, ""},
}

// lookupKey compiles a condition key name as a policy writes it. Names are
// case-insensitive; a known name gets its canonical spelling, an unknown one
// is kept as written and looked up in Request.Context.
func lookupKey(name string) keyRef {
	for _, k := range exactKeys {
		if strings.EqualFold(name, k.name) {
			return k
		}
	}
	for _, k := range prefixKeys {
		if len(name) >= len(k.name) && strings.EqualFold(name[:len(k.name)], k.name) {
			k.suffix = name[len(k.name):]
			k.name = k.name + k.suffix
			return k
		}
	}
	return keyRef{src: srcContext, name: name}
}
