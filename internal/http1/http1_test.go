package http1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seen is what the test handler reports about each request.
type seen struct {
	fast   bool // served by the fast path (net/http's writer can flush, ours cannot)
	method string
	path   string
	host   string
	header http.Header
	body   string
	remote string
	tls    bool
	proto  int
}

// start serves h (or the echo handler) on a loopback listener.
func start(t *testing.T, h http.Handler, configure ...func(*http.Server)) (*Server, string, chan seen) {
	t.Helper()
	got := make(chan seen, 100)
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("read body: %v", err)
			}
			_, flusher := w.(http.Flusher)
			got <- seen{fast: !flusher, method: r.Method, path: r.URL.Path, host: r.Host, header: r.Header.Clone(), body: string(b), remote: r.RemoteAddr, tls: r.TLS != nil, proto: r.ProtoMajor}
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.Header()["X-Amzn-Requestid"] = []string{"id"}
			fmt.Fprintf(w, `{"echo":%q}`, b)
		})
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	for _, f := range configure {
		f(srv)
	}
	s := New(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String(), got
}

const sdkHead = "POST / HTTP/1.1\r\nHost: %s\r\nUser-Agent: aws-sdk-go-v2/1.0\r\nContent-Length: %d\r\n" +
	"Amz-Sdk-Invocation-Id: 7d1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIA/20261203/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\n" +
	"Content-Type: application/x-amz-json-1.1\r\nX-Amz-Date: 20261203T120000Z\r\nX-Amz-Target: TrentService.Encrypt\r\nAccept-Encoding: gzip\r\n\r\n"

func sdkRequest(host, body string) string {
	return fmt.Sprintf(sdkHead, host, len(body)) + body
}

