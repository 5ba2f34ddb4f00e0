package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

type healthBody struct {
	Status      string `json:"status"` // ok, sealed, uninitialized or error
	Sealed      bool   `json:"sealed"`
	Initialized bool   `json:"initialized"`
	Storage     string `json:"storage"`
}

// health answers GET /health for load balancers: 200 only when the server
// serves the KMS API (unsealed, storage answering); 503 when sealed, not
// initialised or when storage fails. It needs no authentication and says
// nothing about keys.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := healthBody{Status: "ok", Storage: "ok", Initialized: true}
	code := http.StatusOK
	if err := s.state.store.Ping(ctx); err != nil {
		s.log.Error("server: health: storage ping failed", "err", err)
		body = healthBody{Status: "error", Storage: "error", Sealed: s.svc.Load() == nil}
		code = http.StatusServiceUnavailable
	} else if s.svc.Load() == nil {
		body.Sealed, body.Status = true, "sealed"
		code = http.StatusServiceUnavailable
		if st, err := s.state.barrier.Status(ctx); err == nil && !st.Initialized {
			body.Status, body.Initialized = "uninitialized", false
		}
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b)
}
