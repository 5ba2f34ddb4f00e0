package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/cputime"
)

// BenchmarkServerEncrypt measures one Encrypt over real loopback HTTP
// (keep-alive) against the whole server: net/http, the pipeline, metrics.
// The client is a plain http.Client replaying a request signed once, so
// most of the client-side cost of the SDK is left out.
//
// The server, its key and the client's connections are set up once for
// every iteration count the benchmark tries, and each sub-benchmark keeps
// `clients` requests in flight. Besides ns/op (wall time per request: the
// inverse of the throughput) it reports cpu-ns/op, the process's CPU time
// (server and client) per request, which other work on the machine barely
// changes: on a busy machine compare that one.
func BenchmarkServerEncrypt(b *testing.B) {
	s, err := New(context.Background(), devConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	ck, err := sdk(s.URL(), DevAccessKeyID, DevSecretKey, nil).CreateKey(context.Background(), &awskms.CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"KeyId":"` + *ck.KeyMetadata.KeyId + `","Plaintext":"` +
		"cGxhaW50ZXh0IG9mIGEgYmVuY2htYXJrIHJlcXVlc3QgdGhhdCBpcyBub3QgdG9vIHNob3J0" + `"}`)
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/", nil)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: DevAccessKeyID, SecretAccessKey: DevSecretKey},
		req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer hc.CloseIdleConnections()
	call := func() error {
		r := req.Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		resp, err := hc.Do(r)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return &statusError{resp.StatusCode}
		}
		return nil
	}
	for _, clients := range []int{1, 32} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			warm(b, clients, call)
			b.ReportAllocs()
			cpu0 := cputime.Process()
			b.ResetTimer()
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			for range clients {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						if err := call(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// warm opens n connections (and runs the path once on each).
func warm(b *testing.B, n int, call func() error) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := call(); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "HTTP status " + strconv.Itoa(e.code) }

// BenchmarkFrontDoors measures what routing between the KMS JSON API and the
// IAM/STS Query API adds to a KMS request (one header lookup).
func BenchmarkFrontDoors(b *testing.B) {
	var n int
	kms := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { n++ })
	h := frontDoors(kms, http.NotFoundHandler(), http.NotFoundHandler())
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(nil, r)
	}
	if n == 0 {
		b.Fatal("the KMS handler was not called")
	}
}
