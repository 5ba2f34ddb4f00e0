// Package kmsseal is the auto-unseal seal: Wrap and Unwrap call Encrypt and
// Decrypt of a KMS key over the AWS KMS API, on AWS KMS itself or on
// another Trent. The barrier calls it once per unseal (and per root
// rotation or seal migration), never per record or request.
//
// Wrapped value format (version 1): 0x01 | the KMS CiphertextBlob. The aad
// is bound through the encryption context {"trent:seal": "v1",
// "trent:aad-sha256": hex(SHA-256(aad))}.
//
// Credentials: a shared-credentials file when CredentialsFile is set (its
// [default] profile, aws_session_token included for temporary credentials;
// the credentials file of another Trent's data directory has that format),
// else the AWS SDK's default chain
// (environment, shared config, instance role).
package kmsseal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/keyring"
)

const formatV1 = 1

// Config names the KMS key and how to reach it.
type Config struct {
	Endpoint        string // KMS endpoint URL; empty means AWS's for Region
	Region          string
	KeyID           string // key id, ARN or alias
	CredentialsFile string // shared-credentials file; empty: the SDK's default chain
}

// Validate reports every missing field.
func (c Config) Validate() error {
	var errs []error
	if c.KeyID == "" {
		errs = append(errs, errors.New("kmsseal: the KMS key id is required"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("kmsseal: the KMS region is required"))
	}
	return errors.Join(errs...)
}

// callTimeout bounds each KMS call, its retries included: a KMS that
// accepts the connection and never answers must not hold the unseal (and
// the seal lock with it) for ever.
var callTimeout = 30 * time.Second

// Keyring is the kms seal. It is safe for concurrent use.
type Keyring struct {
	client *kms.Client
	keyID  string
	closed atomic.Bool
}

var _ keyring.Keyring = (*Keyring)(nil)

// New returns a keyring on cfg's key. It does not call KMS.
func New(ctx context.Context, cfg Config) (*Keyring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.Region)}
	if cfg.CredentialsFile != "" {
		cred, err := readCredentials(ctx, cfg.CredentialsFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, config.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: cred}))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("kmsseal: %w", err)
	}
	client := kms.NewFromConfig(awsCfg, func(o *kms.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &Keyring{client: client, keyID: cfg.KeyID}, nil
}

// readCredentials reads the [default] profile of a shared-credentials file
// with the AWS SDK's own parser, so that the file means what it means to
// the AWS CLI and SDKs (comments, quotes, spacing): the key id, the secret
// and, for temporary credentials (an STS session), aws_session_token.
func readCredentials(ctx context.Context, path string) (aws.Credentials, error) {
	if _, err := os.Stat(path); err != nil {
		return aws.Credentials{}, fmt.Errorf("kmsseal: credentials: %w", err)
	}
	sc, err := loadProfile(ctx, path)
	if err == nil && (sc.Credentials.AccessKeyID == "" || sc.Credentials.SecretAccessKey == "") {
		err = errors.New("no aws_access_key_id and aws_secret_access_key")
	}
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("kmsseal: credentials file %s has no [default] aws_access_key_id and aws_secret_access_key: %v", path, err)
	}
	return aws.Credentials{AccessKeyID: sc.Credentials.AccessKeyID, SecretAccessKey: sc.Credentials.SecretAccessKey,
		SessionToken: sc.Credentials.SessionToken, Source: credentials.StaticCredentialsName}, nil
}

// loadProfile is the AWS SDK's reading of the [default] profile of the
// credentials file path. A file on which the SDK's parser panics (a line
// such as `="`) is an error, not a crash of the server's start; the panic's
// value is not shown (it could quote the file).
func loadProfile(ctx context.Context, path string) (sc config.SharedConfig, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("the AWS SDK's parser fails on it")
		}
	}()
	return config.LoadSharedConfigProfile(ctx, "default", func(o *config.LoadSharedConfigOptions) {
		o.CredentialsFiles = []string{path}
		o.ConfigFiles = []string{}
	})
}

func encryptionContext(aad []byte) map[string]string {
	h := sha256.Sum256(aad)
	return map[string]string{"trent:seal": "v1", "trent:aad-sha256": hex.EncodeToString(h[:])}
}

// Wrap encrypts plaintext with KMS Encrypt, bound to aad.
func (kr *Keyring) Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if kr.closed.Load() {
		return nil, keyring.ErrClosed
	}
	framed := append([]byte{formatV1}, plaintext...)
	defer clear(framed)
	// The plaintext is prefixed with the format byte: KMS refuses an empty
	// plaintext, which the keyring contract allows.
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := kr.client.Encrypt(ctx, &kms.EncryptInput{
		KeyId:             aws.String(kr.keyID),
		Plaintext:         framed,
		EncryptionContext: encryptionContext(aad),
	})
	if err != nil {
		return nil, fmt.Errorf("kmsseal: encrypt with %s: %w", kr.keyID, err)
	}
	return append([]byte{formatV1}, out.CiphertextBlob...), nil
}

// Unwrap decrypts what Wrap made with KMS Decrypt. A value KMS rejects as
// not authentic is ErrUnwrap; an unreachable KMS, a disabled key or a
// refusal is another error, which names it.
func (kr *Keyring) Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error) {
	if kr.closed.Load() {
		return nil, keyring.ErrClosed
	}
	if len(wrapped) < 2 || wrapped[0] != formatV1 {
		return nil, keyring.ErrUnwrap
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := kr.client.Decrypt(ctx, &kms.DecryptInput{
		KeyId:             aws.String(kr.keyID),
		CiphertextBlob:    wrapped[1:],
		EncryptionContext: encryptionContext(aad),
	})
	if err != nil {
		var inv *types.InvalidCiphertextException
		var inc *types.IncorrectKeyException
		if errors.As(err, &inv) || errors.As(err, &inc) {
			return nil, keyring.ErrUnwrap
		}
		return nil, fmt.Errorf("kmsseal: decrypt with %s: %w", kr.keyID, err)
	}
	pt := out.Plaintext
	if len(pt) == 0 || pt[0] != formatV1 {
		clear(pt)
		return nil, keyring.ErrUnwrap
	}
	res := append([]byte{}, pt[1:]...)
	clear(pt)
	return res, nil
}

// Close makes later calls fail with ErrClosed; nothing secret is held.
func (kr *Keyring) Close() error {
	kr.closed.Store(true)
	return nil
}

// Format, String and LogValue name the key only: the client holds
// credentials.
func (kr *Keyring) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "kmsseal.Keyring(%s)", kr.keyID) }
func (kr *Keyring) String() string             { return "kmsseal.Keyring(" + kr.keyID + ")" }
func (kr *Keyring) LogValue() slog.Value       { return slog.StringValue(kr.String()) }
