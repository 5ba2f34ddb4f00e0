package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// benchOut is the --json output of trent bench (the fields the tests read).
type benchOut struct {
	Op, Mode                string
	Procs                   int
	Requests, Errors, Wrong int
	Checked                 int
	OpsPerSec               float64
	ServerCPUSeconds        float64 `json:"serverCpuSeconds"`
	ServerCPUPerRequestUs   float64 `json:"serverCpuPerRequestUs"`
	FirstError, FirstWrong  string
	LatencyMs               struct{ P50, P99 float64 }
}

// runBench runs trent bench with args (plus a short run) against url and
// returns its exit code and parsed output.
func runBench(t *testing.T, url string, args ...string) (int, benchOut, string) {
	t.Helper()
	args = append([]string{"bench", "--endpoint", url, "--duration", "300ms", "--warmup", "0",
		"--concurrency", "4", "--json"}, args...)
	cmd := exec.Command(trentBin, args...)
	cmd.Env = serverEnv() // no AWS_* of the environment: the development credentials
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("trent %s: %v", strings.Join(args, " "), err)
	}
	var out benchOut
	if code != 2 {
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			t.Fatalf("trent %s: output is not JSON (%v): %s\nstderr: %s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
		}
	}
	return code, out, stderr.String()
}

// TestBench drives a dev server with every operation of trent bench, in
// both client modes: every request answered, every answer right, the
// server's CPU time read from /metrics.
func TestBench(t *testing.T) {
	t.Parallel()
	s := startServer(t, "server", "--dev", "--addr", "127.0.0.1:0")
	for _, op := range []string{"encrypt", "decrypt", "generate-data-key", "re-encrypt", "describe-key", "create-key",
		"sign", "verify", "generate-mac", "mixed"} {
		for _, mode := range []string{"sdk", "replay"} {
			args := []string{"--op", op}
			if mode == "replay" {
				args = append(args, "--replay")
			}
			code, out, stderr := runBench(t, s.URL, args...)
			if code != 0 || out.Requests == 0 || out.Errors != 0 || out.Wrong != 0 || out.Checked == 0 {
				t.Errorf("bench --op %s (%s): exit %d, %d requests, %d errors (%s), %d wrong (%s), %d checked; stderr: %s",
					op, mode, code, out.Requests, out.Errors, out.FirstError, out.Wrong, out.FirstWrong, out.Checked, stderr)
				continue
			}
			if out.Mode != mode || out.Op != op {
				t.Errorf("bench --op %s (%s): output says op %s mode %s", op, mode, out.Op, out.Mode)
			}
			if mode == "replay" && os.Getenv("GOMAXPROCS") == "" && out.Procs != 1 {
				t.Errorf("bench --op %s --replay: the clients ran on %d threads, want 1", op, out.Procs)
			}
			if out.ServerCPUSeconds < 0 {
				t.Errorf("bench --op %s (%s): server CPU unknown", op, mode)
			}
		}
	}
	for _, args := range [][]string{{"--op", "mixed", "--context", "app=bench", "--context", "tenant=t1"},
		{"--op", "re-encrypt", "--context", "app=bench", "--replay"}, {"--op", "encrypt", "--replay", "--procs", "3"}} {
		code, out, stderr := runBench(t, s.URL, args...)
		if code != 0 || out.Errors != 0 || out.Wrong != 0 {
			t.Errorf("bench %v: exit %d, %d errors (%s), %d wrong (%s); stderr: %s", args, code, out.Errors, out.FirstError, out.Wrong, out.FirstWrong, stderr)
		}
		if slices.Contains(args, "--procs") && out.Procs != 3 {
			t.Errorf("bench %v: the clients ran on %d threads, want 3", args, out.Procs)
		}
	}
	if code, _, stderr := runBench(t, s.URL, "--server-pid", "-1"); code != 2 || !strings.Contains(stderr, "--server-pid -1") {
		t.Errorf("bench --server-pid -1: exit %d, stderr %q; want 2 and a usage error", code, stderr)
	}
	if code, _, stderr := runBench(t, s.URL, "--op", "nope"); code != 2 || !strings.Contains(stderr, "unknown --op") {
		t.Errorf("bench --op nope: exit %d, stderr %q; want 2 and a usage error", code, stderr)
	}
}

