package kms

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/secret"
)

// Multi-Region keys are one key id ("mrk-" and 32 hex digits) in several
// regions of an account: a primary and its replicas. They share the key
// material, spec, usage, origin and automatic rotation (the shared
// properties), so that a ciphertext, signature or MAC made with one is
// valid with every other; each has its own policy, tags, aliases, grants,
// description and state. The shared properties change on the primary only
// (the rotation operations refuse a replica), and putKey writes every
// change of the primary to its replicas in the same transaction. Every key
// of a set records where the primary and the replicas are (mrPrimary,
// mrReplicas), and every change of the set (ReplicateKey, the deletion of a
// replica, UpdatePrimaryRegion) writes all of them at once. The keys of a
// set share their id, hence their lock stripe (locks.go): holding one
// holds them all.
//
// With imported key material (origin EXTERNAL) each key of the set imports
// the material itself, which must be the same: a replica starts in
// PendingImport knowing the ids of the material imported into its primary
// (computed for the set, not the region: materialScope), and ImportKeyMaterial
// refuses other material as it refuses a re-import of other material. New
// material (NEW_KEY_MATERIAL, RotateKeyOnDemand) is not supported for them.
// The transient states Creating and Updating never show: ReplicateKey and
// UpdatePrimaryRegion are complete when they answer.

func (k *key) isPrimary() bool { return k.mrPrimary != "" && k.mrPrimary == k.region }
func (k *key) isReplica() bool { return k.mrPrimary != "" && k.mrPrimary != k.region }

// newMultiRegionKeyID is "mrk-" and the 32 hex digits of a newKeyID.
func newMultiRegionKeyID(t time.Time) string {
	return "mrk-" + strings.ReplaceAll(newKeyID(t), "-", "")
}

// regionARN is the ARN of k's id in region (of k's partition and account).
func (k *key) regionARN(region string) string {
	partition, _, _ := strings.Cut(strings.TrimPrefix(k.arn, "arn:"), ":")
	return "arn:" + partition + ":kms:" + region + ":" + k.account + ":key/" + k.id
}

// materialScope is what the id of imported material is computed for: the
// key (its ARN), or for a multi-Region key the set (its ARN without region),
// so that the same material has the same id in every region of the set.
func (k *key) materialScope() string {
	if k.mrPrimary == "" {
		return k.arn
	}
	return k.regionARN("")
}

// multiRegionConfiguration is DescribeKey's view of k's set (nil for a
// single-Region key).
func (k *key) multiRegionConfiguration() *MultiRegionConfiguration {
	if k.mrPrimary == "" {
		return nil
	}
	c := &MultiRegionConfiguration{MultiRegionKeyType: "REPLICA",
		PrimaryKey:  &MultiRegionKey{Arn: k.regionARN(k.mrPrimary), Region: k.mrPrimary},
		ReplicaKeys: make([]MultiRegionKey, len(k.mrReplicas))}
	if k.isPrimary() {
		c.MultiRegionKeyType = "PRIMARY"
	}
	for i, r := range k.mrReplicas {
		c.ReplicaKeys[i] = MultiRegionKey{Arn: k.regionARN(r), Region: r}
	}
	return c
}

// notPrimary is AWS's answer to an operation that needs the primary.
func notPrimary(k *key) error {
	return kmserr.ErrUnsupportedOperation.With("%s is not a multi-region primary key.", k.arn)
}

// relatedIn returns the published snapshots of the keys of k's set in
// regions, and the paths of those this node has not read yet (written by
// another node sharing the store).
func (s *Service) relatedIn(k *key, regions []string) (ks []*key, missing []string) {
	for _, r := range regions {
		if o := s.getKey(scope{r, k.account}, k.id); o != nil {
			ks = append(ks, o)
		} else {
			missing = append(missing, keyPath(r, k.account, k.id))
		}
	}
	return ks, missing
}

