package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStoppedOpenNoCoreDumps: trent admin and trent operator migrate-seal
// (openStopped) hold the root key and the data keys as a server does, and
// keep them out of core dumps as a server does. The open runs in a child
// process of its own: every server this test binary starts has already
// made it undumpable.
func TestStoppedOpenNoCoreDumps(t *testing.T) {
	if dir := os.Getenv("TRENT_TEST_STOPPED_DIR"); dir != "" {
		cfg := testConfig()
		cfg.DataDir = dir
		before, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		_, closeFn, err := OpenIdentities(context.Background(), cfg, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		after, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		closeFn()
		fmt.Printf("dumpable %d -> %d\n", before, after)
		return
	}
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	s, _ := start(t, cfg)
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoppedOpenNoCoreDumps$")
	cmd.Env = append(os.Environ(), "TRENT_TEST_STOPPED_DIR="+cfg.DataDir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dumpable 1 -> 0\n") {
		t.Errorf("open of a stopped data directory: %v\n%s\nwant dumpable 1 -> 0", err, out)
	}
}
