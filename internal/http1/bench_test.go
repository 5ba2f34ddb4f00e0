package http1

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkParse: the fast path's parse of an AWS SDK request head, against
// net/http's ReadRequest of the same bytes.
func BenchmarkParse(b *testing.B) {
	head := []byte(sdkRequest("127.0.0.1:8080", ""))
	b.Run("http1", func(b *testing.B) {
		c := &conn{tmpl: new(http.Request)}
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.parse(head); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("net-http", func(b *testing.B) {
		b.ReportAllocs()
		r := strings.NewReader("")
		br := bufio.NewReader(r)
		for b.Loop() {
			r.Reset(string(head))
			br.Reset(r)
			if _, err := http.ReadRequest(br); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFinish: writing a KMS answer (the handler's headers, the body).
func BenchmarkFinish(b *testing.B) {
	c := &conn{rwc: discardConn{}}
	w := &response{c: c, header: make(http.Header)}
	body := []byte(`{"CiphertextBlob":"` + strings.Repeat("A", 200) + `","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}`)
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		h := w.Header()
		h["X-Amzn-Requestid"] = []string{"2b6ae1d4-3a0f-4c1e-9c5e-0c1a1d2e3f40"}
		h["Content-Type"] = []string{"application/x-amz-json-1.1"}
		h["Content-Length"] = []string{"300"}
		w.WriteHeader(http.StatusOK)
		w.Write(body)
		if err := w.finish(false); err != nil {
			b.Fatal(err)
		}
	}
}

// discardConn is a connection whose writes go nowhere.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }
