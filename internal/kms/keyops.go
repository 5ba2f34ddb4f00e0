package kms

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
)

// Errors AWS has that the shared taxonomy does not carry (yet).
var (
	errNotAuthorized = &kmserr.Error{Code: "NotAuthorizedException", Status: http.StatusBadRequest}
)

const invalidMarkerMsg = "The request was rejected because the marker that specifies where pagination should next begin is not valid."

func (k *key) metadata() *KeyMetadata {
	algs := k.spec.Algorithms(k.usage)
	m := &KeyMetadata{
		AWSAccountId:            k.account,
		Arn:                     k.arn,
		CreationDate:            ts(k.created),
		CurrentKeyMaterialId:    k.currentMaterialID(),
		CustomerMasterKeySpec:   customerMasterKeySpec(k.spec),
		Description:             k.description,
		Enabled:                 k.state == stateEnabled,
		EncapsulationAlgorithms: algs.Encapsulation,
		EncryptionAlgorithms:    algs.Encryption,
		KeyAgreementAlgorithms:  algs.KeyAgreement,
		KeyId:                   k.id,
		KeyManager:              "CUSTOMER",
		KeySpec:                 string(k.spec),
		KeyState:                k.state,
		KeyUsage:                string(k.usage),
		MacAlgorithms:           algs.MAC,
		Origin:                  k.origin,
		SigningAlgorithms:       algs.Signing,
	}
	switch {
	case k.imp == nil:
	case !k.imp.soonest.IsZero():
		// ValidTo is when the first of the key's materials expires, not the
		// current one's alone (AWS's KeyMetadata: "the earliest time at which
		// any imported key material permanently associated with this KMS key
		// expires"), and comes with KEY_MATERIAL_EXPIRES.
		m.ExpirationModel, m.ValidTo = expires, tsp(k.imp.soonest)
	case k.hasMaterial():
		if e, ok := k.imp.expiry[k.current().MaterialID]; ok { // the current material is there
			m.ExpirationModel = e.model
		}
	}
	if k.xks != nil {
		m.CustomKeyStoreId = k.xks.store
		if k.xks.keyID != "" {
			m.XksKeyConfiguration = &XksKeyConfiguration{Id: k.xks.keyID}
		}
	}
	if k.mrPrimary != "" {
		m.MultiRegion = true
		m.MultiRegionConfiguration = k.multiRegionConfiguration()
	}
	switch k.state {
	case statePendingDeletion:
		m.DeletionDate = tsp(k.deletionDate)
	case statePendingReplicaDeletion:
		// No date while replicas remain: the waiting period instead (only
		// then, as AWS).
		w := k.pendingWindow
		m.PendingDeletionWindowInDays = &w
	}
	return m
}

// customerMasterKeySpec is the deprecated field: the key spec when the
// older enum has it, else omitted.
func customerMasterKeySpec(spec keys.Spec) string {
	if slices.Contains(enumCustomerMasterSpec, string(spec)) {
		return string(spec)
	}
	return ""
}

// newKeyID returns a version 7 UUID (RFC 9562) for a key created at t: its
// first 48 bits are t in Unix milliseconds, 74 of the other 80 are random.
// Ids that grow with time put a new key's record next to those of the keys
// created just before it in the embedded database's B+tree: the keys of one
// group commit then share a few leaf pages instead of dirtying one leaf and
// one branch page each, scattered over the file (each a separate write to
// the disk), which made a durable CreateKey's commit about twice as long.
// The id's time is the key's CreationDate, which DescribeKey returns anyway;
// 74 random bits keep ids from colliding or being guessed.
func newKeyID(t time.Time) string {
	var b [16]byte
	randRead(b[6:])
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	const hx = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hx[c>>4], hx[c&0x0f])
	}
	return string(out)
}

