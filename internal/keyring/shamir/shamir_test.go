package shamir

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/keyringtest"
)

// Reference arithmetic from log/exp tables of the generator 3: the
// constant-time mul and inv must agree with it everywhere.
func TestFieldArithmetic(t *testing.T) {
	var exp [255]byte
	var log [256]int
	x := byte(1)
	for i := range 255 {
		exp[i] = x
		log[x] = i
		x ^= x<<1 ^ (x>>7)*0x1b // x·3 = x·2 + x
	}
	for a := range 256 {
		for b := range 256 {
			want := byte(0)
			if a != 0 && b != 0 {
				want = exp[(log[a]+log[b])%255]
			}
			if got := mul(byte(a), byte(b)); got != want {
				t.Fatalf("mul(%#x, %#x) = %#x, want %#x", a, b, got, want)
			}
		}
	}
	for a := 1; a < 256; a++ {
		if got := mul(byte(a), inv(byte(a))); got != 1 {
			t.Fatalf("a·inv(a) for a=%#x = %#x, want 1", a, got)
		}
	}
}

// subsets calls fn with every k-subset of 0..n-1.
func subsets(n, k int, fn func([]int)) {
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		if len(cur) == k {
			fn(cur)
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
}

func TestSplitCombine(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	for _, c := range []struct{ n, t int }{{2, 2}, {3, 2}, {5, 3}, {6, 6}, {10, 4}} {
		ys := split(secret, c.n, c.t)
		for k := c.t - 1; k <= c.n; k++ {
			subsets(c.n, k, func(idx []int) {
				xs := make([]byte, len(idx))
				sel := make([][]byte, len(idx))
				for i, j := range idx {
					xs[i], sel[i] = byte(j+1), ys[j]
				}
				got, err := combine(xs, sel)
				if err != nil {
					t.Fatal(err)
				}
				if ok := bytes.Equal(got, secret); ok != (k >= c.t) {
					t.Errorf("%d-of-%d: combine(shares %v) recovers the secret = %v, want %v", c.t, c.n, idx, ok, k >= c.t)
				}
			})
		}
	}
	if _, err := combine([]byte{1, 1}, [][]byte{{1}, {2}}); err == nil {
		t.Errorf("combine with duplicate indices err = nil")
	}
	if _, err := combine([]byte{0, 1}, [][]byte{{1}, {2}}); err == nil {
		t.Errorf("combine with index 0 err = nil")
	}
}

var ctx = context.Background()

func mustInit(t testing.TB, n, th int) (*Keyring, []string, []byte) {
	t.Helper()
	kr, shares, params, err := Init(n, th)
	if err != nil {
		t.Fatalf("Init(%d, %d) err = %v", n, th, err)
	}
	return kr, shares, params
}

func TestConformance(t *testing.T) {
	t.Run("Init", func(t *testing.T) {
		keyringtest.Run(t, func(t *testing.T) keyring.Keyring {
			kr, _, _ := mustInit(t, 3, 2)
			return kr
		})
	})
	t.Run("Unsealed", func(t *testing.T) {
		keyringtest.Run(t, func(t *testing.T) keyring.Keyring {
			_, shares, params := mustInit(t, 3, 2)
			kr, err := New(params)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range shares[1:] {
				if _, err := kr.Submit(s); err != nil {
					t.Fatal(err)
				}
			}
			return kr
		})
	})
}

// TestAnyThresholdUnseals: every T-subset of the N shares unseals and opens
// what the initialising keyring wrapped; no T-1 subset does.
func TestAnyThresholdUnseals(t *testing.T) {
	const n, th = 5, 3
	initKR, shares, params := mustInit(t, n, th)
	wrapped, err := initKR.Wrap(ctx, []byte("root key"), []byte("barrier/root"))
	if err != nil {
		t.Fatal(err)
	}
	subsets(n, th-1, func(idx []int) {
		kr, _ := New(params)
		for _, i := range idx {
			p, err := kr.Submit(shares[i])
			if err != nil || p.Unsealed {
				t.Fatalf("Submit(share %d) = %+v, %v", i+1, p, err)
			}
		}
		if p := kr.Progress(); p.Submitted != th-1 || p.Unsealed {
			t.Errorf("after %d shares Progress() = %+v, want %d submitted, sealed", th-1, p, th-1)
		}
		if _, err := kr.Unwrap(ctx, wrapped, []byte("barrier/root")); !errors.Is(err, ErrSealed) {
			t.Errorf("Unwrap with %v err = %v, want ErrSealed", idx, err)
		}
	})
	subsets(n, th, func(idx []int) {
		kr, _ := New(params)
		var p Progress
		for _, i := range idx {
			if p, err = kr.Submit(shares[i]); err != nil {
				t.Fatalf("Submit(share %d) err = %v", i+1, err)
			}
		}
		if !p.Unsealed || p.Submitted != 0 {
			t.Errorf("after shares %v Progress = %+v, want unsealed (shares wiped)", idx, p)
		}
		pt, err := kr.Unwrap(ctx, wrapped, []byte("barrier/root"))
		if err != nil || string(pt) != "root key" {
			t.Errorf("Unwrap after shares %v = %q, %v", idx, pt, err)
		}
	})
}

func TestBadShares(t *testing.T) {
	_, shares, params := mustInit(t, 3, 2)
	_, otherShares, _ := mustInit(t, 3, 2)
	raw, _ := base64.RawURLEncoding.DecodeString(shares[1])
	flipY := bytes.Clone(raw)
	flipY[20] ^= 1
	flipSum := bytes.Clone(raw)
	flipSum[len(raw)-1] ^= 0x80
	// A share altered and re-checksummed: only the server's digest catches it.
	forged := bytes.Clone(raw[:shareSize-sumSize])
	forged[15] ^= 4
	var id [idSize]byte
	copy(id[:], forged[1:])
	forged = encode(id, forged[1+idSize], forged[1+idSize+1], forged[1+idSize+2:])
	// Index changed to one this split does not have.
	outOfRange := encode(id, raw[1+idSize], 9, raw[1+idSize+2:shareSize-sumSize])
	enc := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name, share, want string
	}{
		{"Empty", "", "not a Trent unseal share"},
		{"Garbage", "hello world", "not a Trent unseal share"},
		{"Truncated", shares[1][:len(shares[1])-3], "not a Trent unseal share"},
		{"Huge", strings.Repeat("A", 5000), "not a Trent unseal share"},
		{"FlippedY", enc(flipY), "index 2 is corrupted"},
		{"FlippedChecksum", enc(flipSum), "index 2 is corrupted"},
		{"OtherInit", otherShares[0], "share 1 belongs to another initialisation"},
		{"Forged", enc(forged), "share 2 is not the share issued as share 2"},
		{"OutOfRange", enc(outOfRange), "share 9 does not fit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kr, _ := New(params)
			if _, err := kr.Submit(shares[0]); err != nil {
				t.Fatal(err)
			}
			p, err := kr.Submit(tc.share)
			if !errors.Is(err, ErrShare) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Submit(%s) err = %v, want ErrShare saying %q", tc.name, err, tc.want)
			}
			if p.Submitted != 1 || p.Unsealed {
				t.Errorf("after a refused share Progress = %+v, want 1 submitted, sealed", p)
			}
			// The good shares accepted before still count.
			if p, err := kr.Submit(shares[2]); err != nil || !p.Unsealed {
				t.Errorf("Submit(good share) after a refused one = %+v, %v, want unsealed", p, err)
			}
		})
	}
	t.Run("Duplicate", func(t *testing.T) {
		kr, _ := New(params)
		kr.Submit(shares[0])
		p, err := kr.Submit(shares[0])
		if err != nil || p.Submitted != 1 || p.Unsealed {
			t.Errorf("the same share twice = %+v, %v, want counted once", p, err)
		}
	})
}

