package kms

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/secret"
)

const (
	originExternal       = "EXTERNAL"
	statePendingImport   = "PendingImport"
	expires              = "KEY_MATERIAL_EXPIRES"
	doesNotExpire        = "KEY_MATERIAL_DOES_NOT_EXPIRE"
	importTokenVersion   = 0x01
	importTokenRandom    = 32
	importParamsLife     = 24 * time.Hour
	maxValidToAhead      = 365 * 24 * time.Hour
	importTypeNew        = "NEW_KEY_MATERIAL"
	importTypeExisting   = "EXISTING_KEY_MATERIAL"
	maxMaterialDescLen   = 256
	materialIDLen        = 64
	rotationTypeOnDemand = "ON_DEMAND"
)

var (
	enumWrappingAlg     = []string{"RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256", "SM2PKE"}
	enumWrappingKeySpec = []string{"RSA_2048", "RSA_3072", "RSA_4096", "SM2"}
	enumExpirationModel = []string{expires, doesNotExpire}
	enumImportType      = []string{importTypeNew, importTypeExisting}
)

var (
	materialDescRE = regexp.MustCompile(`^[a-zA-Z0-9:/_\s.-]+$`) // KeyMaterialDescriptionType
	materialIDRE   = regexp.MustCompile(`^[a-f0-9]+$`)           // BackingKeyIdType
)

// materialID checks an optional KeyMaterialId member (BackingKeyIdType).
func (v *validator) materialID(id string) {
	if id != "" {
		v.strLen("keyMaterialId", id, materialIDLen, materialIDLen)
		v.matches("keyMaterialId", id, materialIDRE)
	}
}

// importState is what an EXTERNAL key knows about its imported material.
// Immutable once published, like the key.
type importState struct {
	// expiry is the ExpirationModel and ValidTo of the material of every
	// version that holds its material, by material id (a version whose
	// material was deleted has none). soonest is the earliest ValidTo in
	// it (zero: no material expires).
	expiry      map[string]expiry
	soonest     time.Time
	materialIDs []string // every material imported so far: a re-import must be one of them
	// descriptions are the KeyMaterialDescription of the last import that
	// gave one, by material id (kept while the material is deleted).
	descriptions map[string]string
	params       *importParams
	pending      *pendingMaterial // imported with NEW_KEY_MATERIAL, waiting for RotateKeyOnDemand
}

// expiry is when imported material expires.
type expiry struct {
	model   string    // ExpirationModel
	validTo time.Time // when it expires (KEY_MATERIAL_EXPIRES)
}

// importParams are the parameters of the latest GetParametersForImport
// (one outstanding set per key; a new call replaces it).
type importParams struct {
	token    []byte
	wrapping secret.Bytes // PKCS #8 DER of the RSA wrapping key
	alg      string
	spec     string
	validTo  time.Time
}

type pendingMaterial struct {
	material   secret.Bytes
	id         string
	expiration string
	validTo    time.Time
}

type importRecord struct {
	// Expiration and ValidTo are the current material's in the records of
	// releases before Expiry: read, never written.
	Expiration        string                  `json:"expiration,omitempty"`
	ValidTo           time.Time               `json:"validTo,omitzero"`
	Expiry            map[string]expiryRecord `json:"expiry,omitempty"` // by material id
	MaterialIDs       []string                `json:"materialIds,omitempty"`
	Descriptions      map[string]string       `json:"descriptions,omitempty"` // by material id
	Token             []byte                  `json:"token,omitempty"`
	WrappingKey       []byte                  `json:"wrappingKey,omitempty"`
	WrappingAlgorithm string                  `json:"wrappingAlgorithm,omitempty"`
	WrappingKeySpec   string                  `json:"wrappingKeySpec,omitempty"`
	ParamsValidTo     time.Time               `json:"paramsValidTo,omitzero"`
	Pending           *pendingRecord          `json:"pending,omitempty"`
}

type expiryRecord struct {
	Model   string    `json:"model"`
	ValidTo time.Time `json:"validTo,omitzero"`
}

type pendingRecord struct {
	Material   []byte    `json:"material"`
	MaterialID string    `json:"materialId"`
	Expiration string    `json:"expiration"`
	ValidTo    time.Time `json:"validTo,omitzero"`
}

