package xks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/sigv4"
)

// maxRequest bounds a request body. The largest valid request (4300 bytes
// of plaintext or ciphertext, 8192 of AAD, Base64, and ARNs of up to 2048
// characters in requestMetadata) is under 24 KiB.
const maxRequest = 64 << 10

// proxyName is the vendor and model of Handler's health document.
const proxyName = "Trent"

// Handler serves the XKS proxy API over a Backend:
//
//	POST [/prefix]/kms/xks/v1/health
//	POST [/prefix]/kms/xks/v1/keys/{externalKeyId}/metadata
//	POST [/prefix]/kms/xks/v1/keys/{externalKeyId}/encrypt
//	POST [/prefix]/kms/xks/v1/keys/{externalKeyId}/decrypt
//
// The prefix is free: Handler serves every prefix it is given, and the
// server in front of it decides which reach it (see IsProxyPath). Each
// request is read (at most 64 KiB), authenticated with SigV4 under
// SigningService, validated, and passed to the Backend with its Caller.
// The request metadata, the outcome and the duration of each call are
// logged; plaintexts, AAD and keys never are.
//
// Handler does not decrypt what Backend.Encrypt returns before answering
// (Appendix C's recommended check): a Backend that wants that assurance
// makes it itself, after sealing, with its own key and no authorization.
type Handler struct {
	Verifier *sigv4.Verifier // internal/sigv4; its Service is SigningService
	Backend  Backend
	Log      *slog.Logger // nil: slog.Default()
	// Refused, when set, is called before the handler answers e to a
	// request it refuses without calling the Backend (an unknown path, a
	// method other than POST, a body too large or malformed, a signature
	// that does not verify), with the caller once the signature verified
	// (else nil). An error from it makes the answer InternalException
	// instead: an audit log that records every refusal fails closed.
	Refused func(r *http.Request, c *Caller, e *Error) error
}

// operation is one of the four calls.
type operation uint8

const (
	opHealth operation = iota + 1
	opMetadata
	opEncrypt
	opDecrypt
)

func (op operation) String() string {
	switch op {
	case opHealth:
		return "GetHealthStatus"
	case opMetadata:
		return "GetKeyMetadata"
	case opEncrypt:
		return "Encrypt"
	case opDecrypt:
		return "Decrypt"
	}
	return "unknown"
}

// IsProxyPath reports whether path is below a proxy's base path (contains
// APIPath + "/"), so that a server can route it to a Handler.
func IsProxyPath(path string) bool { return strings.Contains(path, APIPath+"/") }

