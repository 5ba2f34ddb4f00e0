// Package backup writes and restores consistent snapshots of a store as it
// is stored: records stay sealed by the barrier (the data keyring under the
// root key, the root key wrapped by the seal), so a backup is useless
// without the seal, and restoring one needs no key at all.
//
// Consistency comes from the storage interface: the whole snapshot is read
// in one View transaction, which every Store serves from one consistent
// state (a bbolt read transaction; a REPEATABLE READ transaction for a SQL
// store), while writers go on.
//
// Format (version 1), big-endian:
//
//	magic "TRENTBAK" | version (1 byte) | header length (uint32) | header (JSON)
//	records: key length (uint32, 1..storage.MaxKeyLen) | key | value length (uint32, <= maxValue) | value
//	end: 0xFFFFFFFF
//	trailer: digest = SHA-256 of every byte before it (32 bytes) | MAC of the digest (32 bytes)
//
// Restore checks every length against its bound before allocating and the
// digest before committing anything: a flipped, missing or added byte fails
// the restore, which leaves the destination empty. The MAC (HMAC-SHA256
// under a key derived from the backup's root key, barrier.BackupMAC) cannot
// be checked without the seal: Restore stores digest and MAC at
// barrier.PathRestored and the first unseal checks them, refusing a backup
// altered with a recomputed digest (barrier.ErrBackupAuth).
package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/storage"
)

const (
	magic     = "TRENTBAK"
	version   = 1
	endMarker = 0xFFFFFFFF
	maxHeader = 1 << 20
	maxValue  = 64 << 20
	pageSize  = 256
)

// ErrCorrupt is returned by Restore for a backup that is truncated,
// malformed or fails its digest.
var ErrCorrupt = errors.New("backup: corrupted or truncated backup (digest or format check failed)")

// Header describes a backup.
type Header struct {
	Created time.Time `json:"created"`
	Seal    string    `json:"seal"` // the seal kind the restored store needs
	// Extra carries small named facts of other parts (the audit chain head).
	Extra map[string]string `json:"extra,omitempty"`
	// Records is the number of records restored (set by Restore).
	Records int `json:"-"`
}

// MACFunc is called inside the snapshot's read transaction, before any
// record is read, and returns the function that authenticates the digest
// (barrier.(*Barrier).BackupMAC).
type MACFunc func(tx storage.Tx) (func(digest []byte) []byte, error)

// Write writes a snapshot of every record of src (as stored) to w.
func Write(ctx context.Context, w io.Writer, src storage.Store, h Header, macFn MACFunc) (records int, err error) {
	hw := &hashWriter{w: bufio.NewWriterSize(w, 64<<10), h: sha256.New()}
	hdr, err := json.Marshal(h)
	if err != nil {
		return 0, fmt.Errorf("backup: header: %w", err)
	}
	hw.write([]byte(magic))
	hw.write([]byte{version})
	hw.u32(uint32(len(hdr)))
	hw.write(hdr)
	var mac func([]byte) []byte
	err = src.View(ctx, func(tx storage.Tx) error {
		var err error
		if mac, err = macFn(tx); err != nil {
			return err
		}
		after := ""
		for {
			es, err := tx.List("", after, pageSize)
			if err != nil {
				return err
			}
			for _, e := range es {
				hw.u32(uint32(len(e.Key)))
				hw.write([]byte(e.Key))
				hw.u32(uint32(len(e.Value)))
				hw.write(e.Value)
				records++
			}
			if hw.err != nil {
				return hw.err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(es) < pageSize {
				return nil
			}
			after = es[len(es)-1].Key
		}
	})
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	hw.u32(endMarker)
	sum := hw.h.Sum(nil)
	hw.write(sum)
	hw.write(mac(sum))
	if hw.err == nil {
		hw.err = hw.w.Flush()
	}
	if hw.err != nil {
		return 0, fmt.Errorf("backup: write: %w", hw.err)
	}
	return records, nil
}

type hashWriter struct {
	w   *bufio.Writer
	h   hash.Hash
	err error
}

func (hw *hashWriter) write(b []byte) {
	if hw.err != nil {
		return
	}
	hw.h.Write(b)
	_, hw.err = hw.w.Write(b)
}

func (hw *hashWriter) u32(v uint32) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	hw.write(b[:])
}

type hashReader struct {
	r *bufio.Reader
	h hash.Hash
}

func (hr *hashReader) read(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(hr.r, b); err != nil {
		return nil, ErrCorrupt
	}
	hr.h.Write(b)
	return b, nil
}

func (hr *hashReader) u32() (uint32, error) {
	b, err := hr.read(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

func readHeader(hr *hashReader) (Header, error) {
	var h Header
	m, err := hr.read(len(magic) + 1)
	if err != nil || string(m[:len(magic)]) != magic {
		return h, fmt.Errorf("%w: not a Trent backup", ErrCorrupt)
	}
	if m[len(magic)] != version {
		return h, fmt.Errorf("backup: unsupported backup version %d", m[len(magic)])
	}
	n, err := hr.u32()
	if err != nil || n > maxHeader {
		return h, ErrCorrupt
	}
	b, err := hr.read(int(n))
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, ErrCorrupt
	}
	return h, nil
}

// Restore reads a backup from r into dst, which must be empty, in one
// transaction committed only after the digest checked: on any error dst
// stays empty.
func Restore(ctx context.Context, r io.Reader, dst storage.Store) (Header, error) {
	hr := &hashReader{r: bufio.NewReaderSize(r, 64<<10), h: sha256.New()}
	h, err := readHeader(hr)
	if err != nil {
		return h, err
	}
	err = dst.Update(ctx, func(tx storage.Tx) error {
		if es, err := tx.List("", "", 1); err != nil {
			return err
		} else if len(es) > 0 {
			return errors.New("backup: the destination store is not empty")
		}
		last := ""
		for {
			n, err := hr.u32()
			if err != nil {
				return err
			}
			if n == endMarker {
				break
			}
			if n == 0 || n > storage.MaxKeyLen {
				return ErrCorrupt
			}
			k, err := hr.read(int(n))
			if err != nil {
				return err
			}
			if h.Records > 0 && string(k) <= last { // keys come in ascending order, once
				return ErrCorrupt
			}
			last = string(k)
			vn, err := hr.u32()
			if err != nil || vn > maxValue {
				return ErrCorrupt
			}
			v, err := hr.read(int(vn))
			if err != nil {
				return err
			}
			if err := tx.Put(string(k), v); err != nil {
				return err
			}
			h.Records++
		}
		want := hr.h.Sum(nil)
		trailer := make([]byte, 2*sha256.Size)
		if _, err := io.ReadFull(hr.r, trailer); err != nil {
			return ErrCorrupt
		}
		if subtle.ConstantTimeCompare(trailer[:sha256.Size], want) != 1 {
			return ErrCorrupt
		}
		if _, err := hr.r.ReadByte(); err != io.EOF {
			return fmt.Errorf("%w: trailing data", ErrCorrupt)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return tx.Put(barrier.PathRestored, trailer)
	})
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return h, err
		}
		return h, fmt.Errorf("backup: restore: %w", err)
	}
	return h, nil
}