// exchange writes raw and reads n responses.
func exchange(t *testing.T, c net.Conn, br *bufio.Reader, raw string, n int) []*http.Response {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	var out []*http.Response
	for range n {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		for err == nil && resp.StatusCode < 200 { // 100 Continue
			resp, err = http.ReadResponse(br, nil)
		}
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		out = append(out, resp)
	}
	return out
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func respBody(t *testing.T, r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func TestFastPath(t *testing.T) {
	_, addr, got := start(t, nil)
	c, br := dial(t, addr)
	// Two requests in one write (pipelined), then a third.
	resps := exchange(t, c, br, sdkRequest(addr, `{"KeyId":"a"}`)+sdkRequest(addr, `{"KeyId":"b"}`), 2)
	resps = append(resps, exchange(t, c, br, sdkRequest(addr, `{}`), 1)...)
	for i, want := range []string{`{"KeyId":"a"}`, `{"KeyId":"b"}`, `{}`} {
		r := resps[i]
		if r.StatusCode != 200 || respBody(t, resps[i]) != fmt.Sprintf(`{"echo":%q}`, want) {
			t.Errorf("response %d: %d", i, r.StatusCode)
		}
		if r.Header.Get("Content-Type") != "application/x-amz-json-1.1" || r.Header.Get("X-Amzn-Requestid") != "id" ||
			r.ContentLength != int64(len(fmt.Sprintf(`{"echo":%q}`, want))) || r.Close {
			t.Errorf("response %d headers: %v (length %d, close %v)", i, r.Header, r.ContentLength, r.Close)
		}
		if _, err := time.Parse(http.TimeFormat, r.Header.Get("Date")); err != nil {
			t.Errorf("response %d Date: %v", i, err)
		}
		s := <-got
		if !s.fast || s.method != "POST" || s.path != "/" || s.host != addr || s.body != want || s.remote != c.LocalAddr().String() {
			t.Errorf("request %d: %+v", i, s)
		}
		if s.header.Get("X-Amz-Target") != "TrentService.Encrypt" || s.header.Get("Content-Length") != fmt.Sprint(len(want)) || s.header.Get("Host") != "" {
			t.Errorf("request %d header: %v", i, s.header)
		}
	}
}

// TestSameAsNetHTTP: what a handler sees of a request is what net/http
// gives it, for the request heads the AWS SDKs and CLI send.
func TestSameAsNetHTTP(t *testing.T) {
	for _, raw := range parseSeeds {
		c := &conn{tmpl: new(http.Request), remote: "192.0.2.1:1234"}
		r, ok := c.parse([]byte(raw))
		if !ok {
			t.Errorf("fast path refused %q", raw)
			continue
		}
		sameAsNetHTTP(t, raw, r)
	}
}

func sameAsNetHTTP(t *testing.T, raw string, r *http.Request) {
	t.Helper()
	want, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("fast path took %q, net/http refuses it: %v", raw, err)
	}
	if r.Method != want.Method || r.URL.String() != want.URL.String() || r.RequestURI != want.RequestURI || r.Proto != want.Proto ||
		r.ProtoMajor != want.ProtoMajor || r.ProtoMinor != want.ProtoMinor || r.Host != want.Host ||
		r.ContentLength != want.ContentLength || r.Close != want.Close || len(want.TransferEncoding) != 0 {
		t.Errorf("%q: fast path %s %s %s host %q length %d close %v; net/http %s %s %s host %q length %d close %v",
			raw, r.Method, r.URL, r.Proto, r.Host, r.ContentLength, r.Close, want.Method, want.URL, want.Proto, want.Host, want.ContentLength, want.Close)
	}
	if d := cmp.Diff(want.Header, r.Header); d != "" {
		t.Errorf("%q: header (-net/http +fast path):\n%s", raw, d)
	}
}

var parseSeeds = []string{
	fmt.Sprintf(sdkHead, "127.0.0.1:8080", 20),
	// boto3 / the AWS CLI (botocore over urllib3)
	"POST / HTTP/1.1\r\nHost: kms.us-east-1.amazonaws.com\r\nAccept-Encoding: identity\r\nX-Amz-Target: TrentService.Decrypt\r\n" +
		"Content-Type: application/x-amz-json-1.1\r\nUser-Agent: aws-cli/2.9.19 Python/3.11.2 Linux/6.1 source/x86_64.debian.12 prompt/off command/kms.decrypt\r\n" +
		"X-Amz-Date: 20261203T120000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIA/20261203/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=ab\r\n" +
		"amz-sdk-invocation-id: 2c1\r\namz-sdk-request: attempt=1\r\nContent-Length: 300\r\n\r\n",
	// the AWS SDK for JavaScript v3 (Node's http: lower-case names, Connection)
	"POST / HTTP/1.1\r\ncontent-type: application/x-amz-json-1.1\r\nx-amz-target: TrentService.GenerateDataKey\r\ncontent-length: 2\r\n" +
		"host: localhost:8080\r\nx-amz-user-agent: aws-sdk-js/3.0\r\nuser-agent: aws-sdk-js/3.0 ua/2.1 os/linux\r\namz-sdk-invocation-id: 1\r\n" +
		"amz-sdk-request: attempt=1; max=3\r\nx-amz-date: 20261203T120000Z\r\nx-amz-content-sha256: 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\r\n" +
		"authorization: AWS4-HMAC-SHA256 Credential=AKIA/20261203/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=cd\r\nConnection: keep-alive\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 0\r\nConnection: close\r\nX-Odd_Name: \t v a l \t\r\nX-Empty:\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: CLOSE\r\nX-Obs-Text: caf\xc3\xa9\r\n\r\n",
}

// TestHandOff: whatever the fast path does not take reaches net/http, with
// the bytes already read, on the same connection, and net/http keeps it.
func TestHandOff(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		status    int
		echo      string // the body the handler saw; "-" when it is not called
	}{
		{"GET", "GET /health HTTP/1.1\r\nHost: h\r\n\r\n", 200, "-"},
		{"another path", "POST /kms/xks/v1/keys/k/encrypt HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}", 200, "{}"},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 200, "{}"},
		{"expect", "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}", 200, "{}"},
		{"HTTP/1.0", "POST / HTTP/1.0\r\nHost: h\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}", 200, "{}"},
		{"repeated header", "POST / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 2\r\n\r\n{}", 200, "{}"},
		{"connection list", "POST / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, x\r\nContent-Length: 2\r\n\r\n{}", 200, "{}"},
		{"no content length", "POST / HTTP/1.1\r\nHost: h\r\n\r\n", 200, ""},
		{"head larger than the buffer", "POST / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", 2*bufSize) + "\r\nContent-Length: 2\r\n\r\n{}", 200, "{}"},
		{"space before colon", "POST / HTTP/1.1\r\nHost: h\r\nX-A : 1\r\nContent-Length: 2\r\n\r\n{}", 400, "-"},
		{"no host", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400, "-"},
		{"two lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, "-"},
		{"bad length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\n\r\n{}", 400, "-"},
		{"bare LF", "POST / HTTP/1.1\nHost: h\nContent-Length: 2\n\n{}", 200, "{}"},
		{"bare LF after the request line", "POST / HTTP/1.1\r\n\n", 400, "-"},
		{"no header", "POST / HTTP/1.1\r\n\r\n", 400, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, got := start(t, nil)
			c, br := dial(t, addr)
			// A request of the fast path first, then the other one.
			first := exchange(t, c, br, sdkRequest(addr, `{"n":1}`), 1)[0]
			if s := <-got; !s.fast || first.StatusCode != 200 {
				t.Fatalf("first request: fast %v, status %d", s.fast, first.StatusCode)
			}
			resp := exchange(t, c, br, tc.raw, 1)[0]
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, respBody(t, resp))
			}
			if tc.echo == "-" {
				if tc.status == 200 {
					if s := <-got; s.fast {
						t.Error("served by the fast path")
					}
				}
				return
			}
			if s := <-got; s.fast || s.body != tc.echo {
				t.Errorf("handler saw fast %v, body %q", s.fast, s.body)
			}
			if resp.Close {
				return
			}
			// net/http keeps the connection, for any request.
			exchange(t, c, br, sdkRequest(addr, `{"n":2}`), 1)
			if s := <-got; s.fast || s.body != `{"n":2}` {
				t.Errorf("after the hand-off: fast %v, body %q", s.fast, s.body)
			}
		})
	}
}

