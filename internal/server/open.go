package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/trent-kms/trent/internal/attest"
	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/config"
	"github.com/trent-kms/trent/internal/durable"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/shamir"
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

// open opens storage and the barrier over it, and unseals it when the seal
// kind allows (file, pkcs11, kms; dev mode). A shamir-sealed or not yet
// initialised server starts sealed: the operator endpoints take it from
// there.
func open(ctx context.Context, cfg *Config, logger *slog.Logger) (_ *state, err error) {
	st := &state{}
	defer func() {
		if err != nil {
			st.close(logger)
		}
	}()

	var raw storage.Store
	inMemory := cfg.Dev && cfg.DataDir == "" && cfg.Storage != StoragePostgres
	switch {
	case cfg.Storage == StoragePostgres:
		if raw, err = openPostgres(ctx, cfg, logger); err != nil {
			return nil, err
		}
	case inMemory:
		raw = memstore.New()
		logger.Warn("server: in-memory storage with an ephemeral root key: everything is lost at exit")
	default:
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("server: data directory: %w", err)
		}
		dbPath := filepath.Join(cfg.DataDir, DBFile)
		db, err := boltstore.Open(dbPath)
		if err != nil {
			return nil, fmt.Errorf("server: open storage: %w", err)
		}
		raw = db
		logger.Info("server: storage opened", "path", dbPath)
	}
	if cfg.DataDir != "" {
		removeLeftovers(cfg.DataDir, logger) // bolt: under the database's lock
	}
	b := barrier.New(raw)
	st.barrier, st.store = b, b
	st.watcher, _ = raw.(storage.Watcher)
	st.elector, _ = raw.(storage.Elector)
	if inMemory {
		return st, b.Initialize(ctx, keyring.GenerateEphemeral(), SealFile, nil, nil)
	}
	bst, err := b.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if bst.Initialized && bst.Kind != cfg.Seal {
		return nil, fmt.Errorf("server: the data directory is sealed with the %s seal, not %s: start with --seal %s (or move it with trent operator migrate-seal)", bst.Kind, cfg.Seal, bst.Kind)
	}
	if bst.Legacy && cfg.Seal != SealFile {
		return nil, fmt.Errorf("server: the data directory was written by an earlier release (file seal): start it once with --seal file to upgrade it, then move it with trent operator migrate-seal")
	}
	switch cfg.Seal {
	case SealFile:
		kr, created, err := openFileSeal(cfg, bst.Initialized || bst.Legacy)
		if err != nil {
			return nil, err
		}
		if created {
			logger.Warn("server: created a new root key file; back it up: without it the data directory cannot be read", "path", cfg.rootKeyPath())
		}
		logger.Warn("server: using the file seal (its key in a file next to the data): production should use --seal shamir, pkcs11 or kms", "root_key_file", cfg.rootKeyPath())
		if err := initOrUnseal(ctx, b, bst, kr, SealFile); err != nil {
			kr.Close()
			return nil, fmt.Errorf("server: %w", err)
		}
		if bst.Legacy {
			logger.Warn("server: upgraded the data directory to the two-level barrier (every record now sealed by the first data key)")
		}
	case SealShamir:
		if !bst.Initialized {
			logger.Warn("server: not initialised: run trent operator init --shares N --threshold T")
			return st, nil
		}
		if st.pending, err = shamir.New(bst.SealParams); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		p := st.pending.Params()
		logger.Warn("server: sealed: submit unseal shares with trent operator unseal", "threshold", p.Threshold, "shares", p.Shares)
	default: // auto-unseal kinds
		kr, err := newAutoSeal(ctx, cfg, !bst.Initialized)
		if err != nil {
			return nil, err
		}
		if err := initOrUnseal(ctx, b, bst, kr, cfg.Seal); err != nil {
			kr.Close()
			if !bst.Initialized {
				return nil, fmt.Errorf("server: initialise with the %s seal: %w", cfg.Seal, err)
			}
			logger.Error("server: auto-unseal failed: starting sealed, retrying", "seal", cfg.Seal, "err", err)
		}
	}
	return st, nil
}

