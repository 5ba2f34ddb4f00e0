package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/kmsseal"
	"github.com/trent-kms/trent/internal/keyring/pkcs11"
)

// PINEnv is the environment variable holding the PKCS#11 user PIN when no
// PIN file is given. A PIN is never taken from a flag.
const PINEnv = "TRENT_PKCS11_PIN"

// PKCS11Config configures the pkcs11 seal.
type PKCS11Config struct {
	Lib        string // the vendor's PKCS#11 module
	TokenLabel string
	KeyLabel   string // AES key of the seal, generated at initialisation if missing
	PINFile    string // file holding the user PIN; else $TRENT_PKCS11_PIN
}

// pin reads the PIN from the file or the environment.
func (c PKCS11Config) pin() (string, error) {
	if c.PINFile != "" {
		b, err := os.ReadFile(c.PINFile)
		if err != nil {
			return "", fmt.Errorf("server: PKCS#11 PIN file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if v := os.Getenv(PINEnv); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("server: the pkcs11 seal needs the user PIN in --pkcs11-pin-file or $%s", PINEnv)
}

func (c PKCS11Config) validate(used bool) []error {
	if !used {
		return nil
	}
	var errs []error
	if !pkcs11.Supported {
		errs = append(errs, errors.New("server: --seal pkcs11: this binary was built without cgo (or with the nopkcs11 tag)"))
	}
	if c.Lib == "" || c.TokenLabel == "" || c.KeyLabel == "" {
		errs = append(errs, errors.New("server: --seal pkcs11 needs --pkcs11-lib, --pkcs11-token and --pkcs11-key"))
	}
	return errs
}

// KMSSealConfig configures the kms seal (auto-unseal through another KMS).
type KMSSealConfig struct {
	Endpoint        string // empty: AWS KMS of Region
	Region          string
	KeyID           string
	CredentialsFile string // shared-credentials file; empty: the AWS SDK's default chain
}

func (c KMSSealConfig) validate(used bool) []error {
	if !used {
		return nil
	}
	if c.KeyID == "" || c.Region == "" {
		return []error{errors.New("server: --seal kms needs --seal-kms-key-id and --seal-kms-region")}
	}
	return nil
}

// newAutoSeal builds the seal keyring of a pkcs11 or kms server. The
// pkcs11 key is generated in the token with create (the store is not
// initialised yet).
func newAutoSeal(ctx context.Context, cfg *Config, create bool) (keyring.Keyring, error) {
	switch cfg.Seal {
	case SealPKCS11:
		pin, err := cfg.PKCS11.pin()
		if err != nil {
			return nil, err
		}
		kr, err := pkcs11.Open(pkcs11.Config{Lib: cfg.PKCS11.Lib, TokenLabel: cfg.PKCS11.TokenLabel, KeyLabel: cfg.PKCS11.KeyLabel, PIN: pin}, create)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		return cfg.wrapSeal(kr), nil
	case SealKMS:
		kr, err := kmsseal.New(ctx, kmsseal.Config(cfg.SealKMS))
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		return cfg.wrapSeal(kr), nil
	}
	return nil, fmt.Errorf("server: %s is not an auto-unseal kind", cfg.Seal)
}

// wrapSeal applies the test hook Config.SealHook to an auto-unseal keyring.
func (c *Config) wrapSeal(kr keyring.Keyring) keyring.Keyring {
	if c.SealHook != nil {
		return c.SealHook(kr)
	}
	return kr
}
