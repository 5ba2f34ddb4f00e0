package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/config"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/boltstore"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// Files of the data directory (the embedded default).
const (
	DBFile          = "trent.db"
	RootKeyFile     = "root.key"
	CredentialsFile = "credentials"
)

// open opens storage, the root of trust, the IAM store and the KMS service,
// creates the administrator (or the dev credentials) and applies the seed.
func open(ctx context.Context, cfg *Config, logger *slog.Logger) (_ *state, err error) {
	st := &state{}
	defer func() {
		if err != nil {
			st.close(logger)
		}
	}()

	var raw storage.Store
	var kr keyring.Keyring
	if cfg.Dev && cfg.DataDir == "" {
		kr = keyring.GenerateEphemeral()
		raw = memstore.New()
		logger.Warn("server: in-memory storage with an ephemeral root key: everything is lost at exit")
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("server: data directory: %w", err)
		}
		rootPath := cfg.RootKeyFile
		if rootPath == "" {
			rootPath = filepath.Join(cfg.DataDir, RootKeyFile)
		}
		dbPath := filepath.Join(cfg.DataDir, DBFile)
		var (
			fk      *keyring.FileKeyring
			created bool
		)
		if fileExists(dbPath) {
			// Existing data was sealed with some root key: never mint a new one,
			// which could not open it and would invite backing up the wrong file.
			fk, err = keyring.LoadFile(rootPath)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("server: root key file %s not found, but %s holds data sealed with a root key: restore that key file or point --root-key-file at it", rootPath, dbPath)
			}
		} else {
			fk, created, err = keyring.LoadOrCreateFile(rootPath)
		}
		if err != nil {
			return nil, fmt.Errorf("server: root key: %w", err)
		}
		kr = fk
		if created {
			logger.Warn("server: created a new root key file; back it up: without it the data directory cannot be read", "path", rootPath)
		}
		logger.Warn("server: using the file seal (root key in a file next to the data): production should use a real seal (HSM, Shamir or KMS auto-unseal)", "root_key_file", rootPath)
		db, err := boltstore.Open(dbPath)
		if err != nil {
			kr.Close()
			return nil, fmt.Errorf("server: open storage: %w", err)
		}
		raw = db
		logger.Info("server: storage opened", "path", dbPath)
	}
	// The barrier owns the keyring (as its seal) and closes the raw store.
	b, err := barrier.Open(ctx, raw, kr, "file")
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	st.store = b

	if st.iam, err = iam.NewStore(ctx, st.store); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if st.kms, err = kms.New(ctx, kms.Config{Store: st.store, Partition: cfg.Partition, Logger: logger}); err != nil {
		return nil, fmt.Errorf("server: kms: %w", err)
	}

	if cfg.Dev {
		k := iam.AccessKey{ID: DevAccessKeyID, Secret: DevSecretKey, AccountID: cfg.AccountID}
		if err := st.iam.Put(ctx, k); err != nil {
			return nil, fmt.Errorf("server: dev credentials: %w", err)
		}
		logger.Warn("server: development credentials of the AWS documentation are the administrator",
			"access_key_id", DevAccessKeyID, "account", cfg.AccountID)
	} else {
		k, created, err := st.iam.EnsureAdmin(ctx, cfg.AccountID)
		if err != nil {
			return nil, fmt.Errorf("server: administrator: %w", err)
		}
		path := filepath.Join(cfg.DataDir, CredentialsFile)
		if created || (!fileExists(path) && k.Secret != "") {
			if err := writeCredentials(path, k); err != nil {
				return nil, err
			}
			logger.Warn("server: administrator credentials written (mode 0600); keep them safe", "path", path,
				"access_key_id", k.ID, "account", k.AccountID)
		} else {
			logger.Info("server: administrator exists", "access_key_id", k.ID, "account", k.AccountID, "credentials", path)
		}
	}

	if cfg.SeedFile != "" {
		if err := applySeed(ctx, st, cfg, logger); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func applySeed(ctx context.Context, st *state, cfg *Config, logger *slog.Logger) error {
	seed, err := config.LoadSeed(cfg.SeedFile, cfg.Region, cfg.AccountID)
	if err != nil {
		return fmt.Errorf("server: seed: %w", err)
	}
	for _, k := range seed.Keys {
		err := st.kms.SeedKey(ctx, kms.SeedKey{
			ID: k.ID, Description: k.Description, Material: k.Material, Aliases: k.Aliases, Tags: k.Tags,
			Region: k.Region, AccountID: k.AccountID, RotationEnabled: k.Rotation,
		})
		clear(k.Material)
		if err != nil {
			return fmt.Errorf("server: seed key %s: %w", k.ID, err)
		}
	}
	for _, ak := range seed.AccessKeys {
		if err := st.iam.Put(ctx, iam.AccessKey{ID: ak.ID, Secret: ak.Secret, AccountID: ak.AccountID}); err != nil {
			return fmt.Errorf("server: seed access key %s: %w", ak.ID, err)
		}
	}
	logger.Info("server: seed applied", "file", cfg.SeedFile, "keys", len(seed.Keys), "access_keys", len(seed.AccessKeys))
	return nil
}

// writeCredentials writes k in the AWS shared-credentials format, mode 0600,
// atomically (temporary file + rename).
func writeCredentials(path string, k iam.AccessKey) error {
	content := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n# account %s\n",
		k.ID, k.Secret, k.AccountID)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credentials-*")
	if err != nil {
		return fmt.Errorf("server: write credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("server: write credentials: %w", err)
	}
	_, werr := tmp.WriteString(content)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("server: write credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("server: write credentials: %w", err)
	}
	return nil
}
