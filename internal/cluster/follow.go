// Package cluster keeps the nodes that share one store (several Trent
// processes on one PostgreSQL database) in step: a Follower applies every
// change another node commits to this node's in-memory state (keys,
// identities, the barrier's keyring, published key uses) within a bound it
// measures and enforces, and Lead runs the background jobs on exactly one
// node at a time.
//
// # The bound
//
// A change committed at time T is applied on every node, normally within
// milliseconds (the database notifies every listener at commit), at the
// latest one poll interval of the store's Watch after T when a
// notification is lost. To hold the bound also when a node cannot hear the
// database at all (a network partition, a database that hangs), a node
// checks every CheckInterval that it has applied everything committed
// before the check started; Fresh reports an error once no check
// succeeded for MaxStaleness, and the server then refuses requests
// (DependencyTimeoutException) rather than serve a key or an access key
// that may have been revoked. So a node never serves state older than
// MaxStaleness.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trent-kms/trent/internal/storage"
)

// Defaults of FollowerConfig.
const (
	DefaultCheckInterval = time.Second
	DefaultMaxStaleness  = 10 * time.Second
)

// maxBatch bounds how many changes one apply merges.
const maxBatch = 256

// Target is one part of a node's state that follows the store: the paths
// under Prefix are its records.
type Target struct {
	Name   string
	Prefix string
	// Apply reads the records at paths (all under Prefix) again and
	// publishes them. Applying a change twice must be harmless.
	Apply func(ctx context.Context, paths []string) error
	// Reload reads everything under Prefix again (the change history was
	// lost, or Apply failed).
	Reload func(ctx context.Context) error
}

// FollowerConfig configures a Follower.
type FollowerConfig struct {
	Watcher storage.Watcher
	Targets []Target
	// Since is the version read before the state was loaded (at SinceAt):
	// every change after it is applied.
	Since   uint64
	SinceAt time.Time
	// CheckInterval is how often the node checks that it is current
	// (DefaultCheckInterval when 0).
	CheckInterval time.Duration
	// MaxStaleness is how long the node may go without confirming that it
	// is current before Fresh fails (DefaultMaxStaleness when 0; negative:
	// never, the node serves whatever it holds while it cannot hear the
	// database).
	MaxStaleness time.Duration
	Logger       *slog.Logger
	// Registerer receives the follower's metrics (nil: none).
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Follower applies the store's changes to a node's state. Create it with
// Follow.
type Follower struct {
	cfg    FollowerConfig
	log    *slog.Logger
	now    func() time.Time
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	applied  uint64    // every change up to it is applied
	latest   uint64    // the highest version a check read
	freshAt  time.Time // the state holds every change committed before it
	checks   []check   // checks waiting for their version to be applied
	lastErr  error     // the last failure to apply, until an apply succeeds
	lastLag  time.Duration
	resets   int
	failures int

	delay     prometheus.Histogram
	resetsC   prometheus.Counter
	failuresC prometheus.Counter
}

type check struct {
	version uint64
	at      time.Time
}

// Follow starts following the store from cfg.Since until ctx is done or
// Stop is called.
func Follow(ctx context.Context, cfg FollowerConfig) (*Follower, error) {
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = DefaultMaxStaleness
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SinceAt.IsZero() {
		cfg.SinceAt = cfg.Now()
	}
	f := &Follower{cfg: cfg, log: cfg.Logger, now: cfg.Now, applied: cfg.Since, latest: cfg.Since, freshAt: cfg.SinceAt, done: make(chan struct{})}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	ctx, f.cancel = context.WithCancel(ctx)
	ch, err := cfg.Watcher.Watch(ctx, cfg.Since)
	if err != nil {
		f.cancel()
		return nil, fmt.Errorf("cluster: follow the store: %w", err)
	}
	f.register(cfg.Registerer)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f.follow(ctx, ch) }()
	go func() { defer wg.Done(); f.checkLoop(ctx) }()
	go func() { wg.Wait(); close(f.done) }()
	return f, nil
}

// Stop stops following and waits for the follower's goroutines.
func (f *Follower) Stop() {
	f.cancel()
	<-f.done
}

func (f *Follower) register(reg prometheus.Registerer) {
	f.delay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "trent_cache_apply_delay_seconds",
		Help:    "Delay from the commit of a change by any node (database clock) to its application to this node's memory (this node's clock).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	f.resetsC = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "trent_cache_resets_total",
		Help: "Times this node reloaded its whole state (the store's change history no longer reached back to what it had applied).",
	})
	f.failuresC = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "trent_cache_apply_failures_total",
		Help: "Failed attempts to apply changes (retried; the node stops serving once stale past max-staleness).",
	})
	if reg == nil {
		return
	}
	reg.MustRegister(f.delay, f.resetsC, f.failuresC,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trent_cache_applied_version",
			Help: "The store version up to which every change is applied to this node's memory.",
		}, func() float64 { return float64(f.Status().Applied) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trent_cache_lag_versions",
			Help: "Versions committed (as of this node's last check) that this node has not applied yet.",
		}, func() float64 { st := f.Status(); return float64(st.Latest - min(st.Latest, st.Applied)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trent_cache_staleness_seconds",
			Help: "How old the newest moment is before which this node is known to hold every committed change (the node refuses requests past max-staleness).",
		}, func() float64 { return f.Status().Staleness.Seconds() }),
	)
}

