package awsjson

import (
	"context"
	"sort"
	"time"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/kmserr"
)

// Body limits. AWS's largest members: Plaintext 4 KiB, CiphertextBlob 6 KiB,
// Policy 128 KiB (sent as a JSON string, escapes can double it).
const (
	smallBody  = 16 << 10 // metadata operations
	cryptoBody = 64 << 10 // blobs: base64 of 6 KiB plus encryption context
	policyBody = 1 << 20  // CreateKey, PutKeyPolicy: a 128 KiB policy, every character escaped (\u00e9)
)

// errPolicyTooLong is what CreateKey and PutKeyPolicy answer for a body over
// policyBody: only a Policy member past its model length (131072) can make
// one that large, and AWS answers that with this ValidationException.
var errPolicyTooLong = kmserr.ErrValidation.With("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 131072")

const defaultTimeout = 10 * time.Second

// operation is one row of the table: everything the pipeline needs to know.
type operation struct {
	Name    string // AWS operation name, "Encrypt"
	Action  string // IAM action, "kms:Encrypt"
	MaxBody int64  // request body limit in bytes
	// TooLarge, when set, is the error of a body over MaxBody (else
	// RequestEntityTooLargeException).
	TooLarge error
	// Timeout is the deadline of the request context of an operation that
	// waits on storage (a write: PostgreSQL may not answer); the kms
	// package moves it by the time of a key's generation before the write
	// (afterWork). Operations that never block (crypto and reads work on
	// memory) have none: no timer per request; the connection's write
	// deadline (http.Server.WriteTimeout) bounds them like any response.
	Timeout time.Duration

	binding
}

// binding is the typed part of an operation, made by op.
type binding struct {
	decode func(body []byte) (any, error)
	call   func(svc *kms.Service, ctx context.Context, c kms.Caller, in any) (any, error)
}

// op binds a kms.Service method (as a method expression, e.g.
// (*kms.Service).Encrypt) to the pipeline.
func op[In, Out any](fn func(*kms.Service, context.Context, kms.Caller, *In) (*Out, error)) binding {
	return binding{
		decode: func(body []byte) (any, error) {
			in := new(In)
			if err := decodeInput(body, in); err != nil {
				return nil, err
			}
			return in, nil
		},
		call: func(svc *kms.Service, ctx context.Context, c kms.Caller, in any) (any, error) {
			out, err := fn(svc, ctx, c, in.(*In))
			if err != nil || out == nil {
				return nil, err
			}
			return out, nil
		},
	}
}

