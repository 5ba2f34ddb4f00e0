package kms

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
)

const (
	defaultRotationPeriod = 365
	// onDemandConflictWindow: RotateKeyOnDemand is refused (ConflictException)
	// when an automatic rotation is due this soon (or overdue, i.e. running).
	onDemandConflictWindow = 20 * time.Minute
)

// checkRotatable: automatic rotation needs a symmetric AWS_KMS key. AWS
// refuses any other spec with no message (recorded for RotateKeyOnDemand).
func (k *key) checkRotatable() error {
	if !k.spec.Symmetric() {
		return kmserr.ErrUnsupportedOperation
	}
	if k.origin != originAWSKMS {
		return kmserr.ErrUnsupportedOperation.With("%s origin is %s which is not valid for this operation.", k.arn, k.origin)
	}
	return nil
}

// checkRotationOrigin: a key with imported material or in a custom key
// store has no automatic rotation whatever its state, and AWS's key-state
// table says so before the state's own error (UnsupportedOperationException
// for PendingImport, Disabled and PendingDeletion keys of such origins).
func (k *key) checkRotationOrigin() error {
	if k.origin == originAWSKMS {
		return nil
	}
	return k.checkRotatable()
}

// checkRotationChange: the rotation of a multi-Region key changes on its
// primary only (its replicas follow).
func (k *key) checkRotationChange() error {
	if k.isReplica() {
		return notPrimary(k)
	}
	return k.checkRotatable()
}

// checkOnDemand: on-demand rotation (and its history) also takes symmetric
// EXTERNAL keys, whose new material is imported first.
func (k *key) checkOnDemand() error {
	if k.spec.Symmetric() && k.origin == originExternal {
		return nil
	}
	return k.checkRotatable()
}

