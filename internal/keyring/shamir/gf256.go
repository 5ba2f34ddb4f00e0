package shamir

import (
	"crypto/rand"
	"errors"
)

// Arithmetic in GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1,
// without tables or secret-dependent branches: the time taken depends on
// nothing secret.

// mul returns a·b.
func mul(a, b byte) byte {
	var r byte
	for range 8 {
		r ^= a & -(b & 1) // add a when the low bit of b is set
		b >>= 1
		carry := -(a >> 7) // 0xff when a's top bit is set
		a = a<<1 ^ 0x1b&carry
	}
	return r
}

// inv returns a⁻¹ (a^254); inv(0) is 0, never used as a divisor here.
func inv(a byte) byte {
	a2 := mul(a, a)
	a3 := mul(a2, a)
	a6 := mul(a3, a3)
	a12 := mul(a6, a6)
	a15 := mul(a12, a3)
	a30 := mul(a15, a15)
	a60 := mul(a30, a30)
	a63 := mul(a60, a3)
	a126 := mul(a63, a63)
	a127 := mul(a126, a)
	return mul(a127, a127)
}

// split returns n shares of secret with threshold t (2 <= t <= n <= 255):
// share i (0-based) is the evaluation at x = i+1, byte by byte, of a random
// polynomial of degree t-1 whose constant term is the secret byte. The
// caller wipes the shares.
func split(secret []byte, n, t int) [][]byte {
	ys := make([][]byte, n)
	for i := range ys {
		ys[i] = make([]byte, len(secret))
	}
	coef := make([]byte, t)
	defer clear(coef)
	for j, s := range secret {
		_, _ = rand.Read(coef[1:])
		coef[0] = s
		for i := range n {
			x := byte(i + 1)
			// Horner: ((c[t-1]·x + c[t-2])·x + ...)·x + c[0]
			var y byte
			for k := t - 1; k >= 0; k-- {
				y = mul(y, x) ^ coef[k]
			}
			ys[i][j] = y
		}
	}
	return ys
}

var errPoints = errors.New("shamir: shares must have distinct non-zero indices and equal lengths")

// combine interpolates the secret (the value at x = 0) from points (xs[i],
// ys[i]).
func combine(xs []byte, ys [][]byte) ([]byte, error) {
	if len(xs) == 0 || len(xs) != len(ys) {
		return nil, errPoints
	}
	for i := range xs {
		if xs[i] == 0 || len(ys[i]) != len(ys[0]) {
			return nil, errPoints
		}
		for j := range i {
			if xs[i] == xs[j] {
				return nil, errPoints
			}
		}
	}
	// Lagrange basis at 0: l_i = Π_{j≠i} x_j / (x_j - x_i); subtraction is xor.
	basis := make([]byte, len(xs))
	for i := range xs {
		num, den := byte(1), byte(1)
		for j := range xs {
			if j != i {
				num = mul(num, xs[j])
				den = mul(den, xs[j]^xs[i])
			}
		}
		basis[i] = mul(num, inv(den))
	}
	out := make([]byte, len(ys[0]))
	for i, y := range ys {
		for k := range out {
			out[k] ^= mul(basis[i], y[k])
		}
	}
	return out, nil
}
