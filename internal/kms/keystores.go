package kms

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/xks"
)

// Custom key stores. An external key store (EXTERNAL_KEY_STORE) names an
// XKS proxy (internal/xks) and the SigV4 credential to call it with; its
// keys (Origin EXTERNAL_KEY_STORE) each name an external key behind the
// proxy, which encrypts every ciphertext of the key a second time
// (keystorecrypto.go). A CloudHSM key store (AWS_CLOUDHSM) names a PKCS#11
// token whose keys do the same (cloudhsm.go).
//
// A store is a record under keyStorePathPrefix, read from storage by its
// operations and cached per node for the keys' cryptographic operations,
// which so never read storage: Reload fills the cache, and each change
// refreshes it, this node's after its write, another node's in Apply.

const (
	keyStorePathPrefix = "kms/keystore/"

	storeTypeExternal = "EXTERNAL_KEY_STORE"
	storeTypeCloudHSM = "AWS_CLOUDHSM"
	// originExternalStore is the Origin of a key in an external key store.
	originExternalStore = storeTypeExternal
	connectivityPublic  = "PUBLIC_ENDPOINT"
	connectivityVPC     = "VPC_ENDPOINT_SERVICE"

	stateConnected    = "CONNECTED"
	stateDisconnected = "DISCONNECTED"
	stateFailed       = "FAILED"

	// maxKeyStores is AWS's quota of custom key stores per account and Region.
	maxKeyStores = 10
	// xksTimeout bounds one call to a proxy (AWS allows a proxy 250 ms; a
	// proxy on another continent needs more).
	xksTimeout = 5 * time.Second
)

var (
	errKeyStoreNotFound       = &kmserr.Error{Code: "CustomKeyStoreNotFoundException", Status: http.StatusBadRequest}
	errKeyStoreInvalidState   = &kmserr.Error{Code: "CustomKeyStoreInvalidStateException", Status: http.StatusBadRequest}
	errKeyStoreNameInUse      = &kmserr.Error{Code: "CustomKeyStoreNameInUseException", Status: http.StatusBadRequest}
	errKeyStoreHasCMKs        = &kmserr.Error{Code: "CustomKeyStoreHasCMKsException", Status: http.StatusBadRequest}
	errXksURIInUse            = &kmserr.Error{Code: "XksProxyUriInUseException", Status: http.StatusBadRequest}
	errXksUnreachable         = &kmserr.Error{Code: "XksProxyUriUnreachableException", Status: http.StatusBadRequest}
	errXksIncorrectCredential = &kmserr.Error{Code: "XksProxyIncorrectAuthenticationCredentialException", Status: http.StatusBadRequest}
	errXksInvalidResponse     = &kmserr.Error{Code: "XksProxyInvalidResponseException", Status: http.StatusBadRequest}
	errXksInvalidConfig       = &kmserr.Error{Code: "XksProxyInvalidConfigurationException", Status: http.StatusBadRequest}
	errXksKeyNotFound         = &kmserr.Error{Code: "XksKeyNotFoundException", Status: http.StatusBadRequest}
	errXksKeyInvalidConfig    = &kmserr.Error{Code: "XksKeyInvalidConfigurationException", Status: http.StatusBadRequest}
	errXksKeyInUse            = &kmserr.Error{Code: "XksKeyAlreadyInUseException", Status: http.StatusBadRequest}
)

// Model constraints of the XKS members (the AWS API reference).
var (
	xksEndpointPattern = regexp.MustCompile(`^https://[a-zA-Z0-9.-]+$`)
	xksPathPattern     = regexp.MustCompile(`^(/[a-zA-Z0-9\/_-]+/kms/xks/v\d{1,2})$|^(/kms/xks/v\d{1,2})$`)
	xksAccessKeyRE     = regexp.MustCompile(`^[A-Z2-7]+$`)
	xksSecretRE        = regexp.MustCompile(`^[a-zA-Z0-9\/+=]+$`)
	xksVPCServiceRE    = regexp.MustCompile(`^(com|eu)\.amazonaws\.vpce\.([a-z]+-){2,3}\d+\.vpce-svc-[0-9a-z]+$`)
	cloudHSMClusterRE  = regexp.MustCompile(`^cluster-[2-7a-zA-Z]{11,16}$`)
	xksVPCOwnerRE      = regexp.MustCompile(`^[0-9]{12}$`)
	xksKeyIDRE         = regexp.MustCompile(`^[a-zA-Z0-9-_.]+$`)
	enumKeyStoreType   = []string{storeTypeCloudHSM, storeTypeExternal}
	enumConnectivity   = []string{connectivityPublic, connectivityVPC}
)

// keyStoreRecord is a stored custom key store. The secret is stored as any
// record is: sealed by the barrier.
type keyStoreRecord struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Region      string    `json:"region"`
	Account     string    `json:"account"`
	Created     time.Time `json:"created"`
	Type        string    `json:"type"`
	State       string    `json:"state"`
	ErrorCode   string    `json:"errorCode,omitempty"`
	Endpoint    string    `json:"endpoint"`
	Path        string    `json:"path"`
	AccessKeyID string    `json:"accessKeyId"`
	// Secret is the proxy's secret access key (XKS) or the token's user
	// PIN (CloudHSM's KeyStorePassword).
	Secret string `json:"secret"`
	// ClusterID and TrustAnchor are a CloudHSM key store's.
	ClusterID   string `json:"clusterId,omitempty"`
	TrustAnchor string `json:"trustAnchor,omitempty"`
}

