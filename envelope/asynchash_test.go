package envelope

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"testing"
)

// asyncHash gives the digest of the bytes written, whatever the sizes of the
// writes and whether the total stays below or goes past the in-line part.
func TestAsyncHashMatchesHash(t *testing.T) {
	data := make([]byte, 3*asyncBatch+12345)
	rand.Read(data)
	for _, total := range []int{0, 1, asyncBatch - 1, asyncBatch, asyncBatch + 1, 2 * asyncBatch, len(data)} {
		for _, chunk := range []int{1, 4096 + 36, asyncBatch, asyncBatch + 7} {
			if chunk == 1 && total > 2*asyncBatch {
				continue // slow and adds nothing
			}
			want := sha512.Sum384(data[:total])
			a := newAsyncHash(sha512.New384())
			for p := data[:total]; len(p) > 0; {
				n := min(chunk, len(p))
				a.Write(p[:n])
				p = p[n:]
			}
			if got := a.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Errorf("total %d chunk %d: digest differs", total, chunk)
			}
		}
	}
}

// The caller may overwrite what it wrote as soon as Write returns.
func TestAsyncHashCopiesInput(t *testing.T) {
	buf := make([]byte, asyncBatch/2+1)
	want := sha512.New384()
	a := newAsyncHash(sha512.New384())
	for i := range 10 {
		for j := range buf {
			buf[j] = byte(i + j)
		}
		want.Write(buf)
		a.Write(buf)
		clear(buf)
	}
	if !bytes.Equal(a.Sum(nil), want.Sum(nil)) {
		t.Error("digest depends on buffers reused after Write")
	}
}
