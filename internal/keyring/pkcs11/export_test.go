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
