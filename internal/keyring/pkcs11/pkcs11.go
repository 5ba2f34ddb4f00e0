//go:build cgo && !nopkcs11

// Package pkcs11 is the HSM seal: Wrap and Unwrap run AES-256-GCM inside a
// PKCS#11 token, under a secret key that never leaves it (CKA_SENSITIVE,
// not extractable). The barrier calls it once per unseal and once per root
// rotation or seal migration, never per record or request.
//
// Wrapped value format (version 1):
//
//	version (1 byte, 0x01) | IV (12 bytes, random) | AES-256-GCM ciphertext and tag (16 bytes)
//
// with additional data 0x01 || aad, computed by the token.
//
// It needs cgo (github.com/miekg/pkcs11 loads the vendor's module); builds
// with the nopkcs11 tag or without cgo get a constructor that says so.
package pkcs11

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	p11 "github.com/miekg/pkcs11"

	"github.com/trent-kms/trent/internal/keyring"
)

// Supported reports whether this build has the PKCS#11 seal.
const Supported = true

const (
	formatV1  = 1
	ivSize    = 12
	tagBits   = 128
	tagSize   = tagBits / 8
	headerLen = 1 + ivSize
	keyBytes  = 32
)

// Keyring is the PKCS#11 seal. It holds one logged-in session, used under a
// mutex. It is safe for concurrent use.
type Keyring struct {
	mu      sync.Mutex
	mod     *module // nil after Close
	session p11.SessionHandle
	key     p11.ObjectHandle
}

var _ keyring.Keyring = (*Keyring)(nil)

// module is a loaded PKCS#11 library, initialised once per process and
// shared by every Keyring on it (C_Finalize would end the others' sessions).
type module struct {
	path  string
	ctx   *p11.Ctx
	refs  int           // modMu held
	ready chan struct{} // closed once loaded (ctx set) or failed (err set)
	err   error
}

var (
	modMu   sync.Mutex // guards modules and refs, not held while a module loads
	modules = map[string]*module{}
)

// loadModule loads and initialises the module at path, or takes another
// reference to it. The load (dlopen, C_Initialize: a vendor's module may
// reach its cluster there) holds no lock that another module's load or use
// needs; the callers of the same path wait for it.
func loadModule(path string) (*module, error) {
	modMu.Lock()
	if m := modules[path]; m != nil {
		m.refs++
		modMu.Unlock()
		<-m.ready
		if m.err != nil {
			return nil, m.err // the entry is gone: no reference to give back
		}
		return m, nil
	}
	m := &module{path: path, refs: 1, ready: make(chan struct{})}
	modules[path] = m
	modMu.Unlock()
	ctx := p11.New(path)
	var err error
	switch {
	case ctx == nil:
		err = fmt.Errorf("pkcs11: cannot load the PKCS#11 module %s", path)
	default:
		if ierr := ctx.Initialize(); ierr != nil && !isCode(ierr, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			ctx.Destroy()
			err = fmt.Errorf("pkcs11: initialise %s: %w", path, ierr)
		}
	}
	modMu.Lock()
	if err != nil {
		m.err = err
		delete(modules, path)
	} else {
		m.ctx = ctx
	}
	close(m.ready)
	modMu.Unlock()
	if err != nil {
		return nil, err
	}
	return m, nil
}

// release gives back a reference; the last one finalises the module (under
// modMu, so that no new load of its path initialises it meanwhile).
func (m *module) release() {
	modMu.Lock()
	defer modMu.Unlock()
	m.refs--
	if m.refs == 0 {
		delete(modules, m.path)
		_ = m.ctx.Finalize()
		m.ctx.Destroy()
	}
}

// HoldModule loads and initialises the module lib, as a Token or a
// Keyring does, and returns the release of that reference (once): the
// module is not finalised while it is held. It is for a test's own
// sessions on the module in this process (softhsmtest), which then count
// among its users: none ends under them, and the last release finalises
// the module, so that its next load lists the tokens made meanwhile
// (SoftHSM2 lists those that existed when it was initialised).
func HoldModule(lib string) (release func(), err error) {
	m, err := loadModule(lib)
	if err != nil {
		return nil, err
	}
	return sync.OnceFunc(m.release), nil
}

func isCode(err error, code uint) bool {
	var e p11.Error
	return errors.As(err, &e) && uint(e) == code
}

// Open logs in to the token labelled cfg.TokenLabel of the module cfg.Lib
// and finds the AES key labelled cfg.KeyLabel; with create, a missing key is
// generated in the token (AES-256, sensitive, not extractable).
func Open(cfg Config, create bool) (*Keyring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := loadModule(cfg.Lib)
	if err != nil {
		return nil, err
	}
	kr := &Keyring{mod: m}
	if err := kr.open(cfg, create); err != nil {
		kr.Close()
		return nil, err
	}
	return kr, nil
}

