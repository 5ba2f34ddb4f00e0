//go:build cgo && !nopkcs11

package pkcs11

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/trent-kms/trent/internal/keyring"
)

// maxSessions bounds the sessions a Token opens: its pool.
const maxSessions = 16

// closeWait bounds Close's wait for the calls in flight: a token that
// does not answer does not hold Close for ever.
const closeWait = 10 * time.Second

// Token is a token logged in as its user (CKU_USER), whose AES keys are
// named by their labels: the keys of a CloudHSM key store. Its operations
// take a session from a pool; it is safe for concurrent use.
//
// The token may lose the pool's sessions or its login (another user of the
// module in this process calls C_CloseAllSessions or C_Logout, the token is
// reset or removed: lost, below). The pool then starts a new generation: it
// finds the token again, opens a session and logs in again, and the
// operation that saw the loss is tried once more. A session of an ended
// generation is never used again: closed when it is put back.
type Token struct {
	mod   *module
	lib   string
	label string
	pin   string
	idle  chan session  // sessions not in use, of the current generation
	slots chan struct{} // one per session that may still be opened

	login chan struct{} // a token in it while a new generation logs in (renew)

	mu       sync.Mutex
	slot     uint
	gen      uint64 // the pool's generation
	refused  error  // the token refused the PIN when the pool logged in again
	closed   bool
	released bool                        // the module is released: every session closed after Close
	done     chan struct{}               // closed once released
	handles  map[string]p11.ObjectHandle // key handles by label (valid in every session of gen)
}

// session is a session of the pool and the generation that opened it.
type session struct {
	h   p11.SessionHandle
	gen uint64
}

// OpenToken logs in to the token labelled label of the module lib with the
// user PIN pin. Its errors wrap ErrNoToken, ErrPINIncorrect, ErrPINLocked
// or ErrLoggedIn where they apply. The Token keeps the PIN to log in again
// when the token loses its login (use).
func OpenToken(lib, label, pin string) (*Token, error) {
	m, err := loadModule(lib)
	if err != nil {
		return nil, err
	}
	t := &Token{mod: m, lib: lib, label: label, pin: pin, idle: make(chan session, maxSessions),
		slots: make(chan struct{}, maxSessions), login: make(chan struct{}, 1), handles: make(map[string]p11.ObjectHandle),
		done: make(chan struct{})}
	for range maxSessions {
		t.slots <- struct{}{}
	}
	slot, err := findSlot(m.ctx, label)
	if err != nil {
		m.release()
		return nil, fmt.Errorf("%w in %s", err, lib)
	}
	t.slot = slot
	<-t.slots
	s, err := m.ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		m.release()
		return nil, fmt.Errorf("pkcs11: open session: %w", err)
	}
	if err := m.ctx.Login(s, p11.CKU_USER, pin); err != nil {
		_ = m.ctx.CloseSession(s)
		m.release()
		if perr := pinError(err, label); perr != nil {
			return nil, perr
		}
		switch {
		case isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN):
			// Another user of the token in this process (its login is
			// shared): this PIN cannot be checked.
			return nil, fmt.Errorf("%w: token %q", ErrLoggedIn, label)
		}
		return nil, fmt.Errorf("pkcs11: log in to token %q: %w", label, err)
	}
	t.idle <- session{h: s}
	return t, nil
}

// pinError is the error of a login to the token labelled label that the
// token refused for its PIN (wrapping ErrPINIncorrect or ErrPINLocked), or
// nil for another failure. Such a PIN must not be tried again unasked:
// each try brings the token closer to locking its user.
func pinError(err error, label string) error {
	switch {
	case isCode(err, p11.CKR_PIN_INCORRECT), isCode(err, p11.CKR_PIN_INVALID), isCode(err, p11.CKR_PIN_LEN_RANGE):
		return fmt.Errorf("%w: token %q", ErrPINIncorrect, label)
	case isCode(err, p11.CKR_PIN_EXPIRED):
		return fmt.Errorf("%w: token %q (the PIN expired)", ErrPINIncorrect, label)
	case isCode(err, p11.CKR_PIN_LOCKED):
		return fmt.Errorf("%w: token %q", ErrPINLocked, label)
	}
	return nil
}

