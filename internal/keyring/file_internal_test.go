package keyring

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestRootKeyRedacted(t *testing.T) {
	k := &rootKey{}
	for i := range k.b {
		k.b[i] = byte(0xa0 + i)
	}
	secret := hex.EncodeToString(k.b[:])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		for _, v := range []any{k, *k, struct{ K rootKey }{*k}} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprint(k.b[0:4])) || !strings.Contains(out, "REDACTED") {
				t.Errorf("Sprintf(%s, %T) = %q, want REDACTED and no key bytes", verb, v, out)
			}
		}
	}
	if b, err := json.Marshal(k); err == nil {
		t.Errorf("json.Marshal(rootKey) = %s, want an error", b)
	}
}

func TestCloseWipesKey(t *testing.T) {
	kr := GenerateEphemeral()
	k := kr.key
	if k.b == [RootKeySize]byte{} {
		t.Fatal("generated root key is all zeros")
	}
	if err := kr.Close(); err != nil {
		t.Fatal(err)
	}
	if k.b != [RootKeySize]byte{} {
		t.Errorf("root key not wiped by Close")
	}
	if kr.key != nil || kr.aead != nil {
		t.Errorf("Close kept references to key material")
	}
}
