// Package audit is Trent's audit log: one CloudTrail-format record per API
// call (KMS, IAM, STS and Trent's own administration), successes, failures,
// denials and requests refused before dispatch alike.
//
// The wire layers (internal/awsjson, the IAM/STS front door) hand Record an
// Event of facts (who, what, where, the decoded input, what the service
// reported it used); this package turns it into a CloudTrail record and
// appends it to a tamper-evident log:
//
//   - Records are JSON Lines in append-only segment files under
//     <data-dir>/audit/, rotated by size and age. Each line carries a
//     "trent" member {"seq": N, "prev": H} where H is the chain value of
//     the line before: c(N) = SHA-256(c(N-1) || seq(N) || SHA-256(body(N)))
//     and body is the line up to its "trent" member. Any changed, missing,
//     reordered or inserted line breaks the chain at a named spot.
//   - Digest lines ({"trentDigest": ...}) sign the chain head with the
//     audit signing key (ECDSA P-256, sealed in storage through the
//     barrier): at every segment close, at start and shutdown, and every
//     minute while records arrive. Verify needs only the segment files and
//     the public key (`trent audit public-key`).
//   - Durability: SyncAlways answers a request only after its record is on
//     disk (group commit: one fsync for every record that arrived while the
//     previous fsync ran); SyncBatch writes each record to the file at once
//     and fsyncs at least every BatchInterval. A log that cannot be written
//     fails every later Record (fail closed) and reports why in Err.
//
// What is never recorded: plaintexts, key material, data keys, ciphertext
// blobs (every []byte member of an input or output is left out), grant
// tokens, passwords, secret keys and session tokens (by member name, see
// sensitive). Encryption-context values are recorded as CloudTrail records
// them (see DESIGN.md, "Audit"): AWS documents the encryption context as
// non-secret, and SIEM rules match on it.
package audit

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/trent-kms/trent/internal/attest"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
)

// EventVersion is the CloudTrail record version of the records written,
// the one KMS records carry today.
const EventVersion = "1.11"

// Event sources.
const (
	SourceKMS   = "kms.amazonaws.com"
	SourceIAM   = "iam.amazonaws.com"
	SourceSTS   = "sts.amazonaws.com"
	SourceAdmin = "admin.trent.internal" // Trent's own administration
	SourceXKS   = "xks.trent.internal"   // the External Key Store proxy API (docs/xks.md)
)

// Identity is who made a call, as far as it is known. For a request whose
// signature failed, only the access key id the request claimed (if any) is
// set, and Type is "Unknown".
type Identity struct {
	Type        string // Root, IAMUser, AssumedRole, Unknown, ...; derived from ARN when empty
	PrincipalID string
	ARN         string
	AccountID   string
	AccessKeyID string
	UserName    string
	// Session: for temporary credentials (AssumedRole, FederatedUser).
	SessionIssuerARN string    // the role's ARN
	SessionIssuerID  string    // the role's unique id (AROA...)
	SessionCreated   time.Time // zero when unknown
	MFA              bool
}

// KeyUse is a key and the key material that did the work.
type KeyUse struct {
	KeyARN     string
	MaterialID string
}

// Event is the facts of one API call. Record copies what it needs before it
// returns; the event and everything it points to may be reused afterwards.
type Event struct {
	Time      time.Time
	Source    string // SourceKMS, ...
	Name      string // the operation, "Encrypt"; for an unknown operation what the client asked for
	RequestID string
	Identity  Identity
	Region    string
	SourceIP  string
	UserAgent string
	TLS       *tls.ConnectionState // nil for plain HTTP
	Host      string               // the Host header (tlsDetails.clientProvidedHostHeader)

	ErrorCode    string // empty on success
	ErrorMessage string // the message the client got

	// Params is the decoded input (a pointer to a struct), nil when the
	// request was refused before it was decoded. Output is the operation's
	// output on success; it becomes responseElements for operations that
	// change state, as CloudTrail does. Both are encoded by Encode's member
	// rules: []byte members and sensitive names are left out.
	Params any
	Output any

	// Keys the operation resolved (resources), and which key and material
	// encrypted and decrypted (additionalEventData; ReEncrypt has both).
	Keys      [2]string
	Encrypted KeyUse
	Decrypted KeyUse
	// Recipient is the verified attestation document of a request's
	// Recipient parameter (additionalEventData.recipient).
	Recipient *attest.Document
	// Alias is the alias ARN an alias operation named: resources lists it
	// before the keys, as CloudTrail does.
	Alias string

	// Service, when set, makes the record a service event (eventType
	// AwsServiceEvent): what the KMS service did on its own, asked by no
	// request (ServiceEventOf).
	Service *kms.ServiceEvent
}