func findSlot(c *p11.Ctx, label string) (uint, error) {
	slots, err := c.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: list slots: %w", err)
	}
	for _, s := range slots {
		if ti, err := c.GetTokenInfo(s); err == nil && ti.Label == label {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: no token labelled %q", ErrNoToken, label)
}

// TokenPresent reports whether the module lib loads and has a token
// labelled label (an error wrapping ErrNoToken when it has none).
func TokenPresent(lib, label string) error {
	m, err := loadModule(lib)
	if err != nil {
		return err
	}
	defer m.release()
	_, err = findSlot(m.ctx, label)
	return err
}

// HasKey reports whether the token has an AES key labelled label (a call
// that failed: false; FindKey tells them apart).
func (t *Token) HasKey(ctx context.Context, label string) bool {
	return t.FindKey(ctx, label) == nil
}

// FindKey returns nil when the token has an AES key labelled label, an
// error wrapping ErrNoKey when it has none, or the error of a call that
// could not tell (the token failed, or refused the login it lost).
func (t *Token) FindKey(ctx context.Context, label string) error {
	return t.use(ctx, func(c *p11.Ctx, s session) error {
		_, _, err := t.find(c, s, label)
		return err
	})
}

// LoginRefused returns the error (wrapping ErrPINIncorrect or
// ErrPINLocked) of the login that the token refused when the pool logged in
// again, or nil. Such a Token does not log in again: its operations that
// need a login fail; open a new one to try the PIN again.
func (t *Token) LoginRefused() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refused
}

// session returns an idle session, or a new one while fewer than
// maxSessions are open, or waits for one.
func (t *Token) session(ctx context.Context) (session, error) {
	for {
		var s session
		select {
		case s = <-t.idle:
		default:
			select {
			case s = <-t.idle:
			case <-t.slots:
				return t.openSession()
			case <-ctx.Done():
				return session{}, ctx.Err()
			}
		}
		t.mu.Lock()
		current := s.gen == t.gen
		t.mu.Unlock()
		if current {
			return s, nil
		}
		t.put(s, nil) // put back after its generation ended
	}
}

// openSession opens a session of the current generation, with a slot
// taken from t.slots (given back on failure).
func (t *Token) openSession() (session, error) {
	t.mu.Lock()
	closed, slot, gen := t.closed, t.slot, t.gen
	if closed {
		t.slots <- struct{}{}
		t.releaseIfDone()
	}
	t.mu.Unlock()
	if closed {
		return session{}, keyring.ErrClosed
	}
	h, err := t.mod.ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		t.mu.Lock()
		t.slots <- struct{}{}
		t.releaseIfDone()
		t.mu.Unlock()
		return session{}, fmt.Errorf("pkcs11: open session: %w", err)
	}
	return session{h: h, gen: gen}, nil // logged in: the login is the token's, for every session
}

// put puts s back in the pool after an operation that ended with err; a
// session of an ended generation (or after Close) is closed instead,
// unless err says the token already closed it (its handle may then be
// another session's).
func (t *Token) put(s session, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed && s.gen == t.gen && !lost(err) {
		t.idle <- s
		return
	}
	if !isCode(err, p11.CKR_SESSION_HANDLE_INVALID) && !isCode(err, p11.CKR_SESSION_CLOSED) {
		_ = t.mod.ctx.CloseSession(s.h)
	}
	t.slots <- struct{}{}
	t.releaseIfDone()
}

// lost reports whether err says that the token lost the session or its
// login: a new generation may succeed where the session failed.
func lost(err error) bool {
	for _, code := range []uint{p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_USER_NOT_LOGGED_IN,
		p11.CKR_DEVICE_REMOVED, p11.CKR_TOKEN_NOT_PRESENT} {
		if isCode(err, code) {
			return true
		}
	}
	return false
}

// use runs fn with a session, then puts the session back (or closes it,
// after Close). When fn's error says that the session or the login was
// lost, the pool starts a new generation (unless another caller did) and
// fn runs once more.
func (t *Token) use(ctx context.Context, fn func(c *p11.Ctx, s session) error) error {
	for try := 0; ; try++ {
		t.mu.Lock()
		closed := t.closed
		t.mu.Unlock()
		if closed {
			return keyring.ErrClosed
		}
		s, err := t.session(ctx)
		if err != nil {
			return err
		}
		err = fn(t.mod.ctx, s)
		t.put(s, err)
		if try > 0 || !lost(err) {
			return err
		}
		if rerr := t.renew(ctx, s.gen); rerr != nil {
			return fmt.Errorf("%w (after %w)", rerr, err)
		}
	}
}