// route parses path into its operation and externalKeyId. ok is false for
// a path that is not one of the four calls. keyID is not validated.
func route(path string) (op operation, keyID string, ok bool) {
	i := strings.LastIndex(path, APIPath+"/")
	if i < 0 {
		return 0, "", false
	}
	rest := path[i+len(APIPath)+1:]
	if rest == "health" {
		return opHealth, "", true
	}
	rest, found := strings.CutPrefix(rest, "keys/")
	if !found {
		return 0, "", false
	}
	keyID, verb, found := strings.Cut(rest, "/")
	if !found {
		return 0, "", false
	}
	switch verb {
	case "metadata":
		return opMetadata, keyID, true
	case "encrypt":
		return opEncrypt, keyID, true
	case "decrypt":
		return opDecrypt, keyID, true
	}
	return 0, "", false
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// ServeHTTP serves one proxy call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	op, keyID, ok := route(r.URL.Path)
	if !ok {
		h.refuse(w, r, nil, ErrInvalidURIPath.With("no such XKS proxy API"))
		return
	}
	if r.Method != http.MethodPost {
		h.refuse(w, r, nil, errMethodNotAllowed.With("use POST"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refuse(w, r, nil, ErrUnsupportedOperation.With(fmt.Sprintf("request body over %d bytes", maxRequest)))
		}
		return // a broken connection: nobody to answer
	}
	res, err := h.Verifier.Verify(r, body)
	if err != nil {
		h.log().LogAttrs(r.Context(), slog.LevelInfo, "xks: authentication failed",
			slog.String("operation", op.String()), slog.String("remote", r.RemoteAddr), slog.String("reason", err.Error()))
		h.refuse(w, r, nil, ErrAuthenticationFailed.With("the request signature could not be verified"))
		return
	}
	caller := &Caller{Principal: res.Principal, AccessKeyID: res.AccessKeyID, Region: res.Region}

	status, md, xerr := h.serve(w, r, op, keyID, caller, body)
	if !h.log().Enabled(r.Context(), slog.LevelDebug) {
		return // one line per request at debug level, as the KMS API's
	}
	attrs := []slog.Attr{
		slog.String("operation", op.String()),
		slog.String("external_key_id", printable(keyID, MaxKeyID)),
		slog.String("access_key_id", caller.AccessKeyID),
		slog.String("region", caller.Region),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
	}
	if md != nil {
		attrs = append(attrs,
			slog.String("kms_request_id", printable(md.KmsRequestId, 256)),
			slog.String("kms_operation", printable(md.KmsOperation, 256)),
			slog.String("aws_principal_arn", printable(md.AwsPrincipalArn, 2048)),
			slog.String("kms_key_arn", printable(md.KmsKeyArn, 2048)))
	}
	if xerr != nil {
		attrs = append(attrs, slog.String("error", xerr.Name))
	}
	h.log().LogAttrs(r.Context(), slog.LevelDebug, "xks: request", attrs...)
}

// serve decodes, calls the Backend and answers. It returns the status sent,
// the request metadata (nil if the body did not decode) and the error
// answered, if any.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, op operation, keyID string, c *Caller, body []byte) (int, *RequestMetadata, *Error) {
	ctx := r.Context()
	if op == opHealth {
		// GetHealthStatus has no ValidationException: its body is only
		// read for the log.
		var in proxyRequest
		_ = json.Unmarshal(body, &in)
		if err := h.Backend.Health(ctx); err != nil {
			return h.fail(ctx, w, op, in.RequestMetadata, err)
		}
		writeJSON(w, &Health{
			XksProxyFleetSize: 1,
			XksProxyVendor:    proxyName,
			XksProxyModel:     proxyName,
			EkmVendor:         proxyName,
			EkmFleetDetails:   []EkmDetails{{Id: "trent", Model: proxyName, HealthStatus: HealthActive}},
		})
		return http.StatusOK, in.RequestMetadata, nil
	}

	if !ValidKeyID(keyID) {
		e := ErrValidation.With("externalKeyId must be 1 to 128 characters among A-Z a-z 0-9 - . _")
		h.refuse(w, r, c, e)
		return e.Status, nil, e
	}
	req, verr := decodeRequest(op, body)
	if verr != nil {
		h.refuse(w, r, c, verr)
		var md *RequestMetadata
		if req != nil {
			md = &req.md
		}
		return verr.Status, md, verr
	}
	defer clear(req.plaintext)
	md := &req.md

	switch op {
	case opMetadata:
		km, err := h.Backend.KeyMetadata(ctx, c, keyID, md)
		if err == nil && km == nil {
			err = errors.New("xks: backend returned no key metadata")
		}
		if err != nil {
			return h.fail(ctx, w, op, md, err)
		}
		writeJSON(w, km)

	case opEncrypt:
		s, err := h.Backend.Encrypt(ctx, c, keyID, md, req.plaintext, req.aad)
		if err == nil {
			err = checkBackendSealed(s, len(req.plaintext))
		}
		if err != nil {
			return h.fail(ctx, w, op, md, err)
		}
		out := &encryptResponse{
			Ciphertext:           new(encode(s.Ciphertext)),
			CiphertextMetadata:   encodeOpt(s.Metadata),
			InitializationVector: new(encode(s.IV)),
			AuthenticationTag:    new(encode(s.Tag)),
		}
		if req.cdiv {
			sum := cdiv(req.aad, s)
			out.CiphertextDataIntegrityValue = new(encode(sum[:]))
		}
		writeJSON(w, out)

	case opDecrypt:
		pt, err := h.Backend.Decrypt(ctx, c, keyID, md, &req.sealed, req.aad)
		defer clear(pt)
		if err == nil && len(pt) != len(req.sealed.Ciphertext) {
			err = fmt.Errorf("xks: backend returned a plaintext of %d bytes for a ciphertext of %d", len(pt), len(req.sealed.Ciphertext))
		}
		if err != nil {
			return h.fail(ctx, w, op, md, err)
		}
		writeJSON(w, &decryptResponse{Plaintext: new(encode(pt))})
	}
	return http.StatusOK, md, nil
}

// checkBackendSealed checks what Backend.Encrypt returned.
func checkBackendSealed(s *Sealed, plaintextLen int) error {
	if s == nil {
		return errors.New("xks: backend returned no ciphertext")
	}
	if len(s.Ciphertext) != plaintextLen {
		return fmt.Errorf("xks: backend returned a ciphertext of %d bytes for a plaintext of %d", len(s.Ciphertext), plaintextLen)
	}
	if err := checkSealed(s); err != nil {
		return fmt.Errorf("xks: backend returned a bad ciphertext: %v", err)
	}
	return nil
}

// fail answers err: an *Error as it is, anything else as InternalException
// with its text only in the log.
func (h *Handler) fail(ctx context.Context, w http.ResponseWriter, op operation, md *RequestMetadata, err error) (int, *RequestMetadata, *Error) {
	var e *Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status > 599 || !validErrorName(e.Name) {
		attrs := []slog.Attr{slog.String("operation", op.String()), slog.String("error", err.Error())}
		if md != nil {
			attrs = append(attrs, slog.String("kms_request_id", printable(md.KmsRequestId, 256)))
		}
		h.log().LogAttrs(ctx, slog.LevelError, "xks: internal error", attrs...)
		e = ErrInternal.With("internal error")
	}
	WriteError(w, e)
	return e.Status, md, e
}

