// Package awsquery is Trent's front door for the AWS IAM and STS APIs, which
// speak the AWS Query protocol: `POST /` with an
// application/x-www-form-urlencoded body (`Action=CreateUser&Version=...`),
// or `GET /?Action=CreateUser&Version=...`,
// SigV4-signed for the service `iam` or `sts`, answered in XML as AWS
// answers:
//
//	<CreateUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
//	  <CreateUserResult>...</CreateUserResult>
//	  <ResponseMetadata><RequestId>...</RequestId></ResponseMetadata>
//	</CreateUserResponse>
//
//	<ErrorResponse xmlns="...">
//	  <Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>...</Message></Error>
//	  <RequestId>...</RequestId>
//	</ErrorResponse>
//
// One pipeline runs for every action of the table (operations.go): check
// the method and the Content-Type, bound and parse the body strictly, find
// the action (and its Version), authenticate with the verifier of the
// action's service (the credential scope must name it), decode the
// parameters into the operation's input (an unknown parameter is an error),
// call the iam.Service method (which authorizes), audit, answer.
//
// This package is the one place where an error becomes a Query-protocol
// response. The SigV4 layer's errors, named as KMS names them, are renamed as
// IAM and STS name them (InvalidClientTokenId, SignatureDoesNotMatch,
// ExpiredToken, ...).
package awsquery

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/requestid"
	"github.com/trent-kms/trent/internal/sigv4"
)

// ContentType is the media type of Query-protocol requests.
const ContentType = "application/x-www-form-urlencoded"

// maxBody bounds a request body: the largest parameter is a policy document
// of 131072 characters, which URL-encoding can triple.
const maxBody = 512 << 10

const requestTimeout = 10 * time.Second

// Authenticator verifies a request's signature. *sigv4.Verifier implements it.
type Authenticator interface {
	Verify(r *http.Request, body []byte) (*sigv4.Result, error)
}

// Event is what audit needs of one request: metadata, the decoded input
// (parameters; no secrets are ever sent as parameters) and the output,
// whose secrets are iam.Secret values (they marshal to JSON as
// "HIDDEN_DUE_TO_SECURITY_REASONS", as CloudTrail shows them).
type Event struct {
	Time        time.Time
	RequestID   string
	EventSource string // "iam.amazonaws.com" or "sts.amazonaws.com"
	EventName   string // the Action, "" when the request named none
	ReadOnly    bool
	// Principal is the authenticated caller; nil when authentication failed.
	Principal   *iam.Principal
	AccessKeyID string
	Region      string // of the credential scope
	SourceIP    string
	UserAgent   string
	Input       any // *iam.<Op>Input; nil when decoding failed
	Output      any // *iam.<Op>Output; nil on error
	// ErrorCode and ErrorMessage are what the client was sent ("" on success).
	ErrorCode    string
	ErrorMessage string
}

// Auditor records audit events. Record returns an error when the event
// could not be durably recorded; the request then fails (fail closed). An
// Auditor with an Err method that reports a failure refuses every call
// before it runs.
type Auditor interface {
	Record(ctx context.Context, e *Event) error
}

// Config wires a Handler.
type Config struct {
	Service *iam.Service
	// IAM and STS verify the signatures of the two services' actions (their
	// Service fields must be "iam" and "sts").
	IAM, STS Authenticator
	Auditor  Auditor      // records nothing when nil
	Logger   *slog.Logger // slog.Default() when nil
	// Observe, when set, is called once per request with the operation
	// ("iam:CreateUser", "unknown"), the error code sent ("" on success)
	// and the duration (metrics).
	Observe func(operation, code string, d time.Duration)
	Now     func() time.Time
	// Refuse, when set, is asked once a request names a known action: an
	// error refuses it with ServiceUnavailable (HTTP 503) and the error's
	// message, before its signature is checked, audited like any failed
	// call (its identity the access key its Authorization header claims),
	// as a cluster node that cannot confirm that it is current refuses.
	Refuse func() *kmserr.Error
}

// Handler serves the IAM and STS APIs. Create it with New.
type Handler struct {
	cfg Config
}

// New returns a Handler. It panics without a Service and both
// authenticators (programmer error).
func New(cfg Config) *Handler {
	if cfg.Service == nil || cfg.IAM == nil || cfg.STS == nil {
		panic("awsquery: New needs a Service and the iam and sts Authenticators")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg}
}

// IsQueryRequest reports whether r is meant for this front door: no
// X-Amz-Target (which the KMS JSON protocol uses), and a form-encoded body
// or a GET whose URL names an Action (IAM and STS take every action either
// way).
func IsQueryRequest(r *http.Request) bool {
	if _, ok := r.Header["X-Amz-Target"]; ok {
		return false
	}
	if r.Method == http.MethodGet {
		return r.URL != nil && hasAction(r.URL.RawQuery)
	}
	ct := r.Header["Content-Type"]
	if len(ct) == 0 {
		return false
	}
	v, _, _ := strings.Cut(ct[0], ";")
	return strings.EqualFold(strings.TrimSpace(v), ContentType)
}

