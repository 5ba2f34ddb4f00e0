package kmserr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidationMessages(t *testing.T) {
	var v Validation
	if err := v.Err(); err != nil {
		t.Fatalf("empty Validation.Err() = %v, want nil", err)
	}
	v.Add("numberOfBytes", "1025", true, "Member must have value less than or equal to 1024")
	err := v.Err()
	want := "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"
	var e *Error
	if !errors.As(err, &e) || e.Code != "ValidationException" || e.Message != want {
		t.Fatalf("Err() = %v, want ValidationException %q", err, want)
	}
	v.Add("plaintext", "", false, "Member must have length less than or equal to 4096")
	want = "2 validation errors detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024; " +
		"Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"
	if got := v.Err().(*Error).Message; got != want {
		t.Errorf("Err().Message = %q, want %q", got, want)
	}
}

func TestIsMatchesCode(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", ErrNotFound.With("Key '%s' does not exist", "arn"))
	if !errors.Is(err, ErrNotFound) {
		t.Error("errors.Is(wrapped NotFound, ErrNotFound) = false")
	}
	if errors.Is(err, ErrDisabled) {
		t.Error("errors.Is(NotFound, ErrDisabled) = true")
	}
	if ErrNotFound.Message != "" {
		t.Error("With mutated the sentinel")
	}
}

func TestValidationClipsLongValues(t *testing.T) {
	var v Validation
	v.Add("policy", strings.Repeat("x", 200000), true, "Member must have length less than or equal to 131072")
	msg := v.Err().(*Error).Message
	if len(msg) > 5000 || !strings.Contains(msg, "xxx...' at 'policy'") {
		t.Errorf("message of %d bytes: %.300q", len(msg), msg)
	}
}