func TestInitLimits(t *testing.T) {
	for _, c := range []struct{ n, t int }{{1, 1}, {3, 1}, {2, 3}, {256, 2}, {0, 0}} {
		if _, _, _, err := Init(c.n, c.t); err == nil {
			t.Errorf("Init(%d, %d) err = nil", c.n, c.t)
		}
	}
	if _, _, _, err := Init(255, 255); err != nil {
		t.Errorf("Init(255, 255) err = %v", err)
	}
}

func TestCloseWipes(t *testing.T) {
	kr, shares, params := mustInit(t, 3, 3)
	kr.Close()
	if _, err := kr.Wrap(ctx, []byte("x"), nil); !errors.Is(err, keyring.ErrClosed) {
		t.Errorf("Wrap after Close err = %v, want ErrClosed", err)
	}
	k2, _ := New(params)
	k2.Submit(shares[0])
	y := k2.ys[1]
	k2.Close()
	if !bytes.Equal(y, make([]byte, keySize)) {
		t.Errorf("Close left a submitted share in memory")
	}
	if _, err := k2.Submit(shares[1]); !errors.Is(err, keyring.ErrClosed) {
		t.Errorf("Submit after Close err = %v, want ErrClosed", err)
	}
	if s := fmt.Sprintf("%v %+v %x", k2, struct{ K *Keyring }{k2}, k2); strings.Count(s, "REDACTED") != 3 {
		t.Errorf("Sprintf(keyring) = %q, want REDACTED", s)
	}
}

func FuzzSubmit(f *testing.F) {
	_, shares, params := mustInit(f, 3, 2)
	for _, s := range shares {
		f.Add(s)
	}
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		kr, _ := New(params)
		p, err := kr.Submit(s)
		if err != nil && !errors.Is(err, ErrShare) {
			t.Fatalf("Submit err = %v, want nil or ErrShare", err)
		}
		if p.Unsealed {
			t.Fatalf("one share unsealed a 2-of-3 split")
		}
	})
}
