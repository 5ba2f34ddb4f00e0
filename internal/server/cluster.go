package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/cluster"
	"github.com/trent-kms/trent/internal/durable"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/kmserr"
)

// NodeIDFile is the file of the data directory that keeps the node's id
// from one start to the next (when node-id is not set).
const NodeIDFile = "node-id"

// jobsRole is the leadership role of the background jobs.
const jobsRole = "jobs"

// resolveNodeID sets cfg.NodeID when it is empty: the id kept in
// <data-dir>/node-id, else (first start) the short host name and 8 random
// hex digits, kept there; without a data directory, a new one every start.
func resolveNodeID(cfg *Config) error {
	if cfg.NodeID != "" {
		if !audit.ValidNodeID(cfg.NodeID) {
			return fmt.Errorf("server: node id %q: want 1 to 64 of A-Z a-z 0-9 . _ -, not starting with . or -", cfg.NodeID)
		}
		return nil
	}
	path := ""
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("server: data directory: %w", err)
		}
		path = filepath.Join(cfg.DataDir, NodeIDFile)
		if b, err := os.ReadFile(path); err == nil {
			id := strings.TrimSpace(string(b))
			if !audit.ValidNodeID(id) {
				return fmt.Errorf("server: %s holds %q, not a node id: fix or remove it", path, id)
			}
			cfg.NodeID = id
			return nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("server: node id: %w", err)
		}
	}
	cfg.NodeID = newNodeID()
	if path == "" {
		return nil
	}
	if err := durable.Create(path, []byte(cfg.NodeID+"\n")); err != nil {
		return fmt.Errorf("server: node id: %w", err)
	}
	return nil
}

// newNodeID is the host name's first label (cut to 40 characters, other
// characters than A-Z a-z 0-9 _ - dropped) and 8 random hex digits.
func newNodeID() string {
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	var b strings.Builder
	for _, c := range host {
		if b.Len() < 40 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b.WriteRune(c)
		}
	}
	h := strings.TrimLeft(b.String(), "-")
	if h == "" {
		h = "node"
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return h + "-" + hex.EncodeToString(r[:])
}

// clusterRun is what a node sharing its store runs while unsealed: the
// follower of the other nodes' changes, the background jobs under the
// leadership of one node, the publishing of key uses.
type clusterRun struct {
	follower *cluster.Follower
	leader   *cluster.Leader
	kick     chan struct{} // wakes the leader's rewrap
	stale    atomic.Bool   // refusing requests (logged once per episode)
}

// clusterVersion reads the store's version before the services load their
// state: the follower starts from it (0 for a store that is not shared).
func (s *Server) clusterVersion(ctx context.Context) (clusterFrom, error) {
	if s.state.watcher == nil {
		return clusterFrom{}, nil
	}
	at := time.Now()
	v, err := s.state.watcher.Version(ctx)
	if err != nil {
		return clusterFrom{}, fmt.Errorf("server: read the store's version: %w", err)
	}
	return clusterFrom{version: v, at: at}, nil
}

type clusterFrom struct {
	version uint64
	at      time.Time
}

