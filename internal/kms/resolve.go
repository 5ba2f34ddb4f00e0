package kms

import (
	"errors"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
)

// callerScope returns where the caller's keys live.
func callerScope(c Caller) (scope, error) {
	region := c.Region
	if region == "" {
		region = defaultRegion
	}
	if !arn.IsRegion(region) || !arn.IsAccountID(c.Principal.AccountID) {
		return scope{}, kmserr.ErrUnrecognizedClient
	}
	return scope{region, c.Principal.AccountID}, nil
}

func invalidKeyID(id string) error {
	return kmserr.ErrNotFound.With("Invalid keyId '%s'", id)
}

// resolveKey is the frame of every operation on one key: find the key named
// by id, then decide (authorize) whether c may perform op ("Encrypt") on it,
// then return it for the operation to use (reporting it in c.Facts). The
// action is "kms:"+op and the grant operation of the same name (if any) may
// allow it; operations whose requests carry condition values (an encryption
// context, an algorithm, ...) use resolveKeyFor with an access that has them.
func (s *Service) resolveKey(c Caller, sc scope, op, id string, aliasOK bool) (*key, error) {
	return s.resolveKeyFor(c, sc, opAccess(op), id, aliasOK)
}

// resolveKeyFor is resolveKey with the access a (action, grant operation and
// condition values of the request).
func (s *Service) resolveKeyFor(c Caller, sc scope, a *access, id string, aliasOK bool) (*key, error) {
	k, err := s.findKey(c, sc, a.action, id, aliasOK)
	if err != nil {
		return nil, err
	}
	c.Facts.addKey(k.arn)
	a.requestAlias(id)
	if err := s.authorize(&c, k, a); err != nil {
		return nil, err
	}
	return k, nil
}

// resolveLocked is resolveKeyFor under the lock of the key it resolves
// (locks.go), for a change of that key. The caller releases the locks (also
// after an error) once it has published its change.
func (s *Service) resolveLocked(c Caller, sc scope, a *access, id string, aliasOK bool) (*key, held, error) {
	var h held
	if k, err := s.findKey(c, sc, a.action, id, aliasOK); err == nil {
		h = s.locks.lockKey(k.id)
	}
	for {
		k, err := s.resolveKeyFor(c, sc, a, id, aliasOK)
		if err != nil || h.holdsKey(k.id) {
			return k, h, err
		}
		// The name points to another key now (an alias moved): lock that one.
		h.release()
		h = s.locks.lockKey(k.id)
	}
}

// requestAlias records kms:RequestAlias when id (a KeyId of the request) is
// an alias name or alias ARN.
func (a *access) requestAlias(id string) {
	if strings.HasPrefix(id, "alias/") {
		a.alias = id
	} else if i := strings.Index(id, ":alias/"); i >= 0 && strings.HasPrefix(id, "arn:") {
		a.alias = id[i+1:]
	}
}

// findKey finds the key named by id (key id, key ARN and, when aliasOK,
// alias name or alias ARN): a key id or alias name in the caller's region and
// account sc, an ARN in any account of the region (another account's key is
// reached by ARN only, as in AWS). Another account's key or alias that does
// not exist is AccessDeniedException for action, as if it existed and its
// policy refused: nothing tells the caller which keys another account has.
func (s *Service) findKey(c Caller, sc scope, action, id string, aliasOK bool) (*key, error) {
	if strings.HasPrefix(id, "arn:") {
		a, ok := arn.Parse(id)
		if !ok || a.Partition != s.partition || a.Service != "kms" {
			return nil, kmserr.ErrNotFound.With("Invalid arn %s", id)
		}
		if !arn.IsRegion(a.Region) {
			return nil, kmserr.ErrNotFound.With("Invalid arn %s", id)
		}
		if a.Region != sc.region {
			return nil, kmserr.ErrNotFound.With("Invalid arn %s", a.Region)
		}
		if !arn.IsAccountID(a.Account) {
			return nil, kmserr.ErrNotFound.With("Invalid arn %s", id)
		}
		ksc := scope{a.Region, a.Account}
		var k *key
		var err error
		if kid, ok := strings.CutPrefix(a.Resource, "key/"); ok {
			k, err = s.keyByID(ksc, kid)
		} else if strings.HasPrefix(a.Resource, "alias/") && aliasOK {
			k, err = s.keyByAlias(ksc, a.Resource)
		} else {
			return nil, kmserr.ErrNotFound.With("Invalid arn %s", id)
		}
		if err != nil && ksc != sc && errors.Is(err, kmserr.ErrNotFound) {
			return nil, kmserr.ErrAccessDenied.With("%s", policy.Result{Denial: policy.NoResourceAllow}.Message(principalARN(c), action, id))
		}
		return k, err
	}
	if strings.HasPrefix(id, "alias/") {
		if !aliasOK {
			return nil, invalidKeyID(id)
		}
		return s.keyByAlias(sc, id)
	}
	return s.keyByID(sc, id)
}