// hasAction reports whether a raw query string has an Action parameter.
func hasAction(rawQuery string) bool {
	for rest := rawQuery; rest != ""; {
		var kv string
		kv, rest, _ = strings.Cut(rest, "&")
		if strings.HasPrefix(kv, "Action=") {
			return true
		}
	}
	return false
}

var (
	errMethod = &kmserr.Error{Code: "InvalidAction", Status: http.StatusMethodNotAllowed,
		Message: "Only GET (with an Action in the URL) and POST requests are supported."}
	errContentType = &kmserr.Error{Code: "InvalidAction", Status: http.StatusBadRequest,
		Message: "Content-Type must be " + ContentType + "."}
	errMissingAction = &kmserr.Error{Code: "MissingAction", Status: http.StatusBadRequest,
		Message: "The request is missing an action or a required parameter."}
	errInvalidAction = &kmserr.Error{Code: "InvalidAction", Status: http.StatusBadRequest}
	errTooLarge      = &kmserr.Error{Code: "RequestEntityTooLarge", Status: http.StatusRequestEntityTooLarge,
		Message: "Request body is too large."}
	errAudit = errors.New("awsquery: audit record failed")
	// errUnavailable is the answer of a server that cannot serve (sealed,
	// or a cluster node behind the others).
	errUnavailable = &kmserr.Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable}
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	reqID := requestid.New()
	w.Header()["X-Amzn-Requestid"] = []string{reqID}
	opName, code := "unknown", ""
	defer func() {
		if h.cfg.Observe != nil {
			h.cfg.Observe(opName, code, h.cfg.Now().Sub(start))
		}
	}()
	svc := svcIAM // the namespace of errors before the action is known
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			code = h.writeError(w, r, svc, reqID, fmt.Errorf("awsquery: panic: %v\n%s", p, debug.Stack()))
		}
	}()

	ev := &Event{Time: start.UTC(), RequestID: reqID, EventSource: svc.EventSource, SourceIP: sourceIP(r), UserAgent: r.UserAgent()}
	r = r.WithContext(requestid.NewContext(r.Context(), reqID)) // for the log lines of the services
	op, out, err := h.run(w, r, ev, &svc)
	if op != nil {
		opName = op.Service.Name + ":" + op.Name
	}
	ev.Output = out
	if err != nil {
		e, _ := classify(err)
		ev.ErrorCode, ev.ErrorMessage = e.Code, e.Message
	}
	if h.cfg.Auditor != nil {
		if aerr := h.cfg.Auditor.Record(r.Context(), ev); aerr != nil {
			err = errors.Join(errAudit, aerr)
		}
	}
	if err != nil {
		code = h.writeError(w, r, svc, reqID, err)
		return
	}
	h.writeResult(w, r, op, out, reqID)
}

// run is the pipeline up to the operation's result. It sets *svc once the
// action is known, and fills ev as it learns.
func (h *Handler) run(w http.ResponseWriter, r *http.Request, ev *Event, svc **service) (*operation, any, error) {
	get := r.Method == http.MethodGet && IsQueryRequest(r)
	if r.Method != http.MethodPost && !get {
		w.Header().Set("Allow", "GET, POST")
		return nil, nil, errMethod
	}
	if !IsQueryRequest(r) {
		return nil, nil, errContentType
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, errTooLarge
		}
		return nil, nil, errMalformed.With("Could not read the request body.")
	}
	params := body
	if get { // the parameters are the URL's; the signature covers them
		params = []byte(r.URL.RawQuery)
	}
	vals, err := ParseForm(params)
	if err != nil {
		return nil, nil, err
	}
	action := vals["Action"]
	if action == "" {
		return nil, nil, errMissingAction
	}
	o, ok := operations[action]
	version := vals["Version"]
	if version == "" {
		version = "NO_VERSION_SPECIFIED"
	}
	if !ok || version != o.Service.Version {
		return nil, nil, errInvalidAction.With("Could not find operation %s for version %s", sanitize(action), sanitize(version))
	}
	op := &o
	*svc = op.Service
	ev.EventSource, ev.EventName, ev.ReadOnly = op.Service.EventSource, op.Name, op.ReadOnly
	if h.cfg.Refuse != nil {
		if e := h.cfg.Refuse(); e != nil {
			if a, err := sigv4.ParseAuthorization(r.Header.Get("Authorization")); err == nil {
				ev.AccessKeyID, ev.Region = sanitize(a.AccessKeyID), sanitize(a.Region)
			}
			return op, nil, errUnavailable.With("%s", e.Message)
		}
	}

	authn := h.cfg.IAM
	if op.Service == svcSTS {
		authn = h.cfg.STS
	}
	res, err := authn.Verify(r, body)
	if err != nil {
		return op, nil, err
	}
	ev.Principal, ev.AccessKeyID, ev.Region = &res.Principal, res.AccessKeyID, res.Region

	in, err := op.decode(vals)
	if err != nil {
		return op, nil, err
	}
	ev.Input = in
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	// A log that failed refuses the call before it runs: its effect could
	// not be recorded (fail closed).
	if f, ok := h.cfg.Auditor.(interface{ Err() error }); ok {
		if err := f.Err(); err != nil {
			return op, nil, errors.Join(errAudit, err)
		}
	}
	c := iam.Caller{Principal: res.Principal, SourceIP: ev.SourceIP, SecureTransport: r.TLS != nil, RequestID: ev.RequestID}
	out, err := op.call(h.cfg.Service, ctx, c, in)
	return op, out, err
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// queryErrors renames the SigV4 layer's errors (named as KMS names them) as
// IAM and STS name them, with their statuses and messages.
var queryErrors = map[string]*kmserr.Error{
	kmserr.ErrUnrecognizedClient.Code:    {Code: "InvalidClientTokenId", Status: http.StatusForbidden, Message: "The security token included in the request is invalid"},
	kmserr.ErrInvalidSignature.Code:      {Code: "SignatureDoesNotMatch", Status: http.StatusForbidden},
	kmserr.ErrIncompleteSignature.Code:   {Code: "IncompleteSignature", Status: http.StatusBadRequest},
	kmserr.ErrMissingAuthentication.Code: {Code: "MissingAuthenticationToken", Status: http.StatusForbidden, Message: "Request is missing Authentication Token"},
	kmserr.ErrExpiredToken.Code:          {Code: "ExpiredToken", Status: http.StatusForbidden, Message: "The security token included in the request is expired"},
	kmserr.ErrAccessDenied.Code:          {Code: "AccessDenied", Status: http.StatusForbidden},
}

