// Package http1 serves the AWS APIs' own requests (POST / over HTTP/1.1 with
// a Content-Length: every KMS, IAM and STS call of the AWS SDKs and CLI)
// without net/http's per-request machinery, and hands everything else to a
// net/http server.
//
// net/http spends a fifth of a small request's CPU outside the handler: a
// context, a response and a goroutine per request (the background read that
// watches for the client going away), its header parser's allocations, and
// the generality of its response writer. A Server parses only the one request
// shape the AWS clients send, strictly, from the bytes it has buffered; the
// first request it does not fully understand (another method or path, HTTP/1.0,
// Transfer-Encoding, Expect, Upgrade, an obsolete line folding, a repeated or
// malformed header, a head larger than its buffer...) makes it give the
// connection, with every byte it has read but not answered, to the net/http
// server, which serves it from then on with its own rules and errors. So the
// fast path never answers a malformed request itself, and a request is
// framed by exactly one parser.
//
// Over TLS the Server makes the handshake itself (net/http's timeouts and
// errors) and hands a connection that negotiated HTTP/2 to net/http before
// reading from it; r.TLS is set on both paths.
//
// What a handler sees is a plain *http.Request and http.ResponseWriter. The
// differences from net/http: the response is buffered and written in one
// write when the handler returns (with Content-Length, Date and, when
// missing, a sniffed Content-Type), so a handler cannot stream or flush; the
// request's context is the connection's, not cancelled when the client goes
// away mid-request.
package http1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bufSize is the read buffer of a connection: a request head must fit in it
// to be served by the fast path (an AWS SDK's is 1-2 KB).
const bufSize = 4 << 10

// maxDiscard is how much of a request body the handler did not read is read
// and dropped to keep the connection; past it the connection is closed.
const maxDiscard = 256 << 10

// rstAvoidanceDelay is how long a connection whose request body was not
// read is kept half-closed after the answer (net/http's figure).
const rstAvoidanceDelay = 500 * time.Millisecond

// A Server serves the fast path over its connections and hands the rest to
// HTTP, whose Handler serves both and whose timeouts and ErrorLog it uses.
// Create it with New.
type Server struct {
	http    *http.Server
	handler http.Handler // srv's own (New wraps srv.Handler over TLS)
	handoff *chanListener

	inShutdown atomic.Bool
	mu         sync.Mutex
	listeners  map[net.Listener]struct{}
	conns      map[*conn]struct{}
}

// New returns a Server that serves srv's handler: srv serves the
// connections the fast path hands over, and must not be started by the
// caller. With srv.TLSConfig, the Server serves TLS (with the protocols
// net/http offers, h2 and http/1.1), and New sets srv's TLSConfig,
// ConnContext and Handler so that a request net/http serves on a handed-over
// TLS connection has its r.TLS.
func New(srv *http.Server) *Server {
	s := &Server{http: srv, handler: srv.Handler, listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}}
	if s.handler == nil {
		s.handler = http.DefaultServeMux
	}
	if srv.TLSConfig == nil {
		return s
	}
	cfg := srv.TLSConfig.Clone()
	if !slices.Contains(cfg.NextProtos, "http/1.1") {
		cfg.NextProtos = append(cfg.NextProtos, "http/1.1")
	}
	if !slices.Contains(cfg.NextProtos, "h2") {
		cfg.NextProtos = append([]string{"h2"}, cfg.NextProtos...)
	}
	srv.TLSConfig = cfg
	connContext := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if connContext != nil {
			ctx = connContext(ctx, c)
		}
		if rc, ok := c.(*replayConn); ok && rc.tls != nil {
			ctx = context.WithValue(ctx, tlsStateKey{}, rc.tls)
		}
		return ctx
	}
	h := s.handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			r.TLS, _ = r.Context().Value(tlsStateKey{}).(*tls.ConnectionState)
		}
		h.ServeHTTP(w, r)
	})
	return s
}

// tlsStateKey is the context key of a handed-over TLS connection's state.
type tlsStateKey struct{}

