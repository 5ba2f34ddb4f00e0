//go:build cgo && !nopkcs11

package pkcs11_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/pkcs11"
	"github.com/trent-kms/trent/internal/keyring/pkcs11/softhsmtest"
)

// TestToken: a key generated in the token stays there (sensitive, not
// extractable), encrypts and decrypts there, and is destroyed; a wrong PIN
// and a missing token are told apart.
func TestToken(t *testing.T) {
	ctx := context.Background()
	cfg := softhsmtest.Token(t)
	if _, err := pkcs11.OpenToken(cfg.Lib, "no-such-token", cfg.PIN); !errors.Is(err, pkcs11.ErrNoToken) {
		t.Errorf("OpenToken(missing token) err = %v, want ErrNoToken", err)
	}
	if _, err := pkcs11.OpenToken(cfg.Lib, cfg.TokenLabel, "wrong-pin"); !errors.Is(err, pkcs11.ErrPINIncorrect) {
		t.Errorf("OpenToken(wrong PIN) err = %v, want ErrPINIncorrect", err)
	}
	tok := openTokenWithKey(t, cfg)
	a, ok := softhsmtest.KeyAttributes(t, cfg, label)
	if !ok || !a.Sensitive || a.Extractable || !a.Token || a.ValueLen != 32 || a.ValueErr == nil {
		t.Errorf("key attributes = %+v (found %v), want a sensitive, non-extractable 32-byte token key whose CKA_VALUE is refused", a, ok)
	}
	aad := []byte("header")
	iv, sealed, err := tok.Seal(ctx, label, []byte("secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := tok.Open(ctx, label, iv, sealed, aad); err != nil || string(pt) != "secret" {
		t.Errorf("Open = %q, %v", pt, err)
	}
	if _, err := tok.Open(ctx, label, iv, sealed, []byte("other")); !errors.Is(err, keyring.ErrUnwrap) {
		t.Errorf("Open(other aad) err = %v, want ErrUnwrap", err)
	}
	// More callers than sessions: they share the pool.
	roundTrips(t, tok, label, 40, aad)
	r1, err1 := tok.Random(ctx, 32)
	r2, err2 := tok.Random(ctx, 32)
	if err1 != nil || err2 != nil || len(r1) != 32 || bytes.Equal(r1, r2) {
		t.Errorf("Random = %x, %x, %v, %v", r1, r2, err1, err2)
	}
	if err := tok.DestroyKey(ctx, label); err != nil {
		t.Fatal(err)
	}
	if _, ok := softhsmtest.KeyAttributes(t, cfg, label); ok {
		t.Error("the key is still in the token after DestroyKey")
	}
	if _, _, err := tok.Seal(ctx, label, []byte("x"), nil); !errors.Is(err, pkcs11.ErrNoKey) {
		t.Errorf("Seal(destroyed key) err = %v, want ErrNoKey", err)
	}
	tok.Close()
	if _, _, err := tok.Seal(ctx, label, []byte("x"), nil); !errors.Is(err, keyring.ErrClosed) {
		t.Errorf("Seal after Close err = %v, want ErrClosed", err)
	}
}

// roundTrips seals and opens n values at once under the key label of tok,
// with the additional data aad.
func roundTrips(t *testing.T, tok *pkcs11.Token, label string, n int, aad []byte) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pt := []byte{byte(i)}
			iv, sealed, err := tok.Seal(ctx, label, pt, aad)
			if err == nil {
				var got []byte
				got, err = tok.Open(ctx, label, iv, sealed, aad)
				if err == nil && !bytes.Equal(got, pt) {
					t.Errorf("round trip %d = %x", i, got)
				}
			}
			if err != nil {
				t.Errorf("round trip %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

// TestTokenLostSessions: when the token closes the pool's sessions (and so
// ends its login: C_CloseAllSessions by another user of the module in this
// process), the pool logs in again and the operations go on.
func TestTokenLostSessions(t *testing.T) {
	ctx := context.Background()
	cfg := softhsmtest.Token(t)
	tok := openTokenWithKey(t, cfg)
	iv, sealed, err := tok.Seal(ctx, label, []byte("before"), nil)
	if err != nil {
		t.Fatal(err)
	}
	roundTrips(t, tok, label, 20, nil) // several sessions in the pool
	for i := range 3 {
		softhsmtest.CloseAllSessions(t, cfg)
		if softhsmtest.LoggedIn(t, cfg) {
			t.Fatal("still logged in after C_CloseAllSessions")
		}
		if pt, err := tok.Open(ctx, label, iv, sealed, nil); err != nil || string(pt) != "before" {
			t.Fatalf("Open after C_CloseAllSessions (%d) = %q, %v", i, pt, err)
		}
		if !softhsmtest.LoggedIn(t, cfg) {
			t.Error("the token did not log in again")
		}
		softhsmtest.CloseAllSessions(t, cfg)
		if _, err := tok.Random(ctx, 16); err != nil {
			t.Errorf("Random after C_CloseAllSessions (%d): %v", i, err)
		}
	}
}

// TestTokenLoggedOut: a token that lost its login (C_Logout by another user
// of the module in this process) hides its private keys: a search for a
// key finds nothing, and a handle found before is refused. Neither means
// that the key is missing: the pool logs in again, for concurrent callers
// too.
func TestTokenLoggedOut(t *testing.T) {
	ctx := context.Background()
	cfg := softhsmtest.Token(t)
	first := openTokenWithKey(t, cfg)
	iv, sealed, err := first.Seal(ctx, label, []byte("kept"), nil)
	first.Close()
	if err != nil {
		t.Fatal(err)
	}

	tok := openToken(t, cfg)
	softhsmtest.Logout(t, cfg)
	// The key is not yet known to tok: it searches for it.
	if pt, err := tok.Open(ctx, label, iv, sealed, nil); err != nil || string(pt) != "kept" {
		t.Fatalf("Open after C_Logout = %q, %v", pt, err)
	}
	if !softhsmtest.LoggedIn(t, cfg) {
		t.Error("the token did not log in again")
	}
	// Now it holds the key's handle.
	softhsmtest.Logout(t, cfg)
	if _, _, err := tok.Seal(ctx, label, []byte("x"), nil); err != nil {
		t.Errorf("Seal after C_Logout: %v", err)
	}
	softhsmtest.Logout(t, cfg)
	roundTrips(t, tok, label, 20, nil)
	softhsmtest.CloseAllSessions(t, cfg)
	roundTrips(t, tok, label, 20, nil)
	if err := tok.DestroyKey(ctx, label); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tok.Seal(ctx, label, []byte("x"), nil); !errors.Is(err, pkcs11.ErrNoKey) {
		t.Errorf("Seal(destroyed key) err = %v, want ErrNoKey", err)
	}
}

// TestTokenPINRefused: when the token refuses the PIN as the pool logs in
// again (the PIN was changed in the token), the Token does not try it
// again, even once it would be right (each wrong PIN brings the token
// closer to locking its user).
func TestTokenPINRefused(t *testing.T) {
	ctx := context.Background()
	cfg := softhsmtest.Token(t)
	tok := openTokenWithKey(t, cfg)
	softhsmtest.Logout(t, cfg)
	softhsmtest.SetPIN(t, cfg, cfg.PIN, "changed-pin")
	if _, _, err := tok.Seal(ctx, label, []byte("x"), nil); !errors.Is(err, pkcs11.ErrPINIncorrect) {
		t.Errorf("Seal with a PIN changed in the token: err = %v, want ErrPINIncorrect", err)
	}
	if err := tok.LoginRefused(); !errors.Is(err, pkcs11.ErrPINIncorrect) {
		t.Errorf("LoginRefused = %v, want ErrPINIncorrect", err)
	}
	softhsmtest.SetPIN(t, cfg, "changed-pin", cfg.PIN)
	if _, _, err := tok.Seal(ctx, label, []byte("x"), nil); !errors.Is(err, pkcs11.ErrPINIncorrect) {
		t.Errorf("Seal after the PIN was refused: err = %v, want ErrPINIncorrect (no new login)", err)
	}
	if softhsmtest.LoggedIn(t, cfg) {
		t.Error("the Token logged in again with a PIN the token had refused")
	}
}

// sealUntilClosed starts callers, more than the pool's sessions, each
// sealing under the key label of tok again and again until the Token is
// closed (keyring.ErrClosed; another error fails the test). It returns
// once each has made a call, with a function that waits for them to end.
func sealUntilClosed(ctx context.Context, t *testing.T, tok *pkcs11.Token) (wait func()) {
	t.Helper()
	var wg, started sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				_, _, err := tok.Seal(ctx, label, []byte{byte(i)}, nil)
				if n == 0 {
					started.Done()
				}
				if err != nil {
					if !errors.Is(err, keyring.ErrClosed) {
						t.Errorf("Seal during Close: %v", err)
					}
					return
				}
			}
		}()
	}
	started.Wait()
	return wg.Wait
}

