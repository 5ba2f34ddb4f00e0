package envelope

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha512"
	"io"
	"testing"
)

const benchSize = 16 << 20

func BenchmarkEncrypt(b *testing.B) {
	kr := mustRawAES(b, "bench")
	pt := make([]byte, benchSize)
	for _, s := range bothSuites {
		for _, fs := range []int{DefaultFrameSize, 64 << 10} {
			b.Run(s.String()+"/frame="+itoa(fs), func(b *testing.B) {
				b.SetBytes(benchSize)
				for b.Loop() {
					w, err := Encrypt(context.Background(), io.Discard, kr, &EncryptOptions{Suite: s, FrameSize: fs})
					if err != nil {
						b.Fatal(err)
					}
					w.Write(pt)
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	kr := mustRawAES(b, "bench")
	pt := make([]byte, benchSize)
	for _, s := range bothSuites {
		for _, fs := range []int{DefaultFrameSize, 64 << 10} {
			msg := mustEncrypt(b, kr, pt, &EncryptOptions{Suite: s, FrameSize: fs})
			for _, mode := range []string{"Read", "WriteTo"} {
				b.Run(s.String()+"/frame="+itoa(fs)+"/"+mode, func(b *testing.B) {
					b.SetBytes(benchSize)
					buf := make([]byte, 64<<10)
					for b.Loop() {
						r, err := Decrypt(context.Background(), bytes.NewReader(msg), kr, nil)
						if err != nil {
							b.Fatal(err)
						}
						var src io.Reader = r
						if mode == "Read" {
							src = struct{ io.Reader }{r} // hide WriteTo
						}
						if _, err := io.CopyBuffer(io.Discard, src, buf); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkRawAESGCM is the rate of the cipher alone, sealing 4096-byte
// frames in place, for comparison.
func BenchmarkRawAESGCM(b *testing.B) {
	block, _ := aes.NewCipher(make([]byte, 32))
	aead, _ := cipher.NewGCM(block)
	for _, fs := range []int{DefaultFrameSize, 64 << 10} {
		b.Run("frame="+itoa(fs), func(b *testing.B) {
			buf := make([]byte, fs+16)
			nonce := make([]byte, 12)
			aad := make([]byte, 78)
			b.SetBytes(benchSize)
			for b.Loop() {
				for range benchSize / fs {
					aead.Seal(buf[:0], nonce, buf[:fs], aad)
				}
			}
		})
	}
}

// BenchmarkSHA384 is the rate of SHA-384 alone over one stream in 64 KiB
// writes: the bound of the signed suites, which the overlapped hashing of
// pipeHash approaches when a second core is free.
func BenchmarkSHA384(b *testing.B) {
	buf := make([]byte, 64<<10)
	b.SetBytes(benchSize)
	for b.Loop() {
		h := sha512.New384()
		for range benchSize / len(buf) {
			h.Write(buf)
		}
		h.Sum(nil)
	}
}
