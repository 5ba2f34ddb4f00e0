package pkcs11

import (
	"errors"
	"fmt"
	"log/slog"
)

// Config locates the seal's key. PIN is the user PIN: read it from a file or
// the environment, never from a command-line flag.
type Config struct {
	Lib        string // path of the vendor's PKCS#11 module (.so)
	TokenLabel string
	KeyLabel   string
	PIN        string
}

// Validate reports every missing field.
func (c Config) Validate() error {
	var errs []error
	if c.Lib == "" {
		errs = append(errs, errors.New("pkcs11: the PKCS#11 module path is required"))
	}
	if c.TokenLabel == "" {
		errs = append(errs, errors.New("pkcs11: the token label is required"))
	}
	if c.KeyLabel == "" {
		errs = append(errs, errors.New("pkcs11: the key label is required"))
	}
	if c.PIN == "" {
		errs = append(errs, errors.New("pkcs11: the user PIN is required (from a file or the environment)"))
	}
	return errors.Join(errs...)
}

// Format keeps the PIN out of fmt output.
func (c Config) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "pkcs11.Config{Lib:%s TokenLabel:%s KeyLabel:%s PIN:REDACTED}", c.Lib, c.TokenLabel, c.KeyLabel)
}

// LogValue keeps the PIN out of slog output (the JSON handler marshals
// the fields, Format aside).
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("lib", c.Lib), slog.String("token", c.TokenLabel), slog.String("key", c.KeyLabel))
}
