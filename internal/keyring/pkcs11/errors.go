package pkcs11

import "errors"

// The failures of a Token that its callers tell apart.
var (
	ErrNoToken      = errors.New("pkcs11: no such token")
	ErrPINIncorrect = errors.New("pkcs11: incorrect user PIN")
	ErrPINLocked    = errors.New("pkcs11: user PIN locked")
	// ErrLoggedIn: the token's user is already logged in by another user
	// of the module in this process, so the PIN cannot be checked.
	ErrLoggedIn = errors.New("pkcs11: token user already logged in by this process")
	ErrNoKey    = errors.New("pkcs11: no such key in the token")
)