// withReplicas returns p and, when p is the new snapshot of a primary, the
// new snapshots of its replicas that differ from p in a shared property,
// to be written with p. A replica this node has not read yet is read, and
// the write decided again (errStale).
func (s *Service) withReplicas(ctx context.Context, op string, p *key) ([]*key, error) {
	ks := []*key{p}
	if !p.isPrimary() {
		return ks, nil
	}
	rs, missing := s.relatedIn(p, p.mrReplicas)
	if len(missing) > 0 {
		s.stale(ctx, op, missing...)
		return nil, errStale
	}
	for _, r := range rs {
		if nr := shareFrom(r, p); nr != nil {
			ks = append(ks, nr)
		}
	}
	return ks, nil
}

// shareFrom returns a new snapshot of r with the shared properties of p,
// the primary of its set, or nil when r has them already. The versions r
// holds stay (with their counters); the others are copies of p's. Imported
// material is each key's own (it imports it).
func shareFrom(r, p *key) *key {
	imported := p.origin == originExternal
	same := r.rotEnabled == p.rotEnabled && r.rotPeriod == p.rotPeriod && r.rotBase.Equal(p.rotBase) &&
		r.onDemand == p.onDemand && r.mrPrimary == p.mrPrimary && slices.Equal(r.mrReplicas, p.mrReplicas) &&
		(imported || len(r.versions) == len(p.versions))
	for i := 0; same && !imported && i < len(p.versions); i++ {
		same = r.versions[i].MaterialID == p.versions[i].MaterialID
	}
	if same {
		return nil
	}
	nr := r.clone()
	nr.rotEnabled, nr.rotPeriod, nr.rotBase, nr.onDemand = p.rotEnabled, p.rotPeriod, p.rotBase, p.onDemand
	nr.mrPrimary, nr.mrReplicas = p.mrPrimary, p.mrReplicas
	if imported {
		return nr
	}
	nr.versions = make([]*keys.Version, len(p.versions))
	for i, v := range p.versions {
		if own := r.sameVersion(i, v.MaterialID); own != nil {
			nr.versions[i] = own
			continue
		}
		nv, err := keys.NewVersion(r.spec, r.id, v.Num, secret.Copy(v.Material().Expose()), v.MaterialID, v.Created, v.RotationType)
		if err != nil {
			panic("kms: " + err.Error()) // the material of a version of the same spec
		}
		nr.versions[i] = nv
	}
	return nr
}

// setEncryptions is the number of encryptions under the current material of
// k's set, in every region (they share the material, hence its nonce
// budget), as this node knows them.
func (s *Service) setEncryptions(k *key) uint64 {
	n := k.current().Encryptions.Load()
	if k.mrPrimary == "" {
		return n
	}
	others, _ := s.relatedIn(k, k.otherRegions())
	for _, o := range others {
		if v := o.sameVersion(len(k.versions)-1, k.current().MaterialID); v != nil {
			n += v.Encryptions.Load()
		}
	}
	return n
}

// otherRegions returns the regions of k's set but k's own.
func (k *key) otherRegions() []string {
	var rs []string
	if k.mrPrimary != k.region {
		rs = append(rs, k.mrPrimary)
	}
	for _, r := range k.mrReplicas {
		if r != k.region {
			rs = append(rs, r)
		}
	}
	return rs
}

// afterDeletion returns the new snapshots of the other keys of k's set once
// k is deleted: they forget k's region, and a primary pending replica
// deletion whose last replica k was starts its own waiting period.
func (s *Service) afterDeletion(k *key, now time.Time) (rest []*key, missing []string) {
	if k.mrPrimary == "" {
		return nil, nil
	}
	others, missing := s.relatedIn(k, k.otherRegions())
	if len(missing) > 0 {
		return nil, missing
	}
	replicas := slices.DeleteFunc(slices.Clone(k.mrReplicas), func(r string) bool { return r == k.region })
	for _, o := range others {
		no := o.clone()
		no.mrReplicas = replicas
		if no.isPrimary() && no.state == statePendingReplicaDeletion && len(replicas) == 0 {
			no.state = statePendingDeletion
			no.deletionDate = now.Add(time.Duration(no.pendingWindow) * 24 * time.Hour)
		}
		rest = append(rest, no)
	}
	return rest, nil
}

