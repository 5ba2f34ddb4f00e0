package kms

import (
	"fmt"
	"testing"
)

// Keys created with the same policy document (the default one, or the same
// text given explicitly, also after a reload) share one compiled policy;
// another document gets its own.
func TestPolicyCompiledOncePerDocument(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pol := func(s *Service, id string) string {
		t.Helper()
		k := s.getKey(scope{"us-east-1", acct}, id)
		if k == nil || k.pol == nil {
			t.Fatalf("key %s: no compiled policy", id)
		}
		return fmt.Sprintf("%p", k.pol)
	}
	a, b := e.createKey(caller), e.createKey(caller)
	if pa, pb := pol(e.s, a.KeyId), pol(e.s, b.KeyId); pa != pb {
		t.Errorf("two keys with the default policy: compiled twice (%s, %s)", pa, pb)
	}
	doc := e.s.defaultPolicy(acct)
	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{Policy: &doc})
	if err != nil {
		t.Fatal(err)
	}
	if pa, pc := pol(e.s, a.KeyId), pol(e.s, out.KeyMetadata.KeyId); pa != pc {
		t.Errorf("the default policy given explicitly: compiled again (%s, %s)", pa, pc)
	}
	other := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	out, err = e.s.CreateKey(bg, caller, &CreateKeyInput{Policy: &other})
	if err != nil {
		t.Fatal(err)
	}
	if pa, pd := pol(e.s, a.KeyId), pol(e.s, out.KeyMetadata.KeyId); pa == pd {
		t.Errorf("another document shares the default policy's compiled form")
	}
	s2 := e.reopen()
	if pa, pb := pol(s2, a.KeyId), pol(s2, b.KeyId); pa != pb {
		t.Errorf("after a reload: the default policy compiled per key (%s, %s)", pa, pb)
	}
}

// The cache holds at most polCacheEntries documents and none larger than
// polCacheDocMax.
func TestPolicyCacheBounded(t *testing.T) {
	t.Parallel()
	var c policyCache
	doc := func(i int, pad int) string {
		return fmt.Sprintf(`{"Version":"2012-10-17","Id":"p%d%*s","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}`, i, pad, "")
	}
	for i := range 3 * polCacheEntries {
		if _, err := c.parse(doc(i, 0)); err != nil {
			t.Fatal(err)
		}
		if n := len(c.m); n > polCacheEntries {
			t.Fatalf("after %d documents the cache holds %d (max %d)", i+1, n, polCacheEntries)
		}
	}
	clear(c.m)
	big := doc(0, polCacheDocMax)
	p1, err := c.parse(big)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := c.parse(big)
	if p1 == p2 || len(c.m) != 0 {
		t.Errorf("a document over %d bytes was cached", polCacheDocMax)
	}
	if _, err := c.parse(`{"Statement":`); err == nil || len(c.m) != 0 {
		t.Errorf("a malformed document: err = %v, cached %d", err, len(c.m))
	}
}