// classify maps err to the error the client sees; internal is true when the
// cause belongs in the log only.
func classify(err error) (e *kmserr.Error, internal bool) {
	if errors.Is(err, errAudit) {
		return kmserr.ErrIAMServiceFailure, true
	}
	if !errors.As(err, &e) {
		if errors.Is(err, context.DeadlineExceeded) {
			return kmserr.ErrIAMServiceFailure.With("The request timed out."), true
		}
		return kmserr.ErrIAMServiceFailure, true
	}
	if q, ok := queryErrors[e.Code]; ok {
		out := *q
		if out.Message == "" {
			out.Message = e.Message
		}
		return &out, false
	}
	return e, false
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     errorXML `xml:"Error"`
	RequestID string   `xml:"RequestId"`
}

type errorXML struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// writeError is the one place where an error becomes a Query-protocol
// response. It returns the code sent.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, svc *service, reqID string, err error) string {
	e, internal := classify(err)
	if internal {
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "awsquery: internal error",
			slog.String("request_id", reqID), slog.Any("err", err))
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Encode(errorResponse{Xmlns: svc.Namespace, Error: errorXML{Type: typ, Code: e.Code, Message: e.Message}, RequestID: reqID})
	writeXML(w, status, buf.Bytes())
	return e.Code
}

// Refuse answers every request with ServiceUnavailable (HTTP 503) and
// message, in the XML that IAM and STS clients parse: a server that cannot
// serve (sealed, or a node behind the others) refuses Query requests with it.
func Refuse(message string) http.Handler {
	h := &Handler{cfg: Config{Logger: slog.Default()}}
	e := errUnavailable.With("%s", message)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := requestid.New()
		w.Header()["X-Amzn-Requestid"] = []string{reqID}
		h.writeError(w, r, svcIAM, reqID, e)
	})
}

func writeXML(w http.ResponseWriter, status int, b []byte) {
	hd := w.Header()
	hd["Content-Type"] = []string{"text/xml"}
	hd["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}

// writeResult writes <OpResponse><OpResult>out</OpResult><ResponseMetadata>.
// An output without fields has no OpResult element, as in AWS.
func (h *Handler) writeResult(w http.ResponseWriter, r *http.Request, op *operation, out any, reqID string) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	fmt.Fprintf(&buf, `<%sResponse xmlns="%s">`, op.Name, op.Service.Namespace)
	enc := xml.NewEncoder(&buf)
	if out != nil && hasFields(out) {
		if err := enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: op.Name + "Result"}}); err != nil {
			h.writeError(w, r, op.Service, reqID, err)
			return
		}
	}
	enc.EncodeElement(struct {
		RequestID string `xml:"RequestId"`
	}{reqID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	enc.Flush()
	fmt.Fprintf(&buf, `</%sResponse>`, op.Name)
	writeXML(w, http.StatusOK, buf.Bytes())
	clear(buf.Bytes()) // secret access keys and session tokens
}

// hasFields reports whether out (a pointer to an output struct) has fields.
func hasFields(out any) bool {
	t := reflect.TypeOf(out)
	return t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && t.Elem().NumField() > 0
}
