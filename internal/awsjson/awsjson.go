// Package awsjson is Trent's AWS JSON 1.1 front door: one http.Handler that
// runs the same pipeline for every KMS operation.
//
// A request is `POST /` with `X-Amz-Target: TrentService.<Op>` and a JSON body.
// The stages, in order, for every operation in the table (operations.go):
//
//  1. check the method, the operation, the Content-Type, and bound the body
//     by the operation's MaxBody;
//  2. authenticate: SigV4 (sigv4.Verifier) gives the principal and region;
//  3. decode the body into the operation's typed input, strictly (decode.go);
//  4. operate: call the kms.Service method, which resolves the key, decides
//     (key policy, identity policies, grants) and operates: this layer only
//     authenticates;
//  5. audit: the Auditor records one audit.Event for every request, success,
//     failure, denial or refusal before dispatch (wrong method, unknown
//     operation, wrong Content-Type, body too large or malformed, bad
//     signature); a failing audit fails the request (fail closed), and no
//     output leaves before its record is written;
//  6. encode the output, or the error.
//
// This package is the only place in Trent that turns an error into a
// response: a *kmserr.Error becomes its status and
// {"__type": Code, "message": Message}; anything else is logged with the
// request id and answered as KMSInternalException.
package awsjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/requestid"
	"github.com/trent-kms/trent/internal/sigv4"
)

// ContentType is the media type of AWS JSON 1.1 requests and responses.
const ContentType = "application/x-amz-json-1.1"

// TargetPrefix prefixes every X-Amz-Target of the KMS API.
const TargetPrefix = "TrentService."

// Authenticator verifies a request's signature. *sigv4.Verifier implements it.
type Authenticator interface {
	Verify(r *http.Request, body []byte) (*sigv4.Result, error)
}

var _ Authenticator = (*sigv4.Verifier)(nil) // compiler check

// Outcome describes a finished request for metrics.
type Outcome struct {
	Operation string // operation name, "unknown" when the target is not in the table
	Code      string // "" on success, else the error code sent
	Duration  time.Duration
}

// Config wires a Handler.
type Config struct {
	Service       *kms.Service
	Authenticator Authenticator  // required (a *sigv4.Verifier)
	Auditor       audit.Recorder // audit.Discard when nil
	Logger        *slog.Logger   // slog.Default() when nil
	// Observe, when set, is called once per request after the response is
	// written (metrics).
	Observe func(Outcome)
	// Now is time.Now when nil (audit event time, durations).
	Now func() time.Time
	// Refuse, when set, is asked once a request names a known operation:
	// an error refuses it before its body is read, audited like any failed
	// call (its identity the access key its Authorization header claims),
	// as a cluster node that cannot confirm that it is current refuses.
	Refuse func() *kmserr.Error
}

// Handler serves the KMS API. Create it with New.
type Handler struct {
	svc     *kms.Service
	authn   Authenticator
	audit   audit.Recorder
	log     *slog.Logger
	observe func(Outcome)
	now     func() time.Time
	refuse  func() *kmserr.Error
}

