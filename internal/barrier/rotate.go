package barrier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trent-kms/trent/internal/storage"
)

// RotateDataKey adds a data-key version and makes it current: new writes
// use it at once, older records keep opening with their version until
// Rewrap moves them. It returns the new version. The seal is not called.
// The new version follows the stored keyring's (read in the same
// transaction), so nodes sharing a store never mint the same version.
func (b *Barrier) RotateDataKey(ctx context.Context) (uint32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	root := b.root.Load()
	if root == nil || b.deks.Load() == nil {
		return 0, ErrSealed
	}
	key := generateAESKey()
	created := time.Now().UTC().Truncate(time.Second)
	var next *dekRing
	err := b.inner.Update(ctx, func(tx storage.Tx) error {
		ring, err := b.reloadRing(tx)
		if err != nil {
			return err
		}
		vs := ring.versions()
		next = ring.with(&dek{version: vs[len(vs)-1] + 1, created: created, key: key}, true)
		next.raw = root.sealRing(next)
		return tx.Put(pathKeyring, next.raw)
	})
	if err != nil {
		key.wipe()
		return 0, fmt.Errorf("barrier: rotate data key: %w", err)
	}
	_, err = b.adopt(next.raw) // memory gets its own copy of the new key
	key.wipe()
	if err != nil {
		return 0, fmt.Errorf("barrier: rotate data key: %w", err)
	}
	return next.current, nil
}

// RotateRootKey replaces the root key: the data keyring is encrypted under a
// fresh root key, which the seal wraps (one Wrap), both written in one
// transaction. Records are not touched. The keyring written is the stored
// one (read in the transaction).
func (b *Barrier) RotateRootKey(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.root.Load()
	if old == nil || b.deks.Load() == nil || b.seal == nil {
		return ErrSealed
	}
	root := generateAESKey()
	wrapped, err := b.seal.Wrap(ctx, root.b[:], []byte(pathRoot))
	if err != nil {
		root.wipe()
		return fmt.Errorf("barrier: rotate root key: wrap with the %s seal: %w", b.kind, err)
	}
	var enc []byte
	err = b.inner.Update(ctx, func(tx storage.Tx) error {
		ring, err := b.reloadRing(tx)
		if err != nil {
			return err
		}
		enc = root.sealRing(ring)
		if err := tx.Put(pathRoot, wrapped); err != nil {
			return err
		}
		return tx.Put(pathKeyring, enc)
	})
	if err != nil {
		root.wipe()
		return fmt.Errorf("barrier: rotate root key: %w", err)
	}
	b.root.Store(root)
	b.rootRaw = wrapped
	old.wipe()
	if _, err := b.adopt(enc); err != nil {
		return fmt.Errorf("barrier: rotate root key: %w", err)
	}
	return nil
}

// RewrapProgress is what Rewrap reports while it runs and after.
type RewrapProgress struct {
	Running bool   `json:"running"`
	Target  uint32 `json:"target_version"` // the data-key version records move to
	// Remaining counts records still sealed under older versions (as of the
	// last scan, minus those moved since); Rewrapped those moved by the
	// current or last run.
	Remaining int64  `json:"remaining"`
	Rewrapped int64  `json:"rewrapped"`
	Error     string `json:"error,omitempty"`
}

type rewrapState struct {
	rate               atomic.Int64 // records a second; 0: unpaced
	running            atomic.Bool
	target             atomic.Uint32
	remaining, rewrapd atomic.Int64
	mu                 sync.Mutex
	err                string
}

// Progress returns the state of the background rewrap.
func (b *Barrier) Progress() RewrapProgress {
	s := &b.rewrap
	s.mu.Lock()
	e := s.err
	s.mu.Unlock()
	return RewrapProgress{Running: s.running.Load(), Target: s.target.Load(), Remaining: s.remaining.Load(), Rewrapped: s.rewrapd.Load(), Error: e}
}

// SetRewrapRate paces Rewrap at most perSecond records a second (0: as fast
// as the store allows), so that rewrapping a large store leaves the
// database to the requests.
func (b *Barrier) SetRewrapRate(perSecond int) { b.rewrap.rate.Store(int64(max(perSecond, 0))) }

// rewrapBatch bounds the records one rewrap transaction moves, so that
// writers wait for at most one short transaction.
const rewrapBatch = 128

// ErrRewrapRunning is returned by Rewrap when another run is in progress.
var ErrRewrapRunning = errors.New("barrier: a rewrap is already running")

// Rewrap moves every record sealed under an older data-key version to the
// current one, a batch per transaction (writers go on meanwhile), then
// drops the versions nothing uses from the keyring. A rotation during the
// run extends it to the new version. It returns when done, on ctx's end,
// or on a record that does not open (named in the error).
func (b *Barrier) Rewrap(ctx context.Context) (err error) {
	s := &b.rewrap
	if !s.running.CompareAndSwap(false, true) {
		return ErrRewrapRunning
	}
	s.rewrapd.Store(0)
	s.mu.Lock()
	s.err = ""
	s.mu.Unlock()
	defer func() {
		if err != nil {
			s.mu.Lock()
			s.err = err.Error()
			s.mu.Unlock()
		}
		s.running.Store(false)
	}()
	for {
		ring := b.deks.Load()
		if ring == nil {
			return ErrSealed
		}
		s.target.Store(ring.current)
		if err := b.countOld(ctx, ring.current); err != nil {
			return err
		}
		if err := b.rewrapPass(ctx, ring.current); errors.Is(err, errRetarget) {
			continue // rotated meanwhile (here or on another node): move to the new version
		} else if err != nil {
			return err
		}
		done, err := b.finishRewrap(ctx, ring.current)
		if err != nil || done {
			return err
		}
	}
}

