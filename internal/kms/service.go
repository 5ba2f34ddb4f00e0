// Package kms is Trent's AWS KMS service layer: every operation as plain Go,
// with AWS's validation, key states and error messages, and no HTTP.
//
// # State
//
// Every key (metadata, policy, tags, rotation state and all backing-key
// versions with their cached AES-GCM AEADs) and every alias is held in memory,
// loaded by New. Crypto operations and DescribeKey read only that memory.
// Each change is one storage.Update transaction; memory is updated after the
// transaction commits, so a failed write changes nothing. A key's record lives
// at "kms/key/<region>/<account>/<id>" (one JSON document holding everything
// about the key), an alias at "kms/alias/<region>/<account>/<alias name>".
// The store is expected to be wrapped by the barrier, which seals records
// (they contain key material).
//
// In-memory *key and *alias values are immutable once published: a change
// builds a copy, writes it, then swaps the map entry. A writer locks only
// the keys and aliases it changes (locks.go), from its check of the current
// state to the publication of the new one, so that writes to different keys
// run at the same time and share the storage's commits; readers take a read
// lock only for the map lookup.
//
// # Differences from AWS KMS (known)
//
//   - Every key spec but SM2 (internal/keys holds the spec table: usages,
//     algorithms, material); SM2: UnsupportedOperationException. CloudHSM
//     key stores are PKCS#11 tokens the operator names (cloudhsm.go).
//     Grants: tokens are validated and ignored. Recipient (attestation):
//     AWS Nitro Enclaves documents only (recipient.go, package attest), not
//     NitroTPM ones. docs/api-coverage.md has the whole list.
//   - A ciphertext naming a key that does not exist in the caller's region and
//     account is AccessDeniedException ("The ciphertext refers to a customer
//     master key that does not exist, ..."), as AWS answers.
//   - alias/aws/... names are refused with NotAuthorizedException (as
//     local-kms and moto do; AWS-managed keys do not exist here).
//   - Messages not recorded from AWS are our wording: MalformedPolicyDocument
//     details, the 50-aliases-per-key LimitExceeded, ConflictException of
//     RotateKeyOnDemand, UnsupportedOperation texts.
//   - Rotation is instant: OnDemandRotationStartDate is never set. An empty
//     KeyId string counts as missing ("Member must not be null").
//   - An empty Caller.Region means us-east-1.
//   - Key ids are version 7 UUIDs (they begin with the creation time), so
//     that new keys' records sit together in storage (keyops.go newKeyID).
package kms

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/attest"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/requestid"
	"github.com/trent-kms/trent/internal/secret"
	"github.com/trent-kms/trent/internal/storage"
)

const (
	stateEnabled         = "Enabled"
	stateDisabled        = "Disabled"
	statePendingDeletion = "PendingDeletion"
	// statePendingReplicaDeletion: the primary of multi-Region keys whose
	// deletion is scheduled waits for its replicas' (multiregion.go).
	statePendingReplicaDeletion = "PendingReplicaDeletion"
	// stateCreating: what ReplicateKey's answer says of the new replica.
	stateCreating = "Creating"

	originAWSKMS = "AWS_KMS"

	defaultRegion = "us-east-1"

	keyPathPrefix   = "kms/key/"
	aliasPathPrefix = "kms/alias/"

	// MaxOnDemandRotations is AWS's (non-adjustable) quota of RotateKeyOnDemand per key.
	MaxOnDemandRotations = 25
	// rotateAfterEncryptions makes Tick add a version well before the 2^32
	// random-nonce limit of AES-GCM.
	rotateAfterEncryptions = 1 << 31
	// hardEncryptionLimit refuses encryption under a version past this count
	// (Vault's absoluteOperationMaximum); Tick rotates long before.
	hardEncryptionLimit = 3_865_470_566

	tickInterval = 30 * time.Second
	// flushBatch bounds how many keys' counters one transaction persists.
	flushBatch = 256
)

// Service implements the AWS KMS operations.
type Service struct {
	store     storage.Store
	partition string
	now       func() time.Time
	log       *slog.Logger
	usage     UsageIndex // GetKeyLastUsage; nil: no audit log
	shared    bool       // Config.Shared

	locks locks // taken by writers: what they change (locks.go)
	// creating is held shared by CreateKey from its commit to the
	// publication of the new key, and exclusively by Reload, which drops
	// from memory the keys its read of storage did not return: a key
	// committed after that read must not be published, then dropped.
	creating sync.RWMutex
	mu       sync.RWMutex // guards spaces and the maps in them; values are immutable
	spaces   map[scope]*space
	policies policyCache // compiled key policies by document
	wiped    atomic.Bool // Wipe ran: the service holds no key (XKSHealth)

	stores  keyStoreCache // custom key stores in use (keystores.go)
	xksHTTP *http.Client  // Config.XKSHTTPClient
	// clusters are Config.CloudHSMClusters; hsm the tokens this node has
	// open (cloudhsm.go).
	clusters map[string]CloudHSMCluster
	hsm      hsmTokens

	principals Principals                           // Config.Principals
	events     func(context.Context, *ServiceEvent) // Config.Events
	attRoots   *x509.CertPool                       // Config.AttestationRoots, or the AWS Nitro Enclaves root
}

type scope struct{ region, account string }

type space struct {
	keys    map[string]*key   // by key id
	aliases map[string]*alias // by alias name ("alias/...")
	// sortedIDs caches the sorted key ids for ListKeys; nil when a key was
	// added or removed since. Never modified in place once built.
	sortedIDs []string
}

// key is an immutable snapshot of one KMS key.
type key struct {
	id, arn         string
	region, account string
	created         time.Time
	description     string
	spec            keys.Spec
	usage           keys.Usage
	origin          string
	state           string
	deletionDate    time.Time
	pendingWindow   int32
	policy          string
	tags            []Tag // sorted by TagKey
	rotEnabled      bool
	rotPeriod       int32
	rotBase         time.Time       // next automatic rotation = rotBase + rotPeriod days
	onDemand        int             // on-demand rotations so far
	versions        []*keys.Version // empty while an EXTERNAL key waits for its first material
	imp             *importState    // origin EXTERNAL only
	// mrPrimary is the region of the primary of a multi-Region key ("" for
	// a single-Region key), mrReplicas the regions of its replicas, sorted
	// (shared, never modified in place). Every key of the set holds both.
	mrPrimary  string
	mrReplicas []string
	// xks names the external key of a key in an external key store (nil
	// for every other key; keystorecrypto.go).
	xks *xksRef

	// polIDs are the unique ids of the IAM users and roles the policy names
	// (policy.Bind), bound when it was set; nil when it names none, or was
	// set before policies were bound (its names then match by name alone).
	// Shared, never modified in place; persisted.
	polIDs map[string]string
	// pol is policy compiled and bound to polIDs (nil when it does not
	// parse: nothing is allowed then); polSrc is the document pol was
	// compiled from.
	pol    *policy.Policy
	polSrc string
	// tagMap is tags as aws:ResourceTag/* reads them.
	tagMap map[string]string
	// grants are the key's grants, sorted by creation (shared, never
	// modified in place).
	grants []*grant

	// rev counts the writes of the key's record (0: a record of an earlier
	// release, never rewritten since). A write checks, in its transaction,
	// that the stored record still has the rev of the snapshot it changes:
	// nodes sharing a store never overwrite each other's changes.
	rev uint64
}

// compile prepares what authorization reads from k: the compiled key policy
// (kept from the snapshot k was cloned from when the document is the same)
// and the tag map. It is called on every snapshot before it is published.
func (s *Service) compile(k *key) {
	if k.pol == nil || k.polSrc != k.policy {
		p, err := s.policies.parse(k.policy)
		if err != nil {
			s.log.Error("kms: stored key policy does not parse; the key allows nothing until PutKeyPolicy replaces it",
				"key", k.arn, "err", err)
			p = nil
		}
		k.pol, k.polSrc = p, k.policy
	}
	if k.pol != nil {
		k.pol = k.pol.Bind(k.polIDs)
	}
	k.tagMap = nil
	if len(k.tags) > 0 {
		k.tagMap = make(map[string]string, len(k.tags))
		for _, t := range k.tags {
			k.tagMap[t.TagKey] = t.TagValue
		}
	}
}

// current is the newest version; callers check usable() first (a key in
// PendingImport may have none, or versions without material) or
// hasMaterial.
func (k *key) current() *keys.Version { return k.versions[len(k.versions)-1] }

// hasMaterial reports whether k has versions: an EXTERNAL key has none
// before its first import. A version may have lost its imported material
// since (materialMissing).
func (k *key) hasMaterial() bool { return len(k.versions) > 0 }

func (k *key) clone() *key {
	c := *k
	c.tags = slices.Clone(k.tags)
	c.versions = slices.Clone(k.versions)
	return &c
}

func (k *key) nextRotation() time.Time {
	return k.rotBase.Add(time.Duration(k.rotPeriod) * 24 * time.Hour)
}

type alias struct {
	name, arn       string
	region, account string
	target          string // key id
	created         time.Time
	updated         time.Time
}

// ---- persisted records ----

type keyRecord struct {
	ID            string             `json:"id"`
	Region        string             `json:"region"`
	Account       string             `json:"account"`
	Created       time.Time          `json:"created"`
	Description   string             `json:"description,omitempty"`
	KeySpec       keys.Spec          `json:"keySpec"`
	KeyUsage      keys.Usage         `json:"keyUsage"`
	Origin        string             `json:"origin"`
	State         string             `json:"state"`
	DeletionDate  time.Time          `json:"deletionDate,omitzero"`
	PendingWindow int32              `json:"pendingWindow,omitempty"`
	Policy        string             `json:"policy"`
	Tags          []Tag              `json:"tags,omitempty"`
	Rotation      rotationRecord     `json:"rotation"`
	Versions      []versionRecord    `json:"versions"`
	Import        *importRecord      `json:"import,omitempty"`
	MultiRegion   *multiRegionRecord `json:"multiRegion,omitempty"`
	XKS           *xksRecord         `json:"xks,omitempty"`
	Rev           uint64             `json:"rev,omitempty"`

	// PolicyPrincipals binds the IAM users and roles the policy names to
	// their unique ids (key.polIDs).
	PolicyPrincipals map[string]string `json:"policyPrincipals,omitempty"`
}

