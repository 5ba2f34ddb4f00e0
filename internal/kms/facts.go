package kms

import (
	"time"

	"github.com/trent-kms/trent/internal/attest"
)

// Facts is what an operation used, reported to the caller (the wire layer
// hands it to the audit log) so that nothing re-parses the request. Pass a
// pointer in Caller.Facts; a nil pointer records nothing.
type Facts struct {
	// Keys are the ARNs of the keys the operation resolved, in order,
	// without repeats (at most two: ReEncrypt's source and destination).
	Keys [2]string
	// Alias is the ARN of the alias an alias operation (CreateAlias,
	// UpdateAlias, DeleteAlias) named.
	Alias string
	// Encrypted and Decrypted are the key and key material that encrypted
	// and decrypted (ReEncrypt has both).
	Encrypted, Decrypted KeyUse
	// Authorized is set once the operation was allowed by an authorization
	// decision (every successful operation has one: a front door may refuse
	// to answer a success without it). Grant is the id of the grant that
	// allowed, when a grant rather than a policy did.
	Authorized bool
	Grant      string
	// Denied says why authorization refused the request ("" when it did
	// not): "explicit deny in a resource-based policy", "no identity-based
	// policy allows", ... (the error message has the rest).
	Denied string
	// Recipient is the verified attestation document of the request's
	// Recipient parameter (CloudTrail's additionalEventData.recipient).
	Recipient *attest.Document
}

func (f *Facts) allowed(g *grant) {
	if f == nil {
		return
	}
	f.Authorized = true
	if g != nil {
		f.Grant = g.id
	}
}

func (f *Facts) denied(why string) {
	if f != nil {
		f.Denied = why
	}
}

// KeyUse is a key and the key material that did the work.
type KeyUse struct {
	KeyARN     string
	MaterialID string
}

func (f *Facts) addKey(arn string) {
	if f == nil {
		return
	}
	for i, k := range f.Keys {
		if k == arn {
			return
		}
		if k == "" {
			f.Keys[i] = arn
			return
		}
	}
}

// ServiceEvent is something the service did on its own, asked by no request
// (Config.Events): what CloudTrail records as an AwsServiceEvent.
type ServiceEvent struct {
	Name   string // CloudTrail's eventName: DeleteKey, RotateKey or DeleteExpiredKeyMaterial
	Time   time.Time
	KeyARN string
	KeyID  string
	// RotateKey: the rotation type (AUTOMATIC), the key's origin, and the
	// ids of the current key material before and after ("" for a key whose
	// material has no id).
	RotationType, KeyOrigin               string
	PreviousMaterialID, CurrentMaterialID string
}
