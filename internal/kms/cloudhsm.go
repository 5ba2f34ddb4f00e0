package kms

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/ciphertext"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/pkcs11"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
)

// CloudHSM key stores (AWS_CLOUDHSM), backed by PKCS#11 tokens. The
// server's operator names each "cluster" (Config.CloudHSMClusters): a
// cluster id of AWS's pattern that stands for one token of a PKCS#11
// module. A store names its cluster, the trust anchor certificate given at
// creation (kept and returned; checked to be one X.509 certificate only:
// Trent has no cluster certificate to compare it with) and the token's user PIN (AWS's kmsuser password,
// KeyStorePassword), stored as any record is, sealed by the barrier, and
// never returned or logged.
//
// A key of such a store (Origin AWS_CLOUDHSM) is the store's and the
// token's: CreateKey generates an AES-256 key in the token, labelled with
// the KMS key id, sensitive and not extractable. Its ciphertexts take the
// path of an external key store's (keystorecrypto.go): the key's own blob
// (format 1) is encrypted again, by the token, with AES-GCM under the
// token's key (ciphertext format 2, the token's IV and tag, no metadata),
// so that none decrypts without the token. The store's connection (one
// logged-in token with a pool of sessions) is opened on Connect, or on the
// first use after a start, and kept per node (hsmTokens); a cryptographic
// operation touches no storage.

var (
	errClusterNotFound      = &kmserr.Error{Code: "CloudHsmClusterNotFoundException", Status: http.StatusBadRequest}
	errClusterNotActive     = &kmserr.Error{Code: "CloudHsmClusterNotActiveException", Status: http.StatusBadRequest}
	errClusterInvalidConfig = &kmserr.Error{Code: "CloudHsmClusterInvalidConfigurationException", Status: http.StatusBadRequest}
	errClusterInUse         = &kmserr.Error{Code: "CloudHsmClusterInUseException", Status: http.StatusBadRequest}
	errClusterNotRelated    = &kmserr.Error{Code: "CloudHsmClusterNotRelatedException", Status: http.StatusBadRequest}
	errIncorrectTrustAnchor = &kmserr.Error{Code: "IncorrectTrustAnchorException", Status: http.StatusBadRequest}
)

// hsmTimeout bounds each call to a store's token (and to a new cluster's,
// UpdateCustomKeyStore's check): its wait for a session or a new login.
const hsmTimeout = 5 * time.Second

// CloudHSMCluster is the token a CloudHSM cluster id names (Config).
type CloudHSMCluster struct {
	Module     string // path of the PKCS#11 module (.so)
	TokenLabel string
}

// hsmTokens holds, per node, the open token of each connected cluster (a
// cluster belongs to one store at most). A login (and the module's load
// before it) holds its cluster's lock only: a slow cluster stalls none of
// the others.
type hsmTokens struct {
	now      func() time.Time // the service's clock
	mu       sync.RWMutex     // guards sealed, clusters and their other fields than login; never held across a token's call (nor its LoginRefused)
	sealed   bool             // closeAll ran (the service was wiped): no login any more
	clusters map[string]*clusterToken
}

// errHSMSealed: the service was wiped; its tokens are not logged in to
// again.
var errHSMSealed = errors.New("kms: sealed: no login to a CloudHSM cluster's token")

// clusterToken is the token of one cluster id.
type clusterToken struct {
	login     sync.Mutex    // held while the token logs in or out
	tok       *pkcs11.Token // nil: not logged in
	failed    hsmFailure    // the last login that failed (err nil: none)
	checking  *pkcs11.Token // check's token while it runs (closed by closeAll)
	loggingIn bool          // a key's use is logging in (open)
	dropped   bool          // closeUnless left the cluster out during that login
}

// errHSMDropped: this node decided to log out of the cluster's token (no
// stored store connects it) while a key's use logged in to it.
var errHSMDropped = errors.New("kms: the CloudHSM cluster's store was disconnected during the login")

// hsmFailure is a failed login: the keys' operations do not try again
// before hsmRetry has passed (each try with a wrong PIN brings the token
// closer to locking its user).
type hsmFailure struct {
	at  time.Time
	err error
}

const hsmRetry = 30 * time.Second