// New returns a Handler. It panics if cfg.Service or cfg.Authenticator is nil
// (programmer error).
func New(cfg Config) *Handler {
	if cfg.Service == nil || cfg.Authenticator == nil {
		panic("awsjson: New needs a Service and an Authenticator")
	}
	h := &Handler{
		svc: cfg.Service, authn: cfg.Authenticator, audit: cfg.Auditor,
		log: cfg.Logger, observe: cfg.Observe, now: cfg.Now, refuse: cfg.Refuse,
	}
	if h.audit == nil {
		h.audit = audit.Discard
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

var (
	errMethod = &kmserr.Error{Code: "MethodNotAllowedException", Status: http.StatusMethodNotAllowed,
		Message: "Only POST is supported."}
	// A request of another Content-Type is not one of this protocol: AWS
	// answers UnknownOperationException (Kinesis, a JSON 1.1 service, to
	// application/octet-stream: disneystreaming/smithy4s#167).
	errContentType = kmserr.ErrUnknownOperation.With("Content-Type must be %s.", ContentType)
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	reqID := requestid.New()
	w.Header()[hdrRequestID] = []string{reqID}
	target := r.Header.Get("X-Amz-Target")
	op, known := operations[target]
	ev := audit.Event{
		Time: start, Source: audit.SourceKMS, Name: eventName(target, op, known), RequestID: reqID,
		SourceIP: sourceIP(r), UserAgent: r.UserAgent(), TLS: r.TLS, Host: r.Host,
	}

	opName := "unknown"
	code := ""
	recorded := false
	defer func() {
		d := h.now().Sub(start)
		if h.observe != nil {
			h.observe(Outcome{Operation: opName, Code: code, Duration: d})
		}
		if h.log.Enabled(r.Context(), slog.LevelDebug) {
			h.log.LogAttrs(r.Context(), slog.LevelDebug, "awsjson: request",
				slog.String("request_id", reqID), slog.String("operation", opName),
				slog.String("error_code", code), slog.Duration("duration", d),
				slog.String("remote", r.RemoteAddr))
		}
	}()
	defer func() {
		// A panic is a bug: log it with its stack and still answer in the
		// protocol (net/http would only reset the connection), audited.
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			err := fmt.Errorf("awsjson: panic: %v\n%s", p, debug.Stack())
			if !recorded {
				ev.Output = nil
				err = h.record(r.Context(), &ev, err)
			}
			code = h.writeError(w, r, reqID, err)
		}
	}()

	ctx := requestid.NewContext(r.Context(), reqID) // for the log lines of the service
	err := route(w, r, target, known)
	if err == nil && h.refuse != nil {
		if e := h.refuse(); e != nil {
			opName = op.Name
			ev.Identity.AccessKeyID, ev.Region = claimedCredential(r)
			err = e
		}
	}
	var payload *encoded
	if err == nil {
		opName = op.Name
		if op.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, op.Timeout)
			defer cancel()
		}
		var body requestBody
		body, err = readBody(w, r, op.MaxBody)
		if errors.Is(err, kmserr.ErrRequestTooLarge) && op.TooLarge != nil {
			err = op.TooLarge
		}
		if err == nil {
			defer body.free()
			var out any
			out, err = h.run(ctx, r, op, body.b, reqID, &ev)
			if err == nil {
				payload, err = encodeOutput(out)
				ev.Output = out
			}
			if payload != nil {
				defer payload.free()
			}
		}
	}
	err = h.record(ctx, &ev, err)
	recorded = true
	if err != nil {
		code = h.writeError(w, r, reqID, err)
		return
	}
	b := payload.bytes()
	hd := w.Header()
	hd[hdrContentType] = contentTypeValue
	hd[hdrContentLength] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// route is stage 1: the method, the operation (target, known when the
// operation table has it) and the Content-Type.
func route(w http.ResponseWriter, r *http.Request, target string, known bool) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return errMethod
	}
	if !known {
		return unknownOperation(target)
	}
	if !jsonContentType(r.Header.Get("Content-Type")) {
		return errContentType
	}
	return nil
}

// record hands ev to the Auditor with the outcome err, and returns the error
// the client gets: err, or an internal error when the record could not be
// written (the output must then not leave).
func (h *Handler) record(ctx context.Context, ev *audit.Event, err error) error {
	if err != nil {
		ev.ErrorCode, ev.ErrorMessage = publicError(err)
		ev.Output = nil
	}
	if aerr := h.audit.Record(ctx, ev); aerr != nil {
		return errors.Join(errAudit, aerr, err)
	}
	return err
}

// claimedCredential returns the access key id and region that a request's
// Authorization header claims (for the audit record of a request that failed
// authentication), bounded and printable; empty when it does not parse.
func claimedCredential(r *http.Request) (accessKeyID, region string) {
	a, err := sigv4.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return "", ""
	}
	return sanitize(a.AccessKeyID, 128), sanitize(a.Region, 32)
}

