//go:build linux

package interop

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// largeSize is the file of the memory test: big enough that buffering the
// whole message would show.
const largeSize = 64 << 20

// maxRSS bounds the peak resident memory of `trent encrypt` and
// `trent decrypt` on the large file. It is below the file size, so a CLI
// that holds the whole plaintext or message in memory fails.
const maxRSS = 56 << 20

// A 64 MiB file round-trips through `trent encrypt` and `trent decrypt`
// with a peak RSS below the file size (memory bounded by a frame, not by the
// file). The 1 GiB run is scripts/bench-envelope.sh.
func TestCLILargeFileBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB round trip skipped in -short mode")
	}
	h := newHarness(t)
	in := filepath.Join(h.dir, "large.pt")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, want), rand.Reader, largeSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	msg := filepath.Join(h.dir, "large.msg")
	out := filepath.Join(h.dir, "large.out")

	rss := h.runRSS(t, "encrypt", "--key", h.keyARN, "--context", "purpose=large", "-o", msg, in)
	t.Logf("trent encrypt of %d MiB: max RSS %.1f MiB", largeSize>>20, float64(rss)/(1<<20))
	if rss > maxRSS {
		t.Errorf("trent encrypt: max RSS %d bytes, want at most %d", rss, maxRSS)
	}
	os.Remove(in) // keep at most two large files at once

	rss = h.runRSS(t, "decrypt", "--key", h.keyARN, "--context", "purpose=large", "-o", out, msg)
	t.Logf("trent decrypt of %d MiB: max RSS %.1f MiB", largeSize>>20, float64(rss)/(1<<20))
	if rss > maxRSS {
		t.Errorf("trent decrypt: max RSS %d bytes, want at most %d", rss, maxRSS)
	}

	g, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	got := sha256.New()
	n, err := io.Copy(got, g)
	if err != nil {
		t.Fatal(err)
	}
	if n != largeSize || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Errorf("trent decrypt: %d bytes differing from the %d bytes encrypted", n, largeSize)
	}
}

// runRSS runs `trent args...` and returns its peak resident set size in
// bytes: the VmHWM of its own address space, sampled from /proc until it
// exits. (The rusage of a child started by os/exec is no use here: Go starts
// children with vfork, so the child's ru_maxrss inherits the high-water mark of
// the test process itself.)
func (h *harness) runRSS(t *testing.T, args ...string) int64 {
	t.Helper()
	cmd := exec.Command(trentBin, args...)
	cmd.Env = h.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("trent %v: %v", args, err)
	}
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var max int64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := vmHWM(status); v > max {
				max = v
			}
			select {
			case <-done:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	max := <-peak
	if err != nil {
		t.Fatalf("trent %v: %v\n%s", args, err, stderr.Bytes())
	}
	if max == 0 {
		t.Fatal("could not sample the process's VmHWM")
	}
	return max
}

// vmHWM reads the peak resident set size (bytes) from a /proc/PID/status
// file, or 0 if the process is gone or has no address space yet.
func vmHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
