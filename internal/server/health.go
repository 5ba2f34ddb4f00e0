package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/trent-kms/trent/internal/storage"
)

type healthBody struct {
	Status      string `json:"status"` // ok, sealed, uninitialized or error
	Sealed      bool   `json:"sealed"`
	Initialized bool   `json:"initialized"`
	Storage     string `json:"storage"`
	// Audit (while unsealed) is "ok", "off" (--audit=false) or "error:
	// <why>" when the audit log cannot be written: every API call then
	// fails closed.
	Audit string `json:"audit,omitempty"`
	// Cluster (a node sharing its database) says how far the node follows
	// the others; "status":"stale" (503) when it cannot confirm that it is
	// current within max-staleness.
	Cluster *ClusterStatus `json:"cluster,omitempty"`
}

// health answers GET /health for load balancers: 200 only when the server
// serves the KMS API (unsealed, storage answering); 503 when sealed, not
// initialised, when storage fails ("storage": "unavailable" for a database
// that is down or does not answer within 2s, else "error") or when the
// audit log cannot be written. It needs no authentication and says nothing
// about keys.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := healthBody{Status: "ok", Storage: "ok", Initialized: true}
	code := http.StatusOK
	if err := s.state.store.Ping(ctx); err != nil {
		s.log.Error("server: health: storage ping failed", "err", err)
		// Unsealed, the server is initialised; sealed, storage cannot say.
		unsealed := s.svc.Load() != nil
		body = healthBody{Status: "error", Storage: "error", Sealed: !unsealed, Initialized: unsealed}
		if errors.Is(err, storage.ErrUnavailable) {
			body.Storage = "unavailable" // the database is down or does not answer
		}
		code = http.StatusServiceUnavailable
	} else if s.svc.Load() == nil {
		body.Sealed, body.Status = true, "sealed"
		code = http.StatusServiceUnavailable
		if st, err := s.state.barrier.Status(ctx); err == nil && !st.Initialized {
			body.Status, body.Initialized = "uninitialized", false
		}
	}
	if svc := s.svc.Load(); svc != nil {
		switch {
		case svc.audit == nil:
			body.Audit = "off"
		case svc.audit.Err() != nil:
			body.Status, body.Audit = "error", "error: the audit log cannot be written ("+rootCause(svc.audit.Err())+"); API calls fail until it can"
			code = http.StatusServiceUnavailable
		default:
			body.Audit = "ok"
		}
		if body.Cluster = svc.clusterStatus(s.cfg.NodeID); body.Cluster != nil && !svc.cluster.fresh(s.log) {
			body.Status = "stale"
			code = http.StatusServiceUnavailable
		}
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b)
}

// rootCause is the innermost error's text (e.g. "file too large"), without
// the paths the outer errors name.
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