// renew starts a new generation of the pool, unless gen has already
// ended: it closes the idle sessions, finds the token again (it may be in
// another slot after a reset), logs in with a new session, and only then
// ends gen (the callers that fail meanwhile wait for the login), closing
// the idle sessions again and forgetting the key handles. The session it
// logs in with takes a free slot or that of an idle session (put back by
// another caller meanwhile), closed; renew gives up when ctx ends or the
// Token is closed.
func (t *Token) renew(ctx context.Context, gen uint64) error {
	select {
	case t.login <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-t.login }()
	t.mu.Lock()
	closed, refused, current := t.closed, t.refused, t.gen == gen
	if current && !closed && refused == nil {
		t.closeIdle()
	}
	t.mu.Unlock()
	switch {
	case closed:
		return keyring.ErrClosed
	case refused != nil:
		return refused // never tried again
	case !current:
		return nil // another caller renewed the pool
	}
	if beforeRenewWait != nil {
		beforeRenewWait()
	}
	select {
	case <-t.slots:
	case s := <-t.idle:
		_ = t.mod.ctx.CloseSession(s.h) // its slot is renew's
	case <-ctx.Done():
		return ctx.Err()
	}
	t.mu.Lock()
	if t.closed {
		t.slots <- struct{}{}
		t.releaseIfDone()
		t.mu.Unlock()
		return keyring.ErrClosed
	}
	t.mu.Unlock()
	if beforeRelogin != nil {
		beforeRelogin()
	}
	h, err := t.relogin()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil || t.closed {
		if err == nil {
			_ = t.mod.ctx.CloseSession(h)
			err = keyring.ErrClosed
		}
		t.slots <- struct{}{}
		t.releaseIfDone()
		return err
	}
	t.gen++
	clear(t.handles)
	t.closeIdle()
	t.idle <- session{h: h, gen: t.gen}
	return nil
}

// closeIdle closes the idle sessions (t.mu held).
func (t *Token) closeIdle() {
	for {
		select {
		case s := <-t.idle:
			_ = t.mod.ctx.CloseSession(s.h)
			t.slots <- struct{}{}
		default:
			return
		}
	}
}

// relogin finds the token, opens a session and logs in to it (a login
// still there is kept).
func (t *Token) relogin() (p11.SessionHandle, error) {
	slot, err := findSlot(t.mod.ctx, t.label)
	if err != nil {
		return 0, fmt.Errorf("%w in %s", err, t.lib)
	}
	t.mu.Lock()
	t.slot = slot
	t.mu.Unlock()
	h, err := t.mod.ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: open session: %w", err)
	}
	if err := t.mod.ctx.Login(h, p11.CKU_USER, t.pin); err != nil && !isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = t.mod.ctx.CloseSession(h)
		if perr := pinError(err, t.label); perr != nil {
			t.mu.Lock()
			t.refused = perr
			t.mu.Unlock()
			return 0, perr
		}
		return 0, fmt.Errorf("pkcs11: log in to token %q again: %w", t.label, err)
	}
	return h, nil
}

// releaseIfDone releases the module once the token is closed and every
// session of it is (t.mu held).
func (t *Token) releaseIfDone() {
	if t.closed && !t.released && len(t.slots) == maxSessions {
		t.released = true
		t.mod.release()
		close(t.done)
	}
}

func aesTemplate(label string) []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
}

