package envelope

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha512"
	"runtime"
	"testing"
	"time"
)

// TestPipeHash: whatever the lengths and the write sizes, pipeHash sums
// what SHA-384 sums in line, also when it is written again after a hand-off
// (the chunks are recycled).
func TestPipeHash(t *testing.T) {
	data := make([]byte, 3*pipeChunk+pipeChunk/2+7)
	rand.Read(data)
	for _, n := range []int{0, 1, pipeChunk - 1, pipeChunk, pipeChunk + 1, 2 * pipeChunk, len(data)} {
		for _, step := range []int{1 << 10, 4096 + 36, pipeChunk, 3 * pipeChunk} {
			if n > 1<<16 && step < 4096 {
				continue
			}
			p := newPipeHash(crypto.SHA384)
			for off := 0; off < n; off += step {
				p.Write(data[off:min(n, off+step)])
			}
			want := sha512.Sum384(data[:n])
			if got := p.Sum(); !bytes.Equal(got, want[:]) {
				t.Errorf("pipeHash of %d bytes in writes of %d = %x, want %x", n, step, got, want)
			}
		}
	}
}

// TestPipeHashAbandoned: a pipeHash dropped without Sum (a failed message)
// ends its hashing goroutine once it is collected.
func TestPipeHashAbandoned(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 20 {
		p := newPipeHash(crypto.SHA384)
		p.Write(make([]byte, 3*pipeChunk))
	}
	for i := 0; i < 100 && runtime.NumGoroutine() > before; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after dropping 20 pipeHashes, %d before", n, before)
	}
}
