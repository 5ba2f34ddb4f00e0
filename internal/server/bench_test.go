package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
)

// BenchmarkServerEncrypt measures one Encrypt over real loopback HTTP
// (keep-alive) against the whole server: net/http, the pipeline, metrics.
// The client is a plain http.Client with a request signed once, so most of
// the client-side cost of the SDK is left out.
func BenchmarkServerEncrypt(b *testing.B) {
	cfg := devConfig()
	s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
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
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := req.Clone(context.Background())
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			resp, err := hc.Do(r)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkFrontDoors measures what routing between the KMS JSON API and the
// IAM/STS Query API adds to a KMS request (one header lookup).
func BenchmarkFrontDoors(b *testing.B) {
	var n int
	kms := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { n++ })
	h := frontDoors(kms, http.NotFoundHandler())
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
