package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

type healthBody struct {
	Status  string `json:"status"`
	Sealed  bool   `json:"sealed"`
	Storage string `json:"storage"`
}

// health answers GET /health: 200 when storage answers a ping, else 503.
// It needs no authentication and says nothing about keys.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := healthBody{Status: "ok", Storage: "ok"}
	code := http.StatusOK
	if err := s.state.store.Ping(ctx); err != nil {
		s.log.Error("server: health: storage ping failed", "err", err)
		body = healthBody{Status: "error", Storage: "error"}
		code = http.StatusServiceUnavailable
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b)
}