func TestConnectionClose(t *testing.T) {
	_, addr, got := start(t, nil)
	c, br := dial(t, addr)
	raw := strings.Replace(sdkRequest(addr, "{}"), "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
	resp := exchange(t, c, br, raw, 1)[0]
	if s := <-got; !s.fast || !resp.Close {
		t.Fatalf("fast %v, response close %v, header %v", s.fast, resp.Close, resp.Header)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after Connection: close: %d, %v; want EOF", n, err)
	}
}

// TestHandlerConnectionClose: an answer with Connection: close from the
// handler closes the connection after it, as net/http does, even with a
// request pipelined behind it.
func TestHandlerConnectionClose(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
	}))
	c, br := dial(t, addr)
	exchange(t, c, br, sdkRequest(addr, "{}")+sdkRequest(addr, "{}"), 1)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the handler's Connection: close: %d, %v; want EOF", n, err)
	}
}

// TestTimeouts: a new connection that sends nothing is closed after
// ReadHeaderTimeout, as net/http closes it, not after IdleTimeout; a
// connection idle after a request is closed after IdleTimeout.
func TestTimeouts(t *testing.T) {
	const short, long = 200 * time.Millisecond, 20 * time.Second
	for _, tc := range []struct {
		name       string
		header     time.Duration
		idle       time.Duration
		firstAsked bool
	}{
		{"new connection", short, long, false},
		{"idle connection", long, short, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, _ := start(t, nil, func(s *http.Server) { s.ReadHeaderTimeout, s.IdleTimeout = tc.header, tc.idle })
			c, br := dial(t, addr)
			if tc.firstAsked {
				exchange(t, c, br, sdkRequest(addr, "{}"), 1)
			}
			c.SetReadDeadline(time.Now().Add(long / 2)) // the test's own bound, well under the long timeout
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("%d, %v; want EOF: the short timeout was not applied", n, err)
			}
		})
	}
}

// TestBodyKeptPastReturn: a body read after its handler returned gives an
// error, and never the next request's bytes.
func TestBodyKeptPastReturn(t *testing.T) {
	kept := make(chan io.Reader, 2)
	bodies := make(chan string, 2)
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case old := <-kept:
			b, err := io.ReadAll(old)
			if err == nil || len(b) > 0 {
				t.Errorf("the first request's body, read during the second: %q, %v", b, err)
			}
		default:
			kept <- r.Body
			return
		}
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
	}))
	c, br := dial(t, addr)
	exchange(t, c, br, sdkRequest(addr, `{"n":1}`), 1)
	exchange(t, c, br, sdkRequest(addr, `{"n":2}`), 1)
	if got := <-bodies; got != `{"n":2}` {
		t.Errorf("the second handler read %q", got)
	}
}

// TestHandedOverBodyNotRead: net/http, serving a handed-over connection
// whose large body its handler left, half-closes it before closing it: the
// client reads the answer, then EOF (not a reset after net/http's delay,
// when it closes with the body's bytes unread).
func TestHandedOverBodyNotRead(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "refused")
	}))
	c, br := dial(t, addr)
	// Chunked: net/http's request, with a body far over what it reads
	// after a handler.
	go func() {
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("x", 64<<10))
		for range 64 {
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := respBody(t, resp); b != "refused" {
		t.Fatalf("answer %q", b)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the answer: %v; want EOF", err)
	}
}

