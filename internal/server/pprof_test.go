package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPprof: --pprof-addr serves the profiles on a listener of its own;
// the API's port does not serve them, and a non-loopback address is
// refused.
func TestPprof(t *testing.T) {
	t.Parallel()
	cfg := devConfig()
	cfg.PprofAddr = "127.0.0.1:0"
	s, _ := start(t, cfg)
	s.mu.Lock()
	addr := s.pprofAddr.String()
	s.mu.Unlock()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + addr + "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("GET pprof index: %d %.100q", code, body)
	}
	if code, body := get("http://" + addr + "/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Errorf("GET heap profile: %d %.100q", code, body)
	}
	if code, body := get(s.URL() + "/debug/pprof/"); code == 200 || strings.Contains(body, "goroutine") {
		t.Errorf("the API port serves profiles: %d %.100q", code, body)
	}

	bad := devConfig()
	bad.PprofAddr = "0.0.0.0:6060"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("Validate(--pprof-addr 0.0.0.0:6060) = %v, want a loopback error", err)
	}
}
