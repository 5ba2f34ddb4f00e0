package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/awsjson"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/requestid"
	"github.com/trent-kms/trent/internal/sigv4"
	"github.com/trent-kms/trent/internal/xks"
)

// The eventNames of the proxy API's records.
const (
	xksGetKeyMetadata  = "XksGetKeyMetadata"
	xksEncrypt         = "XksEncrypt"
	xksDecrypt         = "XksDecrypt"
	xksGetHealthStatus = "XksGetHealthStatus"
	xksUnknown         = "XksUnknown"
)

// xksAPI serves the External Key Store proxy API (docs/xks.md) over svc's
// keys: requests signed for the service "kms-xks-proxy" with a Trent IAM
// access key and its proxy secret (xks.ProxySecret: a KMS needs 43 to 64
// characters; never development mode's unknown keys, never a session),
// authorized by the kms service as the KMS calls they stand for, each with
// one audit record.
func (s *Server) xksAPI(svc *services) http.Handler {
	v := &sigv4.Verifier{Creds: xks.ProxyCredentials{Credentials: svc.iam}, Service: xks.SigningService}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		b := &xksAudited{svc: svc, log: s.log, r: r, start: start, reqID: requestid.New(), name: xksEventName(r.URL.Path)}
		w.Header()["X-Amzn-Requestid"] = []string{b.reqID} // the record's requestID
		if svc.cluster != nil && !svc.cluster.fresh(s.log) {
			// A node that cannot confirm that it follows the others refuses
			// before authenticating (its credentials may be stale), and
			// records the refusal under the access key the request claims,
			// as the KMS API's front door does; a refusal that cannot be
			// recorded is answered InternalException, as the handler's are.
			e := errXKSUnavailable
			if b.refusal(r, nil, e) != nil {
				e = xks.ErrInternal.With("internal error")
			}
			xks.WriteError(w, e)
		} else {
			// The handler's log lines name the request by the id it answers.
			h := xks.Handler{Verifier: v, Backend: b, Log: s.log.With("request_id", b.reqID), Refused: b.refusal}
			h.ServeHTTP(w, r)
			if !b.called {
				b.unanswered()
			}
		}
		s.metrics.observe(awsjson.Outcome{Operation: b.name, Code: b.code, Duration: time.Since(start)})
	})
}

// xksEventName is the eventName of a proxy request, from its path.
func xksEventName(path string) string {
	switch {
	case strings.HasSuffix(path, "/metadata"):
		return xksGetKeyMetadata
	case strings.HasSuffix(path, "/encrypt"):
		return xksEncrypt
	case strings.HasSuffix(path, "/decrypt"):
		return xksDecrypt
	case strings.HasSuffix(path, "/health"):
		return xksGetHealthStatus
	}
	return xksUnknown
}

// xksAudited is the xks.Backend of one request: it calls the kms service
// with the facts the audit record needs and records the call before
// xks.Handler answers (a call whose record cannot be written fails, as
// every API call does).
type xksAudited struct {
	svc   *services
	log   *slog.Logger
	r     *http.Request
	start time.Time
	reqID string

	name   string // eventName
	called bool   // the record is written (the backend was called, or the request refused)
	code   string // the errorName answered, "" on success
}

var _ xks.Backend = (*xksAudited)(nil)

// xksParams is a record's requestParameters.
type xksParams struct {
	KeyId           string               `json:"keyId,omitempty"`
	RequestMetadata *xks.RequestMetadata `json:"requestMetadata,omitempty"`
}

// errXKSAudit: the record could not be written; the request fails.
var errXKSAudit = errors.New("server: xks: audit record failed")

func (b *xksAudited) caller(c *xks.Caller, f *kms.Facts) kms.Caller {
	kc := kms.XKSCaller(c)
	kc.RequestID, kc.Facts = b.reqID, f
	kc.SecureTransport = b.r.TLS != nil
	if ap, err := netip.ParseAddrPort(b.r.RemoteAddr); err == nil {
		kc.SourceIP = ap.Addr().Unmap()
	}
	return kc
}

// event is the record of this request, before its outcome.
func (b *xksAudited) event() audit.Event {
	e := audit.Event{
		Time: b.start, Source: audit.SourceXKS, Name: b.name, RequestID: b.reqID,
		UserAgent: b.r.UserAgent(), TLS: b.r.TLS, Host: b.r.Host,
	}
	e.SourceIP, _, _ = net.SplitHostPort(b.r.RemoteAddr)
	return e
}