// eventName is the operation a request asks for (target, op when known), as
// the audit record names it: the operation's name, else the X-Amz-Target's
// operation (bounded, printable), or "unknown".
func eventName(target string, op operation, known bool) string {
	if known {
		return op.Name
	}
	name := strings.TrimPrefix(target, TargetPrefix)
	if name == "" {
		return "unknown"
	}
	return sanitize(name, 64)
}

// Canonical header keys, set directly in the map to skip canonicalization.
const (
	hdrRequestID     = "X-Amzn-Requestid" // x-amzn-RequestId
	hdrContentType   = "Content-Type"
	hdrContentLength = "Content-Length"
	hdrErrorType     = "X-Amzn-Errortype" // X-Amzn-ErrorType
)

// contentTypeValue is shared by every response; net/http never modifies it.
var contentTypeValue = []string{ContentType}

var errAudit = errors.New("awsjson: audit record failed")

// auditErr is why rec can no longer record (the audit log failed: its Err
// method), nil when it can. A call is then refused before it runs: its
// effect could not be recorded (fail closed).
func auditErr(rec audit.Recorder) error {
	if f, ok := rec.(interface{ Err() error }); ok {
		if err := f.Err(); err != nil {
			return errors.Join(errAudit, err)
		}
	}
	return nil
}

// run is stages 2..4: authenticate, decode, operate (the service authorizes). It fills
// in what ev learns on the way: the identity (or the access key a refused
// request claimed), the decoded input and what the service used.
func (h *Handler) run(ctx context.Context, r *http.Request, op operation, body []byte, reqID string, ev *audit.Event) (any, error) {
	res, err := h.authn.Verify(r, body)
	if err != nil {
		ev.Identity.AccessKeyID, ev.Region = claimedCredential(r)
		return nil, err
	}
	ev.Identity = audit.PrincipalIdentity(res.Principal, res.AccessKeyID)
	ev.Region = res.Region

	in, err := op.decode(body)
	if err != nil {
		return nil, err
	}
	ev.Params = in
	var facts kms.Facts
	caller := kms.Caller{Principal: res.Principal, Region: res.Region, RequestID: reqID, Facts: &facts,
		SecureTransport: r.TLS != nil}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		caller.SourceIP = ap.Addr().Unmap()
	}
	if err := auditErr(h.audit); err != nil {
		return nil, err
	}
	out, err := op.call(h.svc, ctx, caller, in)
	if err == nil && !facts.Authorized {
		// Fail closed: an operation that forgot to decide does not answer.
		return nil, fmt.Errorf("awsjson: %s succeeded without an authorization decision", op.Name)
	}
	ev.Keys, ev.Alias = facts.Keys, facts.Alias
	ev.Encrypted = audit.KeyUse(facts.Encrypted)
	ev.Decrypted = audit.KeyUse(facts.Decrypted)
	ev.Recipient = facts.Recipient
	return out, err
}

// requestBody is a request body, in a pooled buffer when small enough.
type requestBody struct {
	b      []byte
	pooled *[]byte
}

// bodyPool recycles body buffers up to pooledBodyMax bytes. Nothing keeps a
// body past the request: encoding/json copies what it decodes and SigV4 only
// hashes it.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

const pooledBodyMax = 64 << 10

func (b *requestBody) free() {
	if b.pooled != nil {
		clear(b.b) // request bodies hold plaintexts
		*b.pooled = b.b[:0]
		bodyPool.Put(b.pooled)
		b.pooled = nil
	}
	b.b = nil
}

var errUnreadBody = kmserr.ErrSerialization.With("Could not read the request body.")

// readBody reads at most limit bytes of the request body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) (requestBody, error) {
	n := r.ContentLength
	if n > limit {
		return requestBody{}, kmserr.ErrRequestTooLarge
	}
	if n >= 0 {
		// net/http never returns more than Content-Length bytes.
		var rb requestBody
		if n <= pooledBodyMax {
			rb.pooled = bodyPool.Get().(*[]byte)
			if int64(cap(*rb.pooled)) < n {
				*rb.pooled = make([]byte, n)
			}
			rb.b = (*rb.pooled)[:n]
			if _, err := io.ReadFull(r.Body, rb.b); err != nil {
				rb.free()
				return requestBody{}, errUnreadBody
			}
			return rb, nil
		}
		// A larger body grows as its bytes arrive: a Content-Length
		// alone, before any authentication, reserves nothing.
		b, err := io.ReadAll(io.LimitReader(r.Body, n))
		if err != nil || int64(len(b)) != n {
			clear(b)
			return requestBody{}, errUnreadBody
		}
		return requestBody{b: b}, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return requestBody{}, kmserr.ErrRequestTooLarge
		}
		return requestBody{}, errUnreadBody
	}
	return requestBody{b: body}, nil
}