// find returns the handle of the AES key labelled label, and whether it
// came from the cache. A search that finds nothing in a session that is
// not logged in (a login the token lost: its private objects are hidden)
// is CKR_USER_NOT_LOGGED_IN, not a missing key. The handle found is cached
// only while the pool is still in the generation of ss (cache).
func (t *Token) find(c *p11.Ctx, ss session, label string) (h p11.ObjectHandle, cached bool, err error) {
	s := ss.h
	t.mu.Lock()
	h, ok := t.handles[label]
	gen := t.gen
	t.mu.Unlock()
	if ok && gen == ss.gen {
		return h, true, nil
	}
	notLoggedIn := func() error {
		return fmt.Errorf("pkcs11: find key %q: the session is not logged in: %w", label, p11.Error(p11.CKR_USER_NOT_LOGGED_IN))
	}
	// The session's state before and after the search: the pool may log
	// in again meanwhile.
	public, err := publicSession(c, s)
	if err != nil {
		return 0, false, err
	}
	if public {
		return 0, false, notLoggedIn()
	}
	if err := c.FindObjectsInit(s, aesTemplate(label)); err != nil {
		return 0, false, fmt.Errorf("pkcs11: find key: %w", err)
	}
	objs, _, err := c.FindObjects(s, 2)
	_ = c.FindObjectsFinal(s)
	switch {
	case err != nil:
		return 0, false, fmt.Errorf("pkcs11: find key: %w", err)
	case len(objs) > 1:
		return 0, false, fmt.Errorf("pkcs11: several AES keys are labelled %q", label)
	case len(objs) == 0:
		public, err := publicSession(c, s)
		if err != nil {
			return 0, false, err
		}
		t.mu.Lock()
		renewed := t.gen != gen
		t.mu.Unlock()
		if public || renewed {
			return 0, false, notLoggedIn()
		}
		return 0, false, fmt.Errorf("%w: %q", ErrNoKey, label)
	}
	t.cache(ss, label, objs[0])
	return objs[0], false, nil
}

// beforeRenewWait, when not nil, is called as renew starts to wait for a
// session's slot (a test's hook).
var beforeRenewWait func()

// beforeRelogin, when not nil, is called as renew, holding a session's
// slot, starts to log in again (a test's hook: it may close the Token
// there).
var beforeRelogin func()

// beforeCache, when not nil, is called before a key handle is cached (a
// test's hook: it may start a new generation there).
var beforeCache func()

// cache keeps h as the handle of the key labelled label, found or made in
// ss, unless the pool's generation changed since ss was taken: a handle of
// an ended generation may name another object in the new one (a token
// that reuses object handles across logins).
func (t *Token) cache(ss session, label string, h p11.ObjectHandle) {
	if beforeCache != nil {
		beforeCache()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen == ss.gen {
		t.handles[label] = h
	}
}

// publicSession reports whether s is not logged in.
func publicSession(c *p11.Ctx, s p11.SessionHandle) (bool, error) {
	info, err := c.GetSessionInfo(s)
	if err != nil {
		return false, fmt.Errorf("pkcs11: session info: %w", err)
	}
	return info.State == p11.CKS_RO_PUBLIC_SESSION || info.State == p11.CKS_RW_PUBLIC_SESSION, nil
}

// withKey runs fn with the handle of the key labelled label. When the
// token refuses a cached handle (a login that ended took it with it), the
// handle is forgotten and the key searched for again.
func (t *Token) withKey(c *p11.Ctx, s session, label string, fn func(h p11.ObjectHandle) error) error {
	h, cached, err := t.find(c, s, label)
	if err != nil {
		return err
	}
	err = fn(h)
	if !cached || !(isCode(err, p11.CKR_OBJECT_HANDLE_INVALID) || isCode(err, p11.CKR_KEY_HANDLE_INVALID)) {
		return err
	}
	t.mu.Lock()
	if t.handles[label] == h {
		delete(t.handles, label)
	}
	t.mu.Unlock()
	if h, _, err = t.find(c, s, label); err != nil {
		return err
	}
	return fn(h)
}

// GenerateKey generates in the token an AES-256 key labelled label, kept
// in the token (CKA_TOKEN), private, sensitive and not extractable, for
// encryption and decryption only.
func (t *Token) GenerateKey(ctx context.Context, label string) error {
	return t.use(ctx, func(c *p11.Ctx, s session) error {
		h, err := c.GenerateKey(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, append(aesTemplate(label),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, true),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
			p11.NewAttribute(p11.CKA_ENCRYPT, true),
			p11.NewAttribute(p11.CKA_DECRYPT, true),
			p11.NewAttribute(p11.CKA_WRAP, false),
			p11.NewAttribute(p11.CKA_UNWRAP, false),
			p11.NewAttribute(p11.CKA_VALUE_LEN, keyBytes),
		))
		if err != nil {
			return fmt.Errorf("pkcs11: generate key %q: %w", label, err)
		}
		t.cache(s, label, h)
		return nil
	})
}

