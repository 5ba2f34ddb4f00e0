package keyring_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/keyringtest"
)

var ctx = context.Background()

func testKey() []byte {
	k := make([]byte, keyring.RootKeySize)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func mustNew(t testing.TB, key []byte) *keyring.FileKeyring {
	t.Helper()
	kr, err := keyring.NewFileKeyring(key)
	if err != nil {
		t.Fatalf("NewFileKeyring() err = %v", err)
	}
	return kr
}

func TestConformance(t *testing.T) {
	t.Run("Ephemeral", func(t *testing.T) {
		keyringtest.Run(t, func(t *testing.T) keyring.Keyring { return keyring.GenerateEphemeral() })
	})
	t.Run("File", func(t *testing.T) {
		keyringtest.Run(t, func(t *testing.T) keyring.Keyring {
			kr, _, err := keyring.LoadOrCreateFile(filepath.Join(t.TempDir(), "root.key"))
			if err != nil {
				t.Fatalf("LoadOrCreateFile() err = %v", err)
			}
			return kr
		})
	})
}

// TestKnownAnswer pins the wrapped format: version 0x01, 12-byte nonce,
// AES-256-GCM with additional data 0x01 || aad. Values sealed by earlier
// releases must keep opening.
func TestKnownAnswer(t *testing.T) {
	const golden = "017472656e742d6e6f6e636521b502dc9d7c293525e5f26f6e65017906c0851d291a019c33151e04bc6b0b10742d580f9e"
	w, _ := hex.DecodeString(golden)
	kr := mustNew(t, testKey())
	got, err := kr.Unwrap(ctx, w, []byte("kms/key/us-east-1/111122223333/golden"))
	if err != nil {
		t.Fatalf("Unwrap(golden) err = %v", err)
	}
	if string(got) != "root key test vector" {
		t.Errorf("Unwrap(golden) = %q, want %q", got, "root key test vector")
	}
}

func TestWrapFormat(t *testing.T) {
	kr := mustNew(t, testKey())
	for _, n := range []int{0, 1, 32, 100} {
		w, err := kr.Wrap(ctx, make([]byte, n), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(w) != n+keyring.Overhead || w[0] != 1 {
			t.Errorf("Wrap(%d bytes) = %d bytes starting %#x, want %d bytes starting 0x01", n, len(w), w[0], n+keyring.Overhead)
		}
	}
}

func TestWrongRootKey(t *testing.T) {
	a, b := keyring.GenerateEphemeral(), keyring.GenerateEphemeral()
	w, err := a.Wrap(ctx, []byte("secret"), []byte("p"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Unwrap(ctx, w, []byte("p")); !errors.Is(err, keyring.ErrUnwrap) {
		t.Errorf("Unwrap under another root key = %q, %v, want ErrUnwrap", got, err)
	}
	other := testKey()
	other[31] ^= 1
	if got, err := mustNew(t, other).Unwrap(ctx, mustWrap(t, mustNew(t, testKey()), "x"), nil); !errors.Is(err, keyring.ErrUnwrap) {
		t.Errorf("Unwrap under a key differing in one bit = %q, %v, want ErrUnwrap", got, err)
	}
}

func mustWrap(t *testing.T, kr keyring.Keyring, s string) []byte {
	t.Helper()
	w, err := kr.Wrap(ctx, []byte(s), nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestNewFileKeyring(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := keyring.NewFileKeyring(make([]byte, n)); err == nil {
			t.Errorf("NewFileKeyring(%d bytes) err = nil, want an error", n)
		}
	}
	key := testKey()
	kr := mustNew(t, key)
	w := mustWrap(t, kr, "x")
	clear(key) // the keyring holds its own copy
	if _, err := kr.Unwrap(ctx, w, nil); err != nil {
		t.Errorf("Unwrap after the caller wiped its key slice err = %v", err)
	}
}

func TestCanceledContext(t *testing.T) {
	kr := keyring.GenerateEphemeral()
	w := mustWrap(t, kr, "x")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := kr.Wrap(cctx, []byte("x"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Wrap(canceled) err = %v, want context.Canceled", err)
	}
	if _, err := kr.Unwrap(cctx, w, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Unwrap(canceled) err = %v, want context.Canceled", err)
	}
}

func TestRedacted(t *testing.T) {
	key := testKey()
	kr := mustNew(t, key)
	forbidden := []string{hex.EncodeToString(key), strings.ToUpper(hex.EncodeToString(key)), string(key[1:]), fmt.Sprint(key[1:9])}
	check := func(what, out string) {
		t.Helper()
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Errorf("%s = %q leaks the root key", what, out)
			}
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s = %q, want REDACTED", what, out)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		check("Sprintf("+verb+")", fmt.Sprintf(verb, kr))
		check("Sprintf("+verb+") in a struct", fmt.Sprintf(verb, struct{ K *keyring.FileKeyring }{kr}))
	}
	check("String()", kr.String())
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "keyring", kr)
	check("slog", buf.String())
}

func TestLoadOrCreateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "root.key")
	kr1, created, err := keyring.LoadOrCreateFile(path)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateFile(new) = created %v, err %v, want created, nil", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != keyring.RootKeySize {
		t.Errorf("key file mode %04o size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), keyring.RootKeySize)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		di, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o700 {
			t.Errorf("created directory %s mode %04o, want 0700", d, di.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after create, want only root.key (temporary file left behind?)", len(entries))
	}

	kr2, created, err := keyring.LoadOrCreateFile(path)
	if err != nil || created {
		t.Fatalf("LoadOrCreateFile(existing) = created %v, err %v, want not created, nil", created, err)
	}
	if _, err := kr2.Unwrap(ctx, mustWrap(t, kr1, "persisted"), nil); err != nil {
		t.Errorf("key reloaded from file does not open what the original wrapped: %v", err)
	}
	kr3, err := keyring.LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile() err = %v", err)
	}
	if _, err := kr3.Unwrap(ctx, mustWrap(t, kr1, "persisted"), nil); err != nil {
		t.Errorf("LoadFile key does not open what the original wrapped: %v", err)
	}
}

func TestLoadOrCreateFileExistingDirUntouched(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keyring.LoadOrCreateFile(filepath.Join(dir, "root.key")); err != nil {
		t.Fatal(err)
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o755 {
		t.Errorf("existing directory mode changed to %04o", di.Mode().Perm())
	}
}

func TestLoadOrCreateFileRefuses(t *testing.T) {
	good := testKey()
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    string // in the error
	}{
		{"GroupReadable", good, 0o640, "chmod 600"},
		{"WorldReadable", good, 0o644, "chmod 600"},
		{"GroupWritable", good, 0o620, "chmod 600"},
		{"Empty", nil, 0o600, "want exactly 32"},
		{"Short", good[:31], 0o600, "want exactly 32"},
		{"Long", append(good, 0), 0o600, "want exactly 32"},
		{"Hex", []byte(hex.EncodeToString(good)), 0o600, "want exactly 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "root.key")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			kr, created, err := keyring.LoadOrCreateFile(path)
			if err == nil {
				t.Fatalf("LoadOrCreateFile() = %v, created %v, nil error; want an error", kr, created)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %q, want it to name %s and say %q", err, path, tc.want)
			}
			if strings.Contains(err.Error(), hex.EncodeToString(good)) {
				t.Errorf("err = %q contains the key", err)
			}
			got, _ := os.ReadFile(path)
			if !bytes.Equal(got, tc.content) {
				t.Errorf("refused key file was modified")
			}
		})
	}
	t.Run("Directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "root.key")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, _, err := keyring.LoadOrCreateFile(path); err == nil {
			t.Errorf("LoadOrCreateFile(directory) err = nil, want an error")
		}
	})
}

func TestLoadOrCreateFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	const n = 8
	krs := make([]*keyring.FileKeyring, n)
	createdCount := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			kr, created, err := keyring.LoadOrCreateFile(path)
			if err != nil {
				t.Errorf("LoadOrCreateFile() err = %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			krs[i] = kr
			if created {
				createdCount++
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if createdCount != 1 {
		t.Errorf("%d callers report created=true, want exactly 1", createdCount)
	}
	w := mustWrap(t, krs[0], "shared")
	for i, kr := range krs {
		if _, err := kr.Unwrap(ctx, w, nil); err != nil {
			t.Errorf("keyring %d has a different key: %v", i, err)
		}
	}
}

func FuzzUnwrap(f *testing.F) {
	kr := mustNew(f, testKey())
	for _, s := range []struct{ pt, aad string }{
		{"", ""},
		{"x", "kms/key/a"},
		{strings.Repeat("k", 32), "kms/key/us-east-1/111122223333/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{strings.Repeat("z", 300), ""},
	} {
		w, err := kr.Wrap(ctx, []byte(s.pt), []byte(s.aad))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(w, []byte(s.aad))
		f.Add(w[:len(w)-1], []byte(s.aad))
		f.Add(w, []byte(s.aad+"/"))
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1}, []byte("a"))
	f.Add(make([]byte, keyring.Overhead), []byte{})
	f.Fuzz(func(t *testing.T, wrapped, aad []byte) {
		in := bytes.Clone(wrapped)
		pt, err := kr.Unwrap(ctx, wrapped, aad)
		if !bytes.Equal(in, wrapped) {
			t.Fatalf("Unwrap modified its input")
		}
		if err != nil {
			if !errors.Is(err, keyring.ErrUnwrap) {
				t.Fatalf("Unwrap err = %v, want ErrUnwrap", err)
			}
			if pt != nil {
				t.Fatalf("failed Unwrap returned %d bytes", len(pt))
			}
			return
		}
		// Only genuine wraps open; re-wrapping them must round-trip.
		w2, err := kr.Wrap(ctx, pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		pt2, err := kr.Unwrap(ctx, w2, aad)
		if err != nil || !bytes.Equal(pt, pt2) {
			t.Fatalf("re-wrap round trip = %q, %v, want %q", pt2, err, pt)
		}
	})
}