// TestTokenStress: callers at once, more than the pool's sessions, seal
// and open after the token lost the pool's sessions (C_CloseAllSessions)
// or its login (C_Logout), again and again; then the Token is closed under
// them. Each call succeeds (it is tried once more in a new generation),
// and no session of the pool is left open.
func TestTokenStress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang
	defer cancel()
	cfg, other := softhsmtest.Token(t), softhsmtest.Token(t)
	tok := openToken(t, cfg)
	// A Token of another token keeps the module initialised after tok's
	// Close, for the last check (softhsmtest's would initialise it for
	// good, hiding the next tests' tokens).
	openToken(t, other)
	if err := tok.GenerateKey(ctx, label); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		// The token loses them with no call in flight: SoftHSM2 does not
		// keep a session it closes alive for a call using it.
		if i%3 == 2 {
			softhsmtest.Logout(t, cfg)
		} else {
			softhsmtest.CloseAllSessions(t, cfg)
		}
		roundTrips(t, tok, label, 24, nil)
		if t.Failed() {
			t.Fatalf("round %d failed", i)
		}
	}
	// Close while callers are in flight: they succeed until they fail
	// with ErrClosed.
	wait := sealUntilClosed(ctx, t, tok)
	tok.Close()
	wait()
	// Every session of the pool is closed once its call ends: the
	// token's login ends with the last.
	if softhsmtest.LoggedIn(t, cfg) {
		t.Error("still logged in after Close: a session of the pool was left open")
	}
}