// Serve accepts connections on ln until Shutdown or Close, which make it
// return http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.inShutdown.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	if s.http.TLSConfig != nil {
		ln = tls.NewListener(ln, s.http.TLSConfig)
	}
	s.listeners[ln] = struct{}{}
	if s.handoff == nil {
		s.handoff = newChanListener(ln.Addr())
		go s.http.Serve(s.handoff)
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	var delay time.Duration // as net/http: back off on temporary Accept errors
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return http.ErrServerClosed
			}
			if t, ok := err.(interface{ Temporary() bool }); ok && t.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logf("http1: accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		cc := &conn{s: s, rwc: c}
		if !s.track(cc) {
			c.Close()
			return http.ErrServerClosed
		}
		go cc.serve()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShutdown.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections, and waits for the
// others to finish their request (on either path) or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	fallback := make(chan error, 1)
	go func() { fallback <- s.http.Shutdown(ctx) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !s.closeIdle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return <-fallback
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.closeListeners()
	s.mu.Lock()
	for c := range s.conns {
		c.rwc.Close()
	}
	s.mu.Unlock()
	return s.http.Close()
}

func (s *Server) closeListeners() {
	s.inShutdown.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		ln.Close()
	}
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.rwc.Close()
		}
	}
	return len(s.conns) == 0
}

func (s *Server) logf(format string, args ...any) {
	if s.http.ErrorLog != nil {
		s.http.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// A connection's states: waiting for a request (Shutdown may close it),
// serving one, or closed by Shutdown.
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

type conn struct {
	s      *Server
	rwc    net.Conn
	br     *bufio.Reader
	state  atomic.Int32
	remote string
	tls    *tls.ConnectionState
	tmpl   *http.Request // carries the connection's context into each request
	w      response
	out    bytes.Buffer
}

func (c *conn) serve() {
	handedOff := false
	defer func() {
		// As net/http: a panic serving a connection (serveRequest
		// recovers the handler's) closes that connection, not the server.
		if p := recover(); p != nil {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.s.logf("http1: panic serving %v: %v\n%s", c.remote, p, buf)
			handedOff = false
		}
		if !handedOff {
			c.rwc.Close()
		}
		c.s.untrack(c)
	}()
	c.remote = c.rwc.RemoteAddr().String()
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), http.LocalAddrContextKey, c.rwc.LocalAddr()))
	defer cancel()
	if tc, ok := c.rwc.(*tls.Conn); ok {
		if !c.handshake(ctx, tc) {
			return
		}
		if c.tls.NegotiatedProtocol == "h2" {
			handedOff = c.s.handoff.push(tc) // net/http serves HTTP/2
			return
		}
	}
	c.br = bufio.NewReaderSize(c.rwc, bufSize)
	c.tmpl = new(http.Request).WithContext(ctx)
	c.tmpl.TLS = c.tls
	c.w.header = make(http.Header, 8)
	c.w.c = c

	for first := true; ; first = false {
		c.state.Store(stateIdle)
		if c.s.inShutdown.Load() {
			return
		}
		// net/http's deadlines: the head within ReadHeaderTimeout (or
		// ReadTimeout), the whole request within ReadTimeout, the answer
		// within WriteTimeout of the head's end. The first request's
		// clock starts now (a new connection waits no longer than that
		// for its first byte), a later one's at its first byte (it may
		// wait IdleTimeout for it).
		srv := c.s.http
		t0 := time.Now()
		headDeadline, reqDeadline := readDeadlines(srv, t0)
		if !first {
			if d := idleTimeout(srv); d > 0 {
				c.rwc.SetReadDeadline(t0.Add(d))
			}
		} else {
			c.rwc.SetReadDeadline(headDeadline)
		}
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return // closed by Shutdown
		}
		if !first {
			headDeadline, reqDeadline = readDeadlines(srv, time.Now())
		}
		c.rwc.SetReadDeadline(headDeadline)
		head, err := c.readHead()
		if err != nil {
			return
		}
		r, ok := c.parse(head)
		if !ok {
			handedOff = c.handOff(headDeadline)
			return
		}
		c.br.Discard(len(head))
		if !headDeadline.Equal(reqDeadline) {
			c.rwc.SetReadDeadline(reqDeadline)
		}
		if d := srv.WriteTimeout; d > 0 {
			c.rwc.SetWriteDeadline(time.Now().Add(d))
		}
		if !c.serveRequest(r) {
			return
		}
	}
}

