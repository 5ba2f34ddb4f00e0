package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/trent-kms/trent/internal/server"
)

// TestMain lets testscript run this test binary as the trent command.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"trent": main})
}

// TestScripts runs the CLI scenarios of testdata/script: help, version,
// every error message and hint, the start-up output, completion and the
// manual page. Each script gets a fresh $WORK (and HOME) and an environment
// without the caller's AWS_* and TRENT_* variables.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"server":     cmdServer,
			"stopserver": cmdStopServer,
		},
	})
}

var listeningRE = regexp.MustCompile(`trent: listening on (https?://\S+)`)

// serverEnv is the environment a background server gets from the script:
// PATH, HOME, and the script's TRENT_* and AWS_* variables.
func serverEnv(ts *testscript.TestScript) []string {
	env := []string{"PATH=" + ts.Getenv("PATH"), "HOME=" + ts.Getenv("HOME"), "TMPDIR=" + ts.Getenv("TMPDIR")}
	for i := range server.Settings {
		if v := ts.Getenv(server.Settings[i].Env()); v != "" {
			env = append(env, server.Settings[i].Env()+"="+v)
		}
	}
	return env
}

// cmdServer: server [args...] runs `trent server args...` in the background,
// its standard error and output in $WORK/server.log, waits for the start-up
// summary, and sets $URL and $ADDR. stopserver (or the end of the script)
// stops it.
func cmdServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! server")
	}
	bin, err := lookPath(ts.Getenv("PATH"), "trent")
	ts.Check(err)
	logPath := ts.MkAbs("server.log")
	logf, err := os.Create(logPath)
	ts.Check(err)
	cmd := exec.Command(bin, append([]string{"server"}, args...)...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = serverEnv(ts)
	cmd.Stdout, cmd.Stderr = logf, logf
	ts.Check(cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
	}
	ts.Defer(stop)
	serverMu.Lock()
	serverStops[ts] = stop
	serverMu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		if m := listeningRE.FindSubmatch(b); m != nil && strings.Contains(string(b), "export AWS_DEFAULT_REGION=") ||
			m != nil && strings.Contains(string(b), `"msg":"server: ready"`) {
			ts.Setenv("URL", string(m[1]))
			ts.Setenv("ADDR", strings.TrimPrefix(strings.TrimPrefix(string(m[1]), "http://"), "https://"))
			return
		}
		select {
		case err := <-done:
			done <- err
			ts.Fatalf("server exited before its summary: %v\n%s", err, b)
		case <-time.After(20 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(logPath)
	ts.Fatalf("no start-up summary within 30s:\n%s", b)
}

// serverStops holds the stop function of each script's server.
var (
	serverMu    sync.Mutex
	serverStops = map[*testscript.TestScript]func(){}
)

func cmdStopServer(ts *testscript.TestScript, neg bool, args []string) {
	serverMu.Lock()
	stop, ok := serverStops[ts]
	serverMu.Unlock()
	if !ok {
		ts.Fatalf("stopserver: no server")
	}
	stop()
}

func lookPath(path, name string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New(name + " not in the script's PATH")
}
