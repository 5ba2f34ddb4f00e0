package server

import (
	"errors"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves the runtime profiles (net/http/pprof) on a listener of
// their own, --pprof-addr, apart from the API and only on a loopback
// address (Validate refuses others): profiles and goroutine dumps describe
// the process to whoever reads them. Nothing is served when the setting is
// empty. Shutdown closes it.
func (s *Server) startPprof() error {
	if s.cfg.PprofAddr == "" {
		return nil
	}
	ln, err := listen(s.cfg.PprofAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No WriteTimeout: a CPU profile or a trace lasts as long as asked.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second}
	s.mu.Lock()
	s.pprof, s.pprofAddr = srv, ln.Addr()
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server: pprof listener failed (the API is not affected)", "err", err)
		}
	}()
	s.log.Info("server: profiles on http://"+ln.Addr().String()+"/debug/pprof/", "addr", ln.Addr().String())
	return nil
}