// handshake makes the TLS handshake as net/http does: within the shortest
// of the read and write timeouts, an error logged, and a plain HTTP request
// answered 400.
func (c *conn) handshake(ctx context.Context, tc *tls.Conn) bool {
	srv := c.s.http
	var d time.Duration
	for _, t := range []time.Duration{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout} {
		if t > 0 && (d == 0 || t < d) {
			d = t
		}
	}
	if d > 0 {
		tc.SetDeadline(time.Now().Add(d))
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			re.Conn.Close()
			return false
		}
		c.s.logf("http: TLS handshake error from %s: %v", c.remote, err)
		return false
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.tls = &st
	return true
}

// looksLikeHTTP reports whether a TLS record header is the start of an HTTP
// request.
func looksLikeHTTP(h [5]byte) bool {
	switch string(h[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// readDeadlines are a request's read deadlines from t0, when its reading
// starts: for the head (ReadHeaderTimeout, else ReadTimeout) and for the
// whole request (ReadTimeout); zero for none.
func readDeadlines(srv *http.Server, t0 time.Time) (head, req time.Time) {
	if d := srv.ReadTimeout; d > 0 {
		req = t0.Add(d)
	}
	if d := srv.ReadHeaderTimeout; d > 0 {
		return t0.Add(d), req
	}
	return req, req
}

// idleTimeout is net/http's: IdleTimeout, or ReadTimeout when it is zero.
func idleTimeout(srv *http.Server) time.Duration {
	if srv.IdleTimeout != 0 {
		return srv.IdleTimeout
	}
	return srv.ReadTimeout
}

// readHead returns the buffered request head, through its blank line,
// without consuming it; an empty head when it does not fit in the buffer.
func (c *conn) readHead() ([]byte, error) {
	for {
		n := c.br.Buffered()
		buf, _ := c.br.Peek(n)
		if i := headEnd(buf); i >= 0 {
			return buf[:i], nil
		}
		if n == c.br.Size() {
			return nil, nil // too large for the fast path
		}
		if _, err := c.br.Peek(n + 1); err != nil {
			return nil, err
		}
	}
}

// headEnd returns the length of the head in buf, through its first empty
// line (which parse refuses unless every line ends in CRLF), or -1.
func headEnd(buf []byte) int {
	for i := 0; i < len(buf); i++ {
		if buf[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(buf) && buf[i+1] == '\n':
			return i + 2
		case i+2 < len(buf) && buf[i+1] == '\r' && buf[i+2] == '\n':
			return i + 3
		}
	}
	return -1
}

// handOff gives the connection, and what it has buffered, to the net/http
// server; false if that server is shut down (the connection is then closed).
func (c *conn) handOff(headDeadline time.Time) bool {
	c.rwc.SetDeadline(time.Time{})
	rc := &replayConn{Conn: c.rwc, br: c.br, tls: c.tls}
	if !headDeadline.IsZero() {
		rc.headBy.Store(headDeadline.UnixNano())
	}
	return c.s.handoff.push(rc)
}

// serveRequest runs the handler and writes its response; false if the
// connection is to be closed.
func (c *conn) serveRequest(r *http.Request) (keep bool) {
	// Each request has its own body: one the handler keeps past its
	// return reads an error, as from net/http, not the next request's.
	b := &body{br: c.br, n: r.ContentLength}
	r.Body = b
	defer func() { b.err = http.ErrBodyReadAfterClose }()
	w := &c.w
	w.reset()
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.logf("http1: panic serving %v: %v\n%s", c.remote, p, buf)
			}
			keep = false
		}
	}()
	c.s.handler.ServeHTTP(w, r)
	keep = !r.Close && !c.s.inShutdown.Load() && !closes(w.header)
	unread := false
	if b.n > 0 {
		if b.n > maxDiscard || b.err != nil {
			keep, unread = false, b.err == nil
		} else if _, err := io.Copy(io.Discard, b); err != nil {
			keep = false
		}
	} else if b.err != nil {
		keep = false
	}
	if err := w.finish(!keep); err != nil {
		return false
	}
	if unread {
		// As net/http: the client may still be sending the body; closing
		// now would reset the connection before it reads the answer.
		if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
			time.Sleep(rstAvoidanceDelay)
		}
	}
	if cap(w.body) > 64<<10 {
		w.body = nil
	}
	if c.out.Cap() > 64<<10 {
		c.out = bytes.Buffer{}
	}
	return keep
}