// cluster returns the entry of cluster id, made on first use.
func (h *hsmTokens) cluster(id string) *clusterToken {
	h.mu.RLock()
	c := h.clusters[id]
	h.mu.RUnlock()
	if c != nil {
		return c
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c = h.clusters[id]; c == nil {
		if h.clusters == nil {
			h.clusters = make(map[string]*clusterToken)
		}
		c = new(clusterToken)
		h.clusters[id] = c
	}
	return c
}

// open returns the token of cluster, logging in with pin when this node has
// not yet. Unless explicit (ConnectCustomKeyStore), a login that failed in
// the last hsmRetry is not tried again: its error is returned. An explicit
// open always logs in afresh with pin (a token this node still has open is
// logged out first): the login checks the store's password. A token
// that refused the PIN when it logged in again (pkcs11.Token.LoginRefused)
// is closed, and that refusal is such a failed login. After closeAll, the
// error is errHSMSealed. A login of a key's use (not explicit) during which
// closeUnless left the cluster out (its store was disconnected: the
// decision came before the login ended, when there was no token to log out
// of) is logged out of as it ends: the error is errHSMDropped. An explicit
// login needs no such check: its store is disconnected in storage until
// ConnectCustomKeyStore commits, after the login, and then reads the stores
// again to decide (refreshStore).
func (h *hsmTokens) open(cl CloudHSMCluster, id, pin string, explicit bool) (*pkcs11.Token, error) {
	c := h.cluster(id)
	h.mu.RLock()
	t, sealed := c.tok, h.sealed
	h.mu.RUnlock()
	if sealed {
		return nil, errHSMSealed
	}
	if t != nil && !explicit && hsmLoginRefused(t) == nil {
		return t, nil
	}
	c.login.Lock()
	defer c.login.Unlock()
	// The token's lock, which LoginRefused takes, may be held across its
	// calls (a Close closing sessions): not under h.mu. c.tok changes
	// without c.login only to nil, by closeAll (sealed).
	h.mu.RLock()
	t = c.tok
	h.mu.RUnlock()
	var refused error
	if t != nil {
		refused = hsmLoginRefused(t)
	}
	h.mu.Lock()
	if h.sealed {
		h.mu.Unlock()
		return nil, errHSMSealed
	}
	if t != nil {
		switch {
		case refused != nil:
			c.tok, c.failed = nil, hsmFailure{h.now(), refused}
		case explicit:
			c.tok = nil // logged out, to check pin by a login of its own
		default:
			h.mu.Unlock()
			return t, nil
		}
	}
	f := c.failed
	h.mu.Unlock()
	if t != nil {
		t.Close()
	}
	if f.err != nil && !explicit && h.now().Sub(f.at) < hsmRetry {
		return nil, f.err
	}
	h.mu.Lock()
	c.loggingIn, c.dropped = !explicit, false
	h.mu.Unlock()
	if hsmBeforeLogin != nil {
		hsmBeforeLogin()
	}
	t, err := pkcs11.OpenToken(cl.Module, cl.TokenLabel, pin)
	h.mu.Lock()
	dropped := c.dropped
	c.loggingIn, c.dropped = false, false
	switch {
	case err != nil:
		c.failed = hsmFailure{h.now(), err}
	case h.sealed: // closeAll ran during the login
		h.mu.Unlock()
		t.Close()
		return nil, errHSMSealed
	case dropped: // closeUnless ran during the login and left the cluster out
		h.mu.Unlock()
		t.Close()
		return nil, errHSMDropped
	default:
		c.tok, c.failed = t, hsmFailure{}
	}
	h.mu.Unlock()
	return t, err
}

// check runs fn with a token of cluster id logged in with pin for fn
// only (logged out after it), under the cluster's login lock (open); after
// closeAll, or when closeAll runs before fn returns, the error is
// errHSMSealed. closeAll logs out of the token at once: fn's calls to it
// then fail (keyring.ErrClosed). Its other errors are the login's.
func (h *hsmTokens) check(cl CloudHSMCluster, id, pin string, fn func(*pkcs11.Token)) error {
	c := h.cluster(id)
	c.login.Lock()
	defer c.login.Unlock()
	if h.isSealed() {
		return errHSMSealed
	}
	if hsmBeforeCheckLogin != nil {
		hsmBeforeCheckLogin()
	}
	t, err := pkcs11.OpenToken(cl.Module, cl.TokenLabel, pin)
	if err != nil {
		return err
	}
	defer t.Close()
	h.mu.Lock()
	sealed := h.sealed // closeAll ran during the login
	if !sealed {
		c.checking = t
	}
	h.mu.Unlock()
	if sealed {
		return errHSMSealed
	}
	defer func() {
		h.mu.Lock()
		c.checking = nil
		h.mu.Unlock()
	}()
	fn(t)
	if h.isSealed() {
		return errHSMSealed
	}
	return nil
}

// hsmBeforeCheckLogin, when not nil, is called before check logs in (a
// test's hook).
var hsmBeforeCheckLogin func()

// hsmLoginRefused is the token's LoginRefused (a test's hook may wrap it).
var hsmLoginRefused = (*pkcs11.Token).LoginRefused

// hsmBeforeLogin, when not nil, is called before open logs in (a test's
// hook).
var hsmBeforeLogin func()

// isSealed reports whether closeAll ran.
func (h *hsmTokens) isSealed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.sealed
}