// Internal is what CloudTrail's service events name as their invoker,
// source address and user agent.
const Internal = "AWS Internal"

// ServiceEventOf is the event of what the KMS service did on its own, as
// CloudTrail records AWS KMS's: userIdentity the key's account, invoked by
// "AWS Internal" (its sourceIPAddress and userAgent too), no request
// parameters, response or requestID, the key in resources and
// serviceEventDetails.
func ServiceEventOf(se *kms.ServiceEvent) *Event {
	f, _ := arnFields(se.KeyARN)
	return &Event{
		Time: se.Time, Source: SourceKMS, Name: se.Name, Region: f[3], SourceIP: Internal, UserAgent: Internal,
		Identity: Identity{AccountID: f[4]}, Keys: [2]string{se.KeyARN}, Service: se,
	}
}

// RecordServiceEvent records what the KMS service did on its own
// (kms.Config.Events). The change is made: a failure to record it is the
// log's (Err, which fails the API calls that follow) and is logged here.
func (l *Log) RecordServiceEvent(ctx context.Context, se *kms.ServiceEvent) {
	if err := l.Record(ctx, ServiceEventOf(se)); err != nil {
		l.log.Error("audit: a service event was not recorded", "event", se.Name, "key", se.KeyARN, "err", err)
	}
}

// Recorder records events. Record returns an error when the event could not
// be recorded (durably, for SyncAlways); the caller must then fail the
// request.
type Recorder interface {
	Record(ctx context.Context, e *Event) error
}

// Discard records nothing.
var Discard Recorder = discard{}

type discard struct{}

func (discard) Record(context.Context, *Event) error { return nil }

// readOnlyOps are the operations CloudTrail marks readOnly besides the
// Describe*, Get* and List* ones: the cryptographic operations.
var readOnlyOps = map[string]bool{
	"Encrypt": true, "Decrypt": true, "ReEncrypt": true, "GenerateDataKey": true,
	"GenerateDataKeyWithoutPlaintext": true, "GenerateDataKeyPair": true,
	"GenerateDataKeyPairWithoutPlaintext": true, "GenerateRandom": true, "Sign": true, "Verify": true,
	"GenerateMac": true, "VerifyMac": true, "DeriveSharedSecret": true, "Encapsulate": true, "Decapsulate": true,
	"XksGetKeyMetadata": true, "XksEncrypt": true, "XksDecrypt": true, "XksGetHealthStatus": true,
}

// ReadOnly reports whether CloudTrail marks the operation readOnly.
func ReadOnly(name string) bool {
	if readOnlyOps[name] {
		return true
	}
	for _, p := range [...]string{"Describe", "Get", "List"} {
		if len(name) > len(p) && name[:len(p)] == p {
			return true
		}
	}
	return false
}

// TrackedOps are the operations GetKeyLastUsage tracks, as AWS lists them
// (KeyLastUsageTrackingOperation), and the XKS proxy's encryptions and
// decryptions with a key (docs/xks.md), which it reports as Encrypt and
// Decrypt (trackedOp).
var TrackedOps = map[string]bool{
	"Decrypt": true, "DeriveSharedSecret": true, "Encrypt": true, "GenerateDataKey": true,
	"GenerateDataKeyPair": true, "GenerateDataKeyPairWithoutPlaintext": true,
	"GenerateDataKeyWithoutPlaintext": true, "GenerateMac": true, "ReEncrypt": true, "Sign": true,
	"Verify": true, "VerifyMac": true, "Encapsulate": true, "Decapsulate": true,
	"XksEncrypt": true, "XksDecrypt": true,
}

// trackedOp is the operation GetKeyLastUsage reports for the tracked event
// name: one of AWS's KeyLastUsageTrackingOperation values.
func trackedOp(name string) string {
	switch name {
	case "XksEncrypt":
		return "Encrypt"
	case "XksDecrypt":
		return "Decrypt"
	}
	return name
}

// PrincipalIdentity is the userIdentity of an authenticated principal.
// What the principal does not say (type, user name, session issuer) is
// derived from its ARN.
func PrincipalIdentity(p iam.Principal, accessKeyID string) Identity {
	if accessKeyID == "" {
		accessKeyID = p.AccessKeyID
	}
	id := Identity{ARN: p.ARN, AccountID: p.AccountID, AccessKeyID: accessKeyID, PrincipalID: p.PrincipalID, UserName: p.UserName}
	if p.Type != 0 {
		id.Type = p.Type.String()
	}
	if s := p.Session; s != nil {
		id.SessionIssuerARN, id.SessionIssuerID, id.SessionCreated = s.RoleARN, s.RoleID, s.Created
	}
	return id
}