// scanOld calls fn with each page of paths whose records are not sealed
// under target. The pages are read in separate read transactions.
func (b *Barrier) scanOld(ctx context.Context, target uint32, fn func(paths []string) error) error {
	after := ""
	for {
		var old []string
		var last string
		n := 0
		err := b.inner.View(ctx, func(tx storage.Tx) error {
			es, err := tx.List("", after, rewrapBatch)
			if err != nil {
				return err
			}
			n = len(es)
			for _, e := range es {
				last = e.Key
				if reserved(e.Key) {
					continue
				}
				if v, _ := recordVersion(e.Value); v != target {
					old = append(old, e.Key)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(old) > 0 {
			if err := fn(old); err != nil {
				return err
			}
		}
		if n < rewrapBatch {
			return nil
		}
		after = last
	}
}

func (b *Barrier) countOld(ctx context.Context, target uint32) error {
	var n int64
	err := b.scanOld(ctx, target, func(p []string) error { n += int64(len(p)); return nil })
	b.rewrap.remaining.Store(n)
	return err
}

func (b *Barrier) rewrapPass(ctx context.Context, target uint32) error {
	start, moved := time.Now(), 0
	return b.scanOld(ctx, target, func(paths []string) error {
		if rate := b.rewrap.rate.Load(); rate > 0 {
			// Pace the batches so that the rewrap moves at most rate
			// records a second.
			due := start.Add(time.Duration(float64(moved) / float64(rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
		}
		moved += len(paths)
		var moved int64
		err := b.inner.Update(ctx, func(tx storage.Tx) error {
			moved = 0
			for _, p := range paths {
				ok, err := b.rewrapOne(tx, p, target)
				if err != nil {
					return err
				}
				if ok {
					moved++
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		b.rewrap.rewrapd.Add(moved)
		b.rewrap.remaining.Add(-int64(len(paths)))
		return nil
	})
}

// rewrapOne reseals the record at p under target, reading it in tx so that
// a concurrent write is never overwritten with an older value. It reports
// whether the record was moved (false: gone, or already on target).
func (b *Barrier) rewrapOne(tx storage.Tx, p string, target uint32) (bool, error) {
	raw, err := tx.Get(p)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if v, _ := recordVersion(raw); v == target {
		return false, nil
	}
	ring := b.deks.Load()
	if ring == nil {
		return false, ErrSealed
	}
	if ring.current != target {
		return false, errRetarget
	}
	pt, _, ok := openValue(ring, p, raw)
	if !ok {
		return false, fmt.Errorf("%w: %q", ErrUnseal, p)
	}
	defer clear(pt)
	return true, tx.Put(p, sealValue(ring, p, pt))
}

var errRetarget = errors.New("barrier: data key rotated during rewrap")

// finishRewrap checks, in one write transaction (no writer runs meanwhile),
// that no record is left on an older version, moving any stragglers, and
// then drops the unused versions from the keyring. done=false asks for
// another run (the data key was rotated meanwhile, here or on another node
// sharing the store: the keyring is read in the transaction).
func (b *Barrier) finishRewrap(ctx context.Context, target uint32) (done bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	root := b.root.Load()
	if root == nil || b.deks.Load() == nil {
		return false, ErrSealed
	}
	var next *dekRing
	err = b.inner.Update(ctx, func(tx storage.Tx) error {
		next = nil
		ring, err := b.reloadRing(tx)
		if err != nil {
			return err
		}
		if ring.current != target {
			return nil // rotated meanwhile: another run
		}
		after := ""
		for {
			es, err := tx.List("", after, rewrapBatch)
			if err != nil {
				return err
			}
			for _, e := range es {
				if reserved(e.Key) {
					continue
				}
				if v, _ := recordVersion(e.Value); v != target {
					if _, err := b.rewrapOne(tx, e.Key, target); err != nil {
						return err
					}
				}
			}
			if len(es) < rewrapBatch {
				break
			}
			after = es[len(es)-1].Key
		}
		drop := map[uint32]bool{}
		for _, v := range ring.versions() {
			if v != target {
				drop[v] = true
			}
		}
		next = ring
		if len(drop) == 0 {
			return nil
		}
		next = ring.without(drop)
		next.raw = root.sealRing(next)
		return tx.Put(pathKeyring, next.raw)
	})
	if err != nil {
		return false, err
	}
	if next == nil {
		return false, nil
	}
	if _, err := b.adopt(next.raw); err != nil {
		return false, err
	}
	b.rewrap.remaining.Store(0)
	return true, nil
}
