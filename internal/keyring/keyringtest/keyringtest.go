// Package keyringtest is the conformance suite for keyring.Keyring. Every
// seal implementation runs it from one short test:
//
//	func TestConformance(t *testing.T) {
//		keyringtest.Run(t, func(t *testing.T) keyring.Keyring { return keyring.GenerateEphemeral() })
//	}
//
// open must return a ready keyring; the suite closes every keyring it opens.
package keyringtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/trent-kms/trent/internal/keyring"
)

// Run exercises the contract documented on keyring.Keyring.
func Run(t *testing.T, open func(t *testing.T) keyring.Keyring) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, kr keyring.Keyring)
	}{
		{"RoundTrip", testRoundTrip},
		{"EmptyPlaintext", testEmptyPlaintext},
		{"WrongAAD", testWrongAAD},
		{"BitFlip", testBitFlip},
		{"Truncation", testTruncation},
		{"Extension", testExtension},
		{"Garbage", testGarbage},
		{"WrapsDiffer", testWrapsDiffer},
		{"NoAliasing", testNoAliasing},
		{"Concurrent", testConcurrent},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kr := open(t)
			t.Cleanup(func() { _ = kr.Close() })
			tc.fn(t, kr)
		})
	}
}

var ctx = context.Background()

func mustWrap(t *testing.T, kr keyring.Keyring, pt, aad []byte) []byte {
	t.Helper()
	w, err := kr.Wrap(ctx, pt, aad)
	if err != nil {
		t.Fatalf("Wrap(%d bytes, %q) err = %v", len(pt), aad, err)
	}
	return w
}