// parse parses a request head that the fast path takes: POST / HTTP/1.1,
// headers that are all valid, each once, a Host and a Content-Length, none
// that changes the framing or the protocol. ok is false for anything else.
func (c *conn) parse(head []byte) (r *http.Request, ok bool) {
	const line = "POST / HTTP/1.1\r\n"
	// The head ends in CRLF CRLF (headEnd also finds LF LF, which is
	// refused here: "POST / HTTP/1.1\r\n\n" is 18 bytes).
	if len(head) < len(line)+2 || string(head[:len(line)]) != line || string(head[len(head)-2:]) != "\r\n" {
		return nil, false
	}
	// One string for every header name and value.
	hs := string(head[len(line) : len(head)-2])
	n := strings.Count(hs, "\n")
	if n > 64 {
		return nil, false
	}
	h := make(http.Header, n)
	strs := make([]string, n)
	var host string
	contentLength := int64(-1)
	closeAfter := false
	for i := 0; len(hs) > 0; i++ {
		// A line ends in CRLF; a CR elsewhere is refused by validName or
		// validValue.
		eol := strings.IndexByte(hs, '\n')
		if eol < 2 || hs[eol-1] != '\r' {
			return nil, false
		}
		field := hs[:eol-1]
		hs = hs[eol+1:]
		colon := strings.IndexByte(field, ':')
		if colon <= 0 {
			return nil, false
		}
		key, valid := canonicalName(field[:colon])
		if !valid {
			return nil, false
		}
		value := field[colon+1:]
		for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
			value = value[1:]
		}
		for len(value) > 0 && (value[len(value)-1] == ' ' || value[len(value)-1] == '\t') {
			value = value[:len(value)-1]
		}
		if !validValue(value) {
			return nil, false
		}
		if _, dup := h[key]; dup {
			return nil, false
		}
		switch key {
		case "Host":
			if host != "" || !validHost(value) {
				return nil, false
			}
			host = value
			continue
		case "Content-Length":
			v, err := strconv.ParseUint(value, 10, 63)
			if err != nil || value[0] == '+' {
				return nil, false
			}
			contentLength = int64(v)
		case "Connection":
			switch {
			case asciiEqualFold(value, "close"):
				closeAfter = true
			case asciiEqualFold(value, "keep-alive"):
			default:
				return nil, false
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Trailer", "Te", "Http2-Settings", "Proxy-Connection", "Pragma":
			// Pragma: net/http adds Cache-Control for "no-cache".
			return nil, false
		}
		strs[i] = value
		h[key] = strs[i : i+1 : i+1]
	}
	if host == "" || contentLength < 0 {
		return nil, false
	}
	r = new(http.Request)
	*r = *c.tmpl // the context
	r.Method = http.MethodPost
	r.URL = &url.URL{Path: "/"}
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.Header = h
	r.ContentLength = contentLength
	r.Host = host
	r.RemoteAddr = c.remote
	r.RequestURI = "/"
	r.Close = closeAfter
	return r, true
}

// canonicalName checks that name is an RFC 9110 token and returns its
// canonical form (textproto's), without allocating when it already is.
func canonicalName(name string) (string, bool) {
	canonical, upper := true, true
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !isTchar[b] {
			return "", false
		}
		if upper && 'a' <= b && b <= 'z' || !upper && 'A' <= b && b <= 'Z' {
			canonical = false
		}
		upper = b == '-'
	}
	if canonical {
		return name, true
	}
	return textproto.CanonicalMIMEHeaderKey(name), true
}

// validToken reports whether s is a non-empty RFC 9110 token.
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTchar[s[i]] {
			return false
		}
	}
	return s != ""
}

var isTchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validValue reports whether s has no control character but tab (nor DEL).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts a host name or address with an optional port: the
// characters of a reg-name, an IPv4 or a bracketed IPv6 address.
func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '-' || b == ':' || b == '[' || b == ']' || b == '_') {
			return false
		}
	}
	return len(s) > 0
}

func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// body is a request's body: the next n bytes of the connection.
type body struct {
	br  *bufio.Reader
	n   int64
	err error
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.br.Read(p)
	b.n -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.err = err
	} else if b.n == 0 {
		err = io.EOF
	}
	return n, err
}

func (b *body) Close() error { return nil }

// response buffers a response; finish writes it.
type response struct {
	c           *conn
	header      http.Header
	status      int
	wroteHeader bool
	body        []byte
}

func (w *response) reset() {
	clear(w.header)
	w.status, w.wroteHeader, w.body = 0, false, w.body[:0]
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.wroteHeader || code < 200 {
		return
	}
	w.wroteHeader, w.status = true, code
}

func (w *response) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

// finish writes the status line, the headers and the body in one write.
func (w *response) finish(closeAfter bool) error {
	w.WriteHeader(http.StatusOK)
	h := w.header
	if bodyAllowed(w.status) {
		h["Content-Length"] = []string{strconv.Itoa(len(w.body))}
		if _, ok := h["Content-Type"]; !ok && len(w.body) > 0 {
			h["Content-Type"] = []string{http.DetectContentType(w.body)}
		}
	} else {
		delete(h, "Content-Length")
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = date()
	}
	delete(h, "Transfer-Encoding")
	if closeAfter {
		h["Connection"] = connectionClose
	}
	out := &w.c.out
	out.Reset()
	out.WriteString("HTTP/1.1 ")
	out.Write(strconv.AppendInt(out.AvailableBuffer(), int64(w.status), 10))
	out.WriteByte(' ')
	out.WriteString(http.StatusText(w.status))
	out.WriteString("\r\n")
	for k, vv := range h { // as net/http: invalid names skipped, CR and LF in values made spaces
		if !validToken(k) {
			continue
		}
		for _, v := range vv {
			out.WriteString(k)
			out.WriteString(": ")
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			out.WriteString(v)
			out.WriteString("\r\n")
		}
	}
	out.WriteString("\r\n")
	out.Write(w.body)
	_, err := w.c.rwc.Write(out.Bytes())
	return err
}

var connectionClose = []string{"close"}

// closes reports whether the handler's answer says Connection: close (as
// net/http, which then closes the connection after it).
func closes(h http.Header) bool {
	for _, v := range h["Connection"] {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "close") {
				return true
			}
		}
	}
	return false
}

// date returns the Date header's value, formatted once a second.
func date() []string {
	now := time.Now().Unix()
	if d := cachedDate.Load(); d != nil && d.unix == now {
		return d.v
	}
	d := &dateValue{unix: now, v: []string{time.Unix(now, 0).UTC().Format(http.TimeFormat)}}
	cachedDate.Store(d)
	return d.v
}

type dateValue struct {
	unix int64
	v    []string
}

var cachedDate atomic.Pointer[dateValue]

// replayConn is a handed-over connection: reads return the bytes the fast
// path had buffered, then the connection's.
type replayConn struct {
	net.Conn
	br  *bufio.Reader
	tls *tls.ConnectionState
	// headBy is the deadline of the head the fast path began to read
	// (unix nanoseconds; 0: none, or applied). net/http's first read
	// deadline, its own for that head, is held to it: a head handed over
	// half-read gets no more time than ReadHeaderTimeout in all.
	headBy atomic.Int64
}

// CloseWrite half-closes the connection, as net/http does before closing
// one whose request body it left unread (a FIN, or TLS's close_notify,
// rather than a reset that could destroy its answer).
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *replayConn) SetReadDeadline(t time.Time) error {
	if by := c.headBy.Swap(0); by != 0 && (t.IsZero() || t.UnixNano() > by) {
		t = time.Unix(0, by)
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	return c.Conn.Read(p)
}

// chanListener is the net/http server's listener: the connections handed
// over.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