// removeLeftovers removes the temporary files of durable that a crash left
// in the data directory and its audit directory.
func removeLeftovers(dataDir string, logger *slog.Logger) {
	for _, dir := range []string{dataDir, filepath.Join(dataDir, AuditDir)} {
		names, err := durable.Leftovers(dir)
		if len(names) > 0 {
			logger.Warn("server: removed temporary files left by an interrupted write", "dir", dir, "files", names)
		}
		if err != nil {
			logger.Warn("server: could not remove the temporary files left by an interrupted write", "dir", dir, "err", err)
		}
	}
}

// initOrUnseal initialises the barrier with kr (migrating a legacy data
// directory) or unseals it. On success the barrier owns kr.
func initOrUnseal(ctx context.Context, b *barrier.Barrier, bst barrier.Status, kr keyring.Keyring, kind string) error {
	if bst.Initialized {
		return b.Unseal(ctx, kr)
	}
	var legacy keyring.Keyring
	if bst.Legacy {
		legacy = kr
	}
	err := b.Initialize(ctx, kr, kind, nil, legacy)
	if errors.Is(err, barrier.ErrInitialized) {
		// Another node sharing the database initialised it meanwhile:
		// this node's seal must open what that node stored.
		return b.Unseal(ctx, kr)
	}
	return err
}

// openFileSeal loads the file seal's key, creating it only for a data
// directory that holds nothing yet.
func openFileSeal(cfg *Config, hasData bool) (kr *keyring.FileKeyring, created bool, err error) {
	path := cfg.rootKeyPath()
	if hasData {
		// Existing data was sealed with some key: never mint a new one,
		// which could not open it and would invite backing up the wrong file.
		kr, err = keyring.LoadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("server: root key file %s not found, but %s holds data sealed with a root key: restore that key file (or copy it from another node) or point --root-key-file at it", path, cfg.storageName())
		}
	} else {
		kr, created, err = keyring.LoadOrCreateFile(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("server: root key: %w", err)
	}
	return kr, created, nil
}

func (c *Config) rootKeyPath() string {
	if c.RootKeyFile != "" {
		return c.RootKeyFile
	}
	return filepath.Join(c.DataDir, RootKeyFile)
}

// identityNow is the identity service's clock: nil (time.Now) except in
// builds for the end-to-end tests (testclock.go).
var identityNow func() time.Time

// openServices loads the identities and the KMS service from the unsealed
// store, resolves the account (creating its first administrator when it is
// new; with --dev, the development credentials in memory only) and applies
// the seed. With writeCreds a new administrator's credentials are written to
// the data directory; otherwise admin returns them (shamir init).
func openServices(ctx context.Context, st *state, cfg *Config, logger *slog.Logger, writeCreds bool) (_ *services, admin *iam.NewKey, err error) {
	svc := &services{}
	if svc.iam, err = iam.New(ctx, iam.Config{Store: st.store, Partition: cfg.Partition, Logger: logger, Now: identityNow}); err != nil {
		return nil, nil, fmt.Errorf("server: %w", err)
	}
	if svc.audit, err = openAudit(ctx, cfg, st, logger); err != nil {
		return nil, nil, err
	}
	if svc.audit != nil && cfg.DataDir != "" {
		svc.headStore, svc.headNode = st.store, auditHeadNode(cfg, st)
		svc.storeAuditHead(ctx, logger) // the start digest's
	}
	if st.watcher != nil && svc.audit != nil {
		if svc.shared, err = audit.NewSharedUsage(ctx, svc.audit, st.store, cfg.NodeID, logger); err != nil {
			svc.closeAudit(logger)
			return nil, nil, fmt.Errorf("server: %w", err)
		}
	}
	kc := kms.Config{Store: st.store, Partition: cfg.Partition, Logger: logger, Usage: svc.usage(), Principals: svc.iam,
		Shared: st.watcher != nil}
	if kc.AttestationRoots, err = attest.Roots(cfg.AttestationRootsFile, cfg.AttestationRootsOnly); err != nil {
		svc.closeAudit(logger)
		return nil, nil, fmt.Errorf("server: %w", err)
	}
	if kc.CloudHSMClusters, err = ParseCloudHSMClusters(cfg.CloudHSMClusters); err != nil {
		svc.closeAudit(logger)
		return nil, nil, fmt.Errorf("server: %w", err)
	}
	if svc.audit != nil {
		kc.Events = svc.audit.RecordServiceEvent // key deletions and rotations of the background jobs
	}
	if svc.kms, err = kms.New(ctx, kc); err != nil {
		svc.closeAudit(logger)
		return nil, nil, fmt.Errorf("server: kms: %w", err)
	}
	defer func() {
		if err != nil {
			svc.kms.Wipe()
			svc.closeAudit(logger)
		}
	}()
	if admin, err = openAccount(ctx, svc, cfg, logger, writeCreds); err != nil {
		return nil, nil, err
	}
	if cfg.SeedFile != "" {
		if err := applySeed(ctx, svc, cfg, logger); err != nil {
			return nil, admin, err // the administrator is in storage: see activate
		}
	}
	return svc, admin, nil
}

