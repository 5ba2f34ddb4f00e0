//go:build linux

package interop

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// `-o` naming a device or FIFO writes into it: a temporary file renamed over
// it would replace it (once, `trent decrypt -o /dev/null` turned /dev/null
// into a regular file).
func TestCLIOutputToFIFO(t *testing.T) {
	h := newHarness(t)
	pt := filepath.Join(h.dir, "fifo.pt")
	want := bytes.Repeat([]byte("fifo "), 5000)
	if err := os.WriteFile(pt, want, 0o600); err != nil {
		t.Fatal(err)
	}
	msg := filepath.Join(h.dir, "fifo.msg")
	h.run(trentBin, "encrypt", "--key", h.keyARN, "-o", msg, pt)

	fifo := filepath.Join(h.dir, "out.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(fifo) // blocks until the writer opens it
		if err != nil {
			got <- nil
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- b
	}()
	h.run(trentBin, "decrypt", "--key", h.keyARN, "-o", fifo, msg)
	fi, err := os.Lstat(fifo)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("after trent decrypt -o FIFO, the FIFO is a %v", fi.Mode().Type())
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, want) {
			t.Errorf("read %d bytes from the FIFO, want the %d plaintext bytes", len(b), len(want))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("nothing was written to the FIFO")
	}
	entries, _ := os.ReadDir(h.dir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".pt" && filepath.Ext(e.Name()) != ".msg" && e.Name() != "out.fifo" && e.Name()[0] == '.' {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
