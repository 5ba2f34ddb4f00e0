package server

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/shamir"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/boltstore"
	"github.com/trent-kms/trent/internal/storage/pgstore"
)

// MigrateSeal moves the data directory of cfg (server stopped) from its seal
// (cfg.Seal, with cfg's settings for it) to the seal kind to (with cfg's
// settings for that kind): the root key is unwrapped by the old seal and
// wrapped by the new one, in one transaction; records and the data keyring
// are not touched. From shamir, shares are the unseal shares (T of them);
// to shamir, the new shares (n, threshold t) are passed to show, once,
// before the transaction: when show fails (they were not shown, or not
// kept) nothing is written, so a data directory is never left sealed with
// shares nobody has. To file, the key file (cfg's root-key-file, default
// DATA/root.key) is created and must not exist.
func MigrateSeal(ctx context.Context, cfg Config, to string, shares []string, n, t int, show func(shares []string) error) error {
	if to == cfg.Seal {
		return fmt.Errorf("server: --to %s is the seal --seal names (default file): --seal is the data directory's current seal, --to the new one", to)
	}
	probe := cfg
	probe.Seal = to
	if err := probe.Validate(); err != nil {
		return err
	}
	b, err := openStopped(ctx, cfg, shares)
	if err != nil {
		return err
	}
	defer b.Close()
	var (
		next      keyring.Keyring
		params    []byte
		newShares []string
	)
	switch to {
	case SealFile:
		var created bool
		path := probe.rootKeyPath()
		var fk *keyring.FileKeyring
		if fk, created, err = keyring.LoadOrCreateFile(path); err == nil && !created {
			fk.Close()
			err = fmt.Errorf("server: %s exists: name a new key file with --root-key-file", path)
		}
		next = fk
	case SealShamir:
		var sk *shamir.Keyring
		sk, newShares, params, err = shamir.Init(n, t)
		next = sk
	default:
		next, err = newAutoSeal(ctx, &probe, true)
	}
	if err != nil {
		return err
	}
	if newShares != nil {
		if err := show(newShares); err != nil {
			next.Close()
			return fmt.Errorf("server: the new unseal shares could not be shown (%w): nothing changed, %s keeps the %s seal", err, cfg.storageName(), cfg.Seal)
		}
	}
	if err := b.MigrateSeal(ctx, next, to, params); err != nil {
		next.Close()
		if newShares != nil {
			return fmt.Errorf("%w (the shares shown are not in effect: %s keeps the %s seal)", err, cfg.storageName(), cfg.Seal)
		}
		return err
	}
	return nil
}

// openStopped opens and unseals the data directory of cfg while the server
// is stopped (trent operator migrate-seal, trent admin): with cfg's seal
// and its settings; shamir needs shares (T of them). Close the returned
// barrier. With --storage postgres it opens the database instead, which
// running nodes may share: what is written there reaches them through the
// change feed.
func openStopped(ctx context.Context, cfg Config, shares []string) (_ *barrier.Barrier, err error) {
	// The root key and the data keys enter this process's memory, as they
	// do a server's, which keeps them out of core dumps whatever --mlock
	// says (best effort here too: a failure changes nothing else).
	_ = noCoreDumps()
	var raw storage.Store
	if cfg.Storage == StoragePostgres {
		if raw, err = pgstore.Open(ctx, cfg.PostgresURL, pgstore.Options{}); err != nil {
			return nil, fmt.Errorf("server: open storage: %w", err)
		}
	} else {
		dbPath := filepath.Join(cfg.DataDir, DBFile)
		if !fileExists(dbPath) {
			return nil, fmt.Errorf("server: no database at %s (start the server once first)", dbPath)
		}
		if raw, err = boltstore.Open(dbPath); err != nil {
			return nil, fmt.Errorf("server: open storage (is the server stopped?): %w", err)
		}
	}
	b := barrier.New(raw)
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	bst, err := b.Status(ctx)
	if err != nil {
		return nil, err
	}
	if !bst.Initialized {
		return nil, fmt.Errorf("server: %s is not initialised (start the server once first)", cfg.storageName())
	}
	if bst.Kind != cfg.Seal {
		return nil, fmt.Errorf("server: the data directory uses the %s seal: give --seal %s", bst.Kind, bst.Kind)
	}
	var from keyring.Keyring
	switch cfg.Seal {
	case SealFile:
		var fk *keyring.FileKeyring
		if fk, _, err = openFileSeal(&cfg, true); err == nil {
			from = fk // never a nil *FileKeyring in the interface
		}
	case SealShamir:
		var sk *shamir.Keyring
		if sk, err = shamir.New(bst.SealParams); err == nil {
			from = sk
			for _, s := range shares {
				if _, err = sk.Submit(s); err != nil {
					break
				}
			}
			if err == nil && !sk.Progress().Unsealed {
				err = fmt.Errorf("server: %d shares given on standard input, %d needed", len(shares), sk.Params().Threshold)
			}
		}
	default:
		from, err = newAutoSeal(ctx, &cfg, false)
	}
	if err != nil {
		if from != nil {
			from.Close()
		}
		return nil, err
	}
	if err := b.Unseal(ctx, from); err != nil {
		from.Close()
		return nil, err
	}
	return b, nil
}