// multiRegionRecord is where the keys of a multi-Region set are.
type multiRegionRecord struct {
	Primary  string   `json:"primary"`
	Replicas []string `json:"replicas,omitempty"`
}

type rotationRecord struct {
	Enabled  bool      `json:"enabled,omitempty"`
	Period   int32     `json:"periodDays,omitempty"`
	Base     time.Time `json:"base,omitzero"`
	OnDemand int       `json:"onDemand,omitempty"`
}

type versionRecord struct {
	MaterialID  string    `json:"materialId"`
	Material    []byte    `json:"material,omitempty"` // none: imported material deleted
	Created     time.Time `json:"created"`
	Type        string    `json:"type,omitempty"`
	Encryptions uint64    `json:"encryptions,omitempty"`
}

type aliasRecord struct {
	Name    string    `json:"name"`
	Region  string    `json:"region"`
	Account string    `json:"account"`
	Target  string    `json:"target"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

func keyPath(region, account, id string) string {
	return keyPathPrefix + region + "/" + account + "/" + id
}

func aliasPath(region, account, name string) string {
	return aliasPathPrefix + region + "/" + account + "/" + name
}

// New loads every key and alias from cfg.Store into memory.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("kms: nil store")
	}
	s := &Service{
		store:      cfg.Store,
		partition:  cfg.Partition,
		now:        cfg.Now,
		log:        cfg.Logger,
		usage:      cfg.Usage,
		shared:     cfg.Shared,
		xksHTTP:    cfg.XKSHTTPClient,
		clusters:   cfg.CloudHSMClusters,
		principals: cfg.Principals,
		events:     cfg.Events,
		spaces:     make(map[scope]*space),
	}
	s.locks.seed = maphash.MakeSeed()
	if s.partition == "" {
		s.partition = "aws"
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.hsm.now = s.now
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// The lines logged with a request's context name its request id.
	s.log = slog.New(requestid.LogHandler(s.log.Handler()))
	if s.attRoots = cfg.AttestationRoots; s.attRoots == nil {
		var err error
		if s.attRoots, err = attest.Roots("", false); err != nil {
			return nil, err
		}
	}
	if err := s.Reload(ctx); err != nil {
		return nil, fmt.Errorf("kms: load state: %w", err)
	}
	if err := s.indexAliases(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// space returns the space of sc, creating it. Callers hold mu for writing
// (or own s exclusively, as New does).
func (s *Service) space(sc scope) *space {
	sp := s.spaces[sc]
	if sp == nil {
		sp = &space{keys: make(map[string]*key), aliases: make(map[string]*alias)}
		s.spaces[sc] = sp
	}
	return sp
}

func (s *Service) keyARN(region, account, id string) string {
	return arn.Key(s.partition, region, account, id)
}

func (s *Service) aliasARN(region, account, name string) string {
	return arn.Alias(s.partition, region, account, name)
}

// keyFromRecord builds the snapshot of a stored record. With old (the
// snapshot it replaces, under its key's lock) the versions old already holds are
// reused, with their counters merged: old's versions then belong to the
// new snapshot.
func (s *Service) keyFromRecord(rec *keyRecord, old *key) (*key, error) {
	if len(rec.Versions) == 0 && rec.Origin != originExternal {
		return nil, errors.New("no key material")
	}
	for _, vr := range rec.Versions {
		// Only imported material is deleted, and a key missing some is
		// never usable (the AEAD of an empty version is nil).
		if len(vr.Material) == 0 && (rec.Origin != originExternal || rec.State == stateEnabled || rec.State == stateDisabled) {
			return nil, fmt.Errorf("version of material %s has no key material in a key of origin %s that is %s", vr.MaterialID, rec.Origin, rec.State)
		}
	}
	k := &key{
		id: rec.ID, arn: s.keyARN(rec.Region, rec.Account, rec.ID), region: rec.Region, account: rec.Account,
		created: rec.Created, description: rec.Description, spec: rec.KeySpec, usage: rec.KeyUsage,
		origin: rec.Origin, state: rec.State, deletionDate: rec.DeletionDate, pendingWindow: rec.PendingWindow,
		policy: rec.Policy, polIDs: rec.PolicyPrincipals, tags: rec.Tags, rotEnabled: rec.Rotation.Enabled, rotPeriod: rec.Rotation.Period,
		rotBase: rec.Rotation.Base, onDemand: rec.Rotation.OnDemand, imp: importFromRecord(rec.Import, rec.Versions), rev: rec.Rev,
		xks: xksFromRecord(rec.XKS),
	}
	if mr := rec.MultiRegion; mr != nil {
		k.mrPrimary, k.mrReplicas = mr.Primary, mr.Replicas
	}
	for i, vr := range rec.Versions {
		if v := old.sameVersion(i, vr.MaterialID); v != nil && v.HasMaterial() == (len(vr.Material) > 0) {
			// Keep the version (its AEAD, and the encryptions this node
			// counted since its last flush); storage counted the rest.
			clear(vr.Material)
			v.Encryptions.Add(vr.Encryptions - v.Flushed.Load())
			v.Flushed.Store(vr.Encryptions)
			k.versions = append(k.versions, v)
			continue
		}
		var v *keys.Version
		if len(vr.Material) == 0 {
			v = keys.NewEmptyVersion(k.spec, uint32(i+1), vr.MaterialID, vr.Created, vr.Type)
		} else {
			var err error
			if v, err = keys.NewVersion(k.spec, k.id, uint32(i+1), secret.New(vr.Material), vr.MaterialID, vr.Created, vr.Type); err != nil {
				return nil, err
			}
		}
		v.Encryptions.Store(vr.Encryptions)
		v.Flushed.Store(vr.Encryptions)
		k.versions = append(k.versions, v)
	}
	return k, nil
}

// sameVersion returns version i (0-based) of k when it has material id
// materialID (nil when k is nil or has no such version).
func (k *key) sameVersion(i int, materialID string) *keys.Version {
	if k == nil || i >= len(k.versions) || k.versions[i].MaterialID != materialID {
		return nil
	}
	return k.versions[i]
}

func (k *key) record() *keyRecord {
	rec := &keyRecord{
		ID: k.id, Region: k.region, Account: k.account, Created: k.created, Description: k.description,
		KeySpec: k.spec, KeyUsage: k.usage, Origin: k.origin, State: k.state, DeletionDate: k.deletionDate,
		PendingWindow: k.pendingWindow, Policy: k.policy, Tags: k.tags,
		Rotation: rotationRecord{Enabled: k.rotEnabled, Period: k.rotPeriod, Base: k.rotBase, OnDemand: k.onDemand},
		Import:   k.imp.record(), XKS: k.xks.record(), Rev: k.rev, PolicyPrincipals: k.polIDs,
	}
	if k.mrPrimary != "" {
		rec.MultiRegion = &multiRegionRecord{Primary: k.mrPrimary, Replicas: k.mrReplicas}
	}
	for _, v := range k.versions {
		rec.Versions = append(rec.Versions, versionRecord{
			MaterialID: v.MaterialID, Material: v.Material().Expose(), Created: v.Created, Type: v.RotationType,
			Encryptions: v.Encryptions.Load(),
		})
	}
	return rec
}

// generateVersion creates fresh random material for version num of k.
func generateVersion(k *key, num uint32, created time.Time, rotType string) *keys.Version {
	v, err := keys.GenerateVersion(k.spec, k.id, num, created, rotType)
	if err != nil {
		panic("kms: " + err.Error()) // every spec a key can have generates
	}
	return v
}

// ---- lookups (readers) ----

func (s *Service) getKey(sc scope, id string) *key {
	s.mu.RLock()
	var k *key
	if sp := s.spaces[sc]; sp != nil {
		k = sp.keys[id]
	}
	s.mu.RUnlock()
	return k
}

func (s *Service) getAlias(sc scope, name string) *alias {
	s.mu.RLock()
	var a *alias
	if sp := s.spaces[sc]; sp != nil {
		a = sp.aliases[name]
	}
	s.mu.RUnlock()
	return a
}

// sortedKeyIDs returns the sorted ids of the keys of sc (shared, read-only).
func (s *Service) sortedKeyIDs(sc scope) []string {
	s.mu.RLock()
	sp := s.spaces[sc]
	if sp == nil {
		s.mu.RUnlock()
		return nil
	}
	ids := sp.sortedIDs
	s.mu.RUnlock()
	if ids != nil {
		return ids
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp.sortedIDs == nil {
		ids := make([]string, 0, len(sp.keys))
		for id := range sp.keys {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		sp.sortedIDs = ids
	}
	return sp.sortedIDs
}

// ---- writes (callers hold the locks of what they change, see locks.go) ----

// internal is where a storage error becomes a KMS error: a database that
// is unreachable or does not answer in time (storage.ErrUnavailable, or the
// request's deadline passing while it waits) is DependencyTimeoutException,
// which AWS documents as "the system timed out while trying to fulfill the
// request; the request can be retried" (HTTP 503, retried by the SDKs);
// anything else is KMSInternalException (HTTP 500). The cause goes only to
// the log.
func (s *Service) internal(ctx context.Context, op string, err error) error {
	s.log.ErrorContext(ctx, "kms: storage write failed", "op", op, "err", err)
	if errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return errStorageTimeout
	}
	return kmserr.ErrInternal
}

var errStorageTimeout = kmserr.ErrDependencyTimeout.With("The system timed out while trying to fulfill the request. The request can be retried.")

// afterWork returns the context for the storage write that follows d of an
// operation's own CPU work: ctx with its deadline moved d later. The
// deadline (the operation's Timeout) bounds the wait on storage; generating
// an RSA_4096 key takes a second and, on a loaded machine, more than the
// whole Timeout, and a key generated only to be dropped as
// DependencyTimeoutException (then generated again by the SDK's retry) is
// the worst answer. Cancellation of ctx other than by its deadline (the
// client gone) still ends the write. Work under a millisecond changes
// nothing.
func afterWork(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok || d < time.Millisecond || (ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded)) {
		return ctx, func() {}
	}
	wctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), dl.Add(d))
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return wctx, func() { stop(); cancel() }
}

// errStale is returned (unwrapped) by putKey and deleteKey when the stored
// record is not the one the changed snapshot was built from: another node
// sharing the store changed the key meanwhile (its change had not reached
// this node's memory yet). The key has then been read again from storage;
// the caller may redo its change on the fresh snapshot (mutateKey does).
var errStale = errors.New("kms: the key was changed by another node")

// maxStaleRetries bounds how often retryStale redoes a change that met
// errStale. Every errStale is another node's committed write, so the
// cluster progresses; the bound only stops one request from losing to a
// stream of writes from elsewhere for ever.
const maxStaleRetries = 64

// retryStale runs once until it returns something other than errStale, at
// most maxStaleRetries times. After the second loss in a row it waits a
// random moment (growing with the attempts, at most 5 ms) before it tries
// again, so that the writers of two nodes on one key stop colliding in
// lockstep. When ctx is done first it returns errStale joined with ctx's
// error.
func retryStale(ctx context.Context, once func() error) error {
	for attempt := 1; ; attempt++ {
		err := once()
		if !errors.Is(err, errStale) || attempt == maxStaleRetries {
			return err
		}
		if attempt < 2 {
			continue
		}
		wait := time.NewTimer(rand.N(min(time.Duration(attempt)*250*time.Microsecond, 5*time.Millisecond)))
		select {
		case <-ctx.Done():
			wait.Stop()
			return errors.Join(err, ctx.Err())
		case <-wait.C:
		}
	}
}

// checkRev is the first step of a transaction that writes the record at
// path built from the published snapshot cur (nil: a new key): the stored
// record must still be cur's (same rev), else errStale.
func checkRev(tx storage.Tx, path string, cur *key) error {
	b, err := tx.Get(path)
	if errors.Is(err, storage.ErrNotFound) {
		if cur == nil {
			return nil
		}
		return errStale
	}
	if err != nil {
		return err
	}
	defer clear(b)
	if cur == nil {
		return errStale
	}
	var r struct {
		Rev uint64 `json:"rev"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("kms: decode %s: %w", path, err)
	}
	if r.Rev != cur.rev {
		return errStale
	}
	return nil
}

