package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/awsquery"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/sigv4"
)

// AuditDir is the directory of the audit log's segment files under the data
// directory.
const AuditDir = "audit"

// openAudit opens the audit log: segment files under <data-dir>/audit, or,
// in dev mode without a data directory, no files at all (records go to
// standard output with --audit-stdout, and feed GetKeyLastUsage; they are
// gone at exit like everything else). nil when --audit=false.
func openAudit(ctx context.Context, cfg *Config, st *state, logger *slog.Logger) (*audit.Log, error) {
	// The log lives while the server is unsealed: its signing key is in the
	// barrier. A sealed server refuses every KMS call without a record.
	if !cfg.Audit {
		logger.Warn("server: AUDIT LOG OFF (--audit=false): API calls are not recorded; for measurements only, never in production")
		return nil, nil
	}
	mode, err := audit.ParseSyncMode(cfg.AuditSync)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	signer, created, err := audit.LoadOrCreateSigner(ctx, st.store, time.Now())
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	opts := audit.Options{Sync: mode, Signer: signer, TrackingStart: created, Logger: logger, Node: cfg.NodeID}
	if cfg.DataDir != "" {
		opts.Dir = filepath.Join(cfg.DataDir, AuditDir)
		// The head stored when the log was last known on disk: Open
		// reports a log that no longer reaches it.
		if opts.Expect, err = audit.LoadHead(ctx, st.store, auditHeadNode(cfg, st)); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		opts.Restored = st.barrier.Restored()
	}
	if cfg.AuditStdout {
		opts.Stdout = os.Stdout
	}
	l, err := audit.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if opts.Dir == "" {
		logger.Warn("server: audit log in memory only (dev mode without --data-dir): records go to standard output with --audit-stdout, nowhere else")
	} else {
		logger.Info("server: audit log opened", "dir", opts.Dir, "sync", mode.String(), "stdout", cfg.AuditStdout)
	}
	return l, nil
}

// usageIndex is the audit log's index (or the shared one) as
// kms.UsageIndex (GetKeyLastUsage).
type usageIndex struct {
	l interface {
		LastUsage(keyARN string) (audit.Usage, bool)
		TrackingStart() time.Time
	}
}

var _ kms.UsageIndex = usageIndex{}

func (u usageIndex) LastUsage(keyARN string) (string, time.Time, string, string, bool) {
	x, ok := u.l.LastUsage(keyARN)
	return x.Operation, x.Time, x.EventID, x.RequestID, ok
}

func (u usageIndex) TrackingStart() time.Time { return u.l.TrackingStart() }

// recorder is what awsjson records into: the log, or nothing.
func (svc *services) recorder() audit.Recorder {
	if svc.audit == nil {
		return audit.Discard
	}
	return svc.audit
}

// usage is what kms answers GetKeyLastUsage from (nil without a log): the
// log's index, merged with the other nodes' published uses when the store
// is shared.
func (svc *services) usage() kms.UsageIndex {
	switch {
	case svc.audit == nil:
		return nil
	case svc.shared != nil:
		return usageIndex{svc.shared}
	}
	return usageIndex{svc.audit}
}

// auditAdmin records an operator request (eventSource admin.trent.internal)
// once its signature was checked (authErr: why it was refused), before it
// runs: a seal closes the log, so the outcome of the operation itself is
// in the server log, not here. reqID is the id the caller is answered with.
func (svc *services) auditAdmin(r *http.Request, reqID string, res *sigv4.Result, authErr error) error {
	if svc.audit == nil {
		return nil
	}
	name := strings.TrimPrefix(r.URL.Path, operatorPrefix)
	if name != "" {
		name = strings.ToUpper(name[:1]) + name[1:]
	}
	e := audit.Event{
		Time: time.Now(), Source: audit.SourceAdmin, Name: name, RequestID: reqID,
		UserAgent: r.UserAgent(), TLS: r.TLS, Host: r.Host,
	}
	e.SourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	if res != nil {
		e.Identity, e.Region = audit.PrincipalIdentity(res.Principal, res.AccessKeyID), res.Region
	}
	if authErr != nil {
		e.ErrorCode, e.ErrorMessage = "AccessDeniedException", "not authorized"
		var ke *kmserr.Error
		if errors.As(authErr, &ke) {
			e.ErrorCode, e.ErrorMessage = ke.Code, ke.Message
		}
	}
	return svc.audit.Record(r.Context(), &e)
}

// queryAuditor records the IAM/STS front door's events (awsquery.Auditor)
// in the audit log.
type queryAuditor struct{ l *audit.Log }

var _ awsquery.Auditor = queryAuditor{}

func (q queryAuditor) Record(ctx context.Context, e *awsquery.Event) error {
	ev := audit.Event{
		Time: e.Time, Source: e.EventSource, Name: e.EventName, RequestID: e.RequestID, Region: e.Region,
		SourceIP: e.SourceIP, UserAgent: e.UserAgent, ErrorCode: e.ErrorCode, ErrorMessage: e.ErrorMessage,
		Params: e.Input, Output: e.Output,
	}
	if ev.Name == "" {
		ev.Name = "unknown"
	}
	if e.Principal != nil {
		ev.Identity = audit.PrincipalIdentity(*e.Principal, e.AccessKeyID)
	} else {
		ev.Identity.AccessKeyID = e.AccessKeyID
	}
	return q.l.Record(ctx, &ev)
}

// Err is why the log cannot be written (awsquery then refuses every call
// before it runs).
func (q queryAuditor) Err() error { return q.l.Err() }

// queryAuditor is what the IAM/STS front door records into (nil: nothing).
func (svc *services) queryAuditor() awsquery.Auditor {
	if svc.audit == nil {
		return nil
	}
	return queryAuditor{svc.audit}
}

// closeAudit writes the shutdown digest, closes the log and stores its
// head.
func (svc *services) closeAudit(logger *slog.Logger) {
	if svc.audit == nil {
		return
	}
	if err := svc.audit.Close(); err != nil {
		logger.Error("server: close audit log", "err", err)
	}
	svc.storeAuditHead(context.Background(), logger)
}

// auditHeadNode is the node whose head the store keeps for this log: the
// node id on a store shared by several nodes (each has its own chain, in
// its own data directory), none on a store of one server, so that a new
// node id (its file removed with the log) does not start a log the stored
// head does not check.
func auditHeadNode(cfg *Config, st *state) string {
	if st.watcher != nil {
		return cfg.NodeID
	}
	return ""
}

// keepAuditHead stores the log's head as its digests reach the disk
// (about once a minute while records arrive) until ctx is done: never on a
// request's path.
func (svc *services) keepAuditHead(ctx context.Context, logger *slog.Logger) {
	defer close(svc.headDone)
	t := time.NewTicker(audit.DefaultDigestInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			svc.storeAuditHead(ctx, logger)
		}
	}
}

// storeAuditHead stores the last digest on disk as the log's head (see
// audit.Head) when it moved. A failure is logged: the head stored before
// stays, which only makes the check at the next start weaker.
func (svc *services) storeAuditHead(ctx context.Context, logger *slog.Logger) {
	if svc.headStore == nil {
		return
	}
	h, ok := svc.audit.SignedHead()
	if !ok || h.Seq == svc.lastHead.Seq && h.Chain == svc.lastHead.Chain {
		return
	}
	if err := audit.StoreHead(ctx, svc.headStore, svc.headNode, h); err != nil {
		logger.Warn("server: the audit log's head was not stored", "seq", h.Seq, "err", err)
		return
	}
	svc.lastHead = h
}