func (st *importState) record() *importRecord {
	if st == nil {
		return nil
	}
	r := &importRecord{MaterialIDs: st.materialIDs, Descriptions: st.descriptions}
	if len(st.expiry) > 0 {
		r.Expiry = make(map[string]expiryRecord, len(st.expiry))
		for id, e := range st.expiry {
			r.Expiry[id] = expiryRecord{Model: e.model, ValidTo: e.validTo}
		}
	}
	if p := st.params; p != nil {
		r.Token, r.WrappingKey, r.WrappingAlgorithm, r.WrappingKeySpec, r.ParamsValidTo = p.token, p.wrapping.Expose(), p.alg, p.spec, p.validTo
	}
	if p := st.pending; p != nil {
		r.Pending = &pendingRecord{Material: p.material.Expose(), MaterialID: p.id, Expiration: p.expiration, ValidTo: p.validTo}
	}
	return r
}

// importFromRecord builds the import state of a record whose versions are
// versions (a record of an earlier release has the expiry of its current
// material only).
func importFromRecord(r *importRecord, versions []versionRecord) *importState {
	if r == nil {
		return nil
	}
	st := &importState{materialIDs: r.MaterialIDs, descriptions: r.Descriptions}
	for id, e := range r.Expiry {
		st.setExpiry(id, expiry{model: e.Model, validTo: e.ValidTo})
	}
	if r.Expiry == nil && r.Expiration != "" && len(versions) > 0 {
		st.setExpiry(versions[len(versions)-1].MaterialID, expiry{model: r.Expiration, validTo: r.ValidTo})
	}
	if r.Token != nil {
		st.params = &importParams{token: r.Token, wrapping: secret.New(r.WrappingKey), alg: r.WrappingAlgorithm,
			spec: r.WrappingKeySpec, validTo: r.ParamsValidTo}
	}
	if p := r.Pending; p != nil {
		st.pending = &pendingMaterial{material: secret.New(p.Material), id: p.MaterialID, expiration: p.Expiration, validTo: p.ValidTo}
	}
	return st
}

func (st *importState) clone() *importState {
	c := *st
	c.expiry = maps.Clone(st.expiry)
	c.descriptions = maps.Clone(st.descriptions)
	return &c
}

// setExpiry records when material id expires. st is a copy not yet
// published (clone).
func (st *importState) setExpiry(id string, e expiry) {
	if st.expiry == nil {
		st.expiry = make(map[string]expiry)
	}
	st.expiry[id] = e
	st.findSoonest()
}

// dropExpiry forgets the expiry of material id (deleted). st is a copy not
// yet published (clone).
func (st *importState) dropExpiry(id string) {
	delete(st.expiry, id)
	st.findSoonest()
}

func (st *importState) findSoonest() {
	st.soonest = time.Time{}
	for _, e := range st.expiry {
		if e.model == expires && (st.soonest.IsZero() || e.validTo.Before(st.soonest)) {
			st.soonest = e.validTo
		}
	}
}

// newImportToken returns version || key id length || key id || 32 random bytes.
func newImportToken(keyID string) []byte {
	t := make([]byte, 0, 2+len(keyID)+importTokenRandom)
	t = append(t, importTokenVersion, byte(len(keyID)))
	t = append(t, keyID...)
	r := make([]byte, importTokenRandom)
	rand.Read(r)
	return append(t, r...)
}

// parseImportToken returns the key id an import token names, or false for
// anything that is not a well-formed token.
func parseImportToken(t []byte) (string, bool) {
	if len(t) < 2 || t[0] != importTokenVersion {
		return "", false
	}
	n := int(t[1])
	if n == 0 || len(t) != 2+n+importTokenRandom {
		return "", false
	}
	id := string(t[2 : 2+n])
	return id, arn.IsKeyID(id)
}

// checkImportable: import operations need an EXTERNAL key.
func (k *key) checkImportable() error {
	if k.origin != originExternal {
		return kmserr.ErrUnsupportedOperation.With("%s origin is %s which is not valid for this operation.", k.arn, k.origin)
	}
	return nil
}

// errWrappingKeyFirst ends GetParametersForImport's first pass once every
// check has passed: the wrapping key pair is then taken without the key's
// lock (when none is ready, an RSA generation: up to seconds for RSA_4096 on
// a loaded machine, while the lock's stripe holds the writes of other keys
// too), and a second pass checks again and builds the parameters with it.
var errWrappingKeyFirst = errors.New("kms: take the wrapping key pair first")

// generateWrappingKey is keys.GenerateWrappingKey (a test holds it up).
var generateWrappingKey = keys.GenerateWrappingKey