// request is a decoded, validated request.
type request struct {
	md        RequestMetadata
	plaintext []byte // Encrypt
	aad       []byte // Encrypt, Decrypt
	sealed    Sealed // Decrypt
	cdiv      bool   // Encrypt: answer with the CDIV
}

// decodeRequest decodes and validates the body of a GetKeyMetadata,
// Encrypt or Decrypt request. Errors are ValidationException; the request
// is returned with them when its metadata decoded, for the log.
func decodeRequest(op operation, body []byte) (*request, *Error) {
	var in proxyRequest
	if err := json.Unmarshal(body, &in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, ErrValidation.With(fmt.Sprintf("%s has the wrong JSON type", printable(te.Field, 128)))
		}
		return nil, ErrValidation.With("the request body is not a JSON object")
	}
	if in.RequestMetadata == nil {
		return nil, ErrValidation.With("requestMetadata is required")
	}
	req := &request{md: *in.RequestMetadata}
	for _, f := range []struct{ name, v string }{
		{"awsPrincipalArn", req.md.AwsPrincipalArn},
		{"kmsOperation", req.md.KmsOperation},
		{"kmsRequestId", req.md.KmsRequestId},
	} {
		if f.v == "" {
			return req, ErrValidation.With("requestMetadata." + f.name + " is required")
		}
	}
	if op == opMetadata {
		return req, nil
	}

	switch {
	case in.EncryptionAlgorithm == nil:
		return req, ErrValidation.With("encryptionAlgorithm is required")
	case *in.EncryptionAlgorithm != AlgorithmAESGCM:
		return req, ErrValidation.With("encryptionAlgorithm must be " + AlgorithmAESGCM)
	}
	var err error
	if in.AdditionalAuthenticatedData != nil {
		if req.aad, err = decode("additionalAuthenticatedData", *in.AdditionalAuthenticatedData, MaxAAD); err != nil {
			return req, ErrValidation.With(err.Error())
		}
	}

	if op == opEncrypt {
		if in.Plaintext == nil {
			return req, ErrValidation.With("plaintext is required")
		}
		if req.plaintext, err = decode("plaintext", *in.Plaintext, -1); err != nil {
			return req, ErrValidation.With(err.Error())
		}
		if a := in.CiphertextDataIntegrityValueAlgorithm; a != nil {
			if *a != CDIVSHA256 {
				clear(req.plaintext)
				return req, ErrValidation.With("ciphertextDataIntegrityValueAlgorithm must be " + CDIVSHA256)
			}
			req.cdiv = true
		}
		return req, nil
	}

	for _, f := range []struct {
		name     string
		v        *string
		dst      *[]byte
		max      int
		required bool
	}{
		{"ciphertext", in.Ciphertext, &req.sealed.Ciphertext, -1, true},
		{"ciphertextMetadata", in.CiphertextMetadata, &req.sealed.Metadata, MaxMetadata, false},
		{"initializationVector", in.InitializationVector, &req.sealed.IV, 16, true},
		{"authenticationTag", in.AuthenticationTag, &req.sealed.Tag, TagSize, true},
	} {
		if f.v == nil {
			if f.required {
				return req, ErrValidation.With(f.name + " is required")
			}
			continue
		}
		if *f.dst, err = decode(f.name, *f.v, f.max); err != nil {
			return req, ErrValidation.With(err.Error())
		}
	}
	if err := checkSealed(&req.sealed); err != nil {
		return req, ErrValidation.With(err.Error())
	}
	return req, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own types: cannot happen
		WriteError(w, ErrInternal.With("internal error"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// refuse answers e to r, refused without the Backend (Handler.Refused).
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, c *Caller, e *Error) {
	if h.Refused != nil {
		if err := h.Refused(r, c, e); err != nil {
			h.log().LogAttrs(r.Context(), slog.LevelError, "xks: refusal not recorded", slog.String("error", e.Name), slog.String("err", err.Error()))
			e = ErrInternal.With("internal error")
		}
	}
	if e.Status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "xks: method not allowed: use POST", http.StatusMethodNotAllowed)
		return
	}
	WriteError(w, e)
}

// errMethodNotAllowed is the 405 of a method other than POST (plain text on
// the wire: the specification names no errorName for it).
var errMethodNotAllowed = &Error{Status: http.StatusMethodNotAllowed, Name: "MethodNotAllowed"}

// WriteError answers e in the proxy API's terms: its HTTP status and the
// JSON body {"errorName", "errorMessage"}.
func WriteError(w http.ResponseWriter, e *Error) {
	b, _ := json.Marshal(&errorResponse{ErrorName: e.Name, ErrorMessage: printable(e.Message, maxErrorMessage)})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	w.Write(b)
}
