package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/storage"
)

// UsagePrefix is where nodes sharing a store publish the last uses of keys
// their logs recorded: UsagePrefix + <node id> + "/" + <key ARN>, one JSON
// record each (sealed by the barrier like every record).
const UsagePrefix = "audit/usage/"

// UsageFlushInterval is how often a node publishes the last uses its log
// recorded since the previous time: at most one write per key and node per
// interval, whatever the request rate. GetKeyLastUsage on another node sees
// a use at most this late (plus the store's change propagation).
const UsageFlushInterval = 10 * time.Second

// usageBatch bounds the records one publishing transaction writes.
const usageBatch = 256

type publishedUse struct {
	Operation string    `json:"op"`
	Time      time.Time `json:"time"`
	EventID   string    `json:"eventId"`
	RequestID string    `json:"requestId"`
}

// SharedUsage is the last-usage index of a node whose store other nodes
// share: its own log's index, merged with what every node published (each
// node's audit log is its own, on its own disk). It answers
// GetKeyLastUsage with the latest use recorded by any node.
type SharedUsage struct {
	log   *Log
	store storage.Store
	node  string
	logf  *slog.Logger

	mu     sync.RWMutex
	shared map[string]Usage // key ARN -> latest use published by any node
}

// NewSharedUsage loads what the nodes published so far from st.
func NewSharedUsage(ctx context.Context, l *Log, st storage.Store, node string, logger *slog.Logger) (*SharedUsage, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u := &SharedUsage{log: l, store: st, node: node, logf: logger, shared: map[string]Usage{}}
	if err := u.Reload(ctx); err != nil {
		return nil, err
	}
	return u, nil
}

// LastUsage returns the latest use of the key keyARN that any node
// recorded (this node's at once, the others' once published).
func (u *SharedUsage) LastUsage(keyARN string) (Usage, bool) {
	own, ok := u.log.LastUsage(keyARN)
	u.mu.RLock()
	other, found := u.shared[keyARN]
	u.mu.RUnlock()
	if found && (!ok || other.Time.After(own.Time)) {
		return other, true
	}
	return own, ok
}

// TrackingStart is the log's (the signing key's creation: the same on
// every node).
func (u *SharedUsage) TrackingStart() time.Time { return u.log.TrackingStart() }

// Run publishes this node's new uses every UsageFlushInterval until ctx is
// done, and a last time then.
func (u *SharedUsage) Run(ctx context.Context) {
	t := time.NewTicker(UsageFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := u.Flush(fctx); err != nil {
				u.logf.Warn("audit: publish the last key uses at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := u.Flush(ctx); err != nil && ctx.Err() == nil {
				u.logf.Warn("audit: publish the last key uses (retried next time)", "err", err)
			}
		}
	}
}

// Flush publishes the uses this node's log recorded since the last Flush.
// What could not be written is published next time.
func (u *SharedUsage) Flush(ctx context.Context) error {
	uses := u.log.TakeUsage()
	if len(uses) == 0 {
		return nil
	}
	paths := make([]string, 0, len(uses))
	for arn := range uses {
		paths = append(paths, UsagePrefix+u.node+"/"+arn)
	}
	var errs []error
	for len(paths) > 0 {
		batch := paths[:min(len(paths), usageBatch)]
		paths = paths[len(batch):]
		err := u.store.Update(ctx, func(tx storage.Tx) error {
			for _, p := range batch {
				x := uses[strings.TrimPrefix(p, UsagePrefix+u.node+"/")]
				b, err := json.Marshal(publishedUse(x))
				if err != nil {
					return err
				}
				if err := tx.Put(p, b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
			u.log.requeueUsage(batch, u.node)
		}
	}
	return errors.Join(errs...)
}

// requeueUsage marks the keys of paths as not published yet.
func (l *Log) requeueUsage(paths []string, node string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.usageNew == nil {
		l.usageNew = make(map[string]struct{})
	}
	for _, p := range paths {
		l.usageNew[strings.TrimPrefix(p, UsagePrefix+node+"/")] = struct{}{}
	}
}

// Apply reads the usage records at paths (others are ignored) and merges
// them: for the storage change feed.
func (u *SharedUsage) Apply(ctx context.Context, paths []string) error {
	var want []string
	for _, p := range paths {
		if strings.HasPrefix(p, UsagePrefix) {
			want = append(want, p)
		}
	}
	if len(want) == 0 {
		return nil
	}
	var es []storage.Entry
	err := u.store.View(ctx, func(tx storage.Tx) error {
		for _, p := range want {
			v, err := tx.Get(p)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			es = append(es, storage.Entry{Key: p, Value: v})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: read published key uses: %w", err)
	}
	return u.merge(es)
}

// Reload reads every published use.
func (u *SharedUsage) Reload(ctx context.Context) error {
	var es []storage.Entry
	err := u.store.View(ctx, func(tx storage.Tx) (err error) {
		es, err = tx.List(UsagePrefix, "", 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("audit: read published key uses: %w", err)
	}
	return u.merge(es)
}

func (u *SharedUsage) merge(es []storage.Entry) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	var errs []error
	for _, e := range es {
		rest := strings.TrimPrefix(e.Key, UsagePrefix)
		_, arn, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		var r publishedUse
		if err := json.Unmarshal(e.Value, &r); err != nil {
			errs = append(errs, fmt.Errorf("audit: decode %s: %w", e.Key, err))
			continue
		}
		if cur, ok := u.shared[arn]; !ok || r.Time.After(cur.Time) {
			u.shared[arn] = Usage(r)
		}
	}
	return errors.Join(errs...)
}