// operations is the table of supported operations, keyed by X-Amz-Target. It
// doubles as the list of supported operations (Operations); a test checks that
// every key, Name and Action agree.
var operations = map[string]operation{
	"TrentService.CreateKey":            {Name: "CreateKey", Action: "kms:CreateKey", MaxBody: policyBody, TooLarge: errPolicyTooLong, Timeout: defaultTimeout, binding: op((*kms.Service).CreateKey)},
	"TrentService.DescribeKey":          {Name: "DescribeKey", Action: "kms:DescribeKey", MaxBody: smallBody, binding: op((*kms.Service).DescribeKey)},
	"TrentService.ListKeys":             {Name: "ListKeys", Action: "kms:ListKeys", MaxBody: smallBody, binding: op((*kms.Service).ListKeys)},
	"TrentService.UpdateKeyDescription": {Name: "UpdateKeyDescription", Action: "kms:UpdateKeyDescription", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).UpdateKeyDescription)},
	"TrentService.EnableKey":            {Name: "EnableKey", Action: "kms:EnableKey", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).EnableKey)},
	"TrentService.DisableKey":           {Name: "DisableKey", Action: "kms:DisableKey", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).DisableKey)},
	"TrentService.ScheduleKeyDeletion":  {Name: "ScheduleKeyDeletion", Action: "kms:ScheduleKeyDeletion", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).ScheduleKeyDeletion)},
	"TrentService.CancelKeyDeletion":    {Name: "CancelKeyDeletion", Action: "kms:CancelKeyDeletion", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).CancelKeyDeletion)},

	"TrentService.CreateAlias": {Name: "CreateAlias", Action: "kms:CreateAlias", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).CreateAlias)},
	"TrentService.UpdateAlias": {Name: "UpdateAlias", Action: "kms:UpdateAlias", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).UpdateAlias)},
	"TrentService.DeleteAlias": {Name: "DeleteAlias", Action: "kms:DeleteAlias", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).DeleteAlias)},
	"TrentService.ListAliases": {Name: "ListAliases", Action: "kms:ListAliases", MaxBody: smallBody, binding: op((*kms.Service).ListAliases)},

	"TrentService.TagResource":      {Name: "TagResource", Action: "kms:TagResource", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).TagResource)},
	"TrentService.UntagResource":    {Name: "UntagResource", Action: "kms:UntagResource", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).UntagResource)},
	"TrentService.ListResourceTags": {Name: "ListResourceTags", Action: "kms:ListResourceTags", MaxBody: smallBody, binding: op((*kms.Service).ListResourceTags)},

	"TrentService.Encrypt":                         {Name: "Encrypt", Action: "kms:Encrypt", MaxBody: cryptoBody, binding: op((*kms.Service).Encrypt)},
	"TrentService.Decrypt":                         {Name: "Decrypt", Action: "kms:Decrypt", MaxBody: cryptoBody, binding: op((*kms.Service).Decrypt)},
	"TrentService.ReEncrypt":                       {Name: "ReEncrypt", Action: "kms:ReEncrypt", MaxBody: cryptoBody, binding: op((*kms.Service).ReEncrypt)},
	"TrentService.GenerateDataKey":                 {Name: "GenerateDataKey", Action: "kms:GenerateDataKey", MaxBody: cryptoBody, binding: op((*kms.Service).GenerateDataKey)},
	"TrentService.GenerateDataKeyWithoutPlaintext": {Name: "GenerateDataKeyWithoutPlaintext", Action: "kms:GenerateDataKeyWithoutPlaintext", MaxBody: cryptoBody, binding: op((*kms.Service).GenerateDataKeyWithoutPlaintext)},
	"TrentService.GenerateRandom":                  {Name: "GenerateRandom", Action: "kms:GenerateRandom", MaxBody: smallBody, binding: op((*kms.Service).GenerateRandom)},

	"TrentService.GetPublicKey":                        {Name: "GetPublicKey", Action: "kms:GetPublicKey", MaxBody: smallBody, binding: op((*kms.Service).GetPublicKey)},
	"TrentService.Sign":                                {Name: "Sign", Action: "kms:Sign", MaxBody: cryptoBody, binding: op((*kms.Service).Sign)},
	"TrentService.Verify":                              {Name: "Verify", Action: "kms:Verify", MaxBody: cryptoBody, binding: op((*kms.Service).Verify)},
	"TrentService.GenerateMac":                         {Name: "GenerateMac", Action: "kms:GenerateMac", MaxBody: cryptoBody, binding: op((*kms.Service).GenerateMac)},
	"TrentService.VerifyMac":                           {Name: "VerifyMac", Action: "kms:VerifyMac", MaxBody: cryptoBody, binding: op((*kms.Service).VerifyMac)},
	"TrentService.DeriveSharedSecret":                  {Name: "DeriveSharedSecret", Action: "kms:DeriveSharedSecret", MaxBody: cryptoBody, binding: op((*kms.Service).DeriveSharedSecret)},
	"TrentService.Encapsulate":                         {Name: "Encapsulate", Action: "kms:Encapsulate", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).Encapsulate)},
	"TrentService.Decapsulate":                         {Name: "Decapsulate", Action: "kms:Decapsulate", MaxBody: cryptoBody, Timeout: defaultTimeout, binding: op((*kms.Service).Decapsulate)},
	"TrentService.GenerateDataKeyPair":                 {Name: "GenerateDataKeyPair", Action: "kms:GenerateDataKeyPair", MaxBody: cryptoBody, binding: op((*kms.Service).GenerateDataKeyPair)},
	"TrentService.GenerateDataKeyPairWithoutPlaintext": {Name: "GenerateDataKeyPairWithoutPlaintext", Action: "kms:GenerateDataKeyPairWithoutPlaintext", MaxBody: cryptoBody, binding: op((*kms.Service).GenerateDataKeyPairWithoutPlaintext)},

	"TrentService.GetParametersForImport":    {Name: "GetParametersForImport", Action: "kms:GetParametersForImport", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).GetParametersForImport)},
	"TrentService.ImportKeyMaterial":         {Name: "ImportKeyMaterial", Action: "kms:ImportKeyMaterial", MaxBody: cryptoBody, Timeout: defaultTimeout, binding: op((*kms.Service).ImportKeyMaterial)},
	"TrentService.DeleteImportedKeyMaterial": {Name: "DeleteImportedKeyMaterial", Action: "kms:DeleteImportedKeyMaterial", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).DeleteImportedKeyMaterial)},
	"TrentService.CreateGrant":               {Name: "CreateGrant", Action: "kms:CreateGrant", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).CreateGrant)},
	"TrentService.ListGrants":                {Name: "ListGrants", Action: "kms:ListGrants", MaxBody: smallBody, binding: op((*kms.Service).ListGrants)},
	"TrentService.ListRetirableGrants":       {Name: "ListRetirableGrants", Action: "kms:ListRetirableGrants", MaxBody: smallBody, binding: op((*kms.Service).ListRetirableGrants)},
	"TrentService.RetireGrant":               {Name: "RetireGrant", Action: "kms:RetireGrant", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).RetireGrant)},
	"TrentService.RevokeGrant":               {Name: "RevokeGrant", Action: "kms:RevokeGrant", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).RevokeGrant)},

	"TrentService.GetKeyPolicy":    {Name: "GetKeyPolicy", Action: "kms:GetKeyPolicy", MaxBody: smallBody, binding: op((*kms.Service).GetKeyPolicy)},
	"TrentService.PutKeyPolicy":    {Name: "PutKeyPolicy", Action: "kms:PutKeyPolicy", MaxBody: policyBody, TooLarge: errPolicyTooLong, Timeout: defaultTimeout, binding: op((*kms.Service).PutKeyPolicy)},
	"TrentService.ListKeyPolicies": {Name: "ListKeyPolicies", Action: "kms:ListKeyPolicies", MaxBody: smallBody, binding: op((*kms.Service).ListKeyPolicies)},

	"TrentService.EnableKeyRotation":    {Name: "EnableKeyRotation", Action: "kms:EnableKeyRotation", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).EnableKeyRotation)},
	"TrentService.DisableKeyRotation":   {Name: "DisableKeyRotation", Action: "kms:DisableKeyRotation", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).DisableKeyRotation)},
	"TrentService.GetKeyRotationStatus": {Name: "GetKeyRotationStatus", Action: "kms:GetKeyRotationStatus", MaxBody: smallBody, binding: op((*kms.Service).GetKeyRotationStatus)},
	"TrentService.RotateKeyOnDemand":    {Name: "RotateKeyOnDemand", Action: "kms:RotateKeyOnDemand", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).RotateKeyOnDemand)},
	"TrentService.GetKeyLastUsage":      {Name: "GetKeyLastUsage", Action: "kms:GetKeyLastUsage", MaxBody: smallBody, binding: op((*kms.Service).GetKeyLastUsage)},
	"TrentService.ListKeyRotations":     {Name: "ListKeyRotations", Action: "kms:ListKeyRotations", MaxBody: smallBody, binding: op((*kms.Service).ListKeyRotations)},

	"TrentService.ReplicateKey":        {Name: "ReplicateKey", Action: "kms:ReplicateKey", MaxBody: policyBody, TooLarge: errPolicyTooLong, Timeout: defaultTimeout, binding: op((*kms.Service).ReplicateKey)},
	"TrentService.UpdatePrimaryRegion": {Name: "UpdatePrimaryRegion", Action: "kms:UpdatePrimaryRegion", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).UpdatePrimaryRegion)},

	// Custom key stores call their proxy (bounded by the kms package's own
	// timeout) besides storage.
	"TrentService.CreateCustomKeyStore":     {Name: "CreateCustomKeyStore", Action: "kms:CreateCustomKeyStore", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).CreateCustomKeyStore)},
	"TrentService.ConnectCustomKeyStore":    {Name: "ConnectCustomKeyStore", Action: "kms:ConnectCustomKeyStore", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).ConnectCustomKeyStore)},
	"TrentService.DisconnectCustomKeyStore": {Name: "DisconnectCustomKeyStore", Action: "kms:DisconnectCustomKeyStore", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).DisconnectCustomKeyStore)},
	"TrentService.DeleteCustomKeyStore":     {Name: "DeleteCustomKeyStore", Action: "kms:DeleteCustomKeyStore", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).DeleteCustomKeyStore)},
	"TrentService.DescribeCustomKeyStores":  {Name: "DescribeCustomKeyStores", Action: "kms:DescribeCustomKeyStores", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).DescribeCustomKeyStores)},
	"TrentService.UpdateCustomKeyStore":     {Name: "UpdateCustomKeyStore", Action: "kms:UpdateCustomKeyStore", MaxBody: smallBody, Timeout: defaultTimeout, binding: op((*kms.Service).UpdateCustomKeyStore)},
}

// OperationName is the name of the operation target (an X-Amz-Target)
// asks for, "unknown" when the table has none (a bounded metrics label).
func OperationName(target string) string {
	if op, ok := operations[target]; ok {
		return op.Name
	}
	return "unknown"
}

// Operations returns the names of the supported operations, sorted.
func Operations() []string {
	names := make([]string, 0, len(operations))
	for _, o := range operations {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	return names
}
