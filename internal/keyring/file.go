package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/trent-kms/trent/internal/durable"
)

var (
	// ErrUnwrap is returned by Unwrap for every input that does not
	// authenticate: wrong root key, wrong aad, truncated, modified or
	// unknown-version input. It never says which.
	ErrUnwrap = errors.New("keyring: unwrap failed (wrong root key, wrong location, or corrupted data)")
	// ErrClosed is returned by Wrap and Unwrap after Close.
	ErrClosed = errors.New("keyring: closed")
)

// RootKeySize is the size of a FileKeyring root key (AES-256).
const RootKeySize = 32

// Wrapped value format (version 1):
//
//	version (1 byte, 0x01) | nonce (12 bytes, random) | AES-256-GCM ciphertext | tag (16 bytes)
//
// The GCM additional data is the version byte followed by the caller's aad,
// so the version cannot be changed without detection either.
const (
	formatV1   byte = 1
	nonceSize       = 12
	tagSize         = 16
	headerSize      = 1 + nonceSize
	// Overhead is how many bytes Wrap adds to the plaintext.
	Overhead = headerSize + tagSize
)

// rootKey holds key material. It refuses to be printed, logged or marshalled.
type rootKey struct{ b [RootKeySize]byte }

// Value receivers, so that both rootKey and *rootKey are covered.
func (rootKey) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, "keyring.rootKey(REDACTED)") }
func (rootKey) String() string               { return "keyring.rootKey(REDACTED)" }
func (rootKey) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (rootKey) MarshalJSON() ([]byte, error) { return nil, errRefuseMarshal }
func (rootKey) MarshalText() ([]byte, error) { return nil, errRefuseMarshal }

var errRefuseMarshal = errors.New("keyring: refusing to marshal key material")

// FileKeyring is the file seal: an AES-256-GCM root key held in memory,
// loaded from (or created as) a key file, or generated for a process
// lifetime. It is safe for concurrent use.
//
// FileKeyring never prints its key: fmt verbs, String and slog all render
// REDACTED.
type FileKeyring struct {
	mu   sync.RWMutex
	key  *rootKey    // nil after Close
	aead cipher.AEAD // nil after Close
}

var _ Keyring = (*FileKeyring)(nil)

// NewFileKeyring returns a keyring using a copy of key, which must be
// RootKeySize bytes. The caller may (and should) wipe its slice afterwards.
func NewFileKeyring(key []byte) (*FileKeyring, error) {
	if len(key) != RootKeySize {
		return nil, fmt.Errorf("keyring: root key is %d bytes, want %d", len(key), RootKeySize)
	}
	k := new(rootKey)
	copy(k.b[:], key)
	return newFileKeyring(k), nil
}

// GenerateEphemeral returns a keyring with a fresh random root key that
// exists only in this process (dev mode without a data directory):
// whatever it wraps is unreadable after the process exits.
func GenerateEphemeral() *FileKeyring {
	k := new(rootKey)
	_, _ = rand.Read(k.b[:]) // never fails (Go 1.24+ crashes the program instead)
	return newFileKeyring(k)
}

func newFileKeyring(k *rootKey) *FileKeyring {
	block, err := aes.NewCipher(k.b[:])
	if err != nil {
		panic("keyring: internal error: " + err.Error()) // unreachable: length is fixed
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("keyring: internal error: " + err.Error())
	}
	return &FileKeyring{key: k, aead: aead}
}

// Wrap encrypts plaintext under the root key with a fresh random nonce,
// binding it to aad.
func (kr *FileKeyring) Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	if kr.aead == nil {
		return nil, ErrClosed
	}
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	out[0] = formatV1
	_, _ = rand.Read(out[1:headerSize])
	return kr.aead.Seal(out, out[1:headerSize], plaintext, additionalData(formatV1, aad)), nil
}

// Unwrap authenticates and decrypts a value made by Wrap with the same root
// key and aad. Every failure is ErrUnwrap; no unauthenticated plaintext is
// returned. The result never aliases wrapped.
func (kr *FileKeyring) Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	if kr.aead == nil {
		return nil, ErrClosed
	}
	if len(wrapped) < Overhead || wrapped[0] != formatV1 {
		return nil, ErrUnwrap
	}
	pt, err := kr.aead.Open(nil, wrapped[1:headerSize], wrapped[headerSize:], additionalData(formatV1, aad))
	if err != nil {
		return nil, ErrUnwrap // crypto/cipher already cleared its output buffer
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

func additionalData(version byte, aad []byte) []byte {
	ad := make([]byte, 0, 1+len(aad))
	ad = append(ad, version)
	return append(ad, aad...)
}

// Close wipes the root key. Later Wrap/Unwrap calls return ErrClosed;
// closing twice returns nil.
//
// Wiping is best effort, not a guarantee: the Go runtime may have copied
// the key (for instance when growing a stack or moving memory), and the AES
// key schedule inside crypto/aes cannot be reached to be cleared; Close only
// drops the last reference to it. See docs/threat-model.md.
func (kr *FileKeyring) Close() error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.key != nil {
		clear(kr.key.b[:])
	}
	kr.key = nil
	kr.aead = nil
	return nil
}

// Format, String and LogValue keep the key (and the AES key schedule held by
// the cipher) out of fmt and slog output: without them %+v would print
// unexported fields raw.
func (*FileKeyring) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "keyring.FileKeyring(REDACTED)")
}

func (*FileKeyring) String() string       { return "keyring.FileKeyring(REDACTED)" }
func (*FileKeyring) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// LoadFile loads a root key file made by LoadOrCreateFile: exactly
// RootKeySize raw bytes in a regular file that neither group nor others can
// access.
func LoadFile(path string) (*FileKeyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: root key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyring: root key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keyring: root key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("keyring: root key file %s has mode %04o, readable by group or others; run: chmod 600 %s", path, perm, path)
	}
	if fi.Size() != RootKeySize {
		return nil, fmt.Errorf("keyring: root key file %s is %d bytes, want exactly %d raw bytes", path, fi.Size(), RootKeySize)
	}
	var buf [RootKeySize + 1]byte
	defer clear(buf[:])
	n, err := io.ReadFull(f, buf[:])
	if err != io.ErrUnexpectedEOF || n != RootKeySize {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("size is not %d bytes", RootKeySize)
		}
		return nil, fmt.Errorf("keyring: root key file %s: read: %v", path, err)
	}
	return NewFileKeyring(buf[:RootKeySize])
}

// LoadOrCreateFile loads the root key file at path, or creates it (parent
// directories mode 0700, file mode 0600, RootKeySize random bytes) when it
// does not exist; created reports the latter. The file appears atomically
// with its full content, and two processes racing to create it end up with
// the same key. An existing file with the wrong size or permissions is
// refused, never overwritten.
func LoadOrCreateFile(path string) (kr *FileKeyring, created bool, err error) {
	kr, err = LoadFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return kr, false, err
	}
	if err := createKeyFile(path); err != nil {
		if errors.Is(err, fs.ErrExist) { // lost a race with another process
			kr, err = LoadFile(path)
			return kr, false, err
		}
		return nil, false, err
	}
	kr, err = LoadFile(path)
	return kr, err == nil, err
}

// createKeyFile writes a fresh key to path, all or nothing (durable.Create),
// which fails with fs.ErrExist if path appeared meanwhile.
func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keyring: create root key directory: %w", err)
	}
	var key [RootKeySize]byte
	defer clear(key[:])
	_, _ = rand.Read(key[:])
	if err := durable.Create(path, key[:]); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("keyring: create root key file: %w", err)
	}
	return nil
}
