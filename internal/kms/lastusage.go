package kms

import (
	"context"
	"time"
)

// UsageIndex answers GetKeyLastUsage: the last successful tracked
// cryptographic operation per key, from the audit log (*audit.Log
// implements it).
type UsageIndex interface {
	// LastUsage returns the last use of the key keyARN that the log holds.
	LastUsage(keyARN string) (op string, at time.Time, eventID, requestID string, ok bool)
	// TrackingStart is when the log began recording.
	TrackingStart() time.Time
}

type GetKeyLastUsageInput struct {
	KeyId string `json:"KeyId"`
}

type GetKeyLastUsageOutput struct {
	KeyCreationDate   Timestamp        `json:"KeyCreationDate"`
	KeyId             string           `json:"KeyId"`
	KeyLastUsage      KeyLastUsageData `json:"KeyLastUsage"`
	TrackingStartDate Timestamp        `json:"TrackingStartDate"`
}

// KeyLastUsageData is empty ({}) when the key was not used since tracking
// began.
type KeyLastUsageData struct {
	CloudTrailEventId string     `json:"CloudTrailEventId,omitempty"`
	KmsRequestId      string     `json:"KmsRequestId,omitempty"`
	Operation         string     `json:"Operation,omitempty"`
	Timestamp         *Timestamp `json:"Timestamp,omitempty"`
}

// GetKeyLastUsage reports the last successful cryptographic operation on a
// key (key id or key ARN; aliases are not accepted), as the audit log
// recorded it. TrackingStartDate is when the audit log began or when the
// key was created, whichever is later. Without a usage index (no audit
// log) tracking starts now and no use is known.
func (s *Service) GetKeyLastUsage(ctx context.Context, c Caller, in *GetKeyLastUsageInput) (*GetKeyLastUsageOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(c, sc, "GetKeyLastUsage", in.KeyId, false)
	if err != nil {
		return nil, err
	}
	start := s.now()
	out := &GetKeyLastUsageOutput{KeyCreationDate: ts(k.created), KeyId: k.id}
	if s.usage != nil {
		start = s.usage.TrackingStart()
		if op, at, eventID, reqID, ok := s.usage.LastUsage(k.arn); ok {
			out.KeyLastUsage = KeyLastUsageData{CloudTrailEventId: eventID, KmsRequestId: reqID, Operation: op, Timestamp: tsp(at)}
		}
	}
	if k.created.After(start) {
		start = k.created
	}
	out.TrackingStartDate = ts(start)
	return out, nil
}
