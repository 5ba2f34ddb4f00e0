package envelope

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

func mustRawAES(t testing.TB, name string) *RawAESKeyring {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := NewRawAESKeyring("trent-test", name, key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func mustEncrypt(t testing.TB, kr Keyring, pt []byte, opts *EncryptOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := Encrypt(context.Background(), &buf, kr, opts)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if _, err := w.Write(pt); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

func decryptAll(kr Keyring, msg []byte, opts *DecryptOptions) ([]byte, error) {
	r, err := Decrypt(context.Background(), bytes.NewReader(msg), kr, opts)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

var bothSuites = []Suite{SuiteAES256GCMHKDFSHA512CommitKey, SuiteAES256GCMHKDFSHA512CommitKeyECDSAP384}

// TestRoundTrip encrypts every interesting length with every write size and
// decrypts with every read size, as age's stream tests do.
func TestRoundTrip(t *testing.T) {
	kr := mustRawAES(t, "k1")
	const fs = 512
	lengths := []int{0, 1, fs - 1, fs, fs + 1, 2 * fs, 2*fs + 500}
	if !testing.Short() {
		lengths = append(lengths, 3<<20+17)
	}
	for _, s := range bothSuites {
		for _, n := range lengths {
			pt := pattern(n)
			for _, ws := range []int{1, 7, fs, 65536} {
				if n > 1<<20 && ws < 4096 {
					continue
				}
				var buf bytes.Buffer
				w, err := Encrypt(context.Background(), &buf, kr, &EncryptOptions{Suite: s, FrameSize: fs, EncryptionContext: map[string]string{"n": fmt.Sprint(n)}})
				if err != nil {
					t.Fatal(err)
				}
				for p := pt; len(p) > 0; {
					c := min(ws, len(p))
					if m, err := w.Write(p[:c]); err != nil || m != c {
						t.Fatalf("Write = %d, %v", m, err)
					}
					p = p[c:]
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				msg := buf.Bytes()
				for _, rs := range []int{1, 7, 4096, 65536} {
					if n > 1<<20 && rs < 4096 {
						continue
					}
					r, err := Decrypt(context.Background(), bytes.NewReader(msg), kr, nil)
					if err != nil {
						t.Fatalf("%v n=%d: Decrypt: %v", s, n, err)
					}
					got := make([]byte, 0, n)
					p := make([]byte, rs)
					for {
						m, err := r.Read(p)
						got = append(got, p[:m]...)
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Fatalf("%v n=%d ws=%d rs=%d: Read: %v", s, n, ws, rs, err)
						}
					}
					if !bytes.Equal(got, pt) {
						t.Fatalf("%v n=%d ws=%d rs=%d: plaintext differs", s, n, ws, rs)
					}
					if r.EncryptionContext()["n"] != fmt.Sprint(n) {
						t.Errorf("context = %v", r.EncryptionContext())
					}
				}
			}
		}
	}
}

func TestIotestReader(t *testing.T) {
	kr := mustRawAES(t, "k1")
	for _, s := range bothSuites {
		for _, n := range []int{0, 1, 100, 4096, 4097, 10000} {
			pt := pattern(n)
			msg := mustEncrypt(t, kr, pt, &EncryptOptions{Suite: s, FrameSize: 1000})
			r, err := Decrypt(context.Background(), bytes.NewReader(msg), kr, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := iotest.TestReader(r, pt); err != nil {
				t.Errorf("%v n=%d: %v", s, n, err)
			}
		}
	}
}

// TestFrameLayout checks the body against the specification: sequence
// numbers, IVs, and a final frame holding a full frame when the plaintext is
// a multiple of the frame size.
func TestFrameLayout(t *testing.T) {
	kr := mustRawAES(t, "k1")
	const fs = 64
	for _, n := range []int{0, 10, fs, 2 * fs, 2*fs + 1} {
		msg := mustEncrypt(t, kr, pattern(n), &EncryptOptions{Suite: SuiteAES256GCMHKDFSHA512CommitKey, FrameSize: fs})
		r := bytes.NewReader(msg)
		hd, err := ParseHeader(r, 0)
		if err != nil {
			t.Fatal(err)
		}
		if hd.Version != 2 || hd.FrameLength != fs || len(hd.MessageID) != 32 || len(hd.CommitKey) != 32 {
			t.Fatalf("header = %+v", hd)
		}
		body := msg[len(msg)-r.Len():]
		wantFrames := max(1, (n+fs-1)/fs)
		for seq := uint32(1); ; seq++ {
			iv := make([]byte, 12)
			binary.BigEndian.PutUint32(iv[8:], seq)
			if binary.BigEndian.Uint32(body) == 0xFFFFFFFF {
				if got := binary.BigEndian.Uint32(body[4:]); got != seq || int(seq) != wantFrames {
					t.Fatalf("n=%d: final frame seq %d, want %d (frames %d)", n, got, seq, wantFrames)
				}
				if !bytes.Equal(body[8:20], iv) {
					t.Errorf("final IV = %x", body[8:20])
				}
				l := int(binary.BigEndian.Uint32(body[20:]))
				if l != n-(wantFrames-1)*fs {
					t.Errorf("n=%d: final frame length %d", n, l)
				}
				if len(body) != 24+l+16 {
					t.Errorf("n=%d: %d bytes after final frame", n, len(body)-24-l-16)
				}
				break
			}
			if binary.BigEndian.Uint32(body) != seq || !bytes.Equal(body[4:16], iv) {
				t.Fatalf("n=%d: frame %d header %x", n, seq, body[:16])
			}
			body = body[16+fs+16:]
		}
	}
}

func TestEncryptOptionsErrors(t *testing.T) {
	kr := mustRawAES(t, "k1")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts *EncryptOptions
		want error
	}{
		{"non-committing suite", &EncryptOptions{Suite: SuiteAES256GCMIV12Tag16HKDFSHA384ECDSAP384}, ErrCommitmentPolicy},
		{"reserved context key", &EncryptOptions{EncryptionContext: map[string]string{"aws-crypto-public-key": "x"}}, nil},
		{"negative frame", &EncryptOptions{FrameSize: -1}, nil},
		{"unknown suite", &EncryptOptions{Suite: 0x1234}, nil},
		{"bad utf-8", &EncryptOptions{EncryptionContext: map[string]string{"k": "\xff"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encrypt(ctx, io.Discard, kr, tc.opts)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("Encrypt err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMaxPlaintextLength(t *testing.T) {
	kr := mustRawAES(t, "k1")
	w, err := Encrypt(context.Background(), io.Discard, kr, &EncryptOptions{MaxPlaintextLength: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1)); err == nil {
		t.Error("Write past MaxPlaintextLength succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a failed Write succeeded")
	}
}

func TestWriteAfterClose(t *testing.T) {
	kr := mustRawAES(t, "k1")
	w, err := Encrypt(context.Background(), io.Discard, kr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriterErrorsAreSticky(t *testing.T) {
	kr := mustRawAES(t, "k1")
	w, err := Encrypt(context.Background(), &failWriter{after: 2}, kr, &EncryptOptions{FrameSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Write(make([]byte, 100))
	if err == nil {
		t.Fatal("Write succeeded on a failing writer")
	}
	if _, err2 := w.Write([]byte("x")); err2 == nil {
		t.Error("second Write succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("Close succeeded")
	}
}

// TestNoPerFrameAllocs checks that steady-state streaming allocates nothing
// per frame.
func TestNoPerFrameAllocs(t *testing.T) {
	kr := mustRawAES(t, "k1")
	const fs = 4096
	for _, s := range bothSuites {
		w, err := Encrypt(context.Background(), io.Discard, kr, &EncryptOptions{Suite: s, FrameSize: fs})
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, fs)
		w.Write(chunk)
		if a := testing.AllocsPerRun(100, func() { w.Write(chunk) }); a != 0 {
			t.Errorf("%v: %v allocations per frame written", s, a)
		}
		w.Close()

		msg := mustEncrypt(t, kr, make([]byte, 200*fs), &EncryptOptions{Suite: s, FrameSize: fs})
		r, err := Decrypt(context.Background(), bytes.NewReader(msg), kr, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, fs)
		io.ReadFull(r, p)
		if a := testing.AllocsPerRun(100, func() { io.ReadFull(r, p) }); a != 0 {
			t.Errorf("%v: %v allocations per frame read", s, a)
		}
	}
}

// TestWriteTo checks the io.WriterTo path used by io.Copy: same plaintext,
// and nothing of a frame that fails authentication.
func TestWriteTo(t *testing.T) {
	kr := mustRawAES(t, "k1")
	const fs = 100
	for _, s := range bothSuites {
		for _, n := range []int{0, 1, fs, 3*fs + 7} {
			pt := pattern(n)
			msg := mustEncrypt(t, kr, pt, &EncryptOptions{Suite: s, FrameSize: fs})
			r, err := Decrypt(context.Background(), bytes.NewReader(msg), kr, nil)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if m, err := io.Copy(&out, r); err != nil || m != int64(n) || !bytes.Equal(out.Bytes(), pt) {
				t.Errorf("%v n=%d: io.Copy = %d, %v", s, n, m, err)
			}
		}
		pt := pattern(3*fs + 7)
		msg := mustEncrypt(t, kr, pt, &EncryptOptions{Suite: s, FrameSize: fs})
		hl := headerLen(t, msg)
		bad := bytes.Clone(msg)
		bad[hl+2*(16+fs+16)+40] ^= 1 // in the third frame
		r, err := Decrypt(context.Background(), bytes.NewReader(bad), kr, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := io.Copy(&out, r); !errors.Is(err, ErrInvalidMessage) || out.Len() != 2*fs {
			t.Errorf("%v: tampered third frame: %d bytes out, err = %v", s, out.Len(), err)
		}
	}
}

// TestFinalFrameAtTheBufferEnd: a final frame that ends near the end of the
// reader's buffer decrypts to its plaintext, in every suite: reading the
// signature after it once moved the buffer and wrote the footer over the
// frame's plaintext, which was then released as if authenticated.
func TestFinalFrameAtTheBufferEnd(t *testing.T) {
	kr := mustRawAES(t, "k1")
	for _, suite := range []Suite{SuiteAES256GCMHKDFSHA512CommitKeyECDSAP384, SuiteAES256GCMHKDFSHA512CommitKey} {
		for n := readBufSize - 160; n <= readBufSize; n += 3 {
			pt := pattern(n)
			msg := mustEncrypt(t, kr, pt, &EncryptOptions{Suite: suite, FrameSize: 1 << 20})
			r, err := Decrypt(context.Background(), bytes.NewReader(msg), kr, nil)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, err := io.Copy(&out, r); err != nil {
				t.Fatalf("suite %v, %d bytes: %v", suite, n, err)
			}
			if !bytes.Equal(out.Bytes(), pt) {
				t.Fatalf("suite %v, %d bytes: the plaintext decrypts wrong, without an error", suite, n)
			}
		}
	}
}

// TestFrameCountLimit checks the format's limit of 2^32-1 frames at its
// end: the last regular frame is numbered 2^32-2 and the final frame may be
// numbered 2^32-1, written and read; a message needing a regular frame
// numbered 2^32-1 is refused. The sequence numbers start near the end.
func TestFrameCountLimit(t *testing.T) {
	kr := mustRawAES(t, "k1")
	for _, s := range bothSuites {
		var buf bytes.Buffer
		w, err := Encrypt(context.Background(), &buf, kr, &EncryptOptions{Suite: s, FrameSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		w.(*writer).seq = seqNumEnd - 2
		if _, err := w.Write(pattern(20)); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("%v: closing with the final frame numbered 2^32-1: %v", s, err)
		}
		r, err := Decrypt(context.Background(), bytes.NewReader(buf.Bytes()), kr, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.seq = seqNumEnd - 2
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, pattern(20)) {
			t.Errorf("%v: reading a final frame numbered 2^32-1: %v", s, err)
		}

		w, _ = Encrypt(context.Background(), io.Discard, kr, &EncryptOptions{Suite: s, FrameSize: 10})
		w.(*writer).seq = seqNumEnd - 2
		if _, err := w.Write(pattern(21)); err == nil {
			t.Errorf("%v: a regular frame numbered 2^32-1 was written", s)
		}
	}
}