// record writes the record of a call that reached the backend, with what
// the kms service reported in f (nil: health, no key), and returns the
// error the handler answers.
func (b *xksAudited) record(ctx context.Context, c *xks.Caller, keyID string, md *xks.RequestMetadata, f *kms.Facts, err error) error {
	b.called = true
	if err == nil && f != nil && !f.Authorized {
		// Fail closed: an operation that forgot to decide does not answer.
		err = fmt.Errorf("server: xks: %s succeeded without an authorization decision", b.name)
	}
	e := b.event()
	if c != nil {
		e.Identity, e.Region = audit.PrincipalIdentity(c.Principal, c.AccessKeyID), c.Region
	}
	if keyID != "" || md != nil {
		e.Params = &xksParams{KeyId: keyID, RequestMetadata: md}
	}
	if f != nil {
		e.Keys = f.Keys
		e.Encrypted, e.Decrypted = audit.KeyUse(f.Encrypted), audit.KeyUse(f.Decrypted)
	}
	if err != nil {
		var xe *xks.Error
		if !errors.As(err, &xe) {
			xe = xks.ErrInternal
		}
		b.code, e.ErrorCode, e.ErrorMessage = xe.Name, xe.Name, xe.Message
	}
	if rerr := b.svc.recorder().Record(ctx, &e); rerr != nil {
		b.code = xks.ErrInternal.Name
		return fmt.Errorf("%w: %w", errXKSAudit, rerr)
	}
	return err
}

func (b *xksAudited) Health(ctx context.Context) error {
	err := b.svc.kms.XKSHealth(ctx)
	// Health has no caller argument: the handler verified the signature,
	// so the record names the principal of the access key it was made with.
	c := &xks.Caller{}
	c.AccessKeyID, c.Region = claimedXKSCredential(b.r)
	if _, p, err := b.svc.iam.Credential(c.AccessKeyID, ""); err == nil && p != nil {
		c.Principal = *p
	}
	return b.record(ctx, c, "", nil, nil, err)
}

func (b *xksAudited) KeyMetadata(ctx context.Context, c *xks.Caller, keyID string, md *xks.RequestMetadata) (*xks.KeyMetadata, error) {
	var f kms.Facts
	out, err := b.svc.kms.XKSKeyMetadata(ctx, b.caller(c, &f), keyID)
	if err = b.record(ctx, c, keyID, md, &f, err); err != nil {
		return nil, err
	}
	return out, nil
}

func (b *xksAudited) Encrypt(ctx context.Context, c *xks.Caller, keyID string, md *xks.RequestMetadata, pt, aad []byte) (*xks.Sealed, error) {
	var f kms.Facts
	out, err := b.svc.kms.XKSEncrypt(ctx, b.caller(c, &f), keyID, pt, aad)
	if err = b.record(ctx, c, keyID, md, &f, err); err != nil {
		return nil, err
	}
	return out, nil
}

func (b *xksAudited) Decrypt(ctx context.Context, c *xks.Caller, keyID string, md *xks.RequestMetadata, s *xks.Sealed, aad []byte) ([]byte, error) {
	var f kms.Facts
	pt, err := b.svc.kms.XKSDecrypt(ctx, b.caller(c, &f), keyID, s, aad)
	if err = b.record(ctx, c, keyID, md, &f, err); err != nil {
		clear(pt)
		return nil, err
	}
	return pt, nil
}

// refusal records a request the handler refuses without reaching the
// backend (a bad signature, an unknown path, a malformed body), before the
// answer e: a refusal that cannot be recorded is answered InternalException.
// c is the caller once the signature verified, else nil (the record then
// names the access key the request claims).
func (b *xksAudited) refusal(_ *http.Request, c *xks.Caller, xe *xks.Error) error {
	b.called = true
	e := b.event()
	if c != nil {
		e.Identity, e.Region = audit.PrincipalIdentity(c.Principal, c.AccessKeyID), c.Region
	} else {
		e.Identity.AccessKeyID, e.Region = claimedXKSCredential(b.r)
	}
	b.code, e.ErrorCode, e.ErrorMessage = xe.Name, xe.Name, xe.Message
	if err := b.svc.recorder().Record(b.r.Context(), &e); err != nil {
		b.code = xks.ErrInternal.Name
		return fmt.Errorf("%w: %w", errXKSAudit, err)
	}
	return nil
}

// unanswered records a request whose body could not be read: the handler
// answered nothing (the connection is gone), so the record only logs a
// failure to write it.
func (b *xksAudited) unanswered() {
	e := b.event()
	e.Identity.AccessKeyID, e.Region = claimedXKSCredential(b.r)
	b.code, e.ErrorCode, e.ErrorMessage = "ConnectionClosed", "ConnectionClosed", "the request body could not be read"
	if err := b.svc.recorder().Record(b.r.Context(), &e); err != nil {
		b.log.Error("server: xks: audit record of an unread request failed", "request_id", b.reqID, "err", err)
	}
}

// claimedXKSCredential is the access key id and Region the request's
// Authorization header names (bounded: the header is the sender's).
func claimedXKSCredential(r *http.Request) (accessKeyID, region string) {
	a, err := sigv4.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil || len(a.AccessKeyID) > 128 || len(a.Region) > 32 {
		return "", ""
	}
	return a.AccessKeyID, a.Region
}

// errXKSUnavailable answers a proxy call while the server is sealed or a
// node cannot confirm that it follows the others, in the proxy API's
// terms: 503, which a KMS retries and reports as the proxy being
// unavailable.
var errXKSUnavailable = xks.ErrDependencyTimeout.With("the key manager is sealed or unavailable")
