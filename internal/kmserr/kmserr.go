// Package kmserr is Trent's one error taxonomy: every error a client can see is
// an *Error carrying the AWS exception name ("__type"), the HTTP status and a
// message that is safe to return. internal/awsjson is the only place that turns
// an error into a response; anything that is not an *Error becomes
// KMSInternalException there and its text goes only to the log.
package kmserr

import (
	"fmt"
	"net/http"
	"strings"
)

// Error is a client-visible AWS KMS error.
type Error struct {
	Code    string // AWS "__type", e.g. "NotFoundException"
	Status  int    // HTTP status
	Message string // safe to return to the caller
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, kmserr.ErrNotFound) matches any NotFoundException.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// With returns a copy of the sentinel e carrying msg (formatted with args).
func (e *Error) With(format string, args ...any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: e.Code, Status: e.Status, Message: msg}
}

// Sentinels. AWS answers HTTP 400 for every client fault it was observed to
// return (reference/aws-kms-api.md §2.2), 500 for internal faults.
var (
	ErrAccessDenied          = &Error{Code: "AccessDeniedException", Status: http.StatusBadRequest}
	ErrAlreadyExists         = &Error{Code: "AlreadyExistsException", Status: http.StatusBadRequest}
	ErrConflict              = &Error{Code: "ConflictException", Status: http.StatusBadRequest}
	ErrDependencyTimeout     = &Error{Code: "DependencyTimeoutException", Status: http.StatusServiceUnavailable}
	ErrDisabled              = &Error{Code: "DisabledException", Status: http.StatusBadRequest}
	ErrDryRun                = &Error{Code: "DryRunOperationException", Status: http.StatusBadRequest, Message: "The request would have succeeded, but the DryRun option is set."}
	ErrIncorrectKey          = &Error{Code: "IncorrectKeyException", Status: http.StatusBadRequest, Message: "The key ID in the request does not identify a CMK that can perform this operation."}
	ErrInvalidAliasName      = &Error{Code: "InvalidAliasNameException", Status: http.StatusBadRequest}
	ErrInvalidArn            = &Error{Code: "InvalidArnException", Status: http.StatusBadRequest}
	ErrInvalidCiphertext     = &Error{Code: "InvalidCiphertextException", Status: http.StatusBadRequest}
	ErrInvalidGrantToken     = &Error{Code: "InvalidGrantTokenException", Status: http.StatusBadRequest}
	ErrInvalidKeyUsage       = &Error{Code: "InvalidKeyUsageException", Status: http.StatusBadRequest}
	ErrKMSInvalidSignature   = &Error{Code: "KMSInvalidSignatureException", Status: http.StatusBadRequest}
	ErrKMSInvalidMac         = &Error{Code: "KMSInvalidMacException", Status: http.StatusBadRequest}
	ErrExpiredImportToken    = &Error{Code: "ExpiredImportTokenException", Status: http.StatusBadRequest}
	ErrInvalidImportToken    = &Error{Code: "InvalidImportTokenException", Status: http.StatusBadRequest}
	ErrIncorrectKeyMaterial  = &Error{Code: "IncorrectKeyMaterialException", Status: http.StatusBadRequest}
	ErrInvalidMarker         = &Error{Code: "InvalidMarkerException", Status: http.StatusBadRequest}
	ErrInvalidState          = &Error{Code: "KMSInvalidStateException", Status: http.StatusBadRequest}
	ErrInternal              = &Error{Code: "KMSInternalException", Status: http.StatusInternalServerError, Message: "An internal error occurred."}
	ErrKeyUnavailable        = &Error{Code: "KeyUnavailableException", Status: http.StatusInternalServerError}
	ErrLimitExceeded         = &Error{Code: "LimitExceededException", Status: http.StatusBadRequest}
	ErrMalformedPolicy       = &Error{Code: "MalformedPolicyDocumentException", Status: http.StatusBadRequest}
	ErrNotFound              = &Error{Code: "NotFoundException", Status: http.StatusBadRequest}
	ErrTag                   = &Error{Code: "TagException", Status: http.StatusBadRequest}
	ErrUnsupportedOperation  = &Error{Code: "UnsupportedOperationException", Status: http.StatusBadRequest}
	ErrValidation            = &Error{Code: "ValidationException", Status: http.StatusBadRequest}
	ErrSerialization         = &Error{Code: "SerializationException", Status: http.StatusBadRequest}
	ErrUnknownOperation      = &Error{Code: "UnknownOperationException", Status: http.StatusBadRequest}
	ErrUnrecognizedClient    = &Error{Code: "UnrecognizedClientException", Status: http.StatusBadRequest, Message: "The security token included in the request is invalid."}
	ErrInvalidSignature      = &Error{Code: "InvalidSignatureException", Status: http.StatusBadRequest, Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	ErrIncompleteSignature   = &Error{Code: "IncompleteSignatureException", Status: http.StatusBadRequest}
	ErrMissingAuthentication = &Error{Code: "MissingAuthenticationTokenException", Status: http.StatusBadRequest, Message: "Missing Authentication Token"}
	ErrExpiredToken          = &Error{Code: "ExpiredTokenException", Status: http.StatusBadRequest, Message: "The security token included in the request is expired"}
	ErrRequestTooLarge       = &Error{Code: "RequestEntityTooLargeException", Status: http.StatusRequestEntityTooLarge, Message: "Request body is too large."}
	ErrSealed                = &Error{Code: "KMSInternalException", Status: http.StatusServiceUnavailable, Message: "Trent is sealed."}
)

// IAM and STS errors (the Query protocol's <Code>), with the HTTP statuses of
// the AWS API models. internal/awsquery turns them into XML.
var (
	ErrNoSuchEntity         = &Error{Code: "NoSuchEntity", Status: http.StatusNotFound}
	ErrEntityAlreadyExists  = &Error{Code: "EntityAlreadyExists", Status: http.StatusConflict}
	ErrDeleteConflict       = &Error{Code: "DeleteConflict", Status: http.StatusConflict}
	ErrIAMLimitExceeded     = &Error{Code: "LimitExceeded", Status: http.StatusConflict}
	ErrIAMMalformedPolicy   = &Error{Code: "MalformedPolicyDocument", Status: http.StatusBadRequest}
	ErrIAMValidation        = &Error{Code: "ValidationError", Status: http.StatusBadRequest}
	ErrInvalidInput         = &Error{Code: "InvalidInput", Status: http.StatusBadRequest}
	ErrIAMAccessDenied      = &Error{Code: "AccessDenied", Status: http.StatusForbidden}
	ErrPackedPolicyTooLarge = &Error{Code: "PackedPolicyTooLarge", Status: http.StatusBadRequest}
	ErrIAMServiceFailure    = &Error{Code: "ServiceFailure", Status: http.StatusInternalServerError, Message: "An internal error occurred."}
)

// Validation collects model-constraint violations and reports them in AWS's
// form: "1 validation error detected: Value '1025' at 'numberOfBytes' failed to
// satisfy constraint: Member must have value less than or equal to 1024".
// The zero value is ready to use.
type Validation struct{ msgs []string }

// maxEcho bounds how much of an offending value a validation message
// repeats: a 128 KiB policy is not echoed back whole.
const maxEcho = 4096

// Add records one violation. value is quoted as AWS does (cut to maxEcho
// bytes); pass hasValue=false for values AWS leaves out (sensitive blobs,
// missing members).
func (v *Validation) Add(member string, value string, hasValue bool, constraint string) {
	value = Clip(value, maxEcho)
	if hasValue {
		v.msgs = append(v.msgs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint))
	} else {
		v.msgs = append(v.msgs, fmt.Sprintf("Value at '%s' failed to satisfy constraint: %s", member, constraint))
	}
}

// Required records a missing required member.
func (v *Validation) Required(member string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member))
}

// Err returns nil when nothing was recorded, else a ValidationException.
func (v *Validation) Err() error { return v.ErrAs(ErrValidation) }

// ErrAs is Err with another sentinel's code (IAM's ValidationError).
func (v *Validation) ErrAs(e *Error) error {
	switch n := len(v.msgs); n {
	case 0:
		return nil
	case 1:
		return e.With("1 validation error detected: %s", v.msgs[0])
	default:
		return e.With("%d validation errors detected: %s", n, strings.Join(v.msgs, "; "))
	}
}

// Clip cuts s, a value from a request that a message repeats, to at most max
// bytes (on a UTF-8 boundary), marking the cut with "...".
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "..."
}