func (kr *Keyring) open(cfg Config, create bool) error {
	c := kr.mod.ctx
	slots, err := c.GetSlotList(true)
	if err != nil {
		return fmt.Errorf("pkcs11: list slots: %w", err)
	}
	slot, found := uint(0), false
	for _, s := range slots {
		ti, err := c.GetTokenInfo(s)
		if err == nil && ti.Label == cfg.TokenLabel {
			slot, found = s, true
			break
		}
	}
	if !found {
		return fmt.Errorf("pkcs11: no token labelled %q in %s", cfg.TokenLabel, cfg.Lib)
	}
	if kr.session, err = c.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION); err != nil {
		kr.session = 0
		return fmt.Errorf("pkcs11: open session: %w", err)
	}
	if err := c.Login(kr.session, p11.CKU_USER, cfg.PIN); err != nil && !isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		return fmt.Errorf("pkcs11: log in to token %q: %w", cfg.TokenLabel, err)
	}
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_LABEL, cfg.KeyLabel),
	}
	if err := c.FindObjectsInit(kr.session, tmpl); err != nil {
		return fmt.Errorf("pkcs11: find key: %w", err)
	}
	objs, _, err := c.FindObjects(kr.session, 2)
	_ = c.FindObjectsFinal(kr.session)
	if err != nil {
		return fmt.Errorf("pkcs11: find key: %w", err)
	}
	switch {
	case len(objs) == 1:
		kr.key = objs[0]
		return nil
	case len(objs) > 1:
		return fmt.Errorf("pkcs11: several AES keys are labelled %q in token %q", cfg.KeyLabel, cfg.TokenLabel)
	case !create:
		return fmt.Errorf("pkcs11: no AES key labelled %q in token %q", cfg.KeyLabel, cfg.TokenLabel)
	}
	kr.key, err = c.GenerateKey(kr.session, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, append(tmpl,
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_ENCRYPT, true),
		p11.NewAttribute(p11.CKA_DECRYPT, true),
		p11.NewAttribute(p11.CKA_VALUE_LEN, keyBytes),
	))
	if err != nil {
		return fmt.Errorf("pkcs11: generate key %q in token %q: %w", cfg.KeyLabel, cfg.TokenLabel, err)
	}
	return nil
}

func additionalData(aad []byte) []byte {
	ad := make([]byte, 0, 1+len(aad))
	ad = append(ad, formatV1)
	return append(ad, aad...)
}

// Wrap encrypts plaintext in the token with a fresh random IV, bound to aad.
func (kr *Keyring) Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.mod == nil {
		return nil, keyring.ErrClosed
	}
	iv, ct, err := encryptGCM(kr.mod.ctx, kr.session, kr.key, plaintext, additionalData(aad))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, headerLen+len(ct))
	out = append(out, formatV1)
	out = append(out, iv...)
	return append(out, ct...), nil
}

// encryptGCM encrypts plaintext in session s with CKM_AES_GCM under key, a
// random 12-byte IV and aad. It returns the IV as the mechanism's
// parameters hold it after C_Encrypt, not the one it passed: a token may
// generate the IV itself and write it there (PKCS#11 3.0's IV generation,
// HSMs in FIPS mode), and only that IV decrypts the ciphertext. It returns
// the ciphertext followed by its tag.
func encryptGCM(c *p11.Ctx, s p11.SessionHandle, key p11.ObjectHandle, plaintext, aad []byte) (iv, sealed []byte, err error) {
	iv = make([]byte, ivSize)
	_, _ = rand.Read(iv)
	params := p11.NewGCMParams(iv, aad, tagBits)
	defer params.Free()
	if err := c.EncryptInit(s, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, key); err != nil {
		return nil, nil, fmt.Errorf("pkcs11: encrypt: %w", err)
	}
	if sealed, err = c.Encrypt(s, plaintext); err != nil {
		return nil, nil, fmt.Errorf("pkcs11: encrypt: %w", err)
	}
	if iv = params.IV(); len(iv) != ivSize {
		return nil, nil, fmt.Errorf("pkcs11: encrypt: the token used a %d-byte IV, not %d", len(iv), ivSize)
	}
	return iv, sealed, nil
}

// Unwrap decrypts in the token what Wrap made. Every input that does not
// authenticate is ErrUnwrap.
func (kr *Keyring) Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.mod == nil {
		return nil, keyring.ErrClosed
	}
	if len(wrapped) < headerLen+tagSize || wrapped[0] != formatV1 {
		return nil, keyring.ErrUnwrap
	}
	params := p11.NewGCMParams(append([]byte(nil), wrapped[1:headerLen]...), additionalData(aad), tagBits)
	defer params.Free()
	c := kr.mod.ctx
	if err := c.DecryptInit(kr.session, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, kr.key); err != nil {
		return nil, fmt.Errorf("pkcs11: decrypt: %w", err)
	}
	pt, err := c.Decrypt(kr.session, wrapped[headerLen:])
	if err != nil {
		// The token reports an authentication failure as
		// CKR_ENCRYPTED_DATA_INVALID (or a vendor variant): all are the
		// one opaque failure. The operation has ended either way.
		return nil, keyring.ErrUnwrap
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// Close ends the session; the module is finalised with its last user.
// Closing twice returns nil.
func (kr *Keyring) Close() error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.mod == nil {
		return nil
	}
	if kr.session != 0 {
		_ = kr.mod.ctx.CloseSession(kr.session)
	}
	kr.mod.release()
	kr.mod = nil
	return nil
}

// Format, String and LogValue print no handle or PIN.
func (*Keyring) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "pkcs11.Keyring") }
func (*Keyring) String() string             { return "pkcs11.Keyring" }
func (*Keyring) LogValue() slog.Value       { return slog.StringValue("pkcs11.Keyring") }
