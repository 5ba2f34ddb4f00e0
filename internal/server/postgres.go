package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/trent-kms/trent/internal/backup"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/memstore"
	"github.com/trent-kms/trent/internal/storage/pgstore"
)

// minMaxStaleness is the least max-staleness: more than the change feed's
// poll interval (pgstore.DefaultPoll) and a check.
const minMaxStaleness = 3 * time.Second

// Storage backends (Config.Storage).
const (
	StorageBolt     = "bolt"
	StoragePostgres = "postgres"
)

func (c *Config) validateStorage() []error {
	var errs []error
	switch c.Storage {
	case StorageBolt:
		if c.PostgresURL != "" {
			errs = append(errs, errors.New("server: --postgres-url needs --storage postgres"))
		}
	case StoragePostgres:
		if c.PostgresURL == "" {
			errs = append(errs, errors.New("server: --storage postgres needs --postgres-url"))
		}
		if c.MaxStaleness > 0 && c.MaxStaleness < minMaxStaleness {
			errs = append(errs, fmt.Errorf("server: --max-staleness %v is shorter than %v: a node would refuse requests whenever a notification is lost (the change feed polls every 2 s)", c.MaxStaleness, minMaxStaleness))
		}
		if c.Seal == SealFile && c.RootKeyFile == "" && c.DataDir == "" {
			// An ephemeral root key would leave the database unreadable
			// to the next start and to every other node.
			errs = append(errs, errors.New("server: --storage postgres needs the root key in a file: give --root-key-file (or --data-dir)"))
		}
	default:
		errs = append(errs, fmt.Errorf("server: unknown storage %q (want bolt or postgres)", c.Storage))
	}
	return errs
}

// storageName names where the records are, for messages.
func (c *Config) storageName() string {
	if c.Storage == StoragePostgres {
		return "the database " + pgstore.Describe(c.PostgresURL)
	}
	return filepath.Join(c.DataDir, DBFile)
}

// openPostgres opens the database that the nodes share. The data directory
// (if any) still holds the root key file and the credentials.
func openPostgres(ctx context.Context, cfg *Config, logger *slog.Logger) (storage.Store, error) {
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("server: data directory: %w", err)
		}
	}
	db, err := pgstore.Open(ctx, cfg.PostgresURL, pgstore.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("server: open storage: %w", err)
	}
	logger.Info("server: storage opened", "storage", StoragePostgres, "database", pgstore.Describe(cfg.PostgresURL))
	return db, nil
}

// RestorePostgres restores the backup r into the empty database at url
// (trent restore --storage postgres): the backup is read and checked in
// memory first (so a conflict retry of the database transaction can run it
// again), then written in one transaction that refuses a database holding
// anything.
func RestorePostgres(ctx context.Context, url string, r io.Reader) (backup.Header, error) {
	mem := memstore.New()
	h, err := backup.Restore(ctx, r, mem)
	if err != nil {
		return h, err
	}
	var es []storage.Entry
	err = mem.View(ctx, func(tx storage.Tx) (err error) {
		es, err = tx.List("", "", 0)
		return err
	})
	if err != nil {
		return h, err
	}
	db, err := pgstore.Open(ctx, url, pgstore.Options{})
	if err != nil {
		return h, fmt.Errorf("server: open storage: %w", err)
	}
	defer db.Close()
	err = db.Update(ctx, func(tx storage.Tx) error {
		if some, err := tx.List("", "", 1); err != nil {
			return err
		} else if len(some) > 0 {
			return fmt.Errorf("server: the database %s is not empty: restore only into an empty database", pgstore.Describe(url))
		}
		for _, e := range es {
			if err := tx.Put(e.Key, e.Value); err != nil {
				return err
			}
		}
		return nil
	})
	return h, err
}