// close logs out of the token of cluster id (its operations in flight end
// first), after the login in progress on it, if any.
func (h *hsmTokens) close(id string) {
	c := h.cluster(id)
	c.login.Lock()
	defer c.login.Unlock()
	h.mu.Lock()
	t := c.tok
	c.tok = nil
	h.mu.Unlock()
	if t != nil {
		hsmCloseToken(t)
	}
}

// closeUnless logs out of the token of every cluster that keep does not
// name (close, of each at once); a key's use logging in to one of them logs
// out as its login ends (open).
func (h *hsmTokens) closeUnless(keep map[string]bool) {
	h.mu.Lock()
	var ids []string
	for id, c := range h.clusters {
		if keep[id] {
			continue
		}
		if c.tok != nil {
			ids = append(ids, id)
		}
		if c.loggingIn {
			c.dropped = true
		}
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { h.close(id) })
	}
	wg.Wait()
}

// closeAll logs out of every token, check's too, for good: later logins
// are refused (errHSMSealed), and one in progress is logged out as it ends.
func (h *hsmTokens) closeAll() {
	h.mu.Lock()
	h.sealed = true
	var ts []*pkcs11.Token
	for _, c := range h.clusters {
		for _, t := range []*pkcs11.Token{c.tok, c.checking} {
			if t != nil {
				ts = append(ts, t)
			}
		}
		c.tok, c.checking = nil, nil
	}
	h.mu.Unlock()
	closeTokens(ts...)
}

// closeTokens closes ts at once, not one after another: each Close waits
// (up to 10 s) for the calls in flight on its token, and a seal waits for
// the slowest token only, not for the sum of their waits.
func closeTokens(ts ...*pkcs11.Token) {
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Go(func() { hsmCloseToken(t) })
	}
	wg.Wait()
}

// hsmCloseToken closes a token for close and closeAll (a test's hook may
// wrap it).
var hsmCloseToken = (*pkcs11.Token).Close

// hsmConnectionCode is the ConnectionErrorCode of a token that did not
// open.
func hsmConnectionCode(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, pkcs11.ErrPINIncorrect):
		return "INVALID_CREDENTIALS"
	case errors.Is(err, pkcs11.ErrPINLocked):
		return "USER_LOCKED_OUT"
	case errors.Is(err, pkcs11.ErrLoggedIn):
		return "USER_LOGGED_IN"
	case errors.Is(err, pkcs11.ErrNoToken):
		return "INSUFFICIENT_CLOUDHSM_HSMS" // the cluster has no (active) HSM
	}
	return "INTERNAL_ERROR"
}

// connectHSM opens the token of rec's cluster with its password and
// returns the ConnectionErrorCode of its failure ("" when connected), or
// kmserr.ErrSealed after Wipe.
func (s *Service) connectHSM(ctx context.Context, rec *keyStoreRecord) (string, error) {
	cl, ok := s.clusters[rec.ClusterID]
	if !ok {
		return "CLUSTER_NOT_FOUND", nil
	}
	_, err := s.hsm.open(cl, rec.ClusterID, rec.Secret, true)
	if errors.Is(err, errHSMSealed) {
		return "", kmserr.ErrSealed
	}
	if err != nil {
		s.log.InfoContext(ctx, "kms: CloudHSM key store did not connect", "store", rec.ID, "cluster", rec.ClusterID, "err", err)
	}
	return hsmConnectionCode(err), nil
}