// GetParametersForImport returns an RSA wrapping public key and an import
// token for an EXTERNAL key, valid 24 hours; a new call replaces the
// previous parameters.
func (s *Service) GetParametersForImport(ctx context.Context, c Caller, in *GetParametersForImportInput) (*GetParametersForImportOutput, error) {
	var v validator
	v.requiredEnum("wrappingAlgorithm", in.WrappingAlgorithm, enumWrappingAlg)
	v.requiredEnum("wrappingKeySpec", in.WrappingKeySpec, enumWrappingKeySpec)
	var priv secret.Bytes
	var pub []byte
	var validTo time.Time
	a := opAccess("GetParametersForImport").set(condWrappingAlgorithm, in.WrappingAlgorithm).set(condWrappingKeySpec, in.WrappingKeySpec)
	build := func(k *key, now time.Time) (*key, error) {
		if err := k.checkImportable(); err != nil {
			return nil, err
		}
		if err := k.notPendingDeletion(); err != nil {
			return nil, err
		}
		switch {
		case in.WrappingKeySpec == "SM2" || in.WrappingAlgorithm == "SM2PKE":
			return nil, kmserr.ErrUnsupportedOperation.With("SM2 is not supported in this Region")
		case in.WrappingAlgorithm == "RSAES_PKCS1_V1_5":
			return nil, kmserr.ErrUnsupportedOperation.With("The RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported.")
		}
		if pub == nil {
			return nil, errWrappingKeyFirst
		}
		validTo = now.Add(importParamsLife)
		nk := k.clone()
		nk.imp = k.imp.clone()
		nk.imp.params = &importParams{token: newImportToken(k.id), wrapping: priv, alg: in.WrappingAlgorithm,
			spec: in.WrappingKeySpec, validTo: validTo}
		return nk, nil
	}
	nk, err := s.mutateKeyFor(ctx, c, a, in.KeyId, &v, build)
	if errors.Is(err, errWrappingKeyFirst) {
		if priv, pub, err = generateWrappingKey(keys.Spec(in.WrappingKeySpec)); err != nil {
			return nil, err
		}
		nk, err = s.mutateKeyFor(ctx, c, a, in.KeyId, &v, build)
	}
	if err != nil {
		priv.Wipe() // taken, not kept
		return nil, err
	}
	return &GetParametersForImportOutput{ImportToken: bytes.Clone(nk.imp.params.token), KeyId: nk.arn,
		ParametersValidTo: tsp(validTo), PublicKey: pub}, nil
}

// importParams reads from storage the key that the import token names
// when this node does not hold that token's parameters (another node's
// GetParametersForImport a moment ago), so that the token imports on any
// node at once. The memory of a single node is always current.
func (s *Service) importParams(ctx context.Context, c Caller, token []byte) {
	if !s.shared {
		return
	}
	sc, err := callerScope(c)
	id, ok := parseImportToken(token)
	if err != nil || !ok {
		return
	}
	if k := s.getKey(sc, id); k == nil || k.imp == nil || (k.imp.params != nil && subtle.ConstantTimeCompare(k.imp.params.token, token) == 1) {
		return
	}
	if err := s.Apply(ctx, []string{keyPath(sc.region, sc.account, id)}); err != nil {
		s.log.WarnContext(ctx, "kms: read the key of an import token", "err", err) // decided on what memory holds
	}
}