// jsonContentType accepts application/x-amz-json-1.1 and application/json
// (as AWS does), with or without parameters.
func jsonContentType(v string) bool {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimSpace(v)
	return strings.EqualFold(v, ContentType) || strings.EqualFold(v, "application/json")
}

func unknownOperation(target string) error {
	if target == "" {
		return kmserr.ErrUnknownOperation.With("Missing X-Amz-Target header.")
	}
	return kmserr.ErrUnknownOperation.With("Operation %s is not supported.", sanitize(target, 128))
}

// sanitize bounds s and keeps only printable ASCII, for echoing client input
// back in messages.
func sanitize(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// encoded is an encoded output in a pooled buffer.
type encoded struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encPool = sync.Pool{New: func() any {
	e := new(encoded)
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

var emptyObject = []byte("{}")

// bytes returns the JSON, without the encoder's trailing newline; {} for a
// nil output.
func (e *encoded) bytes() []byte {
	b := bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))
	if len(b) == 0 || string(b) == "null" {
		return emptyObject
	}
	return b
}

func (e *encoded) free() {
	if e.buf.Cap() > 1<<20 {
		return // let the GC have unusually large buffers
	}
	clear(e.buf.Bytes()) // outputs hold plaintexts
	e.buf.Reset()
	encPool.Put(e)
}

// encodeOutput marshals an operation's output; a nil output is {}.
func encodeOutput(out any) (*encoded, error) {
	e := encPool.Get().(*encoded)
	if out == nil {
		return e, nil
	}
	if encodeFast(&e.buf, out) {
		return e, nil
	}
	if err := e.enc.Encode(out); err != nil {
		e.free()
		return nil, err
	}
	return e, nil
}

var errTimeout = kmserr.ErrDependencyTimeout.With("The request timed out.")

// classify maps err to the error the client sees. internal is true when err
// is not a client-visible *kmserr.Error (or the audit failed): the client
// then gets KMSInternalException, and the cause belongs in the log.
func classify(err error) (e *kmserr.Error, internal bool) {
	if errors.Is(err, errAudit) {
		return kmserr.ErrInternal, true
	}
	if errors.As(err, &e) {
		return e, false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errTimeout, true
	}
	return kmserr.ErrInternal, true
}

// publicError returns the code and message a client will see for err.
func publicError(err error) (code, message string) {
	e, _ := classify(err)
	return e.Code, e.Message
}

type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message,omitempty"`
}

// writeError is the one place that turns an error into a response. It
// returns the code sent.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) string {
	e, internal := classify(err)
	if internal {
		h.log.LogAttrs(r.Context(), slog.LevelError, "awsjson: internal error",
			slog.String("request_id", reqID),
			slog.String("target", sanitize(r.Header.Get("X-Amz-Target"), 128)),
			slog.Any("err", err))
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	b, _ := json.Marshal(errorBody{Type: e.Code, Message: e.Message})
	hd := w.Header()
	hd[hdrContentType] = contentTypeValue
	hd[hdrErrorType] = []string{e.Code}
	hd[hdrContentLength] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
	return e.Code
}

// Refuse returns a handler that answers every request with err, as the API
// would (the sealed server's front door: kmserr.ErrSealed).
func Refuse(err *kmserr.Error) http.Handler {
	h := &Handler{log: slog.Default(), now: time.Now}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := requestid.New()
		w.Header()[hdrRequestID] = []string{reqID}
		h.writeError(w, r, reqID, err)
	})
}
