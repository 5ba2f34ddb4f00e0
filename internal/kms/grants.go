package kms

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/storage"
)

// # Grants
//
// A grant lets its grantee principal call some operations on one key. Each
// grant is its own record, "kms/grant/<region>/<account>/<key id>/<grant id>",
// written and deleted in one transaction with nothing else; in memory the
// key's snapshot holds its grants (sorted by creation), so authorize reads
// them with the key and a new snapshot is published after each change. A
// grant is effective from the moment CreateGrant returns (there is no
// eventual consistency to wait for), so grant tokens need no special power:
// they are checked for form, and identify a grant in RetireGrant.

const (
	grantPathPrefix = "kms/grant/"
	// MaxGrantsPerKey is AWS's quota of grants on one key.
	MaxGrantsPerKey = 50000
	// maxConstraintPairs and maxConstraintValueLen are AWS's bounds on an
	// encryption context grant constraint.
	maxConstraintPairs    = 8
	maxConstraintValueLen = 384
	maxGrantIDLen         = 128
	maxPrincipalLen       = 256
	maxGrantNameLen       = 256
	grantNamePattern      = "^[a-zA-Z0-9:/_-]+$"
	principalPattern      = `^[\w+=,.@:/-]+$`
	grantTokenVersion     = 1
)

var errInvalidGrantID = &kmserr.Error{Code: "InvalidGrantIdException", Status: http.StatusBadRequest}

func grantPath(region, account, keyID, grantID string) string {
	return grantPathPrefix + region + "/" + account + "/" + keyID + "/" + grantID
}

// maxGrants is MaxGrantsPerKey (tests lower it).
var maxGrants = MaxGrantsPerKey

// The grant quota of a shared store. A node refuses a CreateGrant early on
// its memory, but another node may have given the key grants it has not
// heard of yet, so CreateGrant counts again in its transaction. Listing
// the key's grants (up to 50,000) in every CreateGrant would cost too
// much; storage keeps instead, per key, the number of its grants in a
// record of its own (grantCountPath, a decimal number) that every
// CreateGrant and grant deletion of a shared store reads and rewrites in
// its transaction. Transactions are serializable, so two nodes adding a
// grant to one key at once conflict on that record and one of them is run
// again with the other's count. The grants are listed, and the count
// written from them, only when the record is absent (a database of an
// earlier release, or written by a single node, which keeps no count) or
// says the key is full, which a node of an earlier release deleting
// grants without counting could make untrue; a key's deletion deletes its
// record. A single node's memory is always current: it keeps no count.
const grantCountPathPrefix = "kms/grantcount/"

func grantCountPath(region, account, keyID string) string {
	return grantCountPathPrefix + region + "/" + account + "/" + keyID
}

// errGrantQuota is countGrant's: storage holds maxGrants grants of the key.
var errGrantQuota = errors.New("kms: grant quota")

func grantQuotaError(keyARN string) error {
	return kmserr.ErrLimitExceeded.With("The number of grants for key %s exceeds the limit of %d.", keyARN, maxGrants)
}

// storedGrantCount returns the count record of k's grants (ok false when
// it is absent or unreadable).
func storedGrantCount(tx storage.Tx, k *key) (n int, ok bool, err error) {
	b, err := tx.Get(grantCountPath(k.region, k.account, k.id))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	n, err = strconv.Atoi(string(b))
	return n, err == nil && n >= 0, nil
}

// countGrant counts, in CreateGrant's transaction on a shared store, the
// grant being created: errGrantQuota when storage holds maxGrants grants
// of k already.
func countGrant(tx storage.Tx, k *key) error {
	n, ok, err := storedGrantCount(tx, k)
	if err != nil {
		return err
	}
	if !ok || n >= maxGrants {
		es, err := tx.List(grantPath(k.region, k.account, k.id, ""), "", maxGrants)
		if err != nil {
			return err
		}
		n = len(es)
	}
	if n >= maxGrants {
		return errGrantQuota
	}
	return tx.Put(grantCountPath(k.region, k.account, k.id), strconv.AppendInt(nil, int64(n+1), 10))
}

// uncountGrant counts, in the transaction of a grant's deletion on a
// shared store, the grant of k deleted (no record: nothing to count).
func uncountGrant(tx storage.Tx, k *key) error {
	n, ok, err := storedGrantCount(tx, k)
	if err != nil || !ok {
		return err
	}
	return tx.Put(grantCountPath(k.region, k.account, k.id), strconv.AppendInt(nil, int64(max(n-1, 0)), 10))
}

// grantOp is a set of grant operations.
type grantOp uint32

// The grant operations, in the order of AWS's GrantOperation enum.
const (
	grantDecrypt grantOp = 1 << iota
	grantEncrypt
	grantGenerateDataKey
	grantGenerateDataKeyWithoutPlaintext
	grantReEncryptFrom
	grantReEncryptTo
	grantSign
	grantVerify
	grantGetPublicKey
	grantCreateGrant
	grantRetireGrant
	grantDescribeKey
	grantGenerateDataKeyPair
	grantGenerateDataKeyPairWithoutPlaintext
	grantGenerateMac
	grantVerifyMac
	grantDeriveSharedSecret
	grantEncapsulate
	grantDecapsulate
)