// TestBenchCatchesWrongAnswers puts a proxy that corrupts the plaintexts
// of Decrypt answers between trent bench and the server: the bench must
// count them as wrong and exit 1, in both modes.
func TestBenchCatchesWrongAnswers(t *testing.T) {
	t.Parallel()
	s := startServer(t, "server", "--dev", "--addr", "127.0.0.1:0")
	target, _ := url.Parse(s.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Header.Get("X-Amz-Target") != "TrentService.Decrypt" || resp.StatusCode != http.StatusOK {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		m["Plaintext"] = "d3Jvbmc=" // "wrong"
		b, _ = json.Marshal(m)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	for _, args := range [][]string{{"--op", "decrypt"}, {"--op", "decrypt", "--replay"}, {"--op", "encrypt"}} {
		code, out, _ := runBench(t, ps.URL, args...)
		if code != 1 || out.Wrong == 0 {
			t.Errorf("bench %v through a corrupting proxy: exit %d, %d wrong; want exit 1 and wrong answers counted", args, code, out.Wrong)
		}
	}
}

// TestBenchStub runs trent bench against the bare stub of
// docs/benchmarks.md (tools/kmsstub), so that the side-by-side figures
// keep working.
func TestBenchStub(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(buildTool(t, "./tools/kmsstub"), "-addr", "127.0.0.1:0")
	stub, err := tryStartCmd(t, cmd, []string{"kmsstub"})
	if err != nil {
		t.Fatalf("start kmsstub: %v\n%s", err, stub.log)
	}
	s := stub.URL
	for _, op := range []string{"encrypt", "decrypt", "generate-data-key", "describe-key", "mixed"} {
		code, out, stderr := runBench(t, s, "--op", op, "--replay")
		if code != 0 || out.Requests == 0 || out.Errors != 0 || out.ServerCPUSeconds < 0 {
			t.Errorf("bench --op %s against the stub: exit %d, %d requests, %d errors (%s), server CPU %v; stderr: %s",
				op, code, out.Requests, out.Errors, out.FirstError, out.ServerCPUSeconds, stderr)
		}
	}
	// --server-pid: the CPU time from /proc, as for servers without /metrics.
	if runtime.GOOS == "linux" {
		code, out, stderr := runBench(t, s, "--op", "encrypt", "--replay", "--server-pid", strconv.Itoa(cmd.Process.Pid))
		if code != 0 || out.ServerCPUSeconds <= 0 || out.ServerCPUPerRequestUs <= 0 {
			t.Errorf("bench --server-pid %d: exit %d, server CPU %vs, %v us/request; stderr: %s",
				cmd.Process.Pid, code, out.ServerCPUSeconds, out.ServerCPUPerRequestUs, stderr)
		}
		if _, out, _ := runBench(t, s, "--op", "encrypt", "--replay", "--server-pid", "1073741824"); out.ServerCPUSeconds != -1 {
			t.Errorf("bench --server-pid of no process: server CPU %vs, want unknown (-1)", out.ServerCPUSeconds)
		}
	}
}

// TestBenchOneRequestAtLeast: every client sends one request at least,
// however short --duration is (on a busy machine a short run could end
// before any answer, and report no figures): with 1ns, in both modes,
// exactly one request per client.
func TestBenchOneRequestAtLeast(t *testing.T) {
	t.Parallel()
	s := startServer(t, "server", "--dev", "--addr", "127.0.0.1:0")
	for _, mode := range [][]string{nil, {"--replay"}} {
		code, out, stderr := runBench(t, s.URL, append([]string{"--op", "mixed", "--duration", "1ns"}, mode...)...)
		if code != 0 || out.Requests != 4 || out.Errors != 0 {
			t.Errorf("bench %v --duration 1ns: exit %d, %d requests (want 4: one per client), %d errors; stderr: %s",
				mode, code, out.Requests, out.Errors, stderr)
		}
	}
}