// Status is what a Follower reports.
type Status struct {
	Applied   uint64        `json:"applied_version"`
	Latest    uint64        `json:"latest_version"`
	Staleness time.Duration `json:"-"`
	// StalenessSeconds is Staleness in seconds (for JSON).
	StalenessSeconds float64 `json:"staleness_seconds"`
	LastApplyDelay   float64 `json:"last_apply_delay_seconds"`
	Resets           int     `json:"resets"`
	Error            string  `json:"error,omitempty"`
}

// Status reports how far the node follows the store.
func (f *Follower) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := Status{Applied: f.applied, Latest: max(f.latest, f.applied), Staleness: f.now().Sub(f.freshAt),
		LastApplyDelay: f.lastLag.Seconds(), Resets: f.resets}
	st.StalenessSeconds = st.Staleness.Seconds()
	if f.lastErr != nil {
		st.Error = f.lastErr.Error()
	}
	return st
}

// ErrStale is returned by Fresh when the node cannot confirm that it holds
// every change committed more than MaxStaleness ago.
var ErrStale = errors.New("cluster: this node cannot confirm that its state is current (the database does not answer)")

// Fresh returns nil while the node is known to hold every change committed
// more than MaxStaleness ago, and an error wrapping ErrStale otherwise. It
// is cheap (one lock).
func (f *Follower) Fresh() error {
	if f.cfg.MaxStaleness < 0 {
		return nil
	}
	f.mu.Lock()
	age := f.now().Sub(f.freshAt)
	f.mu.Unlock()
	if age > f.cfg.MaxStaleness {
		return fmt.Errorf("%w: last confirmed %v ago", ErrStale, age.Round(time.Millisecond))
	}
	return nil
}

// WaitApplied blocks until every change up to version v is applied (or
// ctx is done): for tests and for an operation that must see its own
// cluster-wide effects.
func (f *Follower) WaitApplied(ctx context.Context, v uint64) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		f.mu.Lock()
		ok := f.applied >= v
		f.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// checkLoop confirms every CheckInterval that the node is current: it
// reads the store's version, and once every change up to it is applied,
// the state holds everything committed before the read began.
func (f *Follower) checkLoop(ctx context.Context) {
	t := time.NewTicker(f.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		at := f.now()
		v, err := f.cfg.Watcher.Version(ctx)
		if err != nil {
			continue // staleness grows until the database answers
		}
		f.mu.Lock()
		f.latest = max(f.latest, v)
		if v <= f.applied {
			f.freshAt = laterOf(f.freshAt, at)
		} else if len(f.checks) < 64 {
			f.checks = append(f.checks, check{version: v, at: at})
		}
		f.mu.Unlock()
	}
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// follow applies the changes of ch, a batch at a time.
func (f *Follower) follow(ctx context.Context, ch <-chan storage.Change) {
	for {
		var batch []storage.Change
		select {
		case <-ctx.Done():
			return
		case c, ok := <-ch:
			if !ok {
				return
			}
			batch = append(batch, c)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case c, ok := <-ch:
				if !ok {
					break drain
				}
				batch = append(batch, c)
			default:
				break drain
			}
		}
		f.applyBatch(ctx, batch)
	}
}

// applyBatch applies batch, retrying (with a pause that grows to 2 s) until
// it succeeds or ctx is done: the node does not go past a change it could
// not apply.
func (f *Follower) applyBatch(ctx context.Context, batch []storage.Change) {
	pause := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f.apply(ctx, batch, attempt > 3)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		f.failuresC.Inc()
		f.mu.Lock()
		f.lastErr, f.failures = err, f.failures+1
		f.mu.Unlock()
		f.log.Warn("cluster: cannot apply another node's changes; retrying", "versions", fmt.Sprintf("%d-%d", batch[0].Version, batch[len(batch)-1].Version), "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, 2*time.Second)
	}
	now := f.now()
	last := batch[len(batch)-1]
	for _, c := range batch {
		if !c.Time.IsZero() {
			f.delay.Observe(max(0, now.Sub(c.Time).Seconds()))
		}
	}
	f.mu.Lock()
	f.applied, f.lastErr = last.Version, nil
	if !last.Time.IsZero() {
		f.lastLag = max(0, now.Sub(last.Time))
	}
	keep := f.checks[:0]
	for _, c := range f.checks {
		if c.version <= f.applied {
			f.freshAt = laterOf(f.freshAt, c.at)
		} else {
			keep = append(keep, c)
		}
	}
	f.checks = keep
	f.mu.Unlock()
}

// apply applies batch: the paths of every change, grouped by target (a
// Reset, or full, reloads every target).
func (f *Follower) apply(ctx context.Context, batch []storage.Change, full bool) error {
	reset := full
	paths := make(map[int][]string)
	for _, c := range batch {
		if c.Reset {
			reset = true
			continue
		}
		for _, p := range c.Keys {
			for i, t := range f.cfg.Targets {
				if strings.HasPrefix(p, t.Prefix) {
					paths[i] = append(paths[i], p)
					break
				}
			}
		}
	}
	if reset {
		f.resetsC.Inc()
		f.mu.Lock()
		f.resets++
		f.mu.Unlock()
		f.log.Warn("cluster: reloading this node's whole state", "version", batch[len(batch)-1].Version, "reset", !full)
		var errs []error
		for _, t := range f.cfg.Targets {
			if err := t.Reload(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
			}
		}
		return errors.Join(errs...)
	}
	var errs []error
	for i, t := range f.cfg.Targets {
		ps := paths[i]
		if len(ps) == 0 {
			continue
		}
		slices.Sort(ps)
		if err := t.Apply(ctx, slices.Compact(ps)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
		}
	}
	return errors.Join(errs...)
}
