package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The replay mode of trent bench: every client signs its requests once (and
// again every resignEvery, well inside SigV4's 5-minute window) and sends
// the same bytes over its own raw keep-alive connection, reading answers
// with a minimal HTTP/1.1 parser. The client then costs a few microseconds
// per request, against tens for the SDK, so that on a small machine the
// server is what is measured.

// resignEvery is how often a client signs its requests again.
const resignEvery = time.Minute

// checkEvery: a client decodes and checks one answer in checkEvery (and its
// first), so that checking costs the client little.
const checkEvery = 64

type replayer struct {
	f    *benchFixture
	addr string      // host:port to dial
	host string      // Host header
	path string      // request path
	tls  *tls.Config // nil for http
}

func newReplayer(f *benchFixture) (*replayer, error) {
	u, err := url.Parse(f.cfg.endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	rp := &replayer{f: f, host: u.Host, path: u.EscapedPath()}
	if rp.path == "" {
		rp.path = "/"
	}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		rp.tls = &tls.Config{ServerName: u.Hostname()}
	default:
		return nil, fmt.Errorf("endpoint %s: want http:// or https://", f.cfg.endpoint)
	}
	rp.addr = net.JoinHostPort(u.Hostname(), port)
	return rp, nil
}

// replayReq is one pre-signed request.
type replayReq struct {
	op     string
	target string
	body   []byte
	wire   []byte // the whole signed request
	signed time.Time
}

// operation targets of the ops.
var benchTargets = map[string]string{
	"encrypt": "Encrypt", "decrypt": "Decrypt", "generate-data-key": "GenerateDataKey", "re-encrypt": "ReEncrypt",
	"describe-key": "DescribeKey", "create-key": "CreateKey", "sign": "Sign", "verify": "Verify",
	"generate-mac": "GenerateMac",
}

// body is the JSON request of op (blobs base64, as encoding/json writes []byte).
func (f *benchFixture) body(op string) []byte {
	var v map[string]any
	switch op {
	case "encrypt":
		v = map[string]any{"KeyId": f.keyID, "Plaintext": f.plaintext, "EncryptionContext": f.ec()}
	case "decrypt":
		v = map[string]any{"CiphertextBlob": f.blob, "EncryptionContext": f.ec()}
	case "generate-data-key":
		v = map[string]any{"KeyId": f.keyID, "KeySpec": "AES_256", "EncryptionContext": f.ec()}
	case "re-encrypt":
		v = map[string]any{"CiphertextBlob": f.blob, "DestinationKeyId": f.keyID,
			"SourceEncryptionContext": f.ec(), "DestinationEncryptionContext": f.ec()}
	case "describe-key":
		v = map[string]any{"KeyId": f.keyID}
	case "create-key":
		v = map[string]any{"Description": "trent bench"}
	case "sign":
		v = map[string]any{"KeyId": f.keyID, "Message": f.plaintext, "SigningAlgorithm": f.sigAlg}
	case "verify":
		v = map[string]any{"KeyId": f.keyID, "Message": f.plaintext, "SigningAlgorithm": f.sigAlg, "Signature": f.signature}
	case "generate-mac":
		v = map[string]any{"KeyId": f.keyID, "Message": f.plaintext, "MacAlgorithm": f.macAlg}
	}
	for k, x := range v {
		if m, ok := x.(map[string]string); ok && m == nil {
			delete(v, k) // no encryption context: leave the member out
		}
	}
	b, _ := json.Marshal(v)
	return b
}

// sign (re)signs q at now and serializes it.
func (rp *replayer) sign(q *replayReq, now time.Time) error {
	req, err := http.NewRequest(http.MethodPost, rp.f.cfg.endpoint+rp.path, bytes.NewReader(q.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", q.target)
	sum := sha256.Sum256(q.body)
	if err := v4.NewSigner().SignHTTP(context.Background(), rp.f.creds, req, hex.EncodeToString(sum[:]),
		"kms", rp.f.region, now); err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: trent-bench\r\n", rp.path, rp.host)
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range req.Header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(q.body))
	b.Write(q.body)
	q.wire, q.signed = b.Bytes(), now
	return nil
}

// conn is a client's connection.
type conn struct {
	c  net.Conn
	br *bufio.Reader
}

func (rp *replayer) dial() (*conn, error) {
	c, err := net.DialTimeout("tcp", rp.addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if rp.tls != nil {
		tc := tls.Client(c, rp.tls)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	return &conn{c: c, br: bufio.NewReaderSize(c, 16<<10)}, nil
}

// run is one client of the replay mode.
func (rp *replayer) run(_ context.Context, w *worker, i int, until time.Time, record bool) {
	var reqs []*replayReq
	for _, op := range opsOf(rp.f.cfg.op) {
		q := &replayReq{op: op, target: "TrentService." + benchTargets[op], body: rp.f.body(op)}
		if err := rp.sign(q, time.Now()); err != nil {
			w.fail(err)
			return
		}
		reqs = append(reqs, q)
	}
	var c *conn
	defer func() {
		if c != nil {
			c.c.Close()
		}
	}()
	var body []byte
	for n := 0; ; n++ {
		t := time.Now()
		if n > 0 && !t.Before(until) { // one request at least, however busy the machine
			return
		}
		q := reqs[(n+i)%len(reqs)]
		if t.Sub(q.signed) > resignEvery {
			if err := rp.sign(q, t); err != nil {
				w.fail(err)
				return
			}
		}
		if c == nil {
			var err error
			if c, err = rp.dial(); err != nil {
				w.fail(err)
				time.Sleep(10 * time.Millisecond) // a refused dial fails at once
				continue
			}
		}
		var status int
		var keep bool
		_, err := c.c.Write(q.wire)
		if err == nil {
			status, body, keep, err = readResponse(c.br, body[:0])
		}
		d := time.Since(t)
		if err != nil || !keep {
			c.c.Close()
			c = nil
		}
		if err != nil {
			w.fail(err)
			continue
		}
		if status != http.StatusOK {
			w.fail(fmt.Errorf("%s: HTTP %d: %s", q.op, status, clip(body, 200)))
			continue
		}
		if n%checkEvery == 0 {
			if err := rp.f.checkReplay(w, q.op, body); err != nil {
				w.bad(err)
				continue
			}
			if record {
				w.checked++
			}
		}
		if record {
			w.lat = append(w.lat, d)
		}
	}
}

func clip(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

var errNoLength = errors.New("replay: answer without Content-Length (chunked answers are not supported)")

// readResponse reads one HTTP/1.1 response into body (grown as needed). keep
// is false when the server closes the connection after it.
func readResponse(br *bufio.Reader, body []byte) (status int, _ []byte, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, body, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, body, false, fmt.Errorf("replay: bad status line %q", clip(line, 64))
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, body, false, fmt.Errorf("replay: bad status line %q", clip(line, 64))
	}
	length, keep := -1, true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, body, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, body, false, fmt.Errorf("replay: bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		}
	}
	if length < 0 {
		return 0, body, false, errNoLength
	}
	body = slices.Grow(body[:0], length)[:length]
	if _, err := io.ReadFull(br, body); err != nil {
		return 0, body, false, err
	}
	return status, body, keep, nil
}

// checkReplay decodes an answer of op and checks it as callSDK does (the
// ciphertexts, signatures and MACs are kept for the final check).
func (f *benchFixture) checkReplay(w *worker, op string, body []byte) error {
	var out struct {
		KeyId          string
		CiphertextBlob []byte
		Plaintext      []byte
		Signature      []byte
		SignatureValid bool
		Mac            []byte
		KeyMetadata    struct{ KeyId, Arn string }
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return wrongf("%s: answer is not JSON: %v", op, err)
	}
	switch op {
	case "encrypt", "re-encrypt":
		if out.KeyId != f.keyARN || len(out.CiphertextBlob) == 0 {
			return wrongf("%s: key %q, %d-byte blob", op, out.KeyId, len(out.CiphertextBlob))
		}
		w.keep(sample{op: op, blob: out.CiphertextBlob, plaintext: f.plaintext})
	case "decrypt":
		if !bytes.Equal(out.Plaintext, f.plaintext) {
			return wrongf("decrypt returned %d bytes that are not the plaintext", len(out.Plaintext))
		}
	case "generate-data-key":
		if len(out.Plaintext) != 32 || len(out.CiphertextBlob) == 0 {
			return wrongf("generate-data-key: %d-byte data key", len(out.Plaintext))
		}
		w.keep(sample{op: op, blob: out.CiphertextBlob, plaintext: out.Plaintext})
	case "describe-key":
		if out.KeyMetadata.Arn != f.keyARN {
			return wrongf("describe-key: ARN %q, want %q", out.KeyMetadata.Arn, f.keyARN)
		}
	case "create-key":
		if out.KeyMetadata.KeyId == "" {
			return wrongf("create-key: no key id")
		}
	case "sign":
		w.keep(sample{op: op, blob: out.Signature})
	case "verify":
		if !out.SignatureValid {
			return wrongf("verify: a valid signature reported invalid")
		}
	case "generate-mac":
		w.keep(sample{op: op, blob: out.Mac})
	}
	return nil
}