// TestHeadHandedOverHalfRead: a head too large for the fast path, handed to
// net/http before its end, gets ReadHeaderTimeout in all, as on net/http
// alone, not a second one from net/http.
func TestHeadHandedOverHalfRead(t *testing.T) {
	const header = 2 * time.Second
	_, addr, _ := start(t, nil, func(s *http.Server) { s.ReadHeaderTimeout = header })
	c, br := dial(t, addr)
	// The buffer fills slowly, most of ReadHeaderTimeout after the first
	// byte; the head never ends.
	t0 := time.Now()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nX-Big: ")
	for range 5 {
		time.Sleep(header * 7 / 40)
		io.WriteString(c, strings.Repeat("b", bufSize/4))
	}
	c.SetReadDeadline(time.Now().Add(4 * header))
	io.Copy(io.Discard, br) // net/http's 4xx, or nothing, then EOF
	if d := time.Since(t0); d > header*3/2 {
		t.Errorf("closed after %v; ReadHeaderTimeout is %v", d.Round(time.Millisecond), header)
	}
}

// TestBodyNotRead: a body the handler leaves is skipped (the connection
// goes on) up to maxDiscard, and past it the connection is closed.
func TestBodyNotRead(t *testing.T) {
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"SerializationException"}`)
	})
	_, addr, _ := start(t, h)
	c, br := dial(t, addr)
	resps := exchange(t, c, br, sdkRequest(addr, strings.Repeat("x", 10000))+sdkRequest(addr, "{}"), 2)
	for _, r := range resps {
		if r.StatusCode != 400 || r.Close || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("status %d, close %v, header %v", r.StatusCode, r.Close, r.Header)
		}
	}
	big := sdkRequest(addr, strings.Repeat("x", maxDiscard+1))
	go io.WriteString(c, big) // the server stops reading it
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r, err := http.ReadResponse(br, nil)
	if err != nil || r.StatusCode != 400 || !r.Close {
		t.Fatalf("large unread body: %v, %v", r, err)
	}
	if calls.Load() != 3 {
		t.Errorf("handler called %d times, want 3", calls.Load())
	}
}

func TestPanic(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Panic") != "" {
			panic("boom")
		}
		io.WriteString(w, "ok")
	})
	logged := make(logTo, 10)
	_, addr, _ := start(t, h, func(s *http.Server) { s.ErrorLog = log.New(logged, "", 0) })
	c, br := dial(t, addr)
	io.WriteString(c, strings.Replace(sdkRequest(addr, "{}"), "\r\n\r\n", "\r\nX-Panic: 1\r\n\r\n", 1))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Fatal("a response after a panic")
	}
	c2, br2 := dial(t, addr)
	if r := exchange(t, c2, br2, sdkRequest(addr, "{}"), 1)[0]; respBody(t, r) != "ok" {
		t.Error("the server stopped serving after a panic")
	}
	if l := <-logged; !strings.Contains(l, "panic serving") || !strings.Contains(l, "boom") {
		t.Errorf("log: %q", l)
	}
}

func TestStatusWithoutBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "99")
		w.WriteHeader(http.StatusNoContent)
		if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrBodyNotAllowed) {
			t.Errorf("Write after 204: %v", err)
		}
	})
	_, addr, _ := start(t, h)
	c, br := dial(t, addr)
	resps := exchange(t, c, br, sdkRequest(addr, "{}")+sdkRequest(addr, "{}"), 2)
	for _, r := range resps {
		if r.StatusCode != 204 || r.Header.Get("Content-Length") != "" || respBody(t, r) != "" {
			t.Errorf("%d %v", r.StatusCode, r.Header)
		}
	}
}

// TestShutdown: idle connections are closed at once, a request being served
// finishes and is answered, then Shutdown returns.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Wait") != "" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "done")
	})
	s, addr, _ := start(t, h)
	idle, idleBr := dial(t, addr)
	exchange(t, idle, idleBr, sdkRequest(addr, "{}"), 1)
	busy, busyBr := dial(t, addr)
	io.WriteString(busy, strings.Replace(sdkRequest(addr, "{}"), "\r\n\r\n", "\r\nX-Wait: 1\r\n\r\n", 1))
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idleBr.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned before the request finished: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, err := http.ReadResponse(busyBr, nil)
	if err != nil || respBody(t, r) != "done" || !r.Close {
		t.Fatalf("the request in flight: %v, %v", r, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// TestGoClient: Go's HTTP client, keep-alive, many goroutines.
func TestGoClient(t *testing.T) {
	_, addr, got := start(t, nil)
	go func() {
		for range got {
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	t.Cleanup(client.CloseIdleConnections)
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 50 {
				want := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)
				req, _ := http.NewRequest("POST", "http://"+addr+"/", strings.NewReader(want))
				req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != fmt.Sprintf(`{"echo":%q}`, want) {
					errs <- fmt.Errorf("got %s for %s", b, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzParse: a head the fast path takes is one net/http reads the same way.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Add("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 00\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nHost: h\r\n Content-Length: 2\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nPragma: no-cache\r\n\r\n")
	f.Add("POST / HTTP/1.1\r\n\n")
	f.Add("POST / HTTP/1.1\r\nHost: h\n\n")
	f.Fuzz(func(t *testing.T, raw string) {
		// Framed as the server frames it.
		i := headEnd([]byte(raw))
		if i < 0 {
			return
		}
		raw = raw[:i]
		c := &conn{tmpl: new(http.Request)}
		if r, ok := c.parse([]byte(raw)); ok {
			sameAsNetHTTP(t, raw, r)
		}
	})
}

// logTo is a log's destination: each line to a channel.
type logTo chan string

func (l logTo) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// withTLS gives the server a self-signed certificate for 127.0.0.1, and
// returns a client configuration that trusts it.
func withTLS(t *testing.T) (func(*http.Server), *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	return func(s *http.Server) { s.TLSConfig = server }, &tls.Config{RootCAs: pool}
}

// TestTLS: HTTP/1.1 over TLS takes the fast path with r.TLS; a request
// handed over on such a connection keeps r.TLS; HTTP/2 goes to net/http;
// plain HTTP on the TLS port is answered 400 as net/http does.
func TestTLS(t *testing.T) {
	withCert, client := withTLS(t)
	_, addr, got := start(t, nil, withCert)

	// HTTP/1.1, then a request for net/http on the same connection.
	cfg := client.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	exchange(t, c, br, sdkRequest(addr, "{}"), 1)
	if s := <-got; !s.fast || !s.tls || s.proto != 1 {
		t.Errorf("HTTP/1.1 over TLS: %+v", s)
	}
	exchange(t, c, br, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 1)
	if s := <-got; s.fast || !s.tls || s.method != "GET" {
		t.Errorf("handed over: %+v", s)
	}

	// HTTP/2.
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: client.Clone(), ForceAttemptHTTP2: true}}
	defer h2.CloseIdleConnections()
	resp, err := h2.Post("https://"+addr+"/", "application/x-amz-json-1.1", strings.NewReader(`{"h2":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if b := respBody(t, resp); resp.ProtoMajor != 2 || b != `{"echo":"{\"h2\":1}"}` {
		t.Errorf("HTTP/2: %s %s", resp.Proto, b)
	}
	if s := <-got; s.fast || !s.tls || s.proto != 2 {
		t.Errorf("HTTP/2: %+v", s)
	}

	// Plain HTTP.
	p, pbr := dial(t, addr)
	io.WriteString(p, sdkRequest(addr, "{}"))
	p.SetReadDeadline(time.Now().Add(5 * time.Second))
	if r, err := http.ReadResponse(pbr, nil); err != nil || r.StatusCode != 400 || !strings.Contains(respBody(t, r), "HTTP request to an HTTPS server") {
		t.Errorf("plain HTTP on the TLS port: %v, %v", r, err)
	}
}

// TestResponseHeaders: as net/http, a header name that is not a token is
// dropped and CR or LF in a value cannot start another header.
func TestResponseHeaders(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Value"] = []string{"a\r\nInjected: 1"}
		w.Header()["Bad Name"] = []string{"x"}
		w.Header()["X-Two"] = []string{"1", "2"}
		io.WriteString(w, "{}")
	})
	_, addr, _ := start(t, h)
	c, br := dial(t, addr)
	r := exchange(t, c, br, sdkRequest(addr, "{}"), 1)[0]
	if r.Header.Get("X-Value") != "a  Injected: 1" || r.Header.Get("Injected") != "" || len(r.Header["Bad Name"]) != 0 ||
		!slices.Equal(r.Header["X-Two"], []string{"1", "2"}) || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("headers: %q", r.Header)
	}
}
