//go:build cgo && !nopkcs11

package pkcs11

// SetBeforeCache sets the hook called before a key handle is cached
// (nil: none).
func SetBeforeCache(f func()) { beforeCache = f }

// Cached reports whether t holds a handle of the key labelled label.
func Cached(t *Token, label string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.handles[label]
	return ok
}

// SetBeforeRenewWait sets the hook called as renew starts to wait for a
// slot (nil: none).
func SetBeforeRenewWait(f func()) { beforeRenewWait = f }

// SetBeforeRelogin sets the hook called as renew starts to log in again
// (nil: none).
func SetBeforeRelogin(f func()) { beforeRelogin = f }

// Closed reports whether Close has marked t closed (it may still wait for
// the calls in flight).
func Closed(t *Token) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// FillIdle opens a session in each free slot of t and puts it back idle,
// as callers of the current generation do.
func FillIdle(t *Token) {
	for {
		select {
		case <-t.slots:
			s, err := t.openSession()
			if err != nil {
				return
			}
			t.put(s, nil)
		default:
			return
		}
	}
}