func applySeed(ctx context.Context, st *services, cfg *Config, logger *slog.Logger) error {
	seed, err := config.LoadSeed(cfg.SeedFile, cfg.Region, cfg.AccountID)
	if err != nil {
		return fmt.Errorf("server: seed: %w", err)
	}
	for _, k := range seed.Keys {
		err := st.kms.SeedKey(ctx, kms.SeedKey{
			ID: k.ID, Description: k.Description, Spec: k.Spec, Usage: k.Usage, Material: k.Material, Aliases: k.Aliases, Tags: k.Tags,
			Region: k.Region, AccountID: k.AccountID, RotationEnabled: k.Rotation,
		})
		clear(k.Material)
		if err != nil {
			return fmt.Errorf("server: seed key %s: %w", k.ID, err)
		}
	}
	res, err := st.iam.ApplySeed(ctx, &seed.IAM)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	logger.Info("server: seed applied", "file", cfg.SeedFile, "keys", len(seed.Keys), "users", len(seed.IAM.Users),
		"roles", len(seed.IAM.Roles), "access_keys", len(seed.IAM.AccessKeys), "deactivated_access_keys", len(res.Deactivated))
	return nil
}

// openAccount resolves the account the server runs as (cfg.AccountID is set
// to it). Outside --dev, when the account is new, its first administrator's
// credentials are written (with writeCreds) to <data-dir>/credentials, or,
// when that file exists (it is never overwritten), to
// <data-dir>/credentials-<account>; without writeCreds they are returned.
// With --dev, the development credentials are that account's root user, in
// memory only.
func openAccount(ctx context.Context, svc *services, cfg *Config, logger *slog.Logger, writeCreds bool) (*iam.NewKey, error) {
	acct, first, err := svc.iam.OpenAccount(ctx, cfg.AccountID, cfg.AddAccount, cfg.Dev)
	if errors.Is(err, iam.ErrNotAnAccount) {
		return nil, fmt.Errorf("server: %w: leave --account-id out to run as the data directory's account, or add the account with --add-account", err)
	}
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	cfg.AccountID = acct
	switch {
	case cfg.Dev:
		svc.iam.DevCredentials(acct)
		svc.adminKeyID = DevAccessKeyID
		logger.Warn("server: development credentials of the AWS documentation are the account's root user, in memory only",
			"access_key_id", DevAccessKeyID, "account", acct)
		return nil, nil
	case first == nil:
		for _, k := range svc.iam.AccessKeys() {
			if k.AccountID == acct && k.UserName == "" && k.Origin == iam.OriginGenerated {
				svc.adminKeyID = k.AccessKeyID
			}
		}
		logger.Info("server: account", "account", acct, "administrator_access_key_id", svc.adminKeyID)
		return nil, nil
	}
	svc.adminKeyID = first.AccessKeyID
	if !writeCreds {
		logger.Info("server: first administrator created", "access_key_id", first.AccessKeyID, "account", acct)
		return first, nil
	}
	path := filepath.Join(cfg.DataDir, CredentialsFile)
	if fileExists(path) {
		path += "-" + acct
	}
	if err := writeCredentials(path, first); err != nil {
		return nil, err
	}
	logger.Warn("server: first administrator created; its credentials are written (mode 0600): keep them safe", "path", path,
		"access_key_id", first.AccessKeyID, "account", acct)
	return nil, nil
}

// writeCredentials writes k in the AWS shared-credentials format, mode 0600,
// atomically: an existing file is never replaced.
func writeCredentials(path string, k *iam.NewKey) error {
	content := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n# account %s\n",
		k.AccessKeyID, k.Secret.Reveal(), k.AccountID)
	if err := durable.Create(path, []byte(content)); err != nil {
		return fmt.Errorf("server: write credentials: %w", err)
	}
	return nil
}