// DestroyKey destroys the key labelled label; a missing key is ErrNoKey.
func (t *Token) DestroyKey(ctx context.Context, label string) error {
	return t.use(ctx, func(c *p11.Ctx, s session) error {
		err := t.withKey(c, s, label, func(h p11.ObjectHandle) error {
			if err := c.DestroyObject(s.h, h); err != nil {
				return fmt.Errorf("pkcs11: destroy key %q: %w", label, err)
			}
			return nil
		})
		if err == nil {
			t.mu.Lock()
			delete(t.handles, label)
			t.mu.Unlock()
		}
		return err
	})
}

// Seal encrypts plaintext in the token with AES-256-GCM under the key
// labelled label, a 12-byte IV and aad; it returns the IV the token used
// (encryptGCM) and the ciphertext followed by its 16-byte tag.
func (t *Token) Seal(ctx context.Context, label string, plaintext, aad []byte) (iv, sealed []byte, err error) {
	err = t.use(ctx, func(c *p11.Ctx, s session) error {
		return t.withKey(c, s, label, func(h p11.ObjectHandle) error {
			var err error
			iv, sealed, err = encryptGCM(c, s.h, h, plaintext, aad)
			return err
		})
	})
	if err != nil {
		return nil, nil, err
	}
	return iv, sealed, nil
}

// Open decrypts in the token what Seal made. Input that does not
// authenticate is keyring.ErrUnwrap; a missing key ErrNoKey.
func (t *Token) Open(ctx context.Context, label string, iv, sealed, aad []byte) ([]byte, error) {
	if len(iv) != ivSize || len(sealed) < tagSize {
		return nil, keyring.ErrUnwrap
	}
	var pt []byte
	err := t.use(ctx, func(c *p11.Ctx, s session) error {
		return t.withKey(c, s, label, func(h p11.ObjectHandle) error {
			params := p11.NewGCMParams(append([]byte(nil), iv...), aad, tagBits)
			defer params.Free()
			if err := c.DecryptInit(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, h); err != nil {
				return fmt.Errorf("pkcs11: decrypt: %w", err)
			}
			var err error
			if pt, err = c.Decrypt(s.h, sealed); err != nil {
				if lost(err) {
					return fmt.Errorf("pkcs11: decrypt: %w", err)
				}
				return keyring.ErrUnwrap // the operation has ended either way
			}
			return nil
		})
	})
	return pt, err
}

// Random returns n bytes of the token's random number generator.
func (t *Token) Random(ctx context.Context, n int) ([]byte, error) {
	var out []byte
	err := t.use(ctx, func(c *p11.Ctx, s session) error {
		var err error
		if out, err = c.GenerateRandom(s.h, n); err != nil {
			return fmt.Errorf("pkcs11: generate random: %w", err)
		}
		return nil
	})
	return out, err
}

// Close stops new calls (they return keyring.ErrClosed), closes the idle
// sessions, and waits for the calls in flight to end and close theirs:
// each holds a session of the pool and, the Token closed, ends its
// operation without trying it again or logging in again. The token's
// login ends with the last session: when Close returns, a new Token on the
// same token logs in afresh, and no call of this one uses a session or
// logs in any more. Calls that the token holds longer than closeWait are
// not waited for: their sessions are closed as they end. The module is
// finalised with its last user. Closing twice returns nil.
func (t *Token) Close() error {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		t.closeIdle()
		t.releaseIfDone()
	}
	t.mu.Unlock()
	timer := time.NewTimer(closeWait)
	defer timer.Stop()
	select {
	case <-t.done:
	case <-timer.C:
	}
	return nil
}

// Format, String and LogValue print no handle or PIN.
func (*Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "pkcs11.Token") }
func (*Token) String() string             { return "pkcs11.Token" }
func (*Token) LogValue() slog.Value       { return slog.StringValue("pkcs11.Token") }