// region checks a RegionType member (required): the model's pattern allows
// 2 or 3 words before the number (arn.IsRegion, which also names the regions
// this server answers in, allows 4).
func (v *validator) region(member, val string) {
	switch {
	case val == "":
		v.Required(member)
	case len(val) > 32:
		v.Add(member, val, true, "Member must have length less than or equal to 32")
	case !arn.IsRegion(val) || strings.Count(val, "-") > 3:
		v.Add(member, val, true, `Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\d+$`)
	}
}

// ReplicateKey makes a replica of a multi-Region primary key in another
// region of the account: the same key id, material and shared properties,
// with its own description, policy (default: the default key policy) and
// tags. The replica is Enabled when the call answers (AWS's is Creating
// for a few seconds).
func (s *Service) ReplicateKey(ctx context.Context, c Caller, in *ReplicateKeyInput) (*ReplicateKeyOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.region("replicaRegion", in.ReplicaRegion)
	v.strLen("description", in.Description, 0, maxDescriptionLen)
	if in.Policy != nil {
		v.policy(*in.Policy)
	}
	v.tags(in.Tags)
	if err := v.Err(); err != nil {
		return nil, err
	}
	a := opAccess("ReplicateKey").set(condReplicaRegion, in.ReplicaRegion)
	var out *ReplicateKeyOutput
	err = retryStale(ctx, func() error { // another node changed the set: decide again on what it wrote
		out, err = s.replicateOnce(ctx, c, sc, a, in)
		return err
	})
	if errors.Is(err, errStale) {
		return nil, s.internal(ctx, "ReplicateKey", err)
	}
	return out, err
}

func (s *Service) replicateOnce(ctx context.Context, c Caller, sc scope, a *access, in *ReplicateKeyInput) (*ReplicateKeyOutput, error) {
	k, h, err := s.resolveLocked(c, sc, a, in.KeyId, false)
	defer h.release()
	if err != nil {
		return nil, err
	}
	if !k.isPrimary() {
		return nil, notPrimary(k)
	}
	now := s.now()
	if err := k.usable(now); err != nil {
		return nil, err
	}
	region := in.ReplicaRegion
	if region == k.region || slices.Contains(k.mrReplicas, region) {
		return nil, kmserr.ErrAlreadyExists.With("Key %s already exists in %s.", k.regionARN(region), region)
	}
	// The replica is a key of the replica's region: the caller's identity
	// policies there must allow kms:CreateKey (and kms:TagResource to tag).
	rc := c
	rc.Region = region
	ca := opAccess("CreateKey").set(condKeySpec, string(k.spec)).set(condKeyUsage, string(k.usage)).
		set(condKeyOrigin, k.origin).set(condMultiRegion, "true").
		set(condMultiRegionKeyType, "REPLICA")
	if err := s.authorizeCreate(&rc, ca, in.Tags); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags, nil); err != nil {
		return nil, err
	}
	replicaARN := k.regionARN(region)
	kp, err := s.newKeyPolicy(c, k.account, replicaARN, in.Policy, in.BypassPolicyLockoutSafetyCheck)
	if err != nil {
		return nil, err
	}
	others, missing := s.relatedIn(k, k.mrReplicas)
	if len(missing) > 0 {
		s.stale(ctx, "ReplicateKey", missing...)
		return nil, errStale
	}

	np := k.clone()
	np.mrReplicas = append(slices.Clone(k.mrReplicas), region)
	slices.Sort(np.mrReplicas)
	r := &key{
		id: k.id, arn: replicaARN, region: region, account: k.account, created: now,
		description: in.Description, spec: k.spec, usage: k.usage, origin: k.origin, state: stateEnabled,
		tags: mergeTags(nil, in.Tags),
	}
	r.setPolicy(kp)
	if k.origin == originExternal {
		// It imports the material of its primary itself (and only that).
		r.state = statePendingImport
		r.imp = &importState{materialIDs: k.imp.materialIDs}
	}
	r = shareFrom(r, np) // never nil: r is not in np's set yet
	ks := []*key{np, r}
	for _, o := range others {
		if no := shareFrom(o, np); no != nil {
			ks = append(ks, no)
		}
	}
	if err := s.putKeys(ctx, "ReplicateKey", ks, nil, nil); err != nil {
		return nil, err
	}
	c.Facts.addKey(r.arn)
	// AWS answers before the replica exists: its metadata says Creating,
	// not enabled, no material yet. Here it is ready at once, and
	// DescribeKey says so; the answer keeps AWS's shape, which clients
	// that wait for the replica expect.
	md := r.metadata()
	md.KeyState, md.Enabled, md.CurrentKeyMaterialId = stateCreating, false, ""
	return &ReplicateKeyOutput{ReplicaKeyMetadata: md, ReplicaPolicy: r.policy, ReplicaTags: r.tags}, nil
}