// startCluster starts following the other nodes and the background jobs of
// a shared store; svc.done closes once all of it has stopped (ctx done).
func (s *Server) startCluster(ctx context.Context, svc *services, from clusterFrom) error {
	c := &clusterRun{kick: make(chan struct{}, 1)}
	b := s.state.barrier
	targets := []cluster.Target{
		{Name: "barrier", Prefix: barrier.Prefix, Apply: func(ctx context.Context, _ []string) error {
			err := b.Reload(ctx)
			c.wake()
			return err
		}, Reload: b.Reload},
		{Name: "kms", Prefix: kms.PathPrefix, Apply: svc.kms.Apply, Reload: svc.kms.Reload},
		{Name: "iam", Prefix: "iam/", Apply: func(ctx context.Context, _ []string) error { return svc.iam.Reload(ctx) }, Reload: svc.iam.Reload},
	}
	if svc.shared != nil {
		targets = append(targets, cluster.Target{Name: "key usage", Prefix: audit.UsagePrefix, Apply: svc.shared.Apply, Reload: svc.shared.Reload})
	}
	reg := s.metrics.cluster()
	f, err := cluster.Follow(ctx, cluster.FollowerConfig{
		Watcher: s.state.watcher, Since: from.version, SinceAt: from.at, Targets: targets,
		MaxStaleness: s.cfg.MaxStaleness, Logger: s.log, Registerer: reg,
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	c.follower = f
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); svc.kms.RunFlush(ctx) }()
	if svc.shared != nil {
		wg.Add(1)
		go func() { defer wg.Done(); svc.shared.Run(ctx) }()
	}
	c.leader = cluster.Lead(ctx, s.state.elector, jobsRole, s.log, func(ctx context.Context) {
		var jobs sync.WaitGroup
		jobs.Add(1)
		go func() { defer jobs.Done(); s.rewrapWhenNeeded(ctx, c.kick) }()
		svc.kms.RunJobs(ctx)
		jobs.Wait()
	})
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trent_leader", Help: "1 while this node runs the background jobs (one node of the database at a time).",
		}, func() float64 {
			if c.leader.Leading() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trent_node_info", Help: "This node's id (label node), always 1.", ConstLabels: prometheus.Labels{"node": s.cfg.NodeID},
		}, func() float64 { return 1 }),
	)
	svc.cluster = c
	go func() {
		<-ctx.Done()
		c.leader.Stop()
		f.Stop()
		wg.Wait()
		close(svc.done)
	}()
	s.log.Info("server: following the other nodes of the database", "node", s.cfg.NodeID, "from_version", from.version,
		"max_staleness", s.cfg.MaxStaleness)
	return nil
}

// wake asks the leader (if this node leads) to look for a rewrap to do.
func (c *clusterRun) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// rewrapWhenNeeded runs on the leader: whenever the keyring holds older
// data keys (a rotation on any node, or a rewrap another leader did not
// finish), it rewraps the records, then waits for the next change of the
// keyring.
func (s *Server) rewrapWhenNeeded(ctx context.Context, kick <-chan struct{}) {
	for {
		if st, err := s.state.barrier.Status(ctx); err == nil && len(st.DataKeys) > 1 {
			s.log.Info("server: rewrapping records under the newest data key", "data_key", st.DataKey, "versions", st.DataKeys)
			s.rewrap(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
	}
}

// errStale is the answer of a node that cannot confirm that it is current.
var errStale = kmserr.ErrDependencyTimeout.With("The system timed out while trying to fulfill the request. The request can be retried.")

// fresh reports whether the node may serve: it has confirmed within
// max-staleness that it holds every change the other nodes committed. It
// logs when that changes.
func (c *clusterRun) fresh(log *slog.Logger) bool {
	err := c.follower.Fresh()
	if err != nil {
		if !c.stale.Swap(true) {
			log.Error("server: refusing requests: this node cannot confirm that it knows the other nodes' changes (a key or access key may have been revoked)", "err", err)
		}
		return false
	}
	if c.stale.Swap(false) {
		log.Warn("server: serving again: this node follows the other nodes' changes")
	}
	return true
}

// ClusterStatus is what /health and the operator status say of a node
// sharing its store.
type ClusterStatus struct {
	Node   string `json:"node"`
	Leader bool   `json:"leader"`
	cluster.Status
}

func (svc *services) clusterStatus(node string) *ClusterStatus {
	if svc == nil || svc.cluster == nil {
		return nil
	}
	st := svc.cluster.follower.Status()
	if st.Error != "" {
		st.Error = "cannot apply another node's changes" + seeLog
	}
	return &ClusterStatus{Node: node, Leader: svc.cluster.leader.Leading(), Status: st}
}

// seeLog replaces, in the unauthenticated /health and operator status, a
// failure's text, which names records (region, account, key id): the server
// log has it.
const seeLog = " (the cause is in the server log)"

// cluster returns the registerer of the metrics of a node sharing its
// store, emptied first: a node that unseals again registers a new set.
func (m *metrics) cluster() prometheus.Registerer {
	m.clusterReg.reset()
	return &m.clusterReg
}

// swapRegisterer registers into the server's registry and remembers what,
// so that reset can take it out again.
type swapRegisterer struct {
	reg *prometheus.Registry
	mu  sync.Mutex
	cs  []prometheus.Collector
}

func (r *swapRegisterer) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.cs = append(r.cs, c)
	r.mu.Unlock()
	return nil
}

func (r *swapRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *swapRegisterer) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

func (r *swapRegisterer) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.cs {
		r.reg.Unregister(c)
	}
	r.cs = nil
}