// EnableKeyRotation turns on automatic rotation (RotationPeriodInDays
// 90..2560, default 365). Calling it again with another period changes the
// period; the next rotation stays counted from the last rotation (or from when
// rotation was enabled).
func (s *Service) EnableKeyRotation(ctx context.Context, c Caller, in *EnableKeyRotationInput) (*EnableKeyRotationOutput, error) {
	var v validator
	v.intRange("rotationPeriodInDays", in.RotationPeriodInDays, 90, 2560)
	period := int32(limitOr(in.RotationPeriodInDays, defaultRotationPeriod))
	a := opAccess("EnableKeyRotation")
	if in.RotationPeriodInDays != nil {
		a.set(condRotationPeriodInDays, strconv.Itoa(int(period)))
	}
	_, err := s.mutateKeyFor(ctx, c, a, in.KeyId, &v, func(k *key, now time.Time) (*key, error) {
		if err := k.checkRotationOrigin(); err != nil {
			return nil, err
		}
		if err := k.usable(now); err != nil {
			return nil, err
		}
		if err := k.checkRotationChange(); err != nil {
			return nil, err
		}
		if k.rotEnabled && k.rotPeriod == period {
			return nil, nil
		}
		nk := k.clone()
		if !k.rotEnabled {
			nk.rotBase = now
		}
		nk.rotEnabled = true
		nk.rotPeriod = period
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &EnableKeyRotationOutput{}, nil
}

// DisableKeyRotation turns off automatic rotation.
func (s *Service) DisableKeyRotation(ctx context.Context, c Caller, in *DisableKeyRotationInput) (*DisableKeyRotationOutput, error) {
	_, err := s.mutateKey(ctx, c, "DisableKeyRotation", in.KeyId, &validator{}, func(k *key, now time.Time) (*key, error) {
		if err := k.checkRotationOrigin(); err != nil {
			return nil, err
		}
		if err := k.usable(now); err != nil {
			return nil, err
		}
		if err := k.checkRotationChange(); err != nil {
			return nil, err
		}
		if !k.rotEnabled {
			return nil, nil
		}
		nk := k.clone()
		nk.rotEnabled = false
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &DisableKeyRotationOutput{}, nil
}

// GetKeyRotationStatus reports the automatic-rotation schedule. A key
// pending deletion reports false (its setting comes back on cancellation),
// and so does an asymmetric or HMAC key of origin AWS_KMS, which never
// rotates automatically ("The key rotation status of these KMS keys is
// always false"); other origins are UnsupportedOperationException.
func (s *Service) GetKeyRotationStatus(ctx context.Context, c Caller, in *GetKeyRotationStatusInput) (*GetKeyRotationStatusOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(c, sc, "GetKeyRotationStatus", in.KeyId, false)
	if err != nil {
		return nil, err
	}
	if err := k.checkRotationOrigin(); err != nil {
		return nil, err
	}
	out := &GetKeyRotationStatusOutput{KeyId: k.arn}
	if k.rotEnabled && !k.pendingDeletion() {
		out.KeyRotationEnabled = true
		p := k.rotPeriod
		out.RotationPeriodInDays = &p
		out.NextRotationDate = tsp(k.nextRotation())
	}
	return out, nil
}

// RotateKeyOnDemand adds a new backing-key version now (at most 25 times per
// key); the automatic schedule is unchanged.
func (s *Service) RotateKeyOnDemand(ctx context.Context, c Caller, in *RotateKeyOnDemandInput) (*RotateKeyOnDemandOutput, error) {
	nk, err := s.mutateKey(ctx, c, "RotateKeyOnDemand", in.KeyId, &validator{}, func(k *key, now time.Time) (*key, error) {
		if err := k.usable(now); err != nil {
			return nil, err
		}
		if err := k.checkOnDemand(); err != nil {
			return nil, err
		}
		if k.isReplica() {
			return nil, notPrimary(k)
		}
		if k.origin == originExternal && k.mrPrimary != "" {
			return nil, kmserr.ErrUnsupportedOperation.With("%s is a multi-Region key with imported key material: on-demand rotation is not supported for it by this server.", k.arn)
		}
		if k.origin == originExternal {
			if k.onDemand >= MaxOnDemandRotations {
				return nil, kmserr.ErrLimitExceeded.With("The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: %s", k.arn)
			}
			nk, err := k.rotateImported(now)
			if err != nil {
				return nil, err
			}
			nk.onDemand++
			return nk, nil
		}
		if k.rotEnabled && k.nextRotation().Sub(now) < onDemandConflictWindow {
			return nil, kmserr.ErrConflict.With("An automatic rotation of this key is currently in progress or scheduled to begin within the next 20 minutes.")
		}
		if k.onDemand >= MaxOnDemandRotations {
			return nil, kmserr.ErrLimitExceeded.With("The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: %s", k.arn)
		}
		nk := k.clone()
		nk.versions = append(nk.versions, generateVersion(k, uint32(len(k.versions)+1), now, "ON_DEMAND"))
		nk.onDemand++
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &RotateKeyOnDemandOutput{KeyId: nk.arn}, nil
}

// ListKeyRotations lists the key's rotations, oldest first (with
// ALL_KEY_MATERIAL, the initial material too).
func (s *Service) ListKeyRotations(ctx context.Context, c Caller, in *ListKeyRotationsInput) (*ListKeyRotationsOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.enum("includeKeyMaterial", in.IncludeKeyMaterial, enumIncludeKeyMaterial)
	v.intRange("limit", in.Limit, 1, 1000)
	v.marker(in.Marker)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(c, sc, "ListKeyRotations", in.KeyId, false)
	if err != nil {
		return nil, err
	}
	if err := k.checkOnDemand(); err != nil {
		return nil, err
	}
	all := in.IncludeKeyMaterial == "ALL_KEY_MATERIAL"
	var cur *keys.Version
	if k.hasMaterial() {
		cur = k.current()
	}
	type row struct {
		n string // paging order: the version number, pending material last
		e RotationsListEntry
	}
	rows := make([]row, 0, len(k.versions)+1)
	for _, ver := range k.versions {
		if !all && ver.RotationType == "" {
			continue
		}
		e := RotationsListEntry{KeyId: k.id, KeyMaterialId: ver.MaterialID, KeyMaterialState: "NON_CURRENT"}
		if ver == cur {
			e.KeyMaterialState = "CURRENT"
		}
		if ver.RotationType != "" {
			e.RotationDate = tsp(ver.Created)
			e.RotationType = ver.RotationType
		}
		if k.imp != nil {
			e.ImportState, e.ExpirationModel, e.ValidTo = k.imp.rotationEntry(ver)
			e.KeyMaterialDescription = k.imp.descriptions[ver.MaterialID]
		}
		rows = append(rows, row{fmt.Sprintf("%010d", ver.Num), e})
	}
	// Material imported with NEW_KEY_MATERIAL and waiting for RotateKeyOnDemand,
	// a row of its own within the Limit.
	if p := k.pendingMaterial(); p != nil && all {
		rows = append(rows, row{"pending", RotationsListEntry{KeyId: k.id, KeyMaterialId: p.id, KeyMaterialState: "PENDING_ROTATION",
			ImportState: "IMPORTED", ExpirationModel: p.expiration, ValidTo: validTo(p.expiration, p.validTo),
			KeyMaterialDescription: k.imp.descriptions[p.id]}})
	}
	pg, next, trunc, err := page(rows, func(r row) string { return r.n }, "r", in.Marker, limitOr(in.Limit, 100))
	if err != nil {
		return nil, err
	}
	out := &ListKeyRotationsOutput{Rotations: make([]RotationsListEntry, 0, len(pg)), NextMarker: next, Truncated: trunc}
	for _, r := range pg {
		out.Rotations = append(out.Rotations, r.e)
	}
	return out, nil
}