// TestTokenCloseInFlight: Close stops new calls, waits for those in
// flight (their sessions hold the login) and returns with no session of
// the Token left open, so that a new Token on the same token, opened right
// after (a reconnect), logs in (no CKR_USER_ALREADY_LOGGED_IN) and keeps
// its login when the old calls end.
func TestTokenCloseInFlight(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang
	defer cancel()
	cfg := softhsmtest.Token(t)
	tok := openTokenWithKey(t, cfg)
	for round := range 5 {
		wait := sealUntilClosed(ctx, t, tok)
		tok.Close()
		next, err := pkcs11.OpenToken(cfg.Lib, cfg.TokenLabel, cfg.PIN)
		wait()
		if err != nil {
			t.Fatalf("round %d: OpenToken right after Close: %v", round, err)
		}
		t.Cleanup(func() { next.Close() })
		tok = next
		if _, _, err := tok.Seal(ctx, label, []byte("x"), nil); err != nil {
			t.Fatalf("round %d: Seal with the new Token after the old calls ended: %v", round, err)
		}
		if !softhsmtest.LoggedIn(t, cfg) {
			t.Fatalf("round %d: the new Token lost its login when the old calls ended", round)
		}
	}
}

// TestTokenNoStaleHandle: a key handle found or made in a session of a
// generation that ended during the call is not cached for the new one (a
// token that reuses object handles across logins could give it to another
// key). The hook starts a new generation between the search (or the
// generation) and the caching.
func TestTokenNoStaleHandle(t *testing.T) {
	ctx := context.Background()
	cfg := softhsmtest.Token(t)
	for _, op := range []string{"GenerateKey", "HasKey"} {
		tok := openToken(t, cfg)
		var err error
		renewed := false
		pkcs11.SetBeforeCache(func() {
			if renewed {
				return
			}
			renewed = true
			softhsmtest.CloseAllSessions(t, cfg)
			tok.HasKey(ctx, "no-such-key") // loses its login: a new generation
		})
		if op == "GenerateKey" {
			err = tok.GenerateKey(ctx, label)
		} else if !tok.HasKey(ctx, label) {
			err = errors.New("HasKey = false")
		}
		pkcs11.SetBeforeCache(nil)
		if err != nil || !renewed {
			t.Fatalf("%s: %v (renewed %v)", op, err, renewed)
		}
		if pkcs11.Cached(tok, label) {
			t.Errorf("%s cached a key handle of an ended generation", op)
		}
		if _, _, err := tok.Seal(ctx, label, []byte("x"), nil); err != nil {
			t.Errorf("Seal after %s: %v", op, err)
		}
		tok.Close()
	}
}