// CreateKey creates a key of any spec but SM2, with a usage the spec allows,
// and with MultiRegion the primary of a multi-Region key (multiregion.go).
// A key of a custom key store is newExternalKey's.
func (s *Service) CreateKey(ctx context.Context, c Caller, in *CreateKeyInput) (*CreateKeyOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.strLen("description", in.Description, 0, maxDescriptionLen)
	v.enum("keyUsage", in.KeyUsage, enumKeyUsage)
	v.enum("keySpec", in.KeySpec, enumKeySpec)
	v.enum("customerMasterKeySpec", in.CustomerMasterKeySpec, enumCustomerMasterSpec)
	v.enum("origin", in.Origin, enumOrigin)
	if in.CustomKeyStoreId != "" {
		v.strLen("customKeyStoreId", in.CustomKeyStoreId, 1, 64)
	}
	if in.XksKeyId != "" {
		v.strLen("xksKeyId", in.XksKeyId, 1, 128)
		v.matches("xksKeyId", in.XksKeyId, xksKeyIDRE)
	}
	if in.Policy != nil {
		v.policy(*in.Policy)
	}
	v.tags(in.Tags)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if in.KeySpec != "" && in.CustomerMasterKeySpec != "" {
		return nil, kmserr.ErrValidation.With("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
	}
	spec := keys.Spec(in.KeySpec)
	if spec == "" {
		spec = keys.Spec(in.CustomerMasterKeySpec)
	}
	if spec == "" {
		spec = keys.SymmetricDefault
	}
	usage := keys.Usage(in.KeyUsage)
	if usage == "" {
		usage = keys.EncryptDecrypt
	}
	origin := in.Origin
	if origin == "" {
		origin = originAWSKMS
	}
	a := opAccess("CreateKey").set(condKeySpec, string(spec)).set(condKeyUsage, string(usage)).
		set(condKeyOrigin, origin).set(condMultiRegion, boolString(in.MultiRegion)).
		set(condBypassLockoutSafetyCheck, boolString(in.BypassPolicyLockoutSafetyCheck))
	if in.MultiRegion {
		a.set(condMultiRegionKeyType, "PRIMARY")
	}
	if err := s.authorizeCreate(&c, a, in.Tags); err != nil {
		return nil, err
	}
	if !spec.Symmetric() && in.KeyUsage == "" {
		return nil, kmserr.ErrValidation.With("You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
	}
	if !spec.Supported() {
		// SM2: no well-kept Go implementation; AWS answers so outside China.
		return nil, kmserr.ErrUnsupportedOperation.With("KeySpec %s is not supported in this Region", spec)
	}
	if !spec.Allows(usage) {
		return nil, kmserr.ErrValidation.With("KeyUsage %s is not compatible with KeySpec %s", usage, spec)
	}
	external := origin == originExternalStore || origin == storeTypeCloudHSM || in.CustomKeyStoreId != "" || in.XksKeyId != ""
	if !external && origin != originAWSKMS && origin != originExternal {
		return nil, kmserr.ErrUnsupportedOperation.With("Origin %s is not supported by this server.", origin)
	}
	if origin == originExternal && !spec.Importable() {
		return nil, kmserr.ErrUnsupportedOperation.With("KeySpec %s does not support origin EXTERNAL.", spec)
	}
	if err := checkTags(in.Tags, nil); err != nil {
		return nil, err
	}
	now := s.now()
	id := newKeyID(now)
	if in.MultiRegion {
		id = newMultiRegionKeyID(now)
	}
	keyARN := s.keyARN(sc.region, sc.account, id)
	kp, err := s.newKeyPolicy(c, sc.account, keyARN, in.Policy, in.BypassPolicyLockoutSafetyCheck)
	if err != nil {
		return nil, err
	}
	var xr *xksRef
	var inUse func(storage.Tx) error
	if external {
		if xr, inUse, err = s.newExternalKey(ctx, c, sc, in, origin, spec, usage, id, keyARN); err != nil {
			return nil, err
		}
	}

	k := &key{
		id: id, arn: keyARN, region: sc.region, account: sc.account,
		created: now, description: in.Description, spec: spec, usage: usage, origin: origin,
		state: stateEnabled, tags: mergeTags(nil, in.Tags), xks: xr,
	}
	k.setPolicy(kp)
	if in.MultiRegion {
		k.mrPrimary = sc.region
	}
	if origin == originExternal {
		k.state, k.imp = statePendingImport, &importState{}
	} else {
		start := time.Now()
		k.versions = []*keys.Version{generateVersion(k, 1, now, "")}
		var cancel context.CancelFunc
		ctx, cancel = afterWork(ctx, time.Since(start))
		defer cancel()
	}

	// No lock: nothing names the key before putKey publishes it but this
	// node's Apply of the committed record (swapKey keeps one snapshot).
	// Taking the key's stripe here would make Apply, which takes the
	// stripes of every key a batch of changes names, wait behind every
	// CreateKey in flight. Reload waits for it (creating).
	s.creating.RLock()
	err = s.putKey(ctx, "CreateKey", k, inUse, nil)
	s.creating.RUnlock()
	if errors.Is(err, errStale) { // a key id drawn twice
		err = s.internal(ctx, "CreateKey", err)
	}
	if err != nil {
		s.destroyHSMKey(ctx, k) // the material generated in a CloudHSM key store's token
		return nil, err
	}
	c.Facts.addKey(k.arn)
	m := k.metadata()
	s.externalState(ctx, m, k) // a CloudHSM key store's cluster
	return &CreateKeyOutput{KeyMetadata: m}, nil
}

// authorizeCreate decides the creation of a key (a, kms:CreateKey with the
// request's condition values) with tags, which also needs kms:TagResource
// (AWS): both by the caller's identity policies, on no key.
func (s *Service) authorizeCreate(c *Caller, a *access, tags []Tag) error {
	a.requestTags, a.tagKeys = tagConditions(tags)
	if err := s.authorize(c, nil, a); err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	t := opAccess("TagResource")
	t.requestTags, t.tagKeys = a.requestTags, a.tagKeys
	return s.authorize(c, nil, t)
}

// DescribeKey returns the key's metadata. It never touches storage.
func (s *Service) DescribeKey(ctx context.Context, c Caller, in *DescribeKeyInput) (*DescribeKeyOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.grantTokens(in.GrantTokens)
	s.tokenGrants(ctx, in.GrantTokens)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(c, sc, "DescribeKey", in.KeyId, true)
	if err != nil {
		return nil, err
	}
	m := k.metadata()
	if st := k.stateAt(s.now()); st != k.state { // expired material
		m.KeyState, m.Enabled = st, false
	}
	s.externalState(ctx, m, k)
	return &DescribeKeyOutput{KeyMetadata: m}, nil
}

// ---- paging ----

func encodeMarker(kind, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "\x00" + last))
}