// stale reads the key records at paths again after a write met errStale,
// so that a retry works on what storage holds. Callers hold the keys' locks.
func (s *Service) stale(ctx context.Context, op string, paths ...string) {
	s.log.InfoContext(ctx, "kms: the record was changed by another node; read it again", "op", op, "paths", paths)
	if _, err := s.applyHeld(ctx, nil, paths); err != nil {
		s.log.ErrorContext(ctx, "kms: read a record changed by another node", "paths", paths, "err", err)
	}
}

// putKey writes k (and whatever extra does in the same transaction), then
// publishes k and applies after (under mu) to memory. k replaces the
// published snapshot of its key (if any): the write fails with errStale
// when storage no longer holds that snapshot's record. When k is the
// primary of multi-Region keys, its replicas take its shared properties in
// the same transaction (withReplicas). The caller holds the lock of k
// (locks.go: the keys of a multi-Region set share their id, so their lock).
func (s *Service) putKey(ctx context.Context, op string, k *key, extra func(storage.Tx) error, after func(*space)) error {
	ks, err := s.withReplicas(ctx, op, k)
	if err != nil {
		return err
	}
	return s.putKeys(ctx, op, ks, extra, after)
}

// putKeys is putKey for the snapshots ks, written in one transaction and
// published together; after applies to the space of the first.
func (s *Service) putKeys(ctx context.Context, op string, ks []*key, extra func(storage.Tx) error, after func(*space)) error {
	ws, err := s.prepareWrites(ctx, op, ks)
	if err != nil {
		return err
	}
	defer ws.clear()
	err = s.store.Update(ctx, func(tx storage.Tx) error {
		if err := ws.apply(tx); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	if errors.Is(err, errStale) {
		s.stale(ctx, op, ws.paths()...)
		return errStale
	}
	var ke *kmserr.Error
	if errors.As(err, &ke) {
		return ke // extra's answer
	}
	if err != nil {
		return s.internal(ctx, op, err)
	}
	ws.publish(s, after)
	return nil
}

// keyWrite is the write of one key snapshot: its record, and the published
// snapshot it replaces (nil: a new key), which storage must still hold.
type keyWrite struct {
	k, cur *key
	path   string
	rec    *keyRecord
	data   []byte
}

type keyWrites []keyWrite

// prepareWrites numbers, encodes and compiles the snapshots ks.
func (s *Service) prepareWrites(ctx context.Context, op string, ks []*key) (keyWrites, error) {
	ws := make(keyWrites, 0, len(ks))
	for _, k := range ks {
		w := keyWrite{k: k, path: keyPath(k.region, k.account, k.id), cur: s.getKey(scope{k.region, k.account}, k.id)}
		k.rev = 1
		if w.cur != nil {
			k.rev = w.cur.rev + 1
		}
		w.rec = k.record()
		data, err := json.Marshal(w.rec)
		if err != nil {
			ws.clear()
			return nil, s.internal(ctx, op, err)
		}
		w.data = data
		s.compile(k)
		ws = append(ws, w)
	}
	return ws, nil
}

// apply writes the records in tx, each after checkRev.
func (ws keyWrites) apply(tx storage.Tx) error {
	for _, w := range ws {
		if err := checkRev(tx, w.path, w.cur); err != nil {
			return err
		}
		if err := tx.Put(w.path, w.data); err != nil {
			return err
		}
	}
	return nil
}

// publish makes the written snapshots current (after applies to the
// first's space).
func (ws keyWrites) publish(s *Service, after func(*space)) {
	for i, w := range ws {
		w.rec.markFlushed(w.k)
		if i > 0 {
			after = nil
		}
		s.swapKey(w.k, w.cur, after)
	}
}

func (ws keyWrites) paths() []string {
	ps := make([]string, len(ws))
	for i, w := range ws {
		ps[i] = w.path
	}
	return ps
}

// clear wipes the encoded records (they hold key material).
func (ws keyWrites) clear() {
	for _, w := range ws {
		clear(w.data)
	}
}

// swapKey makes k the published snapshot of its key in place of old (the
// snapshot k was built from; nil: none), runs after (if any) under mu, and
// reports whether it did. Only a new key can have been published by another
// meanwhile: CreateKey writes it without its lock, and this node's Apply may
// read the committed record and publish it first. Then the newer snapshot
// stays (the one already there when both have the same rev), and the
// versions of k it does not hold are wiped.
func (s *Service) swapKey(k, old *key, after func(*space)) bool {
	s.mu.Lock()
	sp := s.space(scope{k.region, k.account})
	prev := sp.keys[k.id]
	if prev != nil && prev != old && prev.rev >= k.rev {
		s.mu.Unlock()
		wipeVersions(k.versions, prev.versions)
		return false
	}
	if prev == nil {
		sp.sortedIDs = nil
	}
	sp.keys[k.id] = k
	if after != nil {
		after(sp)
	}
	s.mu.Unlock()
	return true
}

func marshalAlias(a *alias) ([]byte, error) {
	return json.Marshal(aliasRecord{Name: a.name, Region: a.region, Account: a.account, Target: a.target,
		Created: a.created, Updated: a.updated})
}

// ---- background jobs ----

// Run runs the background jobs (deletion of keys past their deletion date,
// automatic rotation, persisting the encryption counters) every 30 seconds
// until ctx is done. Among nodes sharing a store, every node runs RunFlush
// and one (the leader) RunJobs.
func (s *Service) Run(ctx context.Context) {
	s.every(ctx, s.Tick)
}

// RunJobs runs the background jobs but the counters' flush every 30
// seconds until ctx is done: the leader's part among nodes sharing a store.
func (s *Service) RunJobs(ctx context.Context) {
	s.every(ctx, s.Jobs)
}

// Jobs runs one pass of the background jobs but the counters' flush (see
// Tick).
func (s *Service) Jobs(ctx context.Context) error {
	now := s.now()
	var errs []error
	for _, k := range s.allKeys() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.tickKey(ctx, scope{k.region, k.account}, k.id, now); err != nil {
			errs = append(errs, fmt.Errorf("kms: key %s: %w", k.arn, err))
		}
	}
	return errors.Join(errs...)
}

// RunFlush persists this node's encryption counters every 30 seconds until
// ctx is done: the part of the background jobs every node of a shared store
// runs (each node counts its own encryptions).
func (s *Service) RunFlush(ctx context.Context) {
	s.every(ctx, s.FlushCounters)
}

func (s *Service) every(ctx context.Context, job func(context.Context) error) {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		if err := job(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("kms: background jobs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick runs one pass of the background jobs: keys whose deletion date has
// passed are deleted with their aliases; enabled keys with automatic rotation
// due (or whose current version has been used for too many encryptions) get a
// new backing-key version; encryption counters are persisted. Each job is
// one transaction on one key under its lock, decided again from what storage
// holds when another node changed the key meanwhile (errStale), so a pass
// cut short (the node dies, or loses its leadership) is finished by the next
// one, wherever it runs.
func (s *Service) Tick(ctx context.Context) error {
	return errors.Join(s.Jobs(ctx), s.FlushCounters(ctx))
}

// FlushCounters persists the encryption counters that changed since the
// last flush.
func (s *Service) FlushCounters(ctx context.Context) error {
	var dirty []*key
	for _, k := range s.allKeys() {
		for _, v := range k.versions {
			if v.Encryptions.Load() != v.Flushed.Load() {
				dirty = append(dirty, k)
				break
			}
		}
	}
	var errs []error
	for len(dirty) > 0 {
		n := min(len(dirty), flushBatch)
		if err := s.flushCounters(ctx, dirty[:n]); err != nil {
			errs = append(errs, err)
		}
		dirty = dirty[n:]
	}
	return errors.Join(errs...)
}

func (s *Service) allKeys() []*key {
	var keys []*key
	s.mu.RLock()
	for _, sp := range s.spaces {
		for _, k := range sp.keys {
			keys = append(keys, k)
		}
	}
	s.mu.RUnlock()
	return keys
}

// tickKey runs the background jobs of the key id of sc, each attempt under
// its lock, deciding again (retryStale) when another node changed the key
// meanwhile. A job done is then told to Config.Events, once the key's lock
// is released.
func (s *Service) tickKey(ctx context.Context, sc scope, id string, now time.Time) error {
	var ev *ServiceEvent
	err := retryStale(ctx, func() (err error) {
		ev, err = s.tickKeyOnce(ctx, sc, id, now)
		return err
	})
	if err == nil && ev != nil && s.events != nil {
		s.events(ctx, ev)
	}
	return err
}

// tickKeyOnce is one attempt of tickKey; ev is the job it did (nil: none).
func (s *Service) tickKeyOnce(ctx context.Context, sc scope, id string, now time.Time) (ev *ServiceEvent, err error) {
	h := s.locks.lockKey(id)
	defer func() { h.release() }()
	k := s.getKey(sc, id) // the current snapshot: a write may have come since Tick listed the keys
	if k == nil {
		return nil, nil
	}
	ev = &ServiceEvent{Time: now, KeyARN: k.arn, KeyID: k.id}
	switch {
	case k.state == statePendingDeletion && !now.Before(k.deletionDate):
		ev.Name, err = "DeleteKey", s.deleteKey(ctx, k, &h, now)
		if err == nil {
			s.destroyHSMKey(ctx, k)
		}
	case k.expired(now) || k.pendingExpired(now):
		nk, wipe := k.dropExpired(now)
		ev.Name, err = "DeleteExpiredKeyMaterial", s.putKey(ctx, "ImportedMaterialExpiry", nk, nil, nil)
		if err == nil {
			wipe()
			s.log.Info("kms: imported key material expired", "key", k.arn)
		}
	case k.isReplica():
		// Rotated with its primary (putKey writes the new material to every
		// replica); deleted above.
		return nil, nil
	case k.state == stateEnabled && k.rotEnabled && k.origin == originAWSKMS && !now.Before(k.nextRotation()):
		nk := k.rotated(ev, now)
		nk.rotBase = now
		err = s.putKey(ctx, "AutomaticRotation", nk, nil, nil)
		if err == nil {
			s.log.Info("kms: rotated key", "key", k.arn, "type", "AUTOMATIC")
		}
	case k.state == stateEnabled && k.hasMaterial() && !(k.origin == originExternal && k.mrPrimary != "") &&
		s.setEncryptions(k) >= rotateAfterEncryptions:
		err = s.putKey(ctx, "UsageRotation", k.rotated(ev, now), nil, nil)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// rotated is a copy of k with a new version of its key material, made by
// an automatic rotation at now, which ev (a RotateKey event) describes.
func (k *key) rotated(ev *ServiceEvent, now time.Time) *key {
	nk := k.clone()
	nk.versions = append(nk.versions, generateVersion(k, uint32(len(k.versions)+1), now, "AUTOMATIC"))
	ev.Name, ev.RotationType, ev.KeyOrigin = "RotateKey", "AUTOMATIC", k.origin
	ev.PreviousMaterialID, ev.CurrentMaterialID = k.currentMaterialID(), nk.currentMaterialID()
	return nk
}

// flushCounters adds, in one transaction, the encryptions this node counted
// since its last flush to the counters of the stored records of keys (as
// stored: another node may have changed them, and counts its own), then
// publishes what it wrote, under the locks of keys.
func (s *Service) flushCounters(ctx context.Context, keys []*key) error {
	h := s.locks.lockKeys(keys)
	defer h.release()
	type flush struct {
		k      *key
		path   string
		deltas map[string]uint64 // by material id
		data   []byte            // the record written
	}
	var fl []*flush
	for _, k := range keys {
		// The current snapshot (a write may have come since the keys were
		// listed), not a key deleted since: writing it would bring it back.
		if k = s.getKey(scope{k.region, k.account}, k.id); k == nil {
			continue
		}
		f := &flush{k: k, path: keyPath(k.region, k.account, k.id), deltas: make(map[string]uint64, len(k.versions))}
		for _, v := range k.versions {
			f.deltas[v.MaterialID] = v.Encryptions.Load() - v.Flushed.Load()
		}
		fl = append(fl, f)
	}
	defer func() {
		for _, f := range fl {
			clear(f.data)
		}
	}()
	err := s.store.Update(ctx, func(tx storage.Tx) error {
		for _, f := range fl {
			clear(f.data)
			f.data = nil
			b, err := tx.Get(f.path)
			if errors.Is(err, storage.ErrNotFound) {
				continue // deleted by another node
			}
			if err != nil {
				return err
			}
			var rec keyRecord
			err = json.Unmarshal(b, &rec)
			clear(b)
			if err != nil {
				return fmt.Errorf("kms: decode %s: %w", f.path, err)
			}
			for i := range rec.Versions {
				rec.Versions[i].Encryptions += f.deltas[rec.Versions[i].MaterialID]
			}
			rec.Rev++
			f.data, err = json.Marshal(&rec)
			rec.wipe()
			if err != nil {
				return err
			}
			if err := tx.Put(f.path, f.data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.internal(ctx, "FlushCounters", err)
	}
	for _, f := range fl {
		if f.data == nil {
			continue
		}
		for _, v := range f.k.versions {
			v.Flushed.Add(f.deltas[v.MaterialID]) // counted by the record just written
		}
		if err := s.applyRecord(f.path, f.data); err != nil {
			s.log.Error("kms: apply flushed counters", "path", f.path, "err", err)
		}
	}
	return nil
}

// wipe clears the key material a decoded record holds.
func (rec *keyRecord) wipe() {
	for i := range rec.Versions {
		clear(rec.Versions[i].Material)
	}
}

// markFlushed records, after rec was committed, which counter values storage holds.
func (rec *keyRecord) markFlushed(k *key) {
	for i, v := range k.versions {
		if n := rec.Versions[i].Encryptions; n > v.Flushed.Load() {
			v.Flushed.Store(n)
		}
	}
}

// deleteKey removes k, its grants and the aliases that point at it (as
// storage holds them: another node may have added some) from storage, then
// from memory; the other keys of k's multi-Region set forget it in the same
// transaction (afterDeletion). h holds the lock of k (so its aliases in
// memory stay as they are); deleteKey adds the locks of those aliases.
func (s *Service) deleteKey(ctx context.Context, k *key, h *held, now time.Time) error {
	sc := scope{k.region, k.account}
	path := keyPath(k.region, k.account, k.id)
	rest, missing := s.afterDeletion(k, now)
	if len(missing) > 0 {
		s.stale(ctx, "DeleteKey", missing...)
		return errStale
	}
	ws, err := s.prepareWrites(ctx, "DeleteKey", rest)
	if err != nil {
		return err
	}
	defer ws.clear()
	var names, deleted []string // in memory (locked); deleted from storage
	s.mu.RLock()
	if sp := s.spaces[sc]; sp != nil {
		for _, a := range sp.aliases {
			if a.target == k.id {
				names = append(names, a.name)
			}
		}
	}
	s.mu.RUnlock()
	h.addAliases(sc, names)
	err = s.store.Update(ctx, func(tx storage.Tx) error {
		deleted = nil
		if err := checkRev(tx, path, k); err != nil {
			return err
		}
		if err := tx.Delete(path); err != nil {
			return err
		}
		if err := ws.apply(tx); err != nil {
			return err
		}
		if deleted, err = deleteStoredAliases(tx, k, names); err != nil {
			return err
		}
		if err := tx.Delete(grantCountPath(k.region, k.account, k.id)); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		gs, err := tx.List(grantPath(k.region, k.account, k.id, ""), "", 0)
		if err != nil {
			return err
		}
		for _, g := range gs {
			if err := tx.Delete(g.Key); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errStale) {
		s.stale(ctx, "DeleteKey", append(ws.paths(), path)...)
		return errStale
	}
	if err != nil {
		return s.internal(ctx, "DeleteKey", err)
	}
	ws.publish(s, nil)
	s.mu.Lock()
	if sp := s.spaces[sc]; sp != nil {
		delete(sp.keys, k.id)
		sp.sortedIDs = nil
		for _, n := range names {
			// An alias another node changed meanwhile stays until the change
			// feed brings it (those storage deleted and memory does not hold
			// as k's are gone from memory once the feed brings their deletion).
			if slices.Contains(deleted, n) {
				delete(sp.aliases, n)
			}
		}
	}
	s.mu.Unlock()
	for _, v := range k.versions {
		v.Wipe() // best effort: the AEAD keeps its own expanded key
	}
	s.log.Info("kms: deleted key", "key", k.arn)
	return nil
}