// TestTokenRenewIdle: a new generation logs in even when every slot of the
// pool is held by an idle session that other callers put back after renew
// closed the idle ones (under load); it does not wait for a free slot
// until its context ends.
func TestTokenRenewIdle(t *testing.T) {
	cfg := softhsmtest.Token(t)
	tok := openToken(t, cfg)
	filled := hookOnce(t, pkcs11.SetBeforeRenewWait, func() { pkcs11.FillIdle(tok) })
	softhsmtest.CloseAllSessions(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // detects a hang only
	defer cancel()
	if !tok.HasKey(ctx, "no-such-key") && ctx.Err() != nil {
		t.Fatal("the new generation waited for a free slot until its context ended")
	}
	if !filled() {
		t.Fatal("no new generation")
	}
	if !softhsmtest.LoggedIn(t, cfg) {
		t.Error("the token did not log in again")
	}
	if _, err := tok.Random(ctx, 16); err != nil {
		t.Errorf("Random: %v", err)
	}
}

// TestTokenRenewClose: a new generation that Close races, before it waits
// for a session's slot or as it logs in again, gives up with ErrClosed
// and leaves no session or login behind: Close returns, and a new Token on
// the same token logs in right after.
func TestTokenRenewClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(func()) // the hook that closes the Token
	}{
		{"before the wait", pkcs11.SetBeforeRenewWait},
		{"before the login", pkcs11.SetBeforeRelogin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang
			defer cancel()
			cfg := softhsmtest.Token(t)
			tok := openToken(t, cfg)
			closed := make(chan struct{})
			ran := hookOnce(t, tc.set, func() {
				go func() {
					tok.Close() // before the login, it waits for this call
					close(closed)
				}()
				for !pkcs11.Closed(tok) {
					runtime.Gosched()
				}
			})
			softhsmtest.CloseAllSessions(t, cfg)
			_, _, err := tok.Seal(ctx, label, []byte("x"), nil)
			if !ran() {
				t.Fatal("no new generation")
			}
			if !errors.Is(err, keyring.ErrClosed) {
				t.Errorf("Seal with Close during its new generation: err = %v, want ErrClosed", err)
			}
			select {
			case <-closed:
			case <-ctx.Done():
				t.Fatal("Close did not return")
			}
			next := openToken(t, cfg) // ErrLoggedIn if the renewal's login stayed
			if _, err := next.Random(ctx, 16); err != nil {
				t.Errorf("Random with a new Token: %v", err)
			}
			if !softhsmtest.LoggedIn(t, cfg) {
				t.Error("the new Token is not logged in")
			}
		})
	}
}

// TestTokenLoginWaitCancel: a caller that finds the login lost while
// another caller logs in again waits for that login under its context:
// cancelled, it returns the context's error at once, not after the other
// login.
func TestTokenLoginWaitCancel(t *testing.T) {
	cfg := softhsmtest.Token(t)
	tok := openToken(t, cfg)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var err error
	ran := hookOnce(t, pkcs11.SetBeforeRenewWait, func() {
		// This renewal holds the login lock. Idle sessions of the ended
		// generation take the other caller to its own renewal without
		// a wait for a session.
		pkcs11.FillIdle(tok)
		res := make(chan error, 1)
		go func() {
			_, _, err := tok.Seal(cancelled, label, []byte("x"), nil)
			res <- err
		}()
		select {
		case err = <-res:
		case <-time.After(20 * time.Second): // a hang
			t.Error("the caller waiting for the login lock did not return when its context was cancelled")
		}
	})
	softhsmtest.CloseAllSessions(t, cfg)
	ctx, cancelCtx := context.WithTimeout(context.Background(), 30*time.Second) // a hang
	defer cancelCtx()
	tok.HasKey(ctx, "no-such-key") // loses its login: a new generation
	if !ran() {
		t.Fatal("no new generation")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Seal with a cancelled context during another's login: err = %v, want context.Canceled", err)
	}
	if _, err := tok.Random(ctx, 16); err != nil {
		t.Errorf("Random after the login: %v", err)
	}
	if !softhsmtest.LoggedIn(t, cfg) {
		t.Error("the token did not log in again")
	}
}

// hookOnce sets a hook of the pool with set (pkcs11.SetBeforeRenewWait,
// pkcs11.SetBeforeRelogin) to run f the first time it is called, until
// the test ends; ran reports whether f ran.
func hookOnce(t *testing.T, set func(func()), f func()) (ran func() bool) {
	t.Helper()
	done := false
	set(func() {
		if !done {
			done = true
			f()
		}
	})
	t.Cleanup(func() { set(nil) })
	return func() bool { return done }
}

// label names the tests' key (a key id, as a CloudHSM key store names its
// keys in the token).
const label = "1234abcd-12ab-34cd-56ef-1234567890ab"

// openToken logs in to the token of cfg; the Token is closed when the test
// ends (a Close before is fine: Close is idempotent).
func openToken(t *testing.T, cfg pkcs11.Config) *pkcs11.Token {
	t.Helper()
	tok, err := pkcs11.OpenToken(cfg.Lib, cfg.TokenLabel, cfg.PIN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

// openTokenWithKey is openToken with the key label generated in the token.
func openTokenWithKey(t *testing.T, cfg pkcs11.Config) *pkcs11.Token {
	t.Helper()
	tok := openToken(t, cfg)
	if err := tok.GenerateKey(context.Background(), label); err != nil {
		t.Fatal(err)
	}
	return tok
}