func decodeMarker(kind, m string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil {
		return "", kmserr.ErrInvalidMarker.With(invalidMarkerMsg)
	}
	k, last, ok := strings.Cut(string(b), "\x00")
	if !ok || k != kind || last == "" {
		return "", kmserr.ErrInvalidMarker.With(invalidMarkerMsg)
	}
	return last, nil
}

// page returns up to limit items after the marker (items sorted by name).
func page[T any](items []T, name func(T) string, kind, marker string, limit int) ([]T, string, bool, error) {
	start := 0
	if marker != "" {
		last, err := decodeMarker(kind, marker)
		if err != nil {
			return nil, "", false, err
		}
		start = sort.Search(len(items), func(i int) bool { return name(items[i]) > last })
	}
	items = items[start:]
	if len(items) <= limit {
		return items, "", false, nil
	}
	items = items[:limit]
	return items, encodeMarker(kind, name(items[limit-1])), true, nil
}

// ListKeys lists the keys of the caller's account in the caller's region,
// ordered by key id.
func (s *Service) ListKeys(ctx context.Context, c Caller, in *ListKeysInput) (*ListKeysOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.intRange("limit", in.Limit, 1, 1000)
	v.marker(in.Marker)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, nil, opAccess("ListKeys")); err != nil {
		return nil, err
	}
	ids := s.sortedKeyIDs(sc)
	pg, next, trunc, err := page(ids, func(id string) string { return id }, "k", in.Marker, limitOr(in.Limit, 100))
	if err != nil {
		return nil, err
	}
	entries := make([]KeyListEntry, len(pg))
	for i, id := range pg {
		entries[i] = KeyListEntry{KeyArn: s.keyARN(sc.region, sc.account, id), KeyId: id}
	}
	return &ListKeysOutput{Keys: entries, NextMarker: next, Truncated: trunc}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// mutateKey is the frame of every single-key change: validate the KeyId
