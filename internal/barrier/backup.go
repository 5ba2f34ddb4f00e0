package barrier

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/trent-kms/trent/internal/storage"
)

// PathRestored holds a restored backup's digest and MAC (32 bytes each)
// until the first Unseal checks them under the backup's root key.
const PathRestored = Prefix + "restored"

// ErrBackupAuth is returned by Unseal when a restored backup's MAC does not
// verify under its own root key: the backup was altered (and its digest
// recomputed) between backup and restore. The barrier stays sealed.
var ErrBackupAuth = errors.New("barrier: the restored backup does not authenticate under its root key (altered backup)")

// backupMACKey derives the key that authenticates backups from the root key.
func backupMACKey(root *aesKey) []byte {
	k, err := hkdf.Key(sha256.New, root.b[:], nil, "trent backup mac v1", sha256.Size)
	if err != nil {
		panic("barrier: internal error: " + err.Error())
	}
	return k
}

func mac(key, digest []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(digest)
	return m.Sum(nil)
}

// BackupMAC is called inside a backup's read transaction tx, before the
// snapshot is read: it checks that the snapshot's data keyring is under the
// root key held in memory (no root rotation raced the backup) and returns
// the function that authenticates the backup's digest under that root key.
func (b *Barrier) BackupMAC(tx storage.Tx) (func(digest []byte) []byte, error) {
	root := b.root.Load()
	if root == nil {
		return nil, ErrSealed
	}
	enc, err := tx.Get(pathKeyring)
	if err != nil {
		return nil, fmt.Errorf("barrier: backup: %w", err)
	}
	pt, ok := openWith(root, keyringFormat, enc, []byte(pathKeyring))
	clear(pt)
	if !ok {
		return nil, errors.New("barrier: backup: the root key was rotated while the backup started; retry")
	}
	key := backupMACKey(root)
	return func(digest []byte) []byte { return mac(key, digest) }, nil
}

// Restored reports whether the last unseal opened a store just restored
// from a backup (the first unseal after a restore checks the backup's MAC,
// then forgets it): what else lives beside the store, such as the audit
// log, may be older or newer than the backup.
func (b *Barrier) Restored() bool { return b.restored.Load() }

// checkRestored verifies a restored backup's record (digest || MAC) under
// root.
func checkRestored(root *aesKey, rec []byte) error {
	if len(rec) != 2*sha256.Size || !hmac.Equal(mac(backupMACKey(root), rec[:sha256.Size]), rec[sha256.Size:]) {
		return ErrBackupAuth
	}
	return nil
}

// forgetRestored deletes the restored-backup record once it verified.
func (b *Barrier) forgetRestored(ctx context.Context) error {
	return b.inner.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Delete(PathRestored); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return nil
	})
}