func (s *Service) keyByID(sc scope, id string) (*key, error) {
	if !arn.IsKeyID(id) {
		return nil, invalidKeyID(id)
	}
	k := s.getKey(sc, id)
	if k == nil {
		return nil, kmserr.ErrNotFound.With("Key '%s' does not exist", s.keyARN(sc.region, sc.account, id))
	}
	return k, nil
}

func (s *Service) keyByAlias(sc scope, name string) (*key, error) {
	a := s.getAlias(sc, name)
	if a == nil {
		return nil, kmserr.ErrNotFound.With("Alias %s is not found.", s.aliasARN(sc.region, sc.account, name))
	}
	k := s.getKey(sc, a.target)
	if k == nil {
		return nil, kmserr.ErrNotFound.With("Key '%s' does not exist", s.keyARN(sc.region, sc.account, a.target))
	}
	return k, nil
}

func principalARN(c Caller) string {
	if c.Principal.ARN != "" {
		return c.Principal.ARN
	}
	return "arn:aws:iam::" + c.Principal.AccountID + ":root"
}

// usable is the key-state check of the cryptographic operations at now:
// imported material past its ValidTo makes the key PendingImport at once
// (the background job deletes the material within 30 seconds).
func (k *key) usable(now time.Time) error {
	switch k.stateAt(now) {
	case stateEnabled:
		return nil
	case stateDisabled:
		return kmserr.ErrDisabled.With("%s is disabled.", k.arn)
	case statePendingDeletion:
		return kmserr.ErrInvalidState.With("%s is pending deletion.", k.arn)
	case statePendingReplicaDeletion:
		return kmserr.ErrInvalidState.With("%s is pending replica deletion.", k.arn)
	case statePendingImport:
		return kmserr.ErrInvalidState.With("%s is pending import.", k.arn)
	default:
		return kmserr.ErrInvalidState.With("%s is %s.", k.arn, k.state)
	}
}

// stateAt is k's key state at now: imported material past its ValidTo
// makes a key that is not pending deletion PendingImport at once, as the
// deletion of that material does (AWS: when material expires, KMS deletes it
// and the key is unusable); the background job deletes it within 30 seconds.
func (k *key) stateAt(now time.Time) string {
	if k.expired(now) && !k.pendingDeletion() {
		return statePendingImport
	}
	return k.state
}

// notPendingDeletion is the key-state check of most management operations.
func (k *key) notPendingDeletion() error {
	if k.pendingDeletion() {
		return k.usable(time.Time{})
	}
	return nil
}

// pendingDeletion: the key's deletion is scheduled (a multi-Region primary
// with replicas waits for theirs first).
func (k *key) pendingDeletion() bool {
	return k.state == statePendingDeletion || k.state == statePendingReplicaDeletion
}

// checkUsage: op needs a key of usage want.
func (k *key) checkUsage(op string, want keys.Usage) error {
	if k.usage != want {
		return kmserr.ErrInvalidKeyUsage.With("%s key usage is %s which is not valid for %s.", k.arn, k.usage, op)
	}
	return nil
}
