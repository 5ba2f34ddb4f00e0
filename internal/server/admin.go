package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/storage/boltstore"
)

// ErrInUse is returned by OpenIdentities when a running server holds the
// data directory's database.
var ErrInUse = errors.New("server: the data directory is in use by a running trent server")

// OpenIdentities opens the identities of cfg's data directory while the
// server is stopped (trent admin): storage, then the seal (cfg.Seal and its
// settings; shamir needs T shares). Call close when done. A database held
// by a running server is ErrInUse: then manage identities through the IAM
// API of that server. With --storage postgres, the database is shared by
// running nodes: a change made here reaches them through the change feed
// (within max-staleness), which makes trent admin the break-glass of a
// cluster too.
func OpenIdentities(ctx context.Context, cfg Config, shares []string, logger *slog.Logger) (svc *iam.Service, close func() error, err error) {
	b, err := openStopped(ctx, cfg, shares)
	if errors.Is(err, boltstore.ErrLocked) {
		return nil, nil, fmt.Errorf("%w (%s)", ErrInUse, cfg.DataDir)
	}
	if err != nil {
		return nil, nil, err
	}
	svc, err = iam.New(ctx, iam.Config{Store: b, Partition: cfg.Partition, Logger: logger})
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return svc, b.Close, nil
}
