package keys

import (
	"bytes"
	"testing"
	"time"
)

// TestWrappingKeyAhead: after the first call of a spec the next pair is
// generated in the background and handed out by the next call, once; each
// call gets a different key, and it is the pair's own public key.
func TestWrappingKeyAhead(t *testing.T) {
	const spec = RSA2048
	seen := map[string]bool{}
	for i := range 3 {
		var ahead wrappingPair
		if i > 0 {
			ahead = waitReady(t, spec)
		}
		priv, pub, err := GenerateWrappingKey(spec)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && !bytes.Equal(pub, ahead.pub) {
			t.Fatalf("call %d: not the pair generated ahead", i)
		}
		if got, err := WrappingPublicKey(priv); err != nil || !bytes.Equal(got, pub) {
			t.Fatalf("call %d: public key is not the private key's (%v)", i, err)
		}
		if seen[string(pub)] {
			t.Fatalf("call %d: a wrapping key was handed out twice", i)
		}
		seen[string(pub)] = true
	}
	if _, _, err := GenerateWrappingKey(ECCNISTP256); err == nil {
		t.Fatal("ECC_NIST_P256 accepted as a wrapping key spec")
	}
}

// waitReady waits for the pair of spec generated ahead.
func waitReady(t *testing.T, spec Spec) wrappingPair {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		wrapping.mu.Lock()
		w, ok := wrapping.ready[spec]
		wrapping.mu.Unlock()
		if ok {
			return w
		}
	}
	t.Fatalf("no %s pair generated ahead within a minute", spec)
	return wrappingPair{}
}