// ImportKeyMaterial imports material wrapped under the parameters of
// GetParametersForImport into an EXTERNAL key: the key becomes Enabled
// (from PendingImport) once every version has its material. A re-import
// must be material imported before: it goes back to the version that held
// it (its number, so its ciphertexts, stay), or, when that version still
// holds it, only its expiration changes. A symmetric key takes new material
// with ImportType NEW_KEY_MATERIAL, which becomes current on
// RotateKeyOnDemand.
func (s *Service) ImportKeyMaterial(ctx context.Context, c Caller, in *ImportKeyMaterialInput) (*ImportKeyMaterialOutput, error) {
	var v validator
	v.blob("importToken", in.ImportToken, maxCiphertextLen, true)
	v.blob("encryptedKeyMaterial", in.EncryptedKeyMaterial, maxCiphertextLen, true)
	v.enum("expirationModel", in.ExpirationModel, enumExpirationModel)
	v.enum("importType", in.ImportType, enumImportType)
	if in.KeyMaterialDescription != "" {
		v.strLen("keyMaterialDescription", in.KeyMaterialDescription, 0, maxMaterialDescLen)
		v.matches("keyMaterialDescription", in.KeyMaterialDescription, materialDescRE)
	}
	v.materialID(in.KeyMaterialId)
	model := in.ExpirationModel
	if model == "" {
		model = expires
	}
	var materialID string
	a := opAccess("ImportKeyMaterial").set(condExpirationModel, model)
	if in.ValidTo != nil {
		a.set(condValidTo, strconv.FormatInt(in.ValidTo.Unix(), 10)) // epoch seconds, as AWS compares it
	}
	s.importParams(ctx, c, in.ImportToken)
	nk, err := s.mutateKeyFor(ctx, c, a, in.KeyId, &v, func(k *key, now time.Time) (*key, error) {
		if err := k.checkImportable(); err != nil {
			return nil, err
		}
		if err := k.notPendingDeletion(); err != nil {
			return nil, err
		}
		var validTo time.Time
		switch {
		case model == expires && in.ValidTo == nil:
			return nil, kmserr.ErrValidation.With("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
		case model == doesNotExpire && in.ValidTo != nil:
			return nil, kmserr.ErrValidation.With("A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE")
		case model == expires:
			validTo = in.ValidTo.Time
			if !validTo.After(now) || validTo.After(now.Add(maxValidToAhead)) {
				return nil, kmserr.ErrValidation.With("The validTo date must be in the future and at most 365 days from now.")
			}
		}
		id, ok := parseImportToken(in.ImportToken)
		p := k.imp.params
		if !ok || id != k.id || p == nil || subtle.ConstantTimeCompare(p.token, in.ImportToken) != 1 {
			return nil, kmserr.ErrInvalidImportToken.With("The import token is not valid for this KMS key.")
		}
		if !now.Before(p.validTo) {
			return nil, kmserr.ErrExpiredImportToken.With("The import token has expired. Use GetParametersForImport to get new import parameters.")
		}
		material, err := keys.Unwrap(p.wrapping, p.alg, in.EncryptedKeyMaterial)
		if err != nil {
			return nil, err
		}
		materialID = keys.ImportedMaterialID(material, k.materialScope())
		// Build the version first: material that does not fit the spec is
		// refused before anything changes. Material a version held before
		// (deleted since) goes back to that version.
		slot := k.versionOf(materialID)
		var ver *keys.Version
		if slot >= 0 {
			v := k.versions[slot]
			ver, err = keys.NewVersion(k.spec, k.id, v.Num, material, materialID, v.Created, v.RotationType)
		} else {
			ver, err = keys.NewVersion(k.spec, k.id, uint32(len(k.versions)+1), material, materialID, now, "")
		}
		if err != nil {
			material.Wipe()
			return nil, kmserr.ErrIncorrectKeyMaterial.With("The key material is not valid for key spec %s.", k.spec)
		}
		if in.KeyMaterialId != "" && in.KeyMaterialId != materialID {
			ver.Wipe()
			return nil, kmserr.ErrIncorrectKeyMaterial.With("The key material is not the key material %s.", in.KeyMaterialId)
		}
		known := slices.Contains(k.imp.materialIDs, materialID)
		nk := k.clone()
		nk.imp = k.imp.clone()
		nk.imp.params = nil // a token imports once
		if in.KeyMaterialDescription != "" {
			if nk.imp.descriptions == nil {
				nk.imp.descriptions = make(map[string]string)
			}
			nk.imp.descriptions[materialID] = in.KeyMaterialDescription
		}
		// The first material of a key is new material: NEW_KEY_MATERIAL is
		// then the default (AWS's ImportType), so naming it changes nothing.
		first := len(k.versions) == 0 && len(k.imp.materialIDs) == 0
		switch p := k.imp.pending; {
		case in.ImportType != "" && !k.spec.Symmetric():
			// AWS refuses ImportType for asymmetric and HMAC keys: they have
			// one material only.
			ver.Wipe()
			return nil, kmserr.ErrUnsupportedOperation.With("ImportType %s needs a symmetric encryption key.", in.ImportType)
		case in.ImportType == importTypeNew && first:
			nk.versions = []*keys.Version{ver}
			nk.imp.materialIDs = []string{materialID}
		case in.ImportType == importTypeNew && k.mrPrimary != "":
			ver.Wipe()
			return nil, kmserr.ErrUnsupportedOperation.With("ImportType NEW_KEY_MATERIAL is not supported for multi-Region keys by this server.")
		case in.ImportType == importTypeNew:
			if len(k.versions) == 0 {
				ver.Wipe()
				return nil, kmserr.ErrUnsupportedOperation.With("ImportType NEW_KEY_MATERIAL needs a symmetric encryption key that has key material.")
			}
			if known {
				ver.Wipe()
				return nil, kmserr.ErrIncorrectKeyMaterial.With("The key material was already imported into this KMS key.")
			}
			if p != nil {
				ver.Wipe()
				return nil, kmserr.ErrInvalidState.With("New key material (id: %s) cannot be imported into KMS key %s, because another key material (id: %s) is pending rotation.", materialID, k.id, p.id)
			}
			nk.imp.pending = &pendingMaterial{material: secret.Copy(ver.Material().Expose()), id: materialID, expiration: model, validTo: validTo}
			nk.imp.materialIDs = append(slices.Clone(k.imp.materialIDs), materialID)
			ver.Wipe()
			return nk, nil
		case p != nil && p.id == materialID:
			// The material pending rotation again: only its expiration changes.
			ver.Wipe()
			np := *p
			np.expiration, np.validTo = model, validTo
			nk.imp.pending = &np
			return nk, nil
		case slot >= 0 && k.versions[slot].HasMaterial():
			ver.Wipe() // the same material is there already: only its expiration changes
		case slot >= 0:
			old := k.versions[slot]
			ver.Encryptions.Store(old.Encryptions.Load())
			ver.Flushed.Store(old.Flushed.Load())
			nk.versions[slot] = ver
		case len(k.versions) == 0 && (known || len(k.imp.materialIDs) == 0 && in.ImportType != importTypeExisting):
			// EXISTING_KEY_MATERIAL names material the key had before.
			// The first import (a replica's: its primary's material).
			nk.versions = []*keys.Version{ver}
			if !known {
				nk.imp.materialIDs = append(slices.Clone(k.imp.materialIDs), materialID)
			}
		default:
			ver.Wipe()
			return nil, kmserr.ErrIncorrectKeyMaterial.With("The key material in the request is not the same key material that was previously imported into this KMS key.")
		}
		nk.imp.setExpiry(materialID, expiry{model: model, validTo: validTo})
		if k.state == statePendingImport && !nk.materialMissing() {
			nk.state = stateEnabled
		}
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &ImportKeyMaterialOutput{KeyId: nk.arn, KeyMaterialId: materialID}, nil
}

// DeleteImportedKeyMaterial deletes the key's current imported material, or
// the material KeyMaterialId names: any version's, which makes the key
// PendingImport (a key pending deletion stays so) until that material is
// imported again, or the material pending rotation, which is forgotten
// (the key's state stays). Deleting material that is deleted already
// changes nothing.
func (s *Service) DeleteImportedKeyMaterial(ctx context.Context, c Caller, in *DeleteImportedKeyMaterialInput) (*DeleteImportedKeyMaterialOutput, error) {
	var v validator
	v.materialID(in.KeyMaterialId)
	var deleted string
	var wipe func()
	nk, err := s.mutateKey(ctx, c, "DeleteImportedKeyMaterial", in.KeyId, &v, func(k *key, _ time.Time) (*key, error) {
		if err := k.checkImportable(); err != nil {
			return nil, err
		}
		deleted, wipe = in.KeyMaterialId, nil
		if deleted == "" {
			if !k.hasMaterial() {
				return nil, nil // nothing imported yet
			}
			deleted = k.current().MaterialID
		}
		i, p := k.versionOf(deleted), k.imp.pending
		switch {
		case i >= 0 && !k.versions[i].HasMaterial():
			return nil, nil // deleted already
		case i < 0 && (p == nil || p.id != deleted):
			return nil, kmserr.ErrNotFound.With("Key material %s does not exist in %s.", deleted, k.arn)
		}
		var nk *key
		nk, wipe = k.dropMaterial(deleted)
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	if wipe != nil {
		wipe()
	}
	return &DeleteImportedKeyMaterialOutput{KeyId: nk.arn, KeyMaterialId: deleted}, nil
}

// dropMaterial returns k without the imported material named by ids, and
// a function that wipes it, to call once the change is stored. A version
// whose material goes keeps its place (number, material id, creation and
// counters) for the re-import of the same material, and the key becomes
// PendingImport unless it is pending deletion. Material pending rotation
// is forgotten as if never imported (it may be imported again as new
// material); the key's state stays.
func (k *key) dropMaterial(ids ...string) (*key, func()) {
	nk := k.clone()
	nk.imp = k.imp.clone()
	var gone []*keys.Version
	var pending secret.Bytes
	for _, id := range ids {
		if p := nk.imp.pending; p != nil && p.id == id {
			pending = p.material
			nk.imp.pending = nil
			nk.imp.materialIDs = slices.DeleteFunc(slices.Clone(nk.imp.materialIDs), func(m string) bool { return m == id })
			delete(nk.imp.descriptions, id)
			continue
		}
		i := k.versionOf(id)
		if i < 0 || !k.versions[i].HasMaterial() {
			continue
		}
		v := k.versions[i]
		empty := keys.NewEmptyVersion(v.Spec, v.Num, v.MaterialID, v.Created, v.RotationType)
		empty.Encryptions.Store(v.Encryptions.Load())
		empty.Flushed.Store(v.Flushed.Load())
		nk.versions[i] = empty
		nk.imp.dropExpiry(id)
		gone = append(gone, v)
		if !k.pendingDeletion() {
			nk.state = statePendingImport
		}
	}
	return nk, func() {
		for _, v := range gone {
			v.Wipe() // best effort: the AEAD or parsed private key keeps its own copy until collected
		}
		pending.Wipe()
	}
}

// versionOf returns the index of k's version of material id, or -1.
func (k *key) versionOf(id string) int {
	if id == "" {
		return -1
	}
	return slices.IndexFunc(k.versions, func(v *keys.Version) bool { return v.MaterialID == id })
}

// materialMissing reports whether k lacks material: it has none imported
// yet, or a version's was deleted (or expired) and not imported again.
// Such a key is PendingImport or pending deletion, never usable.
func (k *key) materialMissing() bool {
	if len(k.versions) == 0 {
		return true
	}
	for _, v := range k.versions {
		if !v.HasMaterial() {
			return true
		}
	}
	return false
}

// pendingMaterial is the material waiting for RotateKeyOnDemand, or nil.
func (k *key) pendingMaterial() *pendingMaterial {
	if k.imp == nil {
		return nil
	}
	return k.imp.pending
}

// rotationEntry is ListKeyRotations' ImportState, ExpirationModel and
// ValidTo of version v.
func (st *importState) rotationEntry(v *keys.Version) (state, model string, to *Timestamp) {
	if !v.HasMaterial() {
		return "PENDING_IMPORT", "", nil
	}
	e := st.expiry[v.MaterialID]
	return "IMPORTED", e.model, validTo(e.model, e.validTo)
}

// validTo is the ValidTo a response reports for an expiration model.
func validTo(model string, t time.Time) *Timestamp {
	if model != expires {
		return nil
	}
	return tsp(t)
}

// expired reports whether imported material of k's versions has expired
// at now.
func (k *key) expired(now time.Time) bool {
	return k.imp != nil && !k.imp.soonest.IsZero() && !now.Before(k.imp.soonest)
}

// dropExpired is dropMaterial of the material that has expired at now: of
// k's versions, and the material pending rotation.
func (k *key) dropExpired(now time.Time) (*key, func()) {
	var ids []string
	for id, e := range k.imp.expiry {
		if e.model == expires && !now.Before(e.validTo) {
			ids = append(ids, id)
		}
	}
	if k.pendingExpired(now) {
		ids = append(ids, k.imp.pending.id)
	}
	return k.dropMaterial(ids...)
}

// pendingExpired reports whether the material pending rotation has
// expired at now.
func (k *key) pendingExpired(now time.Time) bool {
	p := k.pendingMaterial()
	return p != nil && p.expiration == expires && !now.Before(p.validTo)
}

// rotateImported makes the pending imported material of a symmetric
// EXTERNAL key current (RotateKeyOnDemand).
func (k *key) rotateImported(now time.Time) (*key, error) {
	p := k.imp.pending
	if p == nil {
		return nil, kmserr.ErrInvalidState.With("No available key material pending rotation for the key: %s.", k.arn)
	}
	ver, err := keys.NewVersion(k.spec, k.id, uint32(len(k.versions)+1), secret.Copy(p.material.Expose()), p.id, now, rotationTypeOnDemand)
	if err != nil {
		return nil, kmserr.ErrInternal
	}
	nk := k.clone()
	nk.versions = append(nk.versions, ver)
	nk.imp = k.imp.clone()
	nk.imp.pending = nil
	nk.imp.setExpiry(p.id, expiry{model: p.expiration, validTo: p.validTo})
	return nk, nil
}