func keyStorePath(sc scope, id string) string {
	return keyStorePathPrefix + sc.region + "/" + sc.account + "/" + id
}

func (r *keyStoreRecord) entry() CustomKeyStoresListEntry {
	e := CustomKeyStoresListEntry{
		ConnectionState: r.State, CreationDate: ts(r.Created), CustomKeyStoreId: r.ID,
		CustomKeyStoreName: r.Name, CustomKeyStoreType: r.Type,
	}
	if r.Type == storeTypeCloudHSM {
		e.CloudHsmClusterId, e.TrustAnchorCertificate = r.ClusterID, r.TrustAnchor
	} else {
		e.XksProxyConfiguration = &XksProxyConfiguration{
			AccessKeyId: r.AccessKeyID, Connectivity: connectivityPublic, UriEndpoint: r.Endpoint, UriPath: r.Path,
		}
	}
	if r.State == stateFailed {
		e.ConnectionErrorCode = r.ErrorCode
	}
	return e
}

func (r *keyStoreRecord) client(hc *http.Client) *xks.Client {
	return xks.NewClient(xks.Config{
		Endpoint: r.Endpoint, Path: r.Path, Region: r.Region, AccessKeyID: r.AccessKeyID, Secret: r.Secret, HTTPClient: hc,
	})
}

// keyStoreCache holds, per node, the stores its keys' cryptographic
// operations use, with a client each; a store enters on first use and
// leaves when this node or another (Apply) changes it.
type keyStoreCache struct {
	mu sync.Mutex
	m  map[string]*cachedKeyStore // by record path
	// gen counts the forgets (and the reloads, which forget everything):
	// a store read from storage is kept only if no forget came between
	// the read and the keep, so that a slow reader cannot put back a
	// state older than a change that came after it.
	gen uint64
}

type cachedKeyStore struct {
	rec    keyStoreRecord
	client *xks.Client
}

// forget drops the store at path and returns the generation a read of
// storage that follows must pass to keep.
func (c *keyStoreCache) forget(path string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, path)
	c.gen++
	return c.gen
}

