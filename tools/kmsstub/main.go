// Command kmsstub is the bare KMS server of the side-by-side figures in
// docs/benchmarks.md: net/http, encoding/json, AES-256-GCM and SigV4
// verification (Trent's internal/sigv4), and nothing else (no policies, no
// audit, no metrics beyond its CPU time, no storage). What Trent costs on
// top of it is the price of everything else.
//
// It answers CreateKey, DescribeKey, Encrypt, Decrypt and GenerateDataKey
// for the development credentials of `trent server --dev`, and serves
// process_cpu_seconds_total on GET /metrics so that `trent bench` can read
// its CPU time per request.
//
//	go run ./tools/kmsstub -addr 127.0.0.1:8090
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"sort"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/cputime"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/sigv4"
)

const (
	accessKeyID = iam.DevAccessKeyID
	secretKey   = iam.DevSecretKey
	account     = "111122223333"
	idLen       = 36 // a UUID key id heads every ciphertext blob
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen `HOST:PORT`")
	pprofAddr := flag.String("pprof-addr", "", "serve net/http/pprof on this loopback `HOST:PORT` (profiling the stub itself)")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { log.Print(http.ListenAndServe(*pprofAddr, nil)) }() // DefaultServeMux: net/http/pprof
	}
	s := &stub{keys: map[string]cipher.AEAD{}}
	s.verifier = &sigv4.Verifier{Creds: creds{}, Service: "kms"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", metrics)
	mux.Handle("POST /", s)
	srv := &http.Server{
		Handler: mux,
		// The limits of trent server (internal/server.Default).
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 90 * time.Second,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("kmsstub: listening on http://%s", ln.Addr())
	log.Fatal(srv.Serve(ln))
}

// creds knows the development access key only.
type creds struct{}

func (creds) Credential(id, token string) (string, *iam.Principal, error) {
	if id != accessKeyID || token != "" {
		return "", nil, iam.ErrUnknownCredential
	}
	p := iam.RootPrincipal(account, accessKeyID)
	return secretKey, &p, nil
}

type stub struct {
	verifier *sigv4.Verifier
	mu       sync.RWMutex
	keys     map[string]cipher.AEAD // by key id
}

type request struct {
	KeyId             string
	Plaintext         []byte
	CiphertextBlob    []byte
	KeySpec           string
	NumberOfBytes     int
	EncryptionContext map[string]string
}

type keyMetadata struct {
	KeyId, Arn, KeyState, KeySpec, KeyUsage string
	Enabled                                 bool
}

type response struct {
	KeyId          string       `json:",omitempty"`
	Plaintext      []byte       `json:",omitempty"`
	CiphertextBlob []byte       `json:",omitempty"`
	KeyMetadata    *keyMetadata `json:",omitempty"`
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		fail(w, 400, "SerializationException", "bad body")
		return
	}
	res, err := s.verifier.Verify(r, body)
	if err != nil {
		fail(w, 400, "InvalidSignatureException", err.Error())
		return
	}
	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		fail(w, 400, "SerializationException", "bad JSON")
		return
	}
	var out response
	switch r.Header.Get("X-Amz-Target") {
	case "TrentService.CreateKey":
		id := newID()
		k := make([]byte, 32)
		rand.Read(k)
		s.mu.Lock()
		s.keys[id] = newGCM(k)
		s.mu.Unlock()
		out.KeyMetadata = s.metadata(res.Region, id)
	case "TrentService.DescribeKey":
		if s.key(in.KeyId) == nil {
			fail(w, 400, "NotFoundException", "no such key")
			return
		}
		out.KeyMetadata = s.metadata(res.Region, in.KeyId)
	case "TrentService.Encrypt", "TrentService.GenerateDataKey":
		pt := in.Plaintext
		if r.Header.Get("X-Amz-Target") == "TrentService.GenerateDataKey" {
			pt = make([]byte, 32)
			rand.Read(pt)
			out.Plaintext = pt
		}
		if out.CiphertextBlob = s.seal(in.KeyId, pt, in.EncryptionContext); out.CiphertextBlob == nil {
			fail(w, 400, "NotFoundException", "no such key")
			return
		}
		out.KeyId = arn(res.Region, in.KeyId)
	case "TrentService.Decrypt":
		b := in.CiphertextBlob
		if len(b) < idLen+12+16 {
			fail(w, 400, "InvalidCiphertextException", "short blob")
			return
		}
		id := string(b[:idLen])
		aead := s.key(id)
		if aead == nil {
			fail(w, 400, "InvalidCiphertextException", "unknown key")
			return
		}
		pt, err := aead.Open(nil, b[idLen:idLen+12], b[idLen+12:], aad(b[:idLen], in.EncryptionContext))
		if err != nil {
			fail(w, 400, "InvalidCiphertextException", "bad blob")
			return
		}
		out.Plaintext, out.KeyId = pt, arn(res.Region, id)
	default:
		fail(w, 400, "UnknownOperationException", "unsupported")
		return
	}
	b, _ := json.Marshal(&out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Write(b)
}

func (s *stub) key(id string) cipher.AEAD {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys[id]
}

// seal returns id || nonce || AES-GCM(plaintext, aad(id, ec)), or nil for
// an unknown key.
func (s *stub) seal(id string, pt []byte, ec map[string]string) []byte {
	aead := s.key(id)
	if aead == nil {
		return nil
	}
	b := make([]byte, idLen+12, idLen+12+len(pt)+16)
	copy(b, id)
	rand.Read(b[idLen : idLen+12])
	return aead.Seal(b, b[idLen:idLen+12], pt, aad(b[:idLen], ec))
}

// aad binds the key id and the encryption context (sorted pairs) to a
// ciphertext, as a KMS does.
func aad(id []byte, ec map[string]string) []byte {
	out := append([]byte(nil), id...)
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(append(append(append(out, k...), 0), ec[k]...), 0)
	}
	return out
}

func (s *stub) metadata(region, id string) *keyMetadata {
	return &keyMetadata{KeyId: id, Arn: arn(region, id), KeyState: "Enabled", KeySpec: "SYMMETRIC_DEFAULT",
		KeyUsage: "ENCRYPT_DECRYPT", Enabled: true}
}

func arn(region, id string) string { return "arn:aws:kms:" + region + ":" + account + ":key/" + id }

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func newGCM(k []byte) cipher.AEAD {
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	w.Write(b)
}

// metrics serves the process's CPU time in the Prometheus text format.
func metrics(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", cputime.Process().Seconds())
}