// UpdatePrimaryRegion makes the replica in another region the primary of
// the set and the primary a replica. Both must be Enabled, and the caller
// needs kms:UpdatePrimaryRegion on both (their key policies).
func (s *Service) UpdatePrimaryRegion(ctx context.Context, c Caller, in *UpdatePrimaryRegionInput) (*UpdatePrimaryRegionOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.region("primaryRegion", in.PrimaryRegion)
	if err := v.Err(); err != nil {
		return nil, err
	}
	a := opAccess("UpdatePrimaryRegion").set(condPrimaryRegion, in.PrimaryRegion)
	err = retryStale(ctx, func() error { return s.updatePrimaryOnce(ctx, c, sc, a, in.KeyId, in.PrimaryRegion) })
	if errors.Is(err, errStale) {
		return nil, s.internal(ctx, "UpdatePrimaryRegion", err)
	}
	if err != nil {
		return nil, err
	}
	return &UpdatePrimaryRegionOutput{}, nil
}

func (s *Service) updatePrimaryOnce(ctx context.Context, c Caller, sc scope, a *access, keyID, region string) error {
	k, h, err := s.resolveLocked(c, sc, a, keyID, false)
	defer h.release()
	if err != nil {
		return err
	}
	if !k.isPrimary() {
		return notPrimary(k)
	}
	if region == k.region {
		return kmserr.ErrValidation.With("%s is already the primary key in %s.", k.arn, region)
	}
	if !slices.Contains(k.mrReplicas, region) {
		return kmserr.ErrNotFound.With("Key '%s' does not exist", k.regionARN(region))
	}
	others, missing := s.relatedIn(k, k.mrReplicas)
	if len(missing) > 0 {
		s.stale(ctx, "UpdatePrimaryRegion", missing...)
		return errStale
	}
	var r *key
	for _, o := range others {
		if o.region == region {
			r = o
		}
	}
	c.Facts.addKey(r.arn)
	// AWS: the permission on the replica must be effective in the
	// replica's Region (aws:RequestedRegion is that Region).
	rc := c
	rc.Region = region
	ra := opAccess("UpdatePrimaryRegion").set(condPrimaryRegion, region)
	if err := s.authorize(&rc, r, ra); err != nil {
		return err
	}
	now := s.now()
	if err := k.usable(now); err != nil {
		return err
	}
	if err := r.usable(now); err != nil {
		return err
	}
	replicas := append(slices.DeleteFunc(slices.Clone(k.mrReplicas), func(x string) bool { return x == region }), k.region)
	slices.Sort(replicas)
	ks := make([]*key, 0, 1+len(others))
	for _, o := range append([]*key{k}, others...) {
		no := o.clone()
		no.mrPrimary, no.mrReplicas = region, replicas
		ks = append(ks, no)
	}
	return s.putKeys(ctx, "UpdatePrimaryRegion", ks, nil, nil)
}