// generation is what a read of storage passes to keep.
func (c *keyStoreCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// keep returns the store rec (stored at path) with a client over hc, and
// caches it unless the cache forgot something since gen (the generation
// before rec was read): rec may then be older than what storage holds.
func (c *keyStoreCache) keep(path string, rec *keyStoreRecord, hc *http.Client, gen uint64) *cachedKeyStore {
	cs := &cachedKeyStore{rec: *rec, client: rec.client(hc)}
	c.mu.Lock()
	if c.gen == gen {
		if c.m == nil {
			c.m = make(map[string]*cachedKeyStore)
		}
		c.m[path] = cs
	}
	c.mu.Unlock()
	return cs
}

// reload caches the stores of a full read of storage (Reload), begun at
// generation gen, so that no key's cryptographic operation reads one; a
// store changed later is read again on its next use. Whatever the cache
// held is dropped (Reload runs when changes may have been missed), and
// the read is kept only if nothing was forgotten since it began: a store
// changed meanwhile may be older in entries than in storage, and every
// store is then read again on its next use. Reads begun before reload
// are not kept either. It returns the clusters of the connected CloudHSM
// stores of entries (connectedClusters).
func (c *keyStoreCache) reload(entries []storage.Entry, gen uint64, hc *http.Client, log *slog.Logger) map[string]bool {
	recs := decodeKeyStores(entries, log)
	m := make(map[string]*cachedKeyStore, len(recs))
	for p, rec := range recs {
		m[p] = &cachedKeyStore{rec: *rec, client: rec.client(hc)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		m = nil
	}
	c.m = m
	c.gen++
	return connectedClusters(recs)
}

// decodeKeyStores decodes the custom key store records among entries (by
// path), clearing their values; a record that does not parse is left out
// (and read again, failing, on its use).
func decodeKeyStores(entries []storage.Entry, log *slog.Logger) map[string]*keyStoreRecord {
	recs := make(map[string]*keyStoreRecord)
	for _, e := range entries {
		if !strings.HasPrefix(e.Key, keyStorePathPrefix) {
			continue
		}
		rec := new(keyStoreRecord)
		err := json.Unmarshal(e.Value, rec)
		clear(e.Value)
		if err != nil {
			log.Error("kms: custom key store record does not parse; read again on use", "record", e.Key, "err", err)
			continue
		}
		recs[e.Key] = rec
	}
	return recs
}

// connectedClusters returns the clusters of the connected CloudHSM stores
// among recs, as storage holds them: the only tokens a node stays logged
// in to (hsmTokens.closeUnless). Each node decides so from storage, not
// from its cache, which may lack a store or hold an older state of it.
func connectedClusters(recs map[string]*keyStoreRecord) map[string]bool {
	keep := make(map[string]bool)
	for _, r := range recs {
		if r.Type == storeTypeCloudHSM && r.State == stateConnected {
			keep[r.ClusterID] = true
		}
	}
	return keep
}

// cachedStore returns the store id of sc from the cache, reading it from
// storage on a miss (a store whose refresh after a change failed). Nil (and no error) when there is no such store.
func (s *Service) cachedStore(ctx context.Context, sc scope, id string) (*cachedKeyStore, error) {
	path := keyStorePath(sc, id)
	s.stores.mu.Lock()
	cs := s.stores.m[path]
	gen := s.stores.gen
	s.stores.mu.Unlock()
	if cs != nil {
		return cs, nil
	}
	var rec *keyStoreRecord
	err := s.store.View(ctx, func(tx storage.Tx) error {
		var err error
		rec, err = getKeyStore(tx, sc, id)
		return err
	})
	if err != nil || rec == nil {
		return nil, err
	}
	return s.stores.keep(path, rec, s.xksHTTP, gen), nil
}

// applyKeyStores forgets the stores among paths (changed by another node)
// and returns the other paths.
func (s *Service) applyKeyStores(ctx context.Context, paths []string) []string {
	rest := paths[:0:0]
	for _, p := range paths {
		if strings.HasPrefix(p, keyStorePathPrefix) {
			s.refreshStore(ctx, p)
			continue
		}
		rest = append(rest, p)
	}
	return rest
}

// refreshStore caches the store stored at path as storage holds it now
// (none: forgotten), after a change: the keys' operations then find it in
// memory. When storage cannot be read, the store is forgotten and read on
// its next use. The same read of every store logs this node out of the
// CloudHSM tokens no stored store connects any more (disconnected,
// deleted, moved to another cluster), whether or not this node's cache
// held the store, and in whatever state.
func (s *Service) refreshStore(ctx context.Context, path string) {
	s.stores.mu.Lock()
	old := s.stores.m[path]
	s.stores.mu.Unlock()
	gen := s.stores.forget(path)
	var recs map[string]*keyStoreRecord
	err := s.store.View(ctx, func(tx storage.Tx) error {
		entries, err := tx.List(keyStorePathPrefix, "", 0)
		recs = decodeKeyStores(entries, s.log)
		return err
	})
	if err != nil {
		s.log.WarnContext(ctx, "kms: custom key store not cached; read again on use", "record", path, "err", err)
		if old != nil && old.rec.Type == storeTypeCloudHSM {
			s.hsm.close(old.rec.ClusterID) // logged in again on its next use, if still connected
		}
		return
	}
	if rec := recs[path]; rec != nil {
		s.stores.keep(path, rec, s.xksHTTP, gen)
	}
	s.hsm.closeUnless(connectedClusters(recs))
}

// checkConnected checks the store id of sc as storage holds it now:
// CustomKeyStoreNotFoundException when it is gone (on any node),
// CustomKeyStoreInvalidStateException when it is not connected.
func checkConnected(tx storage.Tx, sc scope, id string) error {
	cur, err := getKeyStore(tx, sc, id)
	if err != nil {
		return err
	}
	if cur == nil {
		return keyStoreNotFound(id)
	}
	if cur.State != stateConnected {
		return errKeyStoreInvalidState.With("Custom key store %s is not connected (ConnectionState %s).", cur.ID, cur.State)
	}
	return nil
}

func getKeyStore(tx storage.Tx, sc scope, id string) (*keyStoreRecord, error) {
	data, err := tx.Get(keyStorePath(sc, id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec := new(keyStoreRecord)
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("kms: custom key store record %s: %w", id, err)
	}
	return rec, nil
}

func listKeyStores(tx storage.Tx, sc scope) ([]*keyStoreRecord, error) {
	entries, err := tx.List(keyStorePathPrefix+sc.region+"/"+sc.account+"/", "", 0)
	if err != nil {
		return nil, err
	}
	out := make([]*keyStoreRecord, 0, len(entries))
	for _, e := range entries {
		rec := new(keyStoreRecord)
		if err := json.Unmarshal(e.Value, rec); err != nil {
			return nil, fmt.Errorf("kms: custom key store record %s: %w", e.Key, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

func putKeyStore(tx storage.Tx, sc scope, rec *keyStoreRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Put(keyStorePath(sc, rec.ID), data)
}

// newKeyStoreID returns "cks-" and 17 random hex digits, as AWS's ids look.
func newKeyStoreID() string {
	var b [9]byte
	rand.Read(b[:])
	return "cks-" + hex.EncodeToString(b[:])[:17]
}

func keyStoreNotFound(id string) error {
	return errKeyStoreNotFound.With("Custom key store %s does not exist.", id)
}

// validEndpoint: AWS's pattern (https, a host name, port 443), and, for
// proxies on this machine or in tests, a port and plain http to a loopback
// host (Trent's extension).
func validEndpoint(s string) bool {
	if xksEndpointPattern.MatchString(s) {
		return true
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	host := u.Hostname()
	if host == "" || !xksEndpointPattern.MatchString("https://"+host) {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		// A loopback address, not a name that merely starts like one
		// (127.example.com resolves anywhere).
		ip, err := netip.ParseAddr(host)
		return host == "localhost" || err == nil && ip.IsLoopback()
	}
	return false
}

// validateProxy checks the XKS members a create or an update sets (the
// empty ones are not set).
func validateProxy(v *validator, cred *XksProxyAuthenticationCredential, connectivity, endpoint, path, vpcName, vpcOwner string) {
	v.enum("xksProxyConnectivity", connectivity, enumConnectivity)
	if endpoint != "" {
		v.strLen("xksProxyUriEndpoint", endpoint, 10, 128)
		if !validEndpoint(endpoint) {
			v.Add("xksProxyUriEndpoint", endpoint, true, "Member must satisfy regular expression pattern: "+xksEndpointPattern.String())
		}
	}
	if path != "" {
		v.strLen("xksProxyUriPath", path, 10, 128)
		v.matches("xksProxyUriPath", path, xksPathPattern)
	}
	if vpcName != "" {
		v.strLen("xksProxyVpcEndpointServiceName", vpcName, 20, 64)
		v.matches("xksProxyVpcEndpointServiceName", vpcName, xksVPCServiceRE)
	}
	if vpcOwner != "" {
		v.matches("xksProxyVpcEndpointServiceOwner", vpcOwner, xksVPCOwnerRE)
	}
	if cred != nil {
		if cred.AccessKeyId == "" {
			v.Required("xksProxyAuthenticationCredential.accessKeyId")
		} else {
			v.strLen("xksProxyAuthenticationCredential.accessKeyId", cred.AccessKeyId, 20, 30)
			v.matches("xksProxyAuthenticationCredential.accessKeyId", cred.AccessKeyId, xksAccessKeyRE)
		}
		switch n := len(cred.RawSecretAccessKey); {
		case n == 0:
			v.Required("xksProxyAuthenticationCredential.rawSecretAccessKey")
		case n < 43:
			v.Add("xksProxyAuthenticationCredential.rawSecretAccessKey", "", false, "Member must have length greater than or equal to 43")
		case n > 64:
			v.Add("xksProxyAuthenticationCredential.rawSecretAccessKey", "", false, "Member must have length less than or equal to 64")
		case !xksSecretRE.MatchString(cred.RawSecretAccessKey):
			v.Add("xksProxyAuthenticationCredential.rawSecretAccessKey", "", false, "Member must satisfy regular expression pattern: "+xksSecretRE.String())
		}
	}
}

// checkHealth asks the proxy of rec for its health with its credential,
// and returns the exception CreateCustomKeyStore and UpdateCustomKeyStore
// answer when the proxy is not usable.
func (s *Service) checkHealth(ctx context.Context, c Caller, op string, rec *keyStoreRecord) error {
	code, err := s.probe(ctx, c, op, rec)
	switch {
	case code == "":
		return nil
	case errors.Is(err, xks.ErrInternal):
		// As the XKS proxy API specification's table of KMS exceptions.
		return errXksInvalidResponse.With("The external key store proxy at %s%s cannot communicate with its external key manager (InternalException).", rec.Endpoint, rec.Path)
	}
	switch code {
	case "INVALID_CREDENTIALS", "XKS_PROXY_ACCESS_DENIED":
		return errXksIncorrectCredential.With("The external key store proxy rejected the authentication credential %s (%s).", rec.AccessKeyID, code)
	case "XKS_PROXY_INVALID_RESPONSE":
		return errXksInvalidResponse.With("The external key store proxy at %s%s did not answer as the XKS proxy API specifies.", rec.Endpoint, rec.Path)
	case "XKS_PROXY_INVALID_CONFIGURATION":
		return errXksInvalidConfig.With("The external key store proxy at %s does not serve the XKS proxy API at %s.", rec.Endpoint, rec.Path)
	}
	return errXksUnreachable.With("The external key store proxy at %s%s could not be reached (%s).", rec.Endpoint, rec.Path, code)
}

// probe calls the proxy's GetHealthStatus and returns the connection error
// code of its failure ("" when the proxy is healthy) and the call's error.
func (s *Service) probe(ctx context.Context, c Caller, op string, rec *keyStoreRecord) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, xksTimeout)
	defer cancel()
	h, err := rec.client(s.xksHTTP).Health(ctx, &xks.RequestMetadata{
		AwsPrincipalArn: principalARN(c), KmsOperation: op, KmsRequestId: requestID(c),
	})
	if err == nil && !h.Available() {
		return "XKS_PROXY_NOT_REACHABLE", nil // every external key manager unavailable
	}
	if err != nil {
		s.log.InfoContext(ctx, "kms: external key store proxy health check failed", "store", rec.ID, "endpoint", rec.Endpoint, "err", err)
	}
	return connectionErrorCode(err), err
}

// connectionErrorCode is the ConnectionErrorCode of a failed proxy call.
func connectionErrorCode(err error) string {
	var xe *xks.Error
	var ne net.Error
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	var tve *tls.CertificateVerificationError
	var rhe tls.RecordHeaderError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &xe):
		switch xe.Name {
		case xks.ErrAuthenticationFailed.Name:
			return "INVALID_CREDENTIALS"
		case xks.ErrAccessDenied.Name:
			return "XKS_PROXY_ACCESS_DENIED"
		case xks.ErrInvalidURIPath.Name:
			return "XKS_PROXY_INVALID_CONFIGURATION"
		case xks.ErrInternal.Name, xks.ErrDependencyTimeout.Name, xks.ErrThrottling.Name:
			return "XKS_PROXY_NOT_REACHABLE"
		}
		return "XKS_PROXY_INVALID_RESPONSE"
	case errors.Is(err, xks.ErrInvalidResponse):
		return "XKS_PROXY_INVALID_RESPONSE"
	case errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie), errors.As(err, &tve), errors.As(err, &rhe):
		return "XKS_PROXY_INVALID_TLS_CONFIGURATION"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "XKS_PROXY_TIMED_OUT"
	}
	return "XKS_PROXY_NOT_REACHABLE"
}

// CreateCustomKeyStore creates an external key store (DISCONNECTED) after
// checking that its proxy answers with the credential.
func (s *Service) CreateCustomKeyStore(ctx context.Context, c Caller, in *CreateCustomKeyStoreInput) (*CreateCustomKeyStoreOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	if in.CustomKeyStoreName == "" {
		v.Required("customKeyStoreName")
	} else {
		v.strLen("customKeyStoreName", in.CustomKeyStoreName, 1, 256)
	}
	v.enum("customKeyStoreType", in.CustomKeyStoreType, enumKeyStoreType)
	if in.CloudHsmClusterId != "" {
		v.strLen("cloudHsmClusterId", in.CloudHsmClusterId, 19, 24)
		v.matches("cloudHsmClusterId", in.CloudHsmClusterId, cloudHSMClusterRE)
	}
	if in.KeyStorePassword != "" && (len(in.KeyStorePassword) < 7 || len(in.KeyStorePassword) > 32) {
		v.Add("keyStorePassword", "", false, "Member must have length between 7 and 32")
	}
	if in.TrustAnchorCertificate != "" {
		v.strLen("trustAnchorCertificate", in.TrustAnchorCertificate, 1, 5000)
	}
	validateProxy(&v, in.XksProxyAuthenticationCredential, in.XksProxyConnectivity, in.XksProxyUriEndpoint,
		in.XksProxyUriPath, in.XksProxyVpcEndpointServiceName, in.XksProxyVpcEndpointServiceOwner)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, nil, opAccess("CreateCustomKeyStore")); err != nil {
		return nil, err
	}
	if in.CustomKeyStoreType != storeTypeExternal { // AWS_CLOUDHSM, the default
		return s.createCloudHSMStore(ctx, sc, in)
	}
	if in.CloudHsmClusterId != "" || in.KeyStorePassword != "" || in.TrustAnchorCertificate != "" {
		return nil, kmserr.ErrValidation.With("CloudHsmClusterId, KeyStorePassword and TrustAnchorCertificate are not valid for an external key store.")
	}
	switch {
	case in.XksProxyConnectivity == "":
		return nil, kmserr.ErrValidation.With("XksProxyConnectivity is required for an external key store.")
	case in.XksProxyConnectivity == connectivityVPC || in.XksProxyVpcEndpointServiceName != "" || in.XksProxyVpcEndpointServiceOwner != "":
		return nil, kmserr.ErrUnsupportedOperation.With("VPC endpoint service connectivity (VPC_ENDPOINT_SERVICE) is not supported by this server; use PUBLIC_ENDPOINT.")
	case in.XksProxyUriEndpoint == "":
		return nil, kmserr.ErrValidation.With("XksProxyUriEndpoint is required for an external key store.")
	case in.XksProxyUriPath == "":
		return nil, kmserr.ErrValidation.With("XksProxyUriPath is required for an external key store.")
	case in.XksProxyAuthenticationCredential == nil:
		return nil, kmserr.ErrValidation.With("XksProxyAuthenticationCredential is required for an external key store.")
	}
	cred := in.XksProxyAuthenticationCredential
	rec := &keyStoreRecord{
		ID: newKeyStoreID(), Name: in.CustomKeyStoreName, Region: sc.region, Account: sc.account,
		Created: s.now().UTC().Truncate(time.Millisecond), Type: storeTypeExternal, State: stateDisconnected,
		Endpoint: in.XksProxyUriEndpoint, Path: in.XksProxyUriPath, AccessKeyID: cred.AccessKeyId, Secret: cred.RawSecretAccessKey,
	}
	if err := s.checkHealth(ctx, c, "CreateCustomKeyStore", rec); err != nil {
		return nil, err
	}
	return s.putNewKeyStore(ctx, sc, rec, nil)
}

// putNewKeyStore stores the new store rec of sc, unique by name (and proxy)
// within the quota, if extra (optional) passes in the same transaction.
func (s *Service) putNewKeyStore(ctx context.Context, sc scope, rec *keyStoreRecord, extra func(storage.Tx) error) (*CreateCustomKeyStoreOutput, error) {
	err := s.store.Update(ctx, func(tx storage.Tx) error {
		all, err := listKeyStores(tx, sc)
		if err != nil {
			return err
		}
		if err := checkUnique(all, rec); err != nil {
			return err
		}
		if len(all) >= maxKeyStores {
			return kmserr.ErrLimitExceeded.With("The request was rejected because a quota was exceeded: at most %d custom key stores per account and Region.", maxKeyStores)
		}
		if extra != nil {
			if err := extra(tx); err != nil {
				return err
			}
		}
		return putKeyStore(tx, sc, rec)
	})
	if err != nil {
		return nil, s.keyStoreError(ctx, "CreateCustomKeyStore", err)
	}
	s.refreshStore(ctx, keyStorePath(sc, rec.ID))
	return &CreateCustomKeyStoreOutput{CustomKeyStoreId: rec.ID}, nil
}

// checkUnique: a store's name, and an external store's proxy endpoint and
// path, are its own among the stores of its account and Region (all).
func checkUnique(all []*keyStoreRecord, rec *keyStoreRecord) error {
	for _, o := range all {
		if o.ID == rec.ID {
			continue
		}
		if o.Name == rec.Name {
			return errKeyStoreNameInUse.With("The specified custom key store name is already assigned to another custom key store in the account. Try again with a custom key store name that is unique in the account.")
		}
		if rec.Type == storeTypeExternal && o.Type == storeTypeExternal && o.Endpoint == rec.Endpoint && o.Path == rec.Path {
			return errXksURIInUse.With("The external key store proxy URI %s%s is already associated with the custom key store %s.", rec.Endpoint, rec.Path, o.ID)
		}
	}
	return nil
}

// keyStoreError passes the client errors of a custom key store write
// through and reports the storage ones.
func (s *Service) keyStoreError(ctx context.Context, op string, err error) error {
	var ke *kmserr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return s.internal(ctx, op, err)
}

// updateKeyStore changes the store id of sc with fn in one transaction,
// then forgets this node's copy.
func (s *Service) updateKeyStore(ctx context.Context, op string, sc scope, id string, fn func(tx storage.Tx, rec *keyStoreRecord) error) error {
	err := s.store.Update(ctx, func(tx storage.Tx) error {
		rec, err := getKeyStore(tx, sc, id)
		if err != nil {
			return err
		}
		if rec == nil {
			return keyStoreNotFound(id)
		}
		return fn(tx, rec)
	})
	s.refreshStore(ctx, keyStorePath(sc, id))
	if err != nil {
		return s.keyStoreError(ctx, op, err)
	}
	return nil
}

// keyStoreOp validates the CustomKeyStoreId of a one-store operation and
// authorizes the caller.
func (s *Service) keyStoreOp(c *Caller, op, id string) (scope, error) {
	sc, err := callerScope(*c)
	if err != nil {
		return sc, err
	}
	var v validator
	if id == "" {
		v.Required("customKeyStoreId")
	} else {
		v.strLen("customKeyStoreId", id, 1, 64)
	}
	if err := v.Err(); err != nil {
		return sc, err
	}
	return sc, s.authorize(c, nil, opAccess(op))
}

// readKeyStore reads the store id of sc from storage.
func (s *Service) readKeyStore(ctx context.Context, op string, sc scope, id string) (*keyStoreRecord, error) {
	var rec *keyStoreRecord
	err := s.store.View(ctx, func(tx storage.Tx) error {
		var err error
		rec, err = getKeyStore(tx, sc, id)
		return err
	})
	if err != nil {
		return nil, s.internal(ctx, op, err)
	}
	if rec == nil {
		return nil, keyStoreNotFound(id)
	}
	return rec, nil
}

// ConnectCustomKeyStore connects a store: its proxy's health (XKS), or
// logging in to its token with its password (CloudHSM), decides between
// CONNECTED and FAILED (with the ConnectionErrorCode), which
// DescribeCustomKeyStores then reports; the call itself succeeds either
// way, as AWS's (whose connection completes later).
func (s *Service) ConnectCustomKeyStore(ctx context.Context, c Caller, in *ConnectCustomKeyStoreInput) (*ConnectCustomKeyStoreOutput, error) {
	sc, err := s.keyStoreOp(&c, "ConnectCustomKeyStore", in.CustomKeyStoreId)
	if err != nil {
		return nil, err
	}
	rec, err := s.readKeyStore(ctx, "ConnectCustomKeyStore", sc, in.CustomKeyStoreId)
	if err != nil {
		return nil, err
	}
	switch rec.State {
	case stateConnected:
		return &ConnectCustomKeyStoreOutput{}, nil
	case stateFailed:
		return nil, errKeyStoreInvalidState.With("Custom key store %s is in state FAILED: disconnect it before connecting it again.", rec.ID)
	}
	var code string
	if rec.Type == storeTypeCloudHSM {
		if code, err = s.connectHSM(ctx, rec); err != nil {
			return nil, err
		}
	} else {
		code, _ = s.probe(ctx, c, "ConnectCustomKeyStore", rec)
	}
	err = s.updateKeyStore(ctx, "ConnectCustomKeyStore", sc, rec.ID, func(tx storage.Tx, cur *keyStoreRecord) error {
		if cur.State != stateDisconnected {
			return nil // another call connected it meanwhile
		}
		cur.State, cur.ErrorCode = stateConnected, ""
		if code != "" {
			cur.State, cur.ErrorCode = stateFailed, code
		}
		return putKeyStore(tx, sc, cur)
	})
	if err != nil {
		return nil, err
	}
	return &ConnectCustomKeyStoreOutput{}, nil
}

// DisconnectCustomKeyStore disconnects a store: its keys are Unavailable
// until it is connected again.
func (s *Service) DisconnectCustomKeyStore(ctx context.Context, c Caller, in *DisconnectCustomKeyStoreInput) (*DisconnectCustomKeyStoreOutput, error) {
	sc, err := s.keyStoreOp(&c, "DisconnectCustomKeyStore", in.CustomKeyStoreId)
	if err != nil {
		return nil, err
	}
	err = s.updateKeyStore(ctx, "DisconnectCustomKeyStore", sc, in.CustomKeyStoreId, func(tx storage.Tx, rec *keyStoreRecord) error {
		if rec.State == stateDisconnected {
			return errKeyStoreInvalidState.With("Custom key store %s is already disconnected.", rec.ID)
		}
		rec.State, rec.ErrorCode = stateDisconnected, ""
		return putKeyStore(tx, sc, rec)
	})
	if err != nil {
		return nil, err
	}
	return &DisconnectCustomKeyStoreOutput{}, nil
}

// DeleteCustomKeyStore deletes a disconnected store that has no keys left
// (keys pending deletion count until they are deleted).
func (s *Service) DeleteCustomKeyStore(ctx context.Context, c Caller, in *DeleteCustomKeyStoreInput) (*DeleteCustomKeyStoreOutput, error) {
	sc, err := s.keyStoreOp(&c, "DeleteCustomKeyStore", in.CustomKeyStoreId)
	if err != nil {
		return nil, err
	}
	err = s.updateKeyStore(ctx, "DeleteCustomKeyStore", sc, in.CustomKeyStoreId, func(tx storage.Tx, rec *keyStoreRecord) error {
		if rec.State != stateDisconnected {
			return errKeyStoreInvalidState.With("Custom key store %s must be disconnected before it is deleted.", rec.ID)
		}
		if n, err := storeKeys(tx, sc, rec.ID); err != nil || n > 0 {
			if err != nil {
				return err
			}
			return errKeyStoreHasCMKs.With("Custom key store %s still has %d KMS keys: schedule their deletion and wait for it before deleting the key store.", rec.ID, n)
		}
		return tx.Delete(keyStorePath(sc, rec.ID))
	})
	if err != nil {
		return nil, err
	}
	return &DeleteCustomKeyStoreOutput{}, nil
}

// storeKeys counts the keys of store id of sc, in storage (tx): keys
// another node created count too.
func storeKeys(tx storage.Tx, sc scope, id string) (int, error) {
	n := 0
	err := eachExternalKey(tx, sc, func(_ string, x *xksRecord) error {
		if x.Store == id {
			n++
		}
		return nil
	})
	return n, err
}

// eachExternalKey calls fn with the key id and the external key of every
// stored key of sc in an external key store, until fn returns an error.
func eachExternalKey(tx storage.Tx, sc scope, fn func(keyID string, x *xksRecord) error) error {
	entries, err := tx.List(keyPathPrefix+sc.region+"/"+sc.account+"/", "", 0)
	if err != nil {
		return err
	}
	defer func() {
		for _, e := range entries {
			clear(e.Value)
		}
	}()
	for _, e := range entries {
		var rec struct {
			ID  string     `json:"id"`
			XKS *xksRecord `json:"xks"`
		}
		if json.Unmarshal(e.Value, &rec) == nil && rec.XKS != nil {
			if err := fn(rec.ID, rec.XKS); err != nil {
				return err
			}
		}
	}
	return nil
}

// DescribeCustomKeyStores lists the stores of the caller's account in its
// Region (by creation), or the one named by id or by name.
func (s *Service) DescribeCustomKeyStores(ctx context.Context, c Caller, in *DescribeCustomKeyStoresInput) (*DescribeCustomKeyStoresOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	if in.CustomKeyStoreId != "" {
		v.strLen("customKeyStoreId", in.CustomKeyStoreId, 1, 64)
	}
	if in.CustomKeyStoreName != "" {
		v.strLen("customKeyStoreName", in.CustomKeyStoreName, 1, 256)
	}
	v.intRange("limit", in.Limit, 1, 1000)
	v.marker(in.Marker)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, nil, opAccess("DescribeCustomKeyStores")); err != nil {
		return nil, err
	}
	if in.CustomKeyStoreId != "" && in.CustomKeyStoreName != "" {
		return nil, kmserr.ErrValidation.With("You cannot specify both CustomKeyStoreId and CustomKeyStoreName.")
	}
	var all []*keyStoreRecord
	err = s.store.View(ctx, func(tx storage.Tx) error {
		var err error
		all, err = listKeyStores(tx, sc)
		return err
	})
	if err != nil {
		return nil, s.internal(ctx, "DescribeCustomKeyStores", err)
	}
	if in.CustomKeyStoreId != "" || in.CustomKeyStoreName != "" {
		all = slices.DeleteFunc(all, func(r *keyStoreRecord) bool {
			return r.ID != in.CustomKeyStoreId && r.Name != in.CustomKeyStoreName
		})
		if len(all) == 0 {
			if in.CustomKeyStoreId != "" {
				return nil, keyStoreNotFound(in.CustomKeyStoreId)
			}
			return nil, errKeyStoreNotFound.With("Custom key store %s does not exist.", in.CustomKeyStoreName)
		}
	}
	slices.SortFunc(all, func(a, b *keyStoreRecord) int { return strings.Compare(a.ID, b.ID) })
	pg, next, trunc, err := page(all, func(r *keyStoreRecord) string { return r.ID }, "cks", in.Marker, limitOr(in.Limit, 100))
	if err != nil {
		return nil, err
	}
	out := &DescribeCustomKeyStoresOutput{CustomKeyStores: []CustomKeyStoresListEntry{}, NextMarker: next, Truncated: trunc}
	for _, r := range pg {
		out.CustomKeyStores = append(out.CustomKeyStores, r.entry())
	}
	return out, nil
}

// UpdateCustomKeyStore renames a store or changes its proxy settings (the
// proxy must answer with the new ones): the URI path and the credential in
// any state, the endpoint only while the store is disconnected, as AWS. A
// CloudHSM store's password and cluster change while it is disconnected
// (updateCloudHSMStore).
func (s *Service) UpdateCustomKeyStore(ctx context.Context, c Caller, in *UpdateCustomKeyStoreInput) (*UpdateCustomKeyStoreOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	if in.CustomKeyStoreId == "" {
		v.Required("customKeyStoreId")
	} else {
		v.strLen("customKeyStoreId", in.CustomKeyStoreId, 1, 64)
	}
	if in.NewCustomKeyStoreName != "" {
		v.strLen("newCustomKeyStoreName", in.NewCustomKeyStoreName, 1, 256)
	}
	if in.CloudHsmClusterId != "" {
		v.strLen("cloudHsmClusterId", in.CloudHsmClusterId, 19, 24)
		v.matches("cloudHsmClusterId", in.CloudHsmClusterId, cloudHSMClusterRE)
	}
	validateProxy(&v, in.XksProxyAuthenticationCredential, in.XksProxyConnectivity, in.XksProxyUriEndpoint,
		in.XksProxyUriPath, in.XksProxyVpcEndpointServiceName, in.XksProxyVpcEndpointServiceOwner)
	if in.KeyStorePassword != "" && (len(in.KeyStorePassword) < 7 || len(in.KeyStorePassword) > 32) {
		v.Add("keyStorePassword", "", false, "Member must have length between 7 and 32")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, nil, opAccess("UpdateCustomKeyStore")); err != nil {
		return nil, err
	}
	rec, err := s.readKeyStore(ctx, "UpdateCustomKeyStore", sc, in.CustomKeyStoreId)
	if err != nil {
		return nil, err
	}
	if rec.Type == storeTypeCloudHSM {
		next := *rec
		if in.NewCustomKeyStoreName != "" {
			next.Name = in.NewCustomKeyStoreName
		}
		if err := s.updateCloudHSMStore(ctx, sc, in, rec, &next); err != nil {
			return nil, s.keyStoreError(ctx, "UpdateCustomKeyStore", err)
		}
		err = s.updateKeyStore(ctx, "UpdateCustomKeyStore", sc, rec.ID, func(tx storage.Tx, cur *keyStoreRecord) error {
			if cur.State != rec.State || cur.ClusterID != rec.ClusterID || cur.Secret != rec.Secret {
				return errKeyStoreInvalidState.With("Custom key store %s changed while it was updated; try again.", rec.ID)
			}
			all, err := listKeyStores(tx, sc)
			if err != nil {
				return err
			}
			if err := checkUnique(all, &next); err != nil {
				return err
			}
			if next.ClusterID != rec.ClusterID {
				if err := clusterInUse(tx, next.ClusterID, rec.ID); err != nil {
					return err
				}
			}
			return putKeyStore(tx, sc, &next)
		})
		if err != nil {
			return nil, err
		}
		return &UpdateCustomKeyStoreOutput{}, nil
	}
	if in.CloudHsmClusterId != "" || in.KeyStorePassword != "" {
		return nil, kmserr.ErrValidation.With("CloudHsmClusterId and KeyStorePassword are not valid for an external key store.")
	}
	if in.XksProxyConnectivity == connectivityVPC || in.XksProxyVpcEndpointServiceName != "" || in.XksProxyVpcEndpointServiceOwner != "" {
		return nil, kmserr.ErrUnsupportedOperation.With("VPC endpoint service connectivity (VPC_ENDPOINT_SERVICE) is not supported by this server; use PUBLIC_ENDPOINT.")
	}
	proxy := in.XksProxyUriEndpoint != "" || in.XksProxyUriPath != "" || in.XksProxyAuthenticationCredential != nil
	// As AWS: the name, the URI path and the credential change in any
	// state, the endpoint only while disconnected.
	moved := in.XksProxyUriEndpoint != "" && in.XksProxyUriEndpoint != rec.Endpoint
	if moved && rec.State != stateDisconnected {
		return nil, errKeyStoreInvalidState.With("Custom key store %s must be disconnected to change its proxy's endpoint (XksProxyUriEndpoint); its name, URI path and credential change in any state.", rec.ID)
	}
	next := *rec
	if in.NewCustomKeyStoreName != "" {
		next.Name = in.NewCustomKeyStoreName
	}
	if proxy {
		if in.XksProxyUriEndpoint != "" {
			next.Endpoint = in.XksProxyUriEndpoint
		}
		if in.XksProxyUriPath != "" {
			next.Path = in.XksProxyUriPath
		}
		if cred := in.XksProxyAuthenticationCredential; cred != nil {
			next.AccessKeyID, next.Secret = cred.AccessKeyId, cred.RawSecretAccessKey
		}
		if err := s.checkHealth(ctx, c, "UpdateCustomKeyStore", &next); err != nil {
			return nil, err
		}
	}
	err = s.updateKeyStore(ctx, "UpdateCustomKeyStore", sc, rec.ID, func(tx storage.Tx, cur *keyStoreRecord) error {
		if moved && cur.State != stateDisconnected || !sameProxy(cur, rec) {
			return errKeyStoreInvalidState.With("Custom key store %s changed while it was updated; try again.", rec.ID)
		}
		all, err := listKeyStores(tx, sc)
		if err != nil {
			return err
		}
		if err := checkUnique(all, &next); err != nil {
			return err
		}
		next.State, next.ErrorCode = cur.State, cur.ErrorCode
		return putKeyStore(tx, sc, &next)
	})
	if err != nil {
		return nil, err
	}
	return &UpdateCustomKeyStoreOutput{}, nil
}

// sameProxy reports whether a and b call the same proxy with the same
// credential (the secrets compared in constant time).
func sameProxy(a, b *keyStoreRecord) bool {
	return a.Endpoint == b.Endpoint && a.Path == b.Path && a.AccessKeyID == b.AccessKeyID &&
		subtle.ConstantTimeCompare([]byte(a.Secret), []byte(b.Secret)) == 1
}