// wantUnwrapFail checks that Unwrap rejects wrapped with ErrUnwrap and
// returns no plaintext.
func wantUnwrapFail(t *testing.T, kr keyring.Keyring, what string, wrapped, aad []byte) {
	t.Helper()
	pt, err := kr.Unwrap(ctx, wrapped, aad)
	if !errors.Is(err, keyring.ErrUnwrap) {
		t.Errorf("Unwrap(%s) = %q, %v, want ErrUnwrap", what, pt, err)
		return
	}
	if len(pt) != 0 {
		t.Errorf("Unwrap(%s) failed but returned %d bytes of plaintext", what, len(pt))
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

func testRoundTrip(t *testing.T, kr keyring.Keyring) {
	aads := [][]byte{nil, []byte("kms/key/us-east-1/111122223333/1234abcd"), {0, 0xff, 0}, bytes.Repeat([]byte("a"), 4096)}
	for _, n := range []int{1, 15, 16, 17, 32, 33, 1000, keyring.MinMaxPlaintext} {
		for _, aad := range aads {
			pt := pattern(n)
			w := mustWrap(t, kr, pt, aad)
			if n >= 16 && bytes.Contains(w, pt[:16]) {
				t.Errorf("Wrap(%d bytes) output contains the plaintext", n)
			}
			got, err := kr.Unwrap(ctx, w, aad)
			if err != nil {
				t.Fatalf("Unwrap(Wrap(%d bytes, %d-byte aad)) err = %v", n, len(aad), err)
			}
			if !bytes.Equal(got, pt) {
				t.Errorf("Unwrap(Wrap(%d bytes)) = %d different bytes", n, len(got))
			}
		}
	}
}

func testEmptyPlaintext(t *testing.T, kr keyring.Keyring) {
	for _, pt := range [][]byte{nil, {}} {
		w := mustWrap(t, kr, pt, []byte("aad"))
		if len(w) == 0 {
			t.Fatalf("Wrap(empty) = empty, want an authenticated value")
		}
		got, err := kr.Unwrap(ctx, w, []byte("aad"))
		if err != nil || len(got) != 0 {
			t.Errorf("Unwrap(Wrap(empty)) = %q, %v, want empty, nil", got, err)
		}
		wantUnwrapFail(t, kr, "empty plaintext, wrong aad", w, []byte("aae"))
	}
}

func testWrongAAD(t *testing.T, kr keyring.Keyring) {
	pt := []byte("data key material, 32 bytes long")
	aad := []byte("kms/key/us-east-1/111122223333/a")
	w := mustWrap(t, kr, pt, aad)
	for _, bad := range [][]byte{
		nil,
		[]byte("kms/key/us-east-1/111122223333/b"),
		[]byte("kms/key/us-east-1/111122223333/"),
		[]byte("kms/key/us-east-1/111122223333/a/"),
		[]byte("KMS/key/us-east-1/111122223333/a"),
		append([]byte{1}, aad...),
	} {
		wantUnwrapFail(t, kr, fmt.Sprintf("aad %q", bad), w, bad)
	}
	// And the other way: wrapped with no aad, opened with some.
	w = mustWrap(t, kr, pt, nil)
	wantUnwrapFail(t, kr, "aad added", w, []byte("x"))
}

func testBitFlip(t *testing.T, kr keyring.Keyring) {
	aad := []byte("kms/key/x")
	for _, n := range []int{0, 32} {
		w := mustWrap(t, kr, pattern(n), aad)
		for i := range w {
			for bit := range 8 {
				m := bytes.Clone(w)
				m[i] ^= 1 << bit
				wantUnwrapFail(t, kr, fmt.Sprintf("%d-byte plaintext, byte %d bit %d flipped", n, i, bit), m, aad)
			}
		}
	}
}

func testTruncation(t *testing.T, kr keyring.Keyring) {
	aad := []byte("kms/key/x")
	w := mustWrap(t, kr, pattern(32), aad)
	for n := range len(w) {
		wantUnwrapFail(t, kr, fmt.Sprintf("first %d of %d bytes", n, len(w)), bytes.Clone(w[:n]), aad)
		wantUnwrapFail(t, kr, fmt.Sprintf("last %d of %d bytes", n, len(w)), bytes.Clone(w[len(w)-n:]), aad)
	}
}

func testExtension(t *testing.T, kr keyring.Keyring) {
	aad := []byte("kms/key/x")
	w := mustWrap(t, kr, pattern(32), aad)
	for _, tail := range [][]byte{{0}, {1}, bytes.Repeat([]byte{0}, 16), w} {
		wantUnwrapFail(t, kr, fmt.Sprintf("%d bytes appended", len(tail)), append(bytes.Clone(w), tail...), aad)
	}
	wantUnwrapFail(t, kr, "byte prepended", append([]byte{w[0]}, w...), aad)
}

func testGarbage(t *testing.T, kr keyring.Keyring) {
	for _, g := range [][]byte{nil, {}, {1}, make([]byte, 28), make([]byte, 29), make([]byte, 100), bytes.Repeat([]byte{0xff}, 61)} {
		wantUnwrapFail(t, kr, fmt.Sprintf("%d garbage bytes", len(g)), g, nil)
	}
}

func testWrapsDiffer(t *testing.T, kr keyring.Keyring) {
	pt, aad := pattern(32), []byte("kms/key/x")
	seen := map[string]bool{}
	for range 16 {
		w := mustWrap(t, kr, pt, aad)
		if seen[string(w)] {
			t.Fatalf("Wrap of the same input returned the same bytes twice (nonce reuse?)")
		}
		seen[string(w)] = true
	}
}

func testNoAliasing(t *testing.T, kr keyring.Keyring) {
	pt, aad := pattern(48), []byte("kms/key/x")
	ptCopy, aadCopy := bytes.Clone(pt), bytes.Clone(aad)
	w := mustWrap(t, kr, pt, aad)
	if !bytes.Equal(pt, ptCopy) || !bytes.Equal(aad, aadCopy) {
		t.Fatalf("Wrap modified its inputs")
	}
	clear(pt) // a caller wiping its plaintext must not affect the wrapped value
	wCopy := bytes.Clone(w)
	got, err := kr.Unwrap(ctx, w, aad)
	if err != nil {
		t.Fatalf("Unwrap() err = %v", err)
	}
	if !bytes.Equal(w, wCopy) {
		t.Fatalf("Unwrap modified its input")
	}
	clear(got) // wiping the result must not affect the wrapped value
	again, err := kr.Unwrap(ctx, w, aad)
	if err != nil || !bytes.Equal(again, ptCopy) {
		t.Errorf("Unwrap after wiping an earlier result = %x, %v, want the original plaintext", again, err)
	}
}

func testConcurrent(t *testing.T, kr keyring.Keyring) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				pt := []byte(fmt.Sprintf("goroutine %d message %d", g, i))
				aad := []byte(fmt.Sprintf("path/%d/%d", g, i))
				w, err := kr.Wrap(ctx, pt, aad)
				if err == nil {
					var got []byte
					got, err = kr.Unwrap(ctx, w, aad)
					if err == nil && !bytes.Equal(got, pt) {
						err = fmt.Errorf("round trip mismatch")
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Wrap/Unwrap err = %v", err)
	}
}

func testClose(t *testing.T, kr keyring.Keyring) {
	w := mustWrap(t, kr, []byte("secret"), nil)
	if err := kr.Close(); err != nil {
		t.Fatalf("Close() err = %v", err)
	}
	if got, err := kr.Wrap(ctx, []byte("secret"), nil); err == nil {
		t.Errorf("Wrap after Close = %d bytes, nil error, want an error", len(got))
	}
	if got, err := kr.Unwrap(ctx, w, nil); err == nil {
		t.Errorf("Unwrap after Close = %q, nil error, want an error", got)
	}
	if err := kr.Close(); err != nil {
		t.Errorf("second Close() err = %v, want nil", err)
	}
}