// cryptoGrantOps are the cryptographic grant operations (all but
// GetPublicKey, CreateGrant, RetireGrant and DescribeKey).
const cryptoGrantOps = grantDecrypt | grantEncrypt | grantGenerateDataKey | grantGenerateDataKeyWithoutPlaintext |
	grantReEncryptFrom | grantReEncryptTo | grantSign | grantVerify | grantGenerateDataKeyPair |
	grantGenerateDataKeyPairWithoutPlaintext | grantGenerateMac | grantVerifyMac | grantDeriveSharedSecret |
	grantEncapsulate | grantDecapsulate

// grantOpNames are the names of the grant operations, bit i naming 1<<i.
var grantOpNames = []string{"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
	"ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey", "GenerateDataKeyPair",
	"GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "DeriveSharedSecret", "Encapsulate", "Decapsulate"}

func parseGrantOp(name string) grantOp {
	for i, n := range grantOpNames {
		if n == name {
			return 1 << i
		}
	}
	return 0
}

// grantOpFor is the grant operation that allows the operation op (0: none).
func grantOpFor(op string) grantOp { return parseGrantOp(op) }

// allowedGrantOps are the grant operations a key of k's spec and usage
// supports.
func (k *key) allowedGrantOps() grantOp {
	ops := grantCreateGrant | grantRetireGrant | grantDescribeKey
	switch k.usage {
	case keys.EncryptDecrypt:
		ops |= grantEncrypt | grantDecrypt | grantReEncryptFrom | grantReEncryptTo
		if k.spec.Symmetric() {
			ops |= grantGenerateDataKey | grantGenerateDataKeyWithoutPlaintext | grantGenerateDataKeyPair |
				grantGenerateDataKeyPairWithoutPlaintext
		} else {
			ops |= grantGetPublicKey
		}
	case keys.SignVerify:
		ops |= grantSign | grantVerify | grantGetPublicKey
	case keys.GenerateVerifyMAC:
		ops |= grantGenerateMac | grantVerifyMac
	case keys.KeyAgreement:
		ops |= grantDeriveSharedSecret | grantGetPublicKey
	case keys.EncapsulateDecapsulate:
		ops |= grantEncapsulate | grantDecapsulate | grantGetPublicKey
	}
	return ops
}

// GrantConstraints is AWS's GrantConstraints: the encryption context a
// request must carry for the grant to allow it.
type GrantConstraints struct {
	EncryptionContextEquals map[string]string `json:"EncryptionContextEquals,omitempty"`
	EncryptionContextSubset map[string]string `json:"EncryptionContextSubset,omitempty"`
}

// grant is an immutable grant.
type grant struct {
	id        string
	name      string
	created   time.Time
	grantee   string
	retiring  string
	ops       grantOp
	opNames   []string // as given, for ListGrants
	equals    map[string]string
	subset    map[string]string
	hasEquals bool // EncryptionContextEquals given (possibly empty)
	hasSubset bool
}

// sortKey orders a key's grants by creation.
func (g *grant) sortKey() string { return fmt.Sprintf("%020d%s", g.created.UnixNano(), g.id) }

// ecOK reports whether an operation's encryption context ec meets the
// grant's constraints. As AWS documents for grant constraints, keys match
// whatever their case, values exactly.
func (g *grant) ecOK(ec map[string]string) bool {
	if g.hasEquals && (len(g.equals) != len(ec) || !hasPairs(ec, g.equals)) {
		return false
	}
	return !g.hasSubset || hasPairs(ec, g.subset)
}

// hasPairs reports whether ec has every pair of want, keys compared without
// case, values exactly.
func hasPairs(ec, want map[string]string) bool {
	for k, v := range want {
		w, ok := ec[k]
		if !ok {
			for ek, ev := range ec {
				if strings.EqualFold(ek, k) && ev == v {
					w, ok = ev, true
					break
				}
			}
		}
		if !ok || w != v {
			return false
		}
	}
	return true
}

type grantRecord struct {
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Created     time.Time         `json:"created"`
	Grantee     string            `json:"grantee"`
	Retiring    string            `json:"retiring,omitempty"`
	Operations  []string          `json:"operations"`
	Constraints *GrantConstraints `json:"constraints,omitempty"`
}

func (g *grant) record() grantRecord {
	r := grantRecord{ID: g.id, Name: g.name, Created: g.created, Grantee: g.grantee, Retiring: g.retiring, Operations: g.opNames}
	r.Constraints = g.constraints()
	return r
}

func (g *grant) constraints() *GrantConstraints {
	if !g.hasEquals && !g.hasSubset {
		return nil
	}
	c := &GrantConstraints{}
	if g.hasEquals {
		c.EncryptionContextEquals = nonNilMap(g.equals)
	}
	if g.hasSubset {
		c.EncryptionContextSubset = nonNilMap(g.subset)
	}
	return c
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func grantFromRecord(r *grantRecord) (*grant, error) {
	g := &grant{id: r.ID, name: r.Name, created: r.Created, grantee: r.Grantee, retiring: r.Retiring, opNames: r.Operations}
	for _, n := range r.Operations {
		op := parseGrantOp(n)
		if op == 0 {
			return nil, fmt.Errorf("unknown grant operation %q", n)
		}
		g.ops |= op
	}
	if c := r.Constraints; c != nil {
		g.equals, g.hasEquals = c.EncryptionContextEquals, c.EncryptionContextEquals != nil
		g.subset, g.hasSubset = c.EncryptionContextSubset, c.EncryptionContextSubset != nil
	}
	return g, nil
}

// ---- matching ----

// principalIs reports whether want (a grantee or retiring principal ARN)
// names the caller itself, or the role of its session.
func principalIs(r *policy.Request, want string) bool {
	if want == "" {
		return false
	}
	p := &r.Principal
	return principalARNEqual(want, p.ARN) || p.RoleARN != "" && principalARNEqual(want, p.RoleARN)
}

// principalARNEqual compares principal ARNs; IAM user and role names are
// case-insensitive, the rest is compared exactly.
func principalARNEqual(a, b string) bool {
	if a == b {
		return true
	}
	if len(a) != len(b) || !strings.EqualFold(a, b) {
		return false // (ASCII case folding keeps the length)
	}
	pa, ok1 := arn.ParsePrincipal(a)
	pb, ok2 := arn.ParsePrincipal(b)
	return ok1 && ok2 && pa.Kind == pb.Kind && (pa.Kind == arn.UserPrincipal || pa.Kind == arn.RolePrincipal) &&
		pa.Partition == pb.Partition && pa.Account == pb.Account && strings.EqualFold(pa.Resource, pb.Resource)
}

// principalAccount returns the account of a principal ARN, "" when p is
// not one.
func principalAccount(p string) string {
	pa, ok := arn.ParsePrincipal(p)
	if !ok {
		return ""
	}
	return pa.Account
}

// accountOf returns the account an account principal (arn:...:iam::ACCT:root)
// names, "" for any other principal.
func accountOf(p string) string {
	pa, ok := arn.ParsePrincipal(p)
	if !ok || pa.Kind != arn.RootPrincipal {
		return ""
	}
	return pa.Account
}

// callerMatches reports whether principal (a grant's grantee or retiring
// principal) covers the caller of r: it names the caller or its role, or it
// is the caller's account and the caller is that account's root user or an
// identity policy of the caller allows r (the account delegating as it does
// in a key policy).
func callerMatches(c *Caller, r *policy.Request, principal string) bool {
	if principalIs(r, principal) {
		return true
	}
	acct := accountOf(principal)
	if acct == "" || acct != c.Principal.AccountID {
		return false
	}
	return identityAllows(c, r).Allowed
}

// grantAllows returns the grant of k that allows the request (r, a) of c,
// or nil.
func (k *key) grantAllows(c *Caller, r *policy.Request, a *access) *grant {
	for _, g := range k.grants {
		if k.grantApplies(g, c, r, a) {
			a.viaGrant = g
			return g
		}
	}
	return nil
}

// grantApplies reports whether grant g allows a to the caller.
func (k *key) grantApplies(g *grant, c *Caller, r *policy.Request, a *access) bool {
	return g.ops&a.grant != 0 && (!a.ecOp || g.ecOK(a.ec)) && callerMatches(c, r, g.grantee)
}

// ---- tokens ----

// grantToken encodes a token that names grant g of k. Tokens are not
// secret (AWS: "a unique, nonsecret, variable-length, base64-encoded
// string"); each carries random bytes so that every CreateGrant answer is
// unique.
func grantToken(k *key, g *grant) string {
	id, _ := hex.DecodeString(g.id)
	b := []byte{grantTokenVersion}
	for _, s := range []string{k.region, k.account, k.id} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	b = append(b, id...)
	var nonce [16]byte
	randRead(nonce[:])
	b = append(b, nonce[:]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenRef is what a grant token names.
type tokenRef struct {
	sc      scope
	keyID   string
	grantID string
}

var errInvalidGrantToken = kmserr.ErrInvalidGrantToken.With("Invalid grant token.")

// parseGrantToken decodes a token made by grantToken.
func parseGrantToken(t string) (tokenRef, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) < 1 || b[0] != grantTokenVersion {
		return tokenRef{}, errInvalidGrantToken
	}
	b = b[1:]
	var parts [3]string
	for i := range parts {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return tokenRef{}, errInvalidGrantToken
		}
		parts[i] = string(b[1 : 1+int(b[0])])
		b = b[1+int(b[0]):]
	}
	if len(b) != 32+16 || !arn.IsRegion(parts[0]) || !arn.IsAccountID(parts[1]) || !arn.IsKeyID(parts[2]) {
		return tokenRef{}, errInvalidGrantToken
	}
	return tokenRef{sc: scope{parts[0], parts[1]}, keyID: parts[2], grantID: hex.EncodeToString(b[:32])}, nil
}

// tokenGrants reads from storage the grants that tokens name and this node
// has not heard of yet (another node made them a moment ago), before the
// request is decided: AWS's grant token makes its new grant effective at
// once, wherever the request lands. The memory of a single node is always
// current: nothing to read.
func (s *Service) tokenGrants(ctx context.Context, tokens []string) {
	if !s.shared {
		return
	}
	var paths []string
	for _, t := range tokens {
		ref, err := parseGrantToken(t)
		if err != nil {
			continue // the validation answers it
		}
		if k := s.getKey(ref.sc, ref.keyID); k != nil && k.grantByID(ref.grantID) == nil {
			paths = append(paths, grantPath(ref.sc.region, ref.sc.account, ref.keyID, ref.grantID))
		}
	}
	if len(paths) == 0 {
		return
	}
	if err := s.Apply(ctx, paths); err != nil {
		s.log.WarnContext(ctx, "kms: read the grants of the request's grant tokens", "err", err) // decided on what memory holds
	}
}

// ---- API types ----

type CreateGrantInput struct {
	KeyId                    string                 `json:"KeyId"`
	GranteePrincipal         string                 `json:"GranteePrincipal,omitempty"`
	GranteeServicePrincipal  string                 `json:"GranteeServicePrincipal,omitempty"`
	Operations               []string               `json:"Operations"`
	RetiringPrincipal        string                 `json:"RetiringPrincipal,omitempty"`
	RetiringServicePrincipal string                 `json:"RetiringServicePrincipal,omitempty"`
	Constraints              *GrantConstraintsInput `json:"Constraints,omitempty"`
	GrantTokens              []string               `json:"GrantTokens,omitempty"`
	Name                     *string                `json:"Name,omitempty"`
	DryRun                   bool                   `json:"DryRun,omitempty"`
}

// GrantConstraintsInput is GrantConstraints as a request sends it (with
// SourceArn, which needs service principals: not supported).
type GrantConstraintsInput struct {
	EncryptionContextEquals map[string]string `json:"EncryptionContextEquals,omitempty"`
	EncryptionContextSubset map[string]string `json:"EncryptionContextSubset,omitempty"`
	SourceArn               string            `json:"SourceArn,omitempty"`
}

type CreateGrantOutput struct {
	GrantId    string `json:"GrantId"`
	GrantToken string `json:"GrantToken"`
}

// GrantListEntry is one grant in ListGrants and ListRetirableGrants.
type GrantListEntry struct {
	KeyId             string            `json:"KeyId"`
	GrantId           string            `json:"GrantId"`
	Name              string            `json:"Name,omitempty"`
	CreationDate      Timestamp         `json:"CreationDate"`
	GranteePrincipal  string            `json:"GranteePrincipal"`
	RetiringPrincipal string            `json:"RetiringPrincipal,omitempty"`
	IssuingAccount    string            `json:"IssuingAccount"`
	Operations        []string          `json:"Operations"`
	Constraints       *GrantConstraints `json:"Constraints,omitempty"`
}

type ListGrantsInput struct {
	KeyId                   string `json:"KeyId"`
	GrantId                 string `json:"GrantId,omitempty"`
	GranteePrincipal        string `json:"GranteePrincipal,omitempty"`
	GranteeServicePrincipal string `json:"GranteeServicePrincipal,omitempty"`
	Limit                   *int32 `json:"Limit,omitempty"`
	Marker                  string `json:"Marker,omitempty"`
}

type ListGrantsOutput struct {
	Grants     []GrantListEntry `json:"Grants"`
	NextMarker string           `json:"NextMarker,omitempty"`
	Truncated  bool             `json:"Truncated"`
}

type ListRetirableGrantsInput struct {
	RetiringPrincipal        string `json:"RetiringPrincipal,omitempty"`
	RetiringServicePrincipal string `json:"RetiringServicePrincipal,omitempty"`
	Limit                    *int32 `json:"Limit,omitempty"`
	Marker                   string `json:"Marker,omitempty"`
}

type RetireGrantInput struct {
	GrantToken string `json:"GrantToken,omitempty"`
	KeyId      string `json:"KeyId,omitempty"`
	GrantId    string `json:"GrantId,omitempty"`
	DryRun     bool   `json:"DryRun,omitempty"`
}

type RetireGrantOutput struct{}

type RevokeGrantInput struct {
	KeyId   string `json:"KeyId"`
	GrantId string `json:"GrantId"`
	DryRun  bool   `json:"DryRun,omitempty"`
}

type RevokeGrantOutput struct{}

// ---- validation ----

func (v *validator) pattern(member, val string, ok func(byte) bool, pat string) {
	for i := 0; i < len(val); i++ {
		if !ok(val[i]) {
			v.Add(member, val, true, "Member must satisfy regular expression pattern: "+pat)
			return
		}
	}
}

func principalByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@:/-", c) >= 0
}

func grantNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '/' || c == '_' || c == '-'
}

