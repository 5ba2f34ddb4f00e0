package cluster

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/trent-kms/trent/internal/storage"
)

// Leader runs a job on one node at a time among the nodes of a store: the
// node that holds the store's lease of its role. When that node dies or
// loses the database, its lease ends and another node's Leader starts the
// job there; jobs must therefore be resumable (each step a transaction that
// re-reads what it changes, so that a step cut short is simply done again).
type Leader struct {
	leading atomic.Bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// Lead runs job(ctx) whenever this node holds the leadership of role,
// until ctx is done. job's context is cancelled when the lease is lost
// (and Lead waits for job to return before it competes again).
func Lead(ctx context.Context, e storage.Elector, role string, log *slog.Logger, job func(context.Context)) *Leader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &Leader{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			lease, err := e.Elect(ctx, role)
			if err != nil {
				return // ctx done
			}
			log.Info("cluster: this node leads", "role", role)
			l.leading.Store(true)
			jctx, stop := context.WithCancel(ctx)
			ended := make(chan struct{})
			go func() {
				defer close(ended)
				job(jctx)
			}()
			select {
			case <-lease.Done():
				if ctx.Err() == nil {
					log.Warn("cluster: this node lost the leadership", "role", role)
				}
			case <-ctx.Done():
			}
			stop()
			<-ended
			l.leading.Store(false)
			lease.Release()
		}
	}()
	return l
}

// Leading reports whether this node leads now.
func (l *Leader) Leading() bool { return l != nil && l.leading.Load() }

// Stop ends the job and gives the leadership up.
func (l *Leader) Stop() {
	l.cancel()
	<-l.done
}