// (id or ARN only), resolve and authorize under the key's lock, let fn
// build the new snapshot (or return nil for "no change"), write it; redone
// (retryStale) when another node changed the key meanwhile.
func (s *Service) mutateKey(ctx context.Context, c Caller, op, keyID string, v *validator,
	fn func(k *key, now time.Time) (*key, error)) (*key, error) {
	return s.mutateKeyFor(ctx, c, opAccess(op), keyID, v, fn)
}

// mutateKeyFor is mutateKey with the access a (condition values of the request).
func (s *Service) mutateKeyFor(ctx context.Context, c Caller, a *access, keyID string, v *validator,
	fn func(k *key, now time.Time) (*key, error)) (*key, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	v.keyID("keyId", keyID, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	var nk *key
	err = retryStale(ctx, func() error { // another node changed the key: decide again on what it wrote
		nk, err = s.mutateOnce(ctx, c, sc, a, keyID, fn)
		return err
	})
	if errors.Is(err, errStale) {
		return nil, s.internal(ctx, a.action[len("kms:"):], err)
	}
	return nk, err
}

// mutateOnce is one attempt of mutateKeyFor, under the lock of the key.
func (s *Service) mutateOnce(ctx context.Context, c Caller, sc scope, a *access, keyID string,
	fn func(k *key, now time.Time) (*key, error)) (*key, error) {
	k, h, err := s.resolveLocked(c, sc, a, keyID, false)
	defer h.release()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	nk, err := fn(k, s.now())
	if err != nil {
		return nil, err
	}
	if nk == nil {
		return k, nil
	}
	ctx, cancel := afterWork(ctx, time.Since(start)) // fn's own work (ImportKeyMaterial unwraps with RSA)
	defer cancel()
	if err := s.putKey(ctx, a.action[len("kms:"):], nk, nil, nil); err != nil {
		return nil, err
	}
	return nk, nil
}

// UpdateKeyDescription replaces the key's description.
func (s *Service) UpdateKeyDescription(ctx context.Context, c Caller, in *UpdateKeyDescriptionInput) (*UpdateKeyDescriptionOutput, error) {
	var v validator
	if in.Description == nil {
		v.Required("description")
	} else {
		v.strLen("description", *in.Description, 0, maxDescriptionLen)
	}
	_, err := s.mutateKey(ctx, c, "UpdateKeyDescription", in.KeyId, &v, func(k *key, _ time.Time) (*key, error) {
		if err := k.notPendingDeletion(); err != nil {
			return nil, err
		}
		if k.description == *in.Description {
			return nil, nil
		}
		nk := k.clone()
		nk.description = *in.Description
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &UpdateKeyDescriptionOutput{}, nil
}

// EnableKey sets the key state to Enabled.
func (s *Service) EnableKey(ctx context.Context, c Caller, in *EnableKeyInput) (*EnableKeyOutput, error) {
	_, err := s.mutateKey(ctx, c, "EnableKey", in.KeyId, &validator{}, func(k *key, now time.Time) (*key, error) {
		if err := k.notPendingDeletion(); err != nil {
			return nil, err
		}
		if k.stateAt(now) == statePendingImport {
			return nil, kmserr.ErrInvalidState.With("%s is pending import.", k.arn)
		}
		if k.state == stateEnabled {
			return nil, nil
		}
		nk := k.clone()
		nk.state = stateEnabled
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &EnableKeyOutput{}, nil
}

// DisableKey sets the key state to Disabled.
func (s *Service) DisableKey(ctx context.Context, c Caller, in *DisableKeyInput) (*DisableKeyOutput, error) {
	_, err := s.mutateKey(ctx, c, "DisableKey", in.KeyId, &validator{}, func(k *key, now time.Time) (*key, error) {
		if err := k.notPendingDeletion(); err != nil {
			return nil, err
		}
		if k.stateAt(now) == statePendingImport {
			return nil, kmserr.ErrInvalidState.With("%s is pending import.", k.arn)
		}
		if k.state == stateDisabled {
			return nil, nil
		}
		nk := k.clone()
		nk.state = stateDisabled
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &DisableKeyOutput{}, nil
}

// ScheduleKeyDeletion puts the key in PendingDeletion; Tick deletes it (with
// its aliases) once DeletionDate has passed.
func (s *Service) ScheduleKeyDeletion(ctx context.Context, c Caller, in *ScheduleKeyDeletionInput) (*ScheduleKeyDeletionOutput, error) {
	var v validator
	v.intRange("pendingWindowInDays", in.PendingWindowInDays, 7, 30)
	days := limitOr(in.PendingWindowInDays, 30)
	a := opAccess("ScheduleKeyDeletion").set(condPendingWindowInDays, strconv.Itoa(days))
	nk, err := s.mutateKeyFor(ctx, c, a, in.KeyId, &v, func(k *key, now time.Time) (*key, error) {
		if err := k.notPendingDeletion(); err != nil {
			return nil, err
		}
		nk := k.clone()
		nk.pendingWindow = int32(days)
		if k.isPrimary() && len(k.mrReplicas) > 0 {
			// Deleted once its replicas are: its waiting period starts then.
			nk.state = statePendingReplicaDeletion
			return nk, nil
		}
		nk.state = statePendingDeletion
		nk.deletionDate = now.Add(time.Duration(days) * 24 * time.Hour)
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &ScheduleKeyDeletionOutput{KeyId: nk.arn, DeletionDate: tsp(nk.deletionDate), KeyState: nk.state,
		PendingWindowInDays: nk.pendingWindow}, nil
}

// CancelKeyDeletion cancels a scheduled deletion; the key ends Disabled
// (PendingImport when it misses imported material).
func (s *Service) CancelKeyDeletion(ctx context.Context, c Caller, in *CancelKeyDeletionInput) (*CancelKeyDeletionOutput, error) {
	nk, err := s.mutateKey(ctx, c, "CancelKeyDeletion", in.KeyId, &validator{}, func(k *key, _ time.Time) (*key, error) {
		if !k.pendingDeletion() {
			return nil, kmserr.ErrInvalidState.With("%s is not pending deletion.", k.arn)
		}
		nk := k.clone()
		nk.state = stateDisabled
		if k.materialMissing() {
			nk.state = statePendingImport
		}
		nk.deletionDate = time.Time{}
		nk.pendingWindow = 0
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &CancelKeyDeletionOutput{KeyId: nk.arn}, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// tagConditions returns aws:RequestTag/* and aws:TagKeys of a request's tags.
func tagConditions(tags []Tag) (map[string]string, []string) {
	if len(tags) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(tags))
	ks := make([]string, len(tags))
	for i, t := range tags {
		m[t.TagKey] = t.TagValue
		ks[i] = t.TagKey
	}
	return m, ks
}