// principalID checks a PrincipalIdType member.
func (v *validator) principalID(member, val string, required bool) {
	if val == "" {
		if required {
			v.Required(member)
		}
		return
	}
	v.strLen(member, val, 1, maxPrincipalLen)
	v.pattern(member, val, principalByte, principalPattern)
}

func (v *validator) grantID(member, val string, required bool) {
	if val == "" {
		if required {
			v.Required(member)
		}
		return
	}
	v.strLen(member, val, 1, maxGrantIDLen)
}

// checkGrantPrincipal: a grantee or retiring principal must be an IAM or
// STS principal ARN (AWS account, user, role, federated user or role
// session); service principals are not supported here.
func checkGrantPrincipal(p string) error {
	if _, ok := arn.ParsePrincipal(p); !ok {
		return kmserr.ErrInvalidArn.With("%s is not a valid principal ARN.", kmserr.Clip(p, maxPrincipalLen))
	}
	return nil
}

func checkConstraint(name string, ec map[string]string) error {
	if len(ec) > maxConstraintPairs {
		return kmserr.ErrValidation.With("%s can have at most %d encryption context pairs.", name, maxConstraintPairs)
	}
	for _, val := range ec {
		if utf8.RuneCountInString(val) > maxConstraintValueLen {
			return kmserr.ErrValidation.With("%s values can be at most %d characters.", name, maxConstraintValueLen)
		}
	}
	return nil
}