// storeToken returns the open token of the connected store cs (opened on
// first use after a start, or on another node than the one that connected
// it); after Wipe, kmserr.ErrSealed.
func (s *Service) storeToken(ctx context.Context, cs *cachedKeyStore, keyARN string) (*pkcs11.Token, error) {
	cl, ok := s.clusters[cs.rec.ClusterID]
	if !ok {
		return nil, kmserr.ErrInvalidState.With("%s is unavailable: the server has no CloudHSM cluster %s.", keyARN, cs.rec.ClusterID)
	}
	t, err := s.hsm.open(cl, cs.rec.ClusterID, cs.rec.Secret, false)
	if errors.Is(err, errHSMSealed) {
		return nil, kmserr.ErrSealed
	}
	if errors.Is(err, errHSMDropped) { // as a key of a disconnected store (connectedStore)
		return nil, kmserr.ErrInvalidState.With("%s is unavailable.", keyARN)
	}
	if err != nil {
		s.log.WarnContext(ctx, "kms: CloudHSM key store token did not open", "store", cs.rec.ID, "cluster", cs.rec.ClusterID, "err", err)
		return nil, kmserr.ErrInvalidState.With("%s is unavailable: its CloudHSM key store cannot reach its cluster (%s).", keyARN, hsmConnectionCode(err))
	}
	return t, nil
}

// checkTrustAnchor: Trent has no cluster certificate to compare the trust
// anchor with; it must be one PEM-encoded X.509 certificate.
func checkTrustAnchor(pemText string) error {
	b, rest := pem.Decode([]byte(pemText))
	if b == nil || b.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		return errIncorrectTrustAnchor.With("The trust anchor certificate must be one PEM-encoded X.509 certificate.")
	}
	if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		return errIncorrectTrustAnchor.With("The trust anchor certificate is not a valid X.509 certificate.")
	}
	return nil
}

// checkClusterActive: cluster id is one the server names, and its token
// is there.
func (s *Service) checkClusterActive(ctx context.Context, id string) error {
	cl, ok := s.clusters[id]
	if !ok {
		return errClusterNotFound.With("AWS CloudHSM cluster %s not found.", id)
	}
	if err := pkcs11.TokenPresent(cl.Module, cl.TokenLabel); err != nil {
		s.log.InfoContext(ctx, "kms: CloudHSM cluster not active", "cluster", id, "err", err)
		return errClusterNotActive.With("AWS CloudHSM cluster %s is not active: its token cannot be reached.", id)
	}
	return nil
}

// clusterInUse: a cluster belongs to one store of the whole server (its
// token has one user login per process).
func clusterInUse(tx storage.Tx, cluster, self string) error {
	entries, err := tx.List(keyStorePathPrefix, "", 0)
	if err != nil {
		return err
	}
	for _, e := range entries {
		var r keyStoreRecord
		err := json.Unmarshal(e.Value, &r)
		clear(e.Value)
		if err != nil {
			return err
		}
		if r.Type == storeTypeCloudHSM && r.ClusterID == cluster && r.ID != self {
			return errClusterInUse.With("AWS CloudHSM cluster %s is already associated with a custom key store.", cluster)
		}
	}
	return nil
}

