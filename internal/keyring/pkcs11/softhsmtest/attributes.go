//go:build cgo && !nopkcs11

package softhsmtest

import (
	"encoding/binary"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/trent-kms/trent/internal/keyring/pkcs11"
)

// Attributes are those of a secret key in a token, as a session of the
// test's own sees them.
type Attributes struct {
	Sensitive, Extractable, Token bool
	ValueLen                      int
	// ValueErr is C_GetAttributeValue's answer for CKA_VALUE (nil: the
	// key's bytes left the token).
	ValueErr error
}

// KeyAttributes returns the attributes of the one secret key labelled
// label in the token of cfg; ok is false when there is none. It logs in
// as the token's user (cfg.PIN) unless this process already has.
func KeyAttributes(t testing.TB, cfg pkcs11.Config, label string) (a Attributes, ok bool) {
	t.Helper()
	c, s, done := openSession(t, cfg, p11.CKF_SERIAL_SESSION)
	defer done()
	if err := c.Login(s, p11.CKU_USER, cfg.PIN); err != nil && !isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		t.Fatalf("C_Login: %v", err)
	}
	if err := c.FindObjectsInit(s, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY), p11.NewAttribute(p11.CKA_LABEL, label)}); err != nil {
		t.Fatal(err)
	}
	objs, _, err := c.FindObjects(s, 2)
	_ = c.FindObjectsFinal(s)
	if err != nil || len(objs) > 1 {
		t.Fatalf("find %q: %d objects, %v", label, len(objs), err)
	}
	if len(objs) == 0 {
		return a, false
	}
	attrs, err := c.GetAttributeValue(s, objs[0], []*p11.Attribute{
		p11.NewAttribute(p11.CKA_SENSITIVE, nil), p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
		p11.NewAttribute(p11.CKA_TOKEN, nil), p11.NewAttribute(p11.CKA_VALUE_LEN, nil)})
	if err != nil {
		t.Fatalf("C_GetAttributeValue: %v", err)
	}
	flag := func(i int) bool { return len(attrs[i].Value) == 1 && attrs[i].Value[0] == 1 }
	a.Sensitive, a.Extractable, a.Token = flag(0), flag(1), flag(2)
	if v := attrs[3].Value; len(v) == 8 { // a CK_ULONG
		a.ValueLen = int(binary.NativeEndian.Uint64(v))
	}
	_, a.ValueErr = c.GetAttributeValue(s, objs[0], []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	return a, true
}

// SetPIN changes the user PIN of the token of cfg from old to new (as the
// token's user, in a session of the test's own, logged out after). No other
// user of the module in this process may be logged in to the token.
func SetPIN(t testing.TB, cfg pkcs11.Config, old, new string) {
	t.Helper()
	c, s, done := openSession(t, cfg, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	defer done()
	if err := c.Login(s, p11.CKU_USER, old); err != nil {
		t.Fatalf("C_Login: %v", err)
	}
	defer c.Logout(s)
	if err := c.SetPIN(s, old, new); err != nil {
		t.Fatalf("C_SetPIN: %v", err)
	}
}

// CloseAllSessions closes every session of this process on the token of
// cfg (C_CloseAllSessions, from a handle of the test's own on the module):
// the token's login in this process ends with them.
func CloseAllSessions(t testing.TB, cfg pkcs11.Config) {
	t.Helper()
	c, s, done := openSession(t, cfg, p11.CKF_SERIAL_SESSION)
	defer done() // its session is closed with the others
	info, err := c.GetSessionInfo(s)
	if err != nil {
		t.Fatalf("C_GetSessionInfo: %v", err)
	}
	if err := c.CloseAllSessions(info.SlotID); err != nil {
		t.Fatalf("C_CloseAllSessions: %v", err)
	}
}

// Logout logs this process's user out of the token of cfg (C_Logout, in a
// session of the test's own): the other sessions of the process stay open,
// logged out.
func Logout(t testing.TB, cfg pkcs11.Config) {
	t.Helper()
	c, s, done := openSession(t, cfg, p11.CKF_SERIAL_SESSION)
	defer done()
	if err := c.Logout(s); err != nil {
		t.Fatalf("C_Logout: %v", err)
	}
}

// LoggedIn reports whether this process is logged in to the token of cfg
// as its user.
func LoggedIn(t testing.TB, cfg pkcs11.Config) bool {
	t.Helper()
	c, s, done := openSession(t, cfg, p11.CKF_SERIAL_SESSION)
	defer done()
	info, err := c.GetSessionInfo(s)
	if err != nil {
		t.Fatalf("C_GetSessionInfo: %v", err)
	}
	return info.State == p11.CKS_RO_USER_FUNCTIONS || info.State == p11.CKS_RW_USER_FUNCTIONS
}

// openSession opens a session of the test's own (flags) on the token of
// cfg, holding the module meanwhile as one of its users in this process
// (pkcs11.HoldModule: loaded and initialised if need be; finalised by the
// last user, so that a later load sees the tokens made since). done closes
// the session and gives the module back.
func openSession(t testing.TB, cfg pkcs11.Config, flags uint) (c *p11.Ctx, s p11.SessionHandle, done func()) {
	t.Helper()
	release, err := pkcs11.HoldModule(cfg.Lib)
	if err != nil {
		t.Fatal(err)
	}
	c = p11.New(cfg.Lib) // the library loaded and initialised by the hold
	if c == nil {
		release()
		t.Fatalf("load %s", cfg.Lib)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		c.Destroy()
		release()
		t.Fatalf(format, args...)
	}
	slots, err := c.GetSlotList(true)
	if err != nil {
		fail("C_GetSlotList: %v", err)
	}
	for _, sl := range slots {
		if ti, err := c.GetTokenInfo(sl); err == nil && ti.Label == cfg.TokenLabel {
			s, err := c.OpenSession(sl, flags)
			if err != nil {
				fail("C_OpenSession: %v", err)
			}
			return c, s, func() {
				_ = c.CloseSession(s)
				c.Destroy()
				release()
			}
		}
	}
	fail("no token %q in this process's view of %s (tokens made after the module was loaded by a user still holding it are not listed)", cfg.TokenLabel, cfg.Lib)
	return nil, 0, nil
}

func isCode(err error, code uint) bool {
	e, ok := err.(p11.Error)
	return ok && uint(e) == code
}