// ---- operations ----

// CreateGrant adds a grant to a key (key id or key ARN; another account's
// key by ARN). With a Name, a retry with identical parameters returns the
// existing grant's id (and a new token).
func (s *Service) CreateGrant(ctx context.Context, c Caller, in *CreateGrantInput) (*CreateGrantOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	if in.GranteeServicePrincipal == "" {
		v.principalID("granteePrincipal", in.GranteePrincipal, true)
	}
	v.principalID("retiringPrincipal", in.RetiringPrincipal, false)
	if in.Operations == nil {
		v.Required("operations")
	}
	for _, op := range in.Operations {
		if parseGrantOp(op) == 0 {
			v.Add("operations", "["+strings.Join(in.Operations, ", ")+"]", true,
				"Member must satisfy constraint: [Member must satisfy enum value set: ["+strings.Join(grantOpNames, ", ")+"]]")
			break
		}
	}
	if in.Name != nil {
		v.strLen("name", *in.Name, 1, maxGrantNameLen)
		v.pattern("name", *in.Name, grantNameByte, grantNamePattern)
	}
	v.grantTokens(in.GrantTokens)
	s.tokenGrants(ctx, in.GrantTokens)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if in.GranteeServicePrincipal != "" || in.RetiringServicePrincipal != "" ||
		in.Constraints != nil && in.Constraints.SourceArn != "" {
		return nil, kmserr.ErrUnsupportedOperation.With("Service principals and the SourceArn grant constraint are not supported by this server.")
	}
	if in.GranteePrincipal != "" && in.GranteeServicePrincipal != "" {
		return nil, kmserr.ErrValidation.With("You must specify either GranteePrincipal or GranteeServicePrincipal, but not both.")
	}
	if len(in.Operations) == 0 {
		return nil, kmserr.ErrValidation.With("Operations must not be empty.")
	}
	if err := checkGrantPrincipal(in.GranteePrincipal); err != nil {
		return nil, err
	}
	if in.RetiringPrincipal != "" {
		if err := checkGrantPrincipal(in.RetiringPrincipal); err != nil {
			return nil, err
		}
	}
	g := &grant{grantee: in.GranteePrincipal, retiring: in.RetiringPrincipal}
	if in.Name != nil {
		g.name = *in.Name
	}
	for _, n := range in.Operations {
		op := parseGrantOp(n)
		if g.ops&op == 0 {
			g.opNames = append(g.opNames, n)
		}
		g.ops |= op
	}
	a := newAccess("kms:CreateGrant")
	a.grant = grantCreateGrant
	a.grantOps = g.opNames
	a.set(condGranteePrincipal, g.grantee).set(condRetiringPrincipal, g.retiring).set(condGrantIsForAWSResource, "false")
	if ct := in.Constraints; ct != nil {
		if ct.EncryptionContextEquals != nil && ct.EncryptionContextSubset != nil {
			return nil, kmserr.ErrValidation.With("A grant constraint can have EncryptionContextEquals or EncryptionContextSubset, not both.")
		}
		if err := checkConstraint("EncryptionContextEquals", ct.EncryptionContextEquals); err != nil {
			return nil, err
		}
		if err := checkConstraint("EncryptionContextSubset", ct.EncryptionContextSubset); err != nil {
			return nil, err
		}
		g.equals, g.hasEquals = maps.Clone(ct.EncryptionContextEquals), ct.EncryptionContextEquals != nil
		g.subset, g.hasSubset = maps.Clone(ct.EncryptionContextSubset), ct.EncryptionContextSubset != nil
		switch {
		case g.hasEquals:
			a.ec = g.equals
			a.set(condGrantConstraintType, "EncryptionContextEquals")
		case g.hasSubset:
			a.ec = g.subset
			a.set(condGrantConstraintType, "EncryptionContextSubset")
		}
	}

	k, h, err := s.resolveLocked(c, sc, a, in.KeyId, false)
	defer h.release()
	if err != nil {
		return nil, err
	}
	if err := s.checkGrantable(ctx, k); err != nil {
		return nil, err
	}
	if bad := g.ops &^ k.allowedGrantOps(); bad != 0 {
		return nil, kmserr.ErrValidation.With("Grant operations %s are not supported by key %s.", strings.Join(opNames(bad), ", "), k.arn)
	}
	if (g.hasEquals || g.hasSubset) && !k.spec.Symmetric() && g.ops&cryptoGrantOps != 0 {
		// AWS CreateGrant: "You cannot use an encryption context grant
		// constraint for cryptographic operations with asymmetric KMS keys or
		// HMAC KMS keys." (AWS's message for it is not known.)
		return nil, kmserr.ErrValidation.With("Encryption context grant constraints are not supported for the cryptographic operations of key %s.", k.arn)
	}
	if parent := a.viaGrant; parent != nil {
		// The grant that allowed CreateGrant must cover the new one; when
		// it does not, another grant that allows it may.
		err := parent.coversChild(c, g)
		for _, other := range k.grants {
			if err == nil {
				break
			}
			if other != parent && k.grantApplies(other, &c, &a.req, a) && other.coversChild(c, g) == nil {
				err = nil
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if in.DryRun {
		return nil, kmserr.ErrDryRun
	}
	if g.name != "" {
		for _, old := range k.grants {
			if old.sameAs(g) {
				return &CreateGrantOutput{GrantId: old.id, GrantToken: grantToken(k, old)}, nil
			}
		}
	}
	if len(k.grants) >= maxGrants {
		return nil, grantQuotaError(k.arn)
	}
	var id [32]byte
	randRead(id[:])
	g.id = hex.EncodeToString(id[:])
	g.created = s.now()
	data, err := json.Marshal(g.record())
	if err != nil {
		return nil, s.internal(ctx, "CreateGrant", err)
	}
	var same *grant
	err = s.store.Update(ctx, func(tx storage.Tx) error {
		if s.shared && g.name != "" {
			// Name idempotency again, on what storage holds: a retry may
			// reach a node that has not heard of the first grant yet.
			var err error
			if same, err = s.storedGrantLike(tx, k, g); err != nil || same != nil {
				return err
			}
		}
		if s.shared {
			// The quota again, on what storage holds (see grantCountPath).
			if err := countGrant(tx, k); err != nil {
				return err
			}
		}
		return tx.Create(grantPath(k.region, k.account, k.id, g.id), data)
	})
	if errors.Is(err, errGrantQuota) {
		return nil, grantQuotaError(k.arn)
	}
	if err != nil {
		return nil, s.internal(ctx, "CreateGrant", err)
	}
	if same != nil {
		return &CreateGrantOutput{GrantId: same.id, GrantToken: grantToken(k, same)}, nil
	}
	nk := k.clone()
	nk.grants = insertGrant(k.grants, g)
	s.publish(nk)
	return &CreateGrantOutput{GrantId: g.id, GrantToken: grantToken(k, g)}, nil
}

// storedGrantLike returns the grant of k that storage holds with g's name
// and parameters (sameAs), or nil.
func (s *Service) storedGrantLike(tx storage.Tx, k *key, g *grant) (*grant, error) {
	ents, err := tx.List(grantPath(k.region, k.account, k.id, ""), "", 0)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !bytes.Contains(e.Value, []byte(g.name)) {
			continue // another name (grant names need no JSON escape): decode only the candidates
		}
		_, _, o, err := s.decodeGrant(e.Key, e.Value)
		if err != nil {
			return nil, err
		}
		if o.sameAs(g) {
			return o, nil
		}
	}
	return nil, nil
}

func opNames(ops grantOp) []string {
	var out []string
	for i, n := range grantOpNames {
		if ops&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// sameAs reports whether g repeats o's request (Name idempotency).
func (o *grant) sameAs(g *grant) bool {
	return o.name == g.name && o.grantee == g.grantee && o.retiring == g.retiring && o.ops == g.ops &&
		o.hasEquals == g.hasEquals && o.hasSubset == g.hasSubset && maps.Equal(o.equals, g.equals) && maps.Equal(o.subset, g.subset)
}

// coversChild checks the limits of a CreateGrant allowed by the parent
// grant p: the child's operations are a subset of p's and its constraints
// at least as strict.
func (p *grant) coversChild(c Caller, g *grant) error {
	deny := kmserr.ErrAccessDenied.With("User: %s is not authorized to perform: kms:CreateGrant because the grant it uses does not allow a grant with these operations or constraints", principalARN(c))
	if g.ops&^p.ops != 0 {
		return deny
	}
	switch {
	case p.hasEquals:
		if !g.hasEquals || !maps.Equal(p.equals, g.equals) {
			return deny
		}
	case p.hasSubset:
		req := g.subset
		if g.hasEquals {
			req = g.equals
		} else if !g.hasSubset {
			return deny
		}
		for k, v := range p.subset {
			if w, ok := req[k]; !ok || w != v {
				return deny
			}
		}
	}
	return nil
}

func insertGrant(gs []*grant, g *grant) []*grant {
	out := make([]*grant, 0, len(gs)+1)
	out = append(out, gs...)
	i, _ := slices.BinarySearchFunc(out, g.sortKey(), func(e *grant, k string) int { return strings.Compare(e.sortKey(), k) })
	return slices.Insert(out, i, g)
}

// publish makes k the key's snapshot (its record unchanged). Callers hold
// the lock of k.
func (s *Service) publish(k *key) {
	s.mu.Lock()
	s.space(scope{k.region, k.account}).keys[k.id] = k
	s.mu.Unlock()
}

// deleteGrant removes grant g of k from storage, then from memory. Callers
// hold the lock of k.
func (s *Service) deleteGrant(ctx context.Context, op string, k *key, g *grant) error {
	err := s.store.Update(ctx, func(tx storage.Tx) error {
		err := tx.Delete(grantPath(k.region, k.account, k.id, g.id))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil || !s.shared {
			return err
		}
		return uncountGrant(tx, k)
	})
	if err != nil {
		return s.internal(ctx, op, err)
	}
	nk := k.clone()
	nk.grants = slices.DeleteFunc(slices.Clone(k.grants), func(e *grant) bool { return e == g })
	s.publish(nk)
	return nil
}

func (k *key) grantByID(id string) *grant {
	for _, g := range k.grants {
		if g.id == id {
			return g
		}
	}
	return nil
}

func (k *key) listEntry(g *grant, partition string) GrantListEntry {
	return GrantListEntry{
		KeyId: k.arn, GrantId: g.id, Name: g.name, CreationDate: ts(g.created), GranteePrincipal: g.grantee,
		RetiringPrincipal: g.retiring, IssuingAccount: arn.Root(partition, k.account), Operations: g.opNames,
		Constraints: g.constraints(),
	}
}

// ListGrants lists the grants of a key (key id or key ARN), optionally only
// one grant or one grantee's.
func (s *Service) ListGrants(ctx context.Context, c Caller, in *ListGrantsInput) (*ListGrantsOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.grantID("grantId", in.GrantId, false)
	v.principalID("granteePrincipal", in.GranteePrincipal, false)
	v.intRange("limit", in.Limit, 1, 100)
	v.marker(in.Marker)
	if err := v.Err(); err != nil {
		return nil, err
	}
	a := newAccess("kms:ListGrants").set(condGrantIsForAWSResource, "false")
	k, err := s.resolveKeyFor(c, sc, a, in.KeyId, false)
	if err != nil {
		return nil, err
	}
	gs := k.grants
	if in.GrantId != "" {
		g := k.grantByID(in.GrantId)
		if g == nil {
			return nil, errInvalidGrantID.With("Grant ID %s is not valid for key %s.", kmserr.Clip(in.GrantId, maxGrantIDLen), k.arn)
		}
		gs = []*grant{g}
	}
	if in.GranteePrincipal != "" {
		gs = slices.DeleteFunc(slices.Clone(gs), func(g *grant) bool { return g.grantee != in.GranteePrincipal })
	}
	if in.GranteeServicePrincipal != "" {
		gs = nil // no grant has a service principal here
	}
	pg, next, trunc, err := page(gs, (*grant).sortKey, "g", in.Marker, limitOr(in.Limit, 50))
	if err != nil {
		return nil, err
	}
	out := &ListGrantsOutput{Grants: make([]GrantListEntry, 0, len(pg)), NextMarker: next, Truncated: trunc}
	for _, g := range pg {
		out.Grants = append(out.Grants, k.listEntry(g, s.partition))
	}
	return out, nil
}

// ListRetirableGrants lists the grants (on keys of any account in the
// caller's region) whose retiring principal is the one given, a principal of
// the caller's account.
func (s *Service) ListRetirableGrants(ctx context.Context, c Caller, in *ListRetirableGrantsInput) (*ListGrantsOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	if in.RetiringServicePrincipal == "" {
		v.principalID("retiringPrincipal", in.RetiringPrincipal, true)
	}
	v.intRange("limit", in.Limit, 1, 100)
	v.marker(in.Marker)
	if err := v.Err(); err != nil {
		return nil, err
	}
	// AWS: "The authorized resource in ListRetirableGrants calls is the
	// retiring principal specified in the request."
	la := newAccess("kms:ListRetirableGrants")
	la.resource = in.RetiringPrincipal
	if err := s.authorize(&c, nil, la); err != nil {
		return nil, err
	}
	type entry struct {
		k *key
		g *grant
		n string
	}
	// The grants on the keys of every account in the caller's region, as
	// AWS lists them ("grants for KMS keys in your Amazon Web Services
	// account and other Amazon Web Services accounts"), for a retiring
	// principal of the caller's account only ("You must specify a principal
	// in your Amazon Web Services account"): another account's principal
	// lists nothing.
	var all []entry
	if principalAccount(in.RetiringPrincipal) == sc.account {
		s.mu.RLock()
		for psc, sp := range s.spaces {
			if psc.region != sc.region {
				continue
			}
			for _, k := range sp.keys {
				for _, g := range k.grants {
					if g.retiring == in.RetiringPrincipal {
						all = append(all, entry{k, g, k.arn + "/" + g.sortKey()})
					}
				}
			}
		}
		s.mu.RUnlock()
	}
	slices.SortFunc(all, func(a, b entry) int { return strings.Compare(a.n, b.n) })
	pg, next, trunc, err := page(all, func(e entry) string { return e.n }, "rg", in.Marker, limitOr(in.Limit, 50))
	if err != nil {
		return nil, err
	}
	out := &ListGrantsOutput{Grants: make([]GrantListEntry, 0, len(pg)), NextMarker: next, Truncated: trunc}
	for _, e := range pg {
		out.Grants = append(out.Grants, e.k.listEntry(e.g, s.partition))
	}
	return out, nil
}

// RevokeGrant deletes a grant (kms:RevokeGrant on the key).
func (s *Service) RevokeGrant(ctx context.Context, c Caller, in *RevokeGrantInput) (*RevokeGrantOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.grantID("grantId", in.GrantId, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, h, err := s.resolveLocked(c, sc, newAccess("kms:RevokeGrant").set(condGrantIsForAWSResource, "false"), in.KeyId, false)
	defer h.release()
	if err != nil {
		return nil, err
	}
	g := k.grantByID(in.GrantId)
	if g == nil {
		return nil, errInvalidGrantID.With("Grant ID %s is not valid for key %s.", kmserr.Clip(in.GrantId, maxGrantIDLen), k.arn)
	}
	if in.DryRun {
		return nil, kmserr.ErrDryRun
	}
	if err := s.deleteGrant(ctx, "RevokeGrant", k, g); err != nil {
		return nil, err
	}
	return &RevokeGrantOutput{}, nil
}

// RetireGrant deletes a grant named by its token, or by KeyId and GrantId.
// The grant decides who may: its retiring principal, its grantee when it
// allows RetireGrant, and the account that owns the key (see
// authorizeRetire).
func (s *Service) RetireGrant(ctx context.Context, c Caller, in *RetireGrantInput) (*RetireGrantOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	if in.GrantToken != "" {
		v.grantToken("grantToken", in.GrantToken)
	}
	v.keyID("keyId", in.KeyId, false)
	v.grantID("grantId", in.GrantId, false)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if in.GrantToken != "" {
		s.tokenGrants(ctx, []string{in.GrantToken})
	}
	// The lock of the key the token or KeyId names (found again under it).
	var lockID string
	if in.GrantToken != "" {
		if ref, err := parseGrantToken(in.GrantToken); err == nil {
			lockID = ref.keyID
		}
	} else if in.KeyId != "" {
		if k, err := s.findKey(c, sc, "kms:RetireGrant", in.KeyId, false); err == nil {
			lockID = k.id
		}
	}
	if lockID != "" {
		h := s.locks.lockKey(lockID)
		defer h.release()
	}
	var k *key
	var grantID string
	switch {
	case in.GrantToken != "":
		ref, err := parseGrantToken(in.GrantToken)
		if err != nil {
			return nil, err
		}
		if ref.sc.region != sc.region {
			return nil, errInvalidGrantToken
		}
		if k = s.getKey(ref.sc, ref.keyID); k == nil {
			return nil, kmserr.ErrNotFound.With("Key '%s' does not exist", s.keyARN(ref.sc.region, ref.sc.account, ref.keyID))
		}
		grantID = ref.grantID
		if in.GrantId != "" && in.GrantId != grantID {
			return nil, errInvalidGrantID.With("The grant ID does not match the grant token.")
		}
	case in.KeyId != "" && in.GrantId != "":
		if k, err = s.findKey(c, sc, "kms:RetireGrant", in.KeyId, false); err != nil {
			return nil, err
		}
		grantID = in.GrantId
	default:
		return nil, kmserr.ErrValidation.With("Either GrantToken, or both KeyId and GrantId, must be specified.")
	}
	g := k.grantByID(grantID)
	if g == nil {
		if in.GrantToken != "" {
			return nil, kmserr.ErrNotFound.With("Grant not found for the grant token.")
		}
		return nil, errInvalidGrantID.With("Grant ID %s is not valid for key %s.", kmserr.Clip(grantID, maxGrantIDLen), k.arn)
	}
	if err := s.authorizeRetire(&c, k, g); err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, kmserr.ErrDryRun
	}
	if err := s.deleteGrant(ctx, "RetireGrant", k, g); err != nil {
		return nil, err
	}
	return &RetireGrantOutput{}, nil
}

// checkGrantable is CreateGrant's key-state check (AWS's key-state table):
// an Enabled key takes grants, and so does an Unavailable one (its external
// key store disconnected, whether Enabled or Disabled); a Disabled key
// answers DisabledException, a PendingImport key or one pending deletion
// KMSInvalidStateException.
func (s *Service) checkGrantable(ctx context.Context, k *key) error {
	if err := s.checkAvailable(ctx, "CreateGrant", k); err != nil {
		if errors.Is(err, kmserr.ErrInvalidState) {
			return nil // Unavailable
		}
		return err
	}
	return k.usable(s.now())
}