// createCloudHSMStore is CreateCustomKeyStore of an AWS_CLOUDHSM store.
func (s *Service) createCloudHSMStore(ctx context.Context, sc scope, in *CreateCustomKeyStoreInput) (*CreateCustomKeyStoreOutput, error) {
	switch {
	case in.XksProxyAuthenticationCredential != nil || in.XksProxyConnectivity != "" || in.XksProxyUriEndpoint != "" ||
		in.XksProxyUriPath != "" || in.XksProxyVpcEndpointServiceName != "" || in.XksProxyVpcEndpointServiceOwner != "":
		return nil, kmserr.ErrValidation.With("The XksProxy parameters are not valid for an AWS CloudHSM key store.")
	case in.CloudHsmClusterId == "":
		return nil, kmserr.ErrValidation.With("CloudHsmClusterId is required for an AWS CloudHSM key store.")
	case in.TrustAnchorCertificate == "":
		return nil, kmserr.ErrValidation.With("TrustAnchorCertificate is required for an AWS CloudHSM key store.")
	case in.KeyStorePassword == "":
		return nil, kmserr.ErrValidation.With("KeyStorePassword is required for an AWS CloudHSM key store.")
	}
	if err := s.checkClusterActive(ctx, in.CloudHsmClusterId); err != nil {
		return nil, err
	}
	if err := checkTrustAnchor(in.TrustAnchorCertificate); err != nil {
		return nil, err
	}
	rec := &keyStoreRecord{
		ID: newKeyStoreID(), Name: in.CustomKeyStoreName, Region: sc.region, Account: sc.account,
		Created: s.now().UTC().Truncate(time.Millisecond), Type: storeTypeCloudHSM, State: stateDisconnected,
		ClusterID: in.CloudHsmClusterId, TrustAnchor: in.TrustAnchorCertificate, Secret: in.KeyStorePassword,
	}
	return s.putNewKeyStore(ctx, sc, rec, func(tx storage.Tx) error { return clusterInUse(tx, rec.ClusterID, rec.ID) })
}

