// Package e2e tests the trent binary end to end: TestMain builds it once, every
// test starts it as a real process on a free loopback port and drives it over
// real HTTP with the AWS SDK for Go v2 (real SigV4), the AWS CLI and boto3.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

// trentBin is the binary built by TestMain.
var trentBin string

// raceBuild is set (race_test.go) when the tests run with -race: the server
// is then built with -race as well.
var raceBuild bool

func TestMain(m *testing.M) {
	flag.Parse()
	parallelDefault()
	os.Exit(run(m))
}

// parallelDefault raises -parallel, unless given, from GOMAXPROCS to at
// least 4: these tests mostly wait on processes they started (servers, the
// AWS CLI), so two at a time, on two cores, left the cores idle and the
// package near go test's 10-minute timeout.
func parallelDefault() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && runtime.GOMAXPROCS(0) < 4 {
		flag.Set("test.parallel", "4")
	}
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "trent-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	trentBin = filepath.Join(dir, "trent")
	start := time.Now()
	// trent_testclock: TRENT_TEST_CLOCK_OFFSET moves the identity clock
	// (session expiry, see internal/server/testclock.go).
	args := []string{"build", "-tags", "trent_testclock", "-o", trentBin}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/trent")...)
	build.Dir = ".." // the repository root (tests run in e2e/)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/trent: %v\n%s", err, out)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: built trent in %v\n", time.Since(start).Round(time.Millisecond))
	return pgtest.Main(m) // m.Run, then stop the PostgreSQL servers the tests started
}

// Development credentials of dev mode (CONTRACTS.md).
const (
	devAccessKey = "AKIAIOSFODNN7EXAMPLE"
	devSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	devAccount   = "111122223333"
	devRegion    = "us-east-1"
)

// (kmsstub, the bare stub of tools/, says it the same way.)
var listeningRE = regexp.MustCompile(`(?:trent|kmsstub): listening on (https?://\S+)`)

// server is one running trent process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	URL  string // http://127.0.0.1:PORT (or https://)
	log  *lockedBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

// lockedBuffer collects the server's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
	l.b.WriteByte('\n')
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serverEnv is the environment of a trent process: ours without TRENT_* and
// AWS_* variables, so that nothing leaks into the flags under test.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TRENT_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// startServer runs `trent <args...>` and waits for its listening line. The
// process is stopped when the test ends; its stderr is logged if the test
// failed.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	s, err := tryStartServer(t, args...)
	if err != nil {
		t.Fatalf("start trent %s: %v\nstderr:\n%s", strings.Join(args, " "), err, s.log)
	}
	return s
}

// tryStartServer is startServer that returns an error instead of failing the
// test when the process exits (or hangs) before listening.
func tryStartServer(t *testing.T, args ...string) (*server, error) {
	t.Helper()
	return tryStartServerEnv(t, nil, args...)
}

// tryStartServerEnv is tryStartServer with extra environment variables.
func tryStartServerEnv(t *testing.T, env []string, args ...string) (*server, error) {
	t.Helper()
	cmd := exec.Command(trentBin, args...)
	cmd.Env = append(serverEnv(), env...)
	return tryStartCmd(t, cmd, args)
}

// tryStartCmd starts cmd (trent, or a wrapper that execs it) and waits for
// its listening line; args name the server in failure messages.
func tryStartCmd(t *testing.T, cmd *exec.Cmd, args []string) (*server, error) {
	t.Helper()
	cmd.Dir = t.TempDir() // never write ./trent-data into the source tree
	s := &server{t: t, cmd: cmd, log: &lockedBuffer{}, done: make(chan struct{})}
	urls := make(chan string, 1)
	sent := false
	stderr := &lineWriter{line: func(line string) {
		s.log.add(line)
		if m := listeningRE.FindStringSubmatch(line); m != nil && !sent {
			urls <- m[1]
			sent = true
		}
	}}
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	// Wait returns at most this long after the process exits even if a
	// child of it still holds the output pipe (else a test hangs until the
	// package's timeout).
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", trentBin, err)
	}
	go func() {
		s.err = cmd.Wait()
		stderr.flush()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop()
		if strings.Contains(s.log.String(), "WARNING: DATA RACE") {
			t.Error("the race detector reported a data race in trent")
		}
		if t.Failed() {
			t.Logf("trent %s stderr:\n%s", strings.Join(args, " "), s.log)
		}
	})
	select {
	case u := <-urls:
		s.URL = u
		return s, nil
	case <-s.done:
		return s, fmt.Errorf("exited before listening: %v", s.err)
	case <-time.After(20 * time.Second):
		s.kill()
		return s, errors.New("no listening line within 20s")
	}
}

// lineWriter calls line for each line written to it (without its newline);
// os/exec writes a process's output to it from one goroutine.
type lineWriter struct {
	line    func(string)
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

// flush passes on the last line if it had no newline.
func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.line(string(w.partial))
		w.partial = nil
	}
}

// stop sends SIGTERM and waits (at most 10 s, then SIGKILL). It returns the
// process's exit error (nil for exit status 0).
func (s *server) stop() error {
	select {
	case <-s.done:
		return s.err
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.err
	case <-time.After(10 * time.Second):
		s.kill()
		return errors.New("did not exit within 10s of SIGTERM")
	}
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// startDev starts `trent server --dev` on a free port with extra flags.
func startDev(t *testing.T, extra ...string) *server {
	t.Helper()
	return startServer(t, append([]string{"server", "--dev", "--addr", "127.0.0.1:0"}, extra...)...)
}

// ctx returns a context bounded by 30 s for one test step.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
