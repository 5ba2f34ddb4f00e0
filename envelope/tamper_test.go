package envelope

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

// readUntilError decrypts msg and returns what was released before the
// first error, and that error (nil if the message was accepted).
func readUntilError(kr Keyring, msg []byte, opts *DecryptOptions) ([]byte, error) {
	r, err := Decrypt(context.Background(), bytes.NewReader(msg), kr, opts)
	if err != nil {
		return nil, err
	}
	var got []byte
	p := make([]byte, 1000)
	for {
		n, err := r.Read(p)
		got = append(got, p[:n]...)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}

func headerLen(t *testing.T, msg []byte) int {
	t.Helper()
	r := bytes.NewReader(msg)
	if _, err := ParseHeader(r, 0); err != nil {
		t.Fatal(err)
	}
	return len(msg) - r.Len()
}

// TestTamper flips a bit in every header byte and in a sample of body and
// footer bytes. Each must fail, and no plaintext of the modified frame (nor
// of the final frame, when the end is modified) may be released.
func TestTamper(t *testing.T) {
	kr := mustRawAES(t, "k1")
	const fs = 100
	for _, s := range bothSuites {
		pt := pattern(3*fs + 50)
		msg := mustEncrypt(t, kr, pt, &EncryptOptions{Suite: s, FrameSize: fs, EncryptionContext: map[string]string{"purpose": "tamper"}})
		hl := headerLen(t, msg)
		const regular = 16 + fs + 16
		step := 1
		if testing.Short() {
			step = 5
		}
		for i := 0; i < len(msg); i++ {
			if i >= hl && i%step != 0 && i != len(msg)-1 {
				continue
			}
			bad := bytes.Clone(msg)
			bad[i] ^= 0x01
			got, err := readUntilError(kr, bad, nil)
			if err == nil {
				t.Fatalf("%v: flipping byte %d (header %d bytes) was not detected", s, i, hl)
			}
			allowed := 0
			if i >= hl {
				allowed = min((i-hl)/regular, 3) * fs
			}
			if len(got) > allowed || !bytes.Equal(got, pt[:len(got)]) {
				t.Fatalf("%v: flipping byte %d released %d bytes, at most %d allowed", s, i, len(got), allowed)
			}
		}
	}
}

func TestTruncation(t *testing.T) {
	kr := mustRawAES(t, "k1")
	const fs = 100
	for _, s := range bothSuites {
		pt := pattern(3*fs + 50)
		msg := mustEncrypt(t, kr, pt, &EncryptOptions{Suite: s, FrameSize: fs})
		hl := headerLen(t, msg)
		for n := 0; n < len(msg); n++ {
			if n > hl && n%7 != 0 && n < len(msg)-20 {
				continue
			}
			got, err := readUntilError(kr, msg[:n], nil)
			if err == nil {
				t.Fatalf("%v: message truncated to %d of %d bytes was accepted", s, n, len(msg))
			}
			if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("%v: truncated to %d: err = %v, want ErrInvalidMessage", s, n, err)
			}
			if len(got) > 3*fs {
				t.Fatalf("%v: truncated to %d: final frame released", s, n)
			}
		}
	}
}

func TestTrailingData(t *testing.T) {
	kr := mustRawAES(t, "k1")
	for _, s := range bothSuites {
		msg := mustEncrypt(t, kr, []byte("payload"), &EncryptOptions{Suite: s})
		for _, extra := range [][]byte{{0}, []byte("junk"), msg} {
			got, err := readUntilError(kr, append(bytes.Clone(msg), extra...), nil)
			if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("%v: %d trailing bytes: err = %v, want ErrInvalidMessage", s, len(extra), err)
			}
			if len(got) != 0 {
				t.Errorf("%v: trailing data: final frame released", s)
			}
		}
	}
}

func TestSwappedFrames(t *testing.T) {
	kr := mustRawAES(t, "k1")
	const fs = 50
	msg := mustEncrypt(t, kr, pattern(3*fs+1), &EncryptOptions{Suite: SuiteAES256GCMHKDFSHA512CommitKey, FrameSize: fs})
	hl := headerLen(t, msg)
	const regular = 16 + fs + 16
	bad := bytes.Clone(msg)
	copy(bad[hl:], msg[hl+regular:hl+2*regular])
	copy(bad[hl+regular:], msg[hl:hl+regular])
	if _, err := readUntilError(kr, bad, nil); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("swapped frames: err = %v", err)
	}
	// Dropping a regular frame.
	bad = append(bytes.Clone(msg[:hl+regular]), msg[hl+2*regular:]...)
	if _, err := readUntilError(kr, bad, nil); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("dropped frame: err = %v", err)
	}
	// Splicing a frame of another message with the same key.
	other := mustEncrypt(t, kr, pattern(3*fs+1), &EncryptOptions{Suite: SuiteAES256GCMHKDFSHA512CommitKey, FrameSize: fs})
	bad = bytes.Clone(msg)
	copy(bad[hl:hl+regular], other[headerLen(t, other):])
	if _, err := readUntilError(kr, bad, nil); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("spliced frame: err = %v", err)
	}
}

// TestKeyCommitment checks that a header whose commitment does not match the
// data key is refused before any frame is read, even with a valid tag
// recomputed by someone holding the data key.
func TestKeyCommitment(t *testing.T) {
	kr := mustRawAES(t, "k1")
	msg := mustEncrypt(t, kr, []byte("x"), &EncryptOptions{Suite: SuiteAES256GCMHKDFSHA512CommitKey})
	hl := headerLen(t, msg)
	bad := bytes.Clone(msg)
	// Commit key is the 32 bytes before the 16-byte header tag.
	rand.Read(bad[hl-16-32 : hl-16])
	_, err := Decrypt(context.Background(), bytes.NewReader(bad), kr, nil)
	if !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("err = %v, want ErrInvalidMessage", err)
	}
}