// updateCloudHSMStore checks an UpdateCustomKeyStore of the AWS_CLOUDHSM
// store rec and applies it to next: the name in any state, the password
// and the cluster only while disconnected; a new cluster must be related
// (its token holds a key for each key of the store).
func (s *Service) updateCloudHSMStore(ctx context.Context, sc scope, in *UpdateCustomKeyStoreInput, rec, next *keyStoreRecord) error {
	if in.XksProxyAuthenticationCredential != nil || in.XksProxyConnectivity != "" || in.XksProxyUriEndpoint != "" ||
		in.XksProxyUriPath != "" || in.XksProxyVpcEndpointServiceName != "" || in.XksProxyVpcEndpointServiceOwner != "" {
		return kmserr.ErrValidation.With("The XksProxy parameters are not valid for an AWS CloudHSM key store.")
	}
	if (in.KeyStorePassword != "" || in.CloudHsmClusterId != "") && rec.State != stateDisconnected {
		return errKeyStoreInvalidState.With("Custom key store %s must be disconnected to change its KeyStorePassword or CloudHsmClusterId.", rec.ID)
	}
	if in.KeyStorePassword != "" {
		next.Secret = in.KeyStorePassword
	}
	if in.CloudHsmClusterId == "" || in.CloudHsmClusterId == rec.ClusterID {
		return nil
	}
	if err := s.checkClusterActive(ctx, in.CloudHsmClusterId); err != nil {
		return err
	}
	next.ClusterID = in.CloudHsmClusterId
	var ids []string
	err := s.store.View(ctx, func(tx storage.Tx) error {
		return eachExternalKey(tx, sc, func(keyID string, x *xksRecord) error {
			if x.Store == rec.ID {
				ids = append(ids, keyID)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	var missing string
	var failed error // a call that could not tell whether the key is there
	err = s.hsm.check(s.clusters[next.ClusterID], next.ClusterID, next.Secret, func(t *pkcs11.Token) {
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(ctx, hsmTimeout)
			if hsmBeforeCall != nil {
				hsmBeforeCall(ctx)
			}
			err := t.FindKey(ctx, id) // keyring.ErrClosed once Wipe logged out of t
			cancel()
			switch {
			case errors.Is(err, pkcs11.ErrNoKey):
				missing = id
				return
			case err != nil:
				failed = err
				return
			}
		}
	})
	switch {
	case errors.Is(err, errHSMSealed):
		return kmserr.ErrSealed
	case err != nil:
		s.log.InfoContext(ctx, "kms: CloudHSM cluster not checked", "cluster", next.ClusterID, "err", err)
		return errClusterInvalidConfig.With("Cannot log in to AWS CloudHSM cluster %s with the key store password (%s).", next.ClusterID, hsmConnectionCode(err))
	case failed != nil:
		s.log.InfoContext(ctx, "kms: CloudHSM cluster not checked", "cluster", next.ClusterID, "err", failed)
		return errClusterInvalidConfig.With("AWS CloudHSM cluster %s could not be checked for the key material of custom key store %s (%s).", next.ClusterID, rec.ID, hsmConnectionCode(failed))
	case missing != "":
		return errClusterNotRelated.With("AWS CloudHSM cluster %s is not related to the cluster of custom key store %s: it has no key material of %s.", next.ClusterID, rec.ID, missing)
	}
	return nil
}

// newCloudHSMKey checks a CreateKey in the CloudHSM key store rec and
// generates the key's material in the store's token, labelled id.
func (s *Service) newCloudHSMKey(ctx context.Context, sc scope, in *CreateKeyInput, rec *keyStoreRecord, origin string, spec keys.Spec, usage keys.Usage, id, keyARN string) (*xksRef, func(storage.Tx) error, error) {
	switch {
	case spec != keys.SymmetricDefault || usage != keys.EncryptDecrypt:
		return nil, nil, kmserr.ErrUnsupportedOperation.With("KMS keys in a custom key store must be symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT).")
	case in.MultiRegion:
		return nil, nil, kmserr.ErrUnsupportedOperation.With("Multi-Region keys cannot be created in a custom key store.")
	case origin != storeTypeCloudHSM:
		return nil, nil, kmserr.ErrValidation.With("Origin must be AWS_CLOUDHSM for a key in custom key store %s.", rec.ID)
	case in.XksKeyId != "":
		return nil, nil, kmserr.ErrValidation.With("XksKeyId is not valid for a key in an AWS CloudHSM key store.")
	}
	connected := func(tx storage.Tx) error { return checkConnected(tx, sc, rec.ID) }
	if rec.State != stateConnected {
		return nil, nil, errKeyStoreInvalidState.With("Custom key store %s is not connected (ConnectionState %s).", rec.ID, rec.State)
	}
	cs, err := s.cachedStore(ctx, sc, rec.ID)
	if err != nil || cs == nil {
		return nil, nil, s.keyStoreError(ctx, "CreateKey", err)
	}
	t, err := s.storeToken(ctx, cs, keyARN)
	if errors.Is(err, kmserr.ErrSealed) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, errKeyStoreInvalidState.With("Custom key store %s cannot reach its AWS CloudHSM cluster %s.", rec.ID, rec.ClusterID)
	}
	ctx, cancel := context.WithTimeout(ctx, hsmTimeout)
	defer cancel()
	if hsmBeforeCall != nil {
		hsmBeforeCall(ctx)
	}
	if err := t.GenerateKey(ctx, id); err != nil {
		if s.wipedUnder(err) {
			return nil, nil, kmserr.ErrSealed
		}
		s.log.WarnContext(ctx, "kms: CloudHSM key not generated", "store", rec.ID, "key", keyARN, "err", err)
		return nil, nil, errClusterInvalidConfig.With("AWS CloudHSM cluster %s could not generate the key material.", rec.ClusterID)
	}
	return &xksRef{store: rec.ID}, connected, nil
}

// destroyHSMKey destroys, best effort, the key material of k, a deleted
// key of a CloudHSM key store, in its token. As AWS: when the store is not
// connected, the material stays in the cluster.
func (s *Service) destroyHSMKey(ctx context.Context, k *key) {
	if k.xks == nil || k.xks.keyID != "" {
		return
	}
	cs, err := s.cachedStore(ctx, scope{k.region, k.account}, k.xks.store)
	if err != nil || cs == nil || cs.rec.Type != storeTypeCloudHSM || cs.rec.State != stateConnected {
		s.log.WarnContext(ctx, "kms: the key material of a deleted key stays in its CloudHSM cluster: its key store is not connected", "key", k.arn)
		return
	}
	t, err := s.storeToken(ctx, cs, k.arn)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, hsmTimeout)
		defer cancel()
		err = t.DestroyKey(ctx, k.id)
	}
	if err != nil && !errors.Is(err, pkcs11.ErrNoKey) {
		s.log.WarnContext(ctx, "kms: the key material of a deleted key was not destroyed in its CloudHSM cluster", "key", k.arn, "cluster", cs.rec.ClusterID, "err", err)
	}
}

// sealHSM encrypts blob, k's own, in the token of its store cs.
func (s *Service) sealHSM(ctx context.Context, op string, k *key, cs *cachedKeyStore, blob []byte) ([]byte, error) {
	t, err := s.storeToken(ctx, cs, k.arn)
	if err != nil {
		return nil, err
	}
	e := &ciphertext.External{KeyID: k.id}
	ctx, cancel := context.WithTimeout(ctx, hsmTimeout)
	defer cancel()
	iv, sealed, err := t.Seal(ctx, k.id, blob, e.Header())
	if err != nil {
		return nil, s.hsmError(ctx, op, k, err)
	}
	n := len(sealed) - ciphertext.TagSize
	e.IV, e.Ciphertext, e.Tag = iv, sealed[:n], sealed[n:]
	return e.Marshal(), nil
}

// openHSM decrypts in the token of k's store cs the outer layer e.
func (s *Service) openHSM(ctx context.Context, op string, k *key, cs *cachedKeyStore, e *ciphertext.External) ([]byte, error) {
	if len(e.Metadata) != 0 {
		return nil, errInvalidCiphertext
	}
	t, err := s.storeToken(ctx, cs, k.arn)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, hsmTimeout)
	defer cancel()
	inner, err := t.Open(ctx, k.id, e.IV, append(append([]byte(nil), e.Ciphertext...), e.Tag...), e.Header())
	if errors.Is(err, keyring.ErrUnwrap) {
		return nil, errInvalidCiphertext
	}
	if err != nil {
		return nil, s.hsmError(ctx, op, k, err)
	}
	return inner, nil
}

// hsmBeforeCall, when not nil, is called with the call's context before
// GenerateRandom's and CreateKey's call to a store's token, and before each
// of UpdateCustomKeyStore's calls to a new cluster's token (a test's hook).
var hsmBeforeCall func(ctx context.Context)

// wipedUnder reports whether err, of a token's call, says that Wipe logged
// out of the token during the call: the answer is then kmserr.ErrSealed.
func (s *Service) wipedUnder(err error) bool {
	return errors.Is(err, keyring.ErrClosed) && s.hsm.isSealed()
}

// hsmError is the answer to a token operation of op on k that failed.
func (s *Service) hsmError(ctx context.Context, op string, k *key, err error) error {
	if s.wipedUnder(err) {
		return kmserr.ErrSealed
	}
	s.log.WarnContext(ctx, "kms: CloudHSM key store operation failed", "op", op, "key", k.arn, "err", err)
	if errors.Is(err, pkcs11.ErrNoKey) {
		return kmserr.ErrInvalidState.With("%s is unusable: its key material is missing from its AWS CloudHSM cluster.", k.arn)
	}
	return kmserr.ErrInvalidState.With("%s is unusable: its AWS CloudHSM cluster failed.", k.arn)
}

// hsmRandom is GenerateRandom with the CloudHSM key store rec: the
// token's random number generator.
func (s *Service) hsmRandom(ctx context.Context, sc scope, rec *keyStoreRecord, n int) ([]byte, error) {
	if rec.State != stateConnected {
		return nil, errKeyStoreInvalidState.With("Custom key store %s is not connected (ConnectionState %s).", rec.ID, rec.State)
	}
	cs, err := s.cachedStore(ctx, sc, rec.ID)
	if err != nil || cs == nil {
		return nil, s.keyStoreError(ctx, "GenerateRandom", err)
	}
	t, err := s.storeToken(ctx, cs, rec.ID)
	if errors.Is(err, kmserr.ErrSealed) {
		return nil, err
	}
	if err != nil {
		return nil, errKeyStoreInvalidState.With("Custom key store %s cannot reach its AWS CloudHSM cluster %s.", rec.ID, rec.ClusterID)
	}
	ctx, cancel := context.WithTimeout(ctx, hsmTimeout)
	defer cancel()
	if hsmBeforeCall != nil {
		hsmBeforeCall(ctx)
	}
	b, err := t.Random(ctx, n)
	if s.wipedUnder(err) {
		return nil, kmserr.ErrSealed
	}
	if err != nil {
		s.log.WarnContext(ctx, "kms: CloudHSM random failed", "store", rec.ID, "err", err)
		return nil, errKeyStoreInvalidState.With("Custom key store %s cannot reach its AWS CloudHSM cluster %s.", rec.ID, rec.ClusterID)
	}
	return b, nil
}
