package audit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/audit/audittest"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

var t0ctx = context.Background()

const testKeyARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

var testSigner = sync.OnceValue(func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

func mustOpen(t *testing.T, opts Options) *Log {
	t.Helper()
	if opts.Signer == nil {
		opts.Signer = testSigner()
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

type encryptInput struct {
	KeyId               string            `json:"KeyId"`
	Plaintext           []byte            `json:"Plaintext"`
	EncryptionContext   map[string]string `json:"EncryptionContext,omitempty"`
	GrantTokens         []string          `json:"GrantTokens,omitempty"`
	EncryptionAlgorithm string            `json:"EncryptionAlgorithm,omitempty"`
	DryRun              bool              `json:"DryRun,omitempty"`
}

type keyMetadata struct {
	AWSAccountId string    `json:"AWSAccountId"`
	KeyId        string    `json:"KeyId"`
	Arn          string    `json:"Arn"`
	CreationDate time.Time `json:"CreationDate"`
	Enabled      bool      `json:"Enabled"`
	KeyState     string    `json:"KeyState"`
}

type createKeyOutput struct {
	KeyMetadata *keyMetadata `json:"KeyMetadata"`
}

func encryptEvent(i int) *Event {
	return &Event{
		Time: time.Now(), Source: SourceKMS, Name: "Encrypt",
		RequestID: "9d1e4b56-2a4f-4c8e-9a57-1f6c1b0f0c3" + fmt.Sprint(i%10),
		Identity:  Identity{ARN: "arn:aws:iam::111122223333:user/Alice", AccountID: "111122223333", AccessKeyID: "AKIAEXAMPLE"},
		Region:    "us-east-1", SourceIP: "127.0.0.1", UserAgent: "aws-sdk-go-v2/1.0",
		Params: &encryptInput{KeyId: "alias/app", Plaintext: []byte("SECRET-PLAINTEXT"), GrantTokens: []string{"GRANT-TOKEN"},
			EncryptionContext: map[string]string{"dept": "eng", "a\"b": "line\nbreak"}},
		Keys:      [2]string{testKeyARN},
		Encrypted: KeyUse{KeyARN: testKeyARN, MaterialID: "abcd"},
	}
}

// lines returns the lines of every segment of dir, in order.
func lines(t *testing.T, dir string) [][]byte {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, s := range segs {
		data, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := splitLines(data)
		out = append(out, ls...)
	}
	return out
}

func TestRecordsMatchSchemaAndCloudTrail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir})
	ctx := context.Background()
	seven := int32(7)
	events := []*Event{
		encryptEvent(1),
		{ // Decrypt without KeyId: the service reported the key from the blob
			Time: time.Now(), Source: SourceKMS, Name: "Decrypt", RequestID: "r2",
			Identity: Identity{ARN: "arn:aws:iam::111122223333:root", AccountID: "111122223333", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"},
			Region:   "us-east-1", SourceIP: "::1", UserAgent: "ua",
			Params:    &struct{ CiphertextBlob []byte }{[]byte("CIPHERTEXT")},
			Decrypted: KeyUse{KeyARN: testKeyARN, MaterialID: "m1"},
		},
		{ // CreateKey: responseElements carry the key metadata
			Time: time.Now(), Source: SourceKMS, Name: "CreateKey", RequestID: "r3",
			Identity: Identity{ARN: "arn:aws:sts::111122223333:assumed-role/Admin/sess", AccountID: "111122223333", AccessKeyID: "ASIAEXAMPLE"},
			Region:   "eu-west-1", SourceIP: "10.0.0.1", UserAgent: "ua",
			Params: &struct {
				Description string
				KeySpec     string
			}{"d", "SYMMETRIC_DEFAULT"},
			Output: &createKeyOutput{&keyMetadata{AWSAccountId: "111122223333", KeyId: "k", Arn: testKeyARN, CreationDate: time.Now(), Enabled: true, KeyState: "Enabled"}},
			Keys:   [2]string{testKeyARN},
			TLS:    &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}, Host: "kms.local:8443",
		},
		{ // denied
			Time: time.Now(), Source: SourceKMS, Name: "GenerateDataKey", RequestID: "r4",
			Identity: Identity{ARN: "arn:aws:iam::111122223333:user/Bob", AccountID: "111122223333", AccessKeyID: "AKIABOB"},
			Region:   "us-east-1", SourceIP: "127.0.0.1", UserAgent: "ua",
			Params: &struct {
				KeyId         string
				NumberOfBytes *int32
			}{"k", &seven},
			ErrorCode: "AccessDeniedException", ErrorMessage: "User: arn:aws:iam::111122223333:user/Bob is not authorized",
		},
		{ // refused before authentication
			Time: time.Now(), Source: SourceKMS, Name: "Encrypt", RequestID: "r5",
			Identity: Identity{Type: "Unknown", AccessKeyID: "AKIAUNKNOWN"}, Region: "us-east-1", SourceIP: "127.0.0.1",
			ErrorCode: "UnrecognizedClientException", ErrorMessage: "The security token included in the request is invalid.",
		},
	}
	for _, e := range events {
		if err := l.Record(ctx, e); err != nil {
			t.Fatalf("Record(%s): %v", e.Name, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	all := lines(t, dir)
	var recs []map[string]any
	for _, ln := range all {
		audittest.MustValidate(t, ln)
		for _, secret := range []string{"SECRET-PLAINTEXT", "GRANT-TOKEN", "CIPHERTEXT", "U0VDUkVU"} {
			if bytes.Contains(ln, []byte(secret)) {
				t.Errorf("line holds %q: %s", secret, ln)
			}
		}
		var m map[string]any
		if err := json.Unmarshal(ln, &m); err != nil {
			t.Fatalf("line is not JSON: %v\n%s", err, ln)
		}
		if _, ok := m["eventName"]; ok {
			recs = append(recs, m)
		}
	}
	if len(recs) != len(events) {
		t.Fatalf("%d records, want %d", len(recs), len(events))
	}
	get := func(m map[string]any, path ...string) any {
		var v any = m
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		return v
	}
	checks := []struct {
		rec  int
		path []string
		want any
	}{
		{0, []string{"requestParameters", "keyId"}, "alias/app"},
		{0, []string{"requestParameters", "encryptionContext", "a\"b"}, "line\nbreak"},
		{0, []string{"additionalEventData", "keyMaterialId"}, "abcd"},
		{0, []string{"readOnly"}, true},
		{0, []string{"userIdentity", "type"}, "IAMUser"},
		{0, []string{"userIdentity", "userName"}, "Alice"},
		{1, []string{"userIdentity", "type"}, "Root"},
		{1, []string{"requestParameters"}, nil},
		{2, []string{"responseElements", "keyMetadata", "AWSAccountId"}, "111122223333"},
		{2, []string{"responseElements", "keyMetadata", "keyState"}, "Enabled"},
		{2, []string{"readOnly"}, false},
		{2, []string{"userIdentity", "sessionContext", "sessionIssuer", "arn"}, "arn:aws:iam::111122223333:role/Admin"},
		{2, []string{"tlsDetails", "tlsVersion"}, "TLSv1.3"},
		{3, []string{"errorCode"}, "AccessDeniedException"},
		{3, []string{"requestParameters", "numberOfBytes"}, 7.0},
		{4, []string{"userIdentity", "accessKeyId"}, "AKIAUNKNOWN"},
	}
	for _, c := range checks {
		if got := get(recs[c.rec], c.path...); got != c.want {
			t.Errorf("record %d %s = %#v, want %#v", c.rec, strings.Join(c.path, "."), got, c.want)
		}
	}
	if r := recs[1]["resources"].([]any)[0].(map[string]any); r["ARN"] != testKeyARN || r["type"] != "AWS::KMS::Key" {
		t.Errorf("Decrypt without KeyId: resources = %v, want the key from the blob", r)
	}
	rep, err := Verify(dir, VerifyOptions{PublicKey: &testSigner().PublicKey})
	if err != nil || rep.Problem != nil {
		t.Fatalf("Verify = %+v, %v; want no problem", rep.Problem, err)
	}
	if rep.Records != len(events) || !rep.CleanStop || rep.Unsigned != 0 {
		t.Errorf("Verify report = %+v", rep)
	}
}

// writeLog writes n Encrypt records into dir with small segments, closes
// the log and returns the segment names.
func writeLog(t *testing.T, dir string, n int, segSize int64) []segment {
	t.Helper()
	l := mustOpen(t, Options{Dir: dir, SegmentSize: segSize})
	for i := range n {
		if err := l.Record(context.Background(), encryptEvent(i)); err != nil {
			t.Fatal(err)
		}
		if i%7 == 6 {
			// let the writer take batches (and rotate) now and then
			for l.pendingLen() > 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

func (l *Log) pendingLen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending.ends)
}

func verify(t *testing.T, dir string) *Report {
	t.Helper()
	rep, err := Verify(dir, VerifyOptions{PublicKey: &testSigner().PublicKey})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func TestVerifyUntouchedAcrossSegmentsAndRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	segs := writeLog(t, dir, 60, 4<<10)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several (rotation by size)", len(segs))
	}
	writeLog(t, dir, 10, 4<<10) // a restart appends to the same chain
	rep := verify(t, dir)
	if rep.Problem != nil {
		t.Fatalf("untouched log: %v", rep.Problem)
	}
	if rep.Records != 70 || !rep.CleanStop {
		t.Errorf("report = %+v, want 70 records and a clean stop", rep)
	}
	// --since/--until select segments; the first selected is the anchor.
	all := lines(t, dir)
	mid, _ := lineTime(mustParse(t, all[len(all)/2]).Body)
	rep, err := Verify(dir, VerifyOptions{PublicKey: &testSigner().PublicKey, Since: mid})
	if err != nil || rep.Problem != nil || rep.Records == 0 {
		t.Errorf("Verify --since: %+v %v", rep, err)
	}
}

func mustParse(t *testing.T, b []byte) Line {
	t.Helper()
	ln, err := ParseLine(b)
	if err != nil {
		t.Fatalf("ParseLine: %v", err)
	}
	return ln
}

// rewrite replaces the lines of the segment file holding seq via edit.
func rewrite(t *testing.T, dir string, edit func(lines [][]byte) [][]byte, segIndex int) string {
	t.Helper()
	segs, _ := listSegments(dir)
	s := segs[segIndex]
	path := filepath.Join(dir, s.name)
	data, _ := os.ReadFile(path)
	ls, _ := splitLines(data)
	ls = edit(ls)
	var out []byte
	for _, l := range ls {
		out = append(append(out, l...), '\n')
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return s.name
}

func TestTamperIsNamed(t *testing.T) {
	t.Parallel()
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name     string
		tamper   func(t *testing.T, dir string) string // returns the segment tampered with
		wantKind string
		wantSeq  uint64
		wantLine int
	}{
		{"change one byte", func(t *testing.T, dir string) string {
			return rewrite(t, dir, func(ls [][]byte) [][]byte {
				ls[3] = bytes.Replace(ls[3], []byte(`"us-east-1"`), []byte(`"us-east-2"`), 1)
				return ls
			}, 1)
		}, Changed, 0, 4},
		{"delete a record", func(t *testing.T, dir string) string {
			return rewrite(t, dir, func(ls [][]byte) [][]byte { return append(ls[:2:2], ls[3:]...) }, 1)
		}, Missing, 0, 3},
		{"swap two records", func(t *testing.T, dir string) string {
			return rewrite(t, dir, func(ls [][]byte) [][]byte { ls[2], ls[3] = ls[3], ls[2]; return ls }, 1)
		}, Reordered, 0, 3},
		{"delete the first segment", func(t *testing.T, dir string) string {
			segs, _ := listSegments(dir)
			if err := os.Remove(filepath.Join(dir, segs[0].name)); err != nil {
				t.Fatal(err)
			}
			return segs[1].name
		}, Missing, 0, 1},
		{"truncate a segment", func(t *testing.T, dir string) string {
			return rewrite(t, dir, func(ls [][]byte) [][]byte { return ls[:len(ls)-2] }, 1)
		}, Truncated, 0, 0},
		{"truncate a segment mid-line", func(t *testing.T, dir string) string {
			segs, _ := listSegments(dir)
			path := filepath.Join(dir, segs[1].name)
			st, _ := os.Stat(path)
			os.Truncate(path, st.Size()-30)
			return segs[1].name
		}, Truncated, 0, 0},
		{"forge a digest", func(t *testing.T, dir string) string {
			return rewrite(t, dir, func(ls [][]byte) [][]byte {
				last := len(ls) - 1 // the segment-close digest
				ln, _ := ParseLine(ls[last])
				var dl digestLine
				json.Unmarshal(append(append([]byte(nil), ln.Body...), '}'), &dl)
				sig, _ := ecdsa.SignASN1(rand.Reader, other, digestHash(dl.TrentDigest))
				forged := `{"trentDigest":` + string(dl.TrentDigest) + `,"signature":"` + b64(sig) + `"`
				ls[last] = appendTrailer([]byte(forged), ln.Node, ln.Seq, &ln.Prev)
				ls[last] = ls[last][:len(ls[last])-1] // no newline
				return ls
			}, 1)
		}, BadSignature, 0, 0},
		{"rewrite a record and its chain", func(t *testing.T, dir string) string {
			// An attacker without the signing key recomputes every chain
			// value after the change: the next digest's signature fails.
			return rewrite(t, dir, func(ls [][]byte) [][]byte {
				first := mustParse(t, ls[0])
				chain := first.Prev
				for i := range ls {
					ln := mustParse(t, ls[i])
					body := ln.Body
					if i == 2 {
						body = bytes.Replace(body, []byte("Alice"), []byte("Mallory"), -1)
					}
					sum := sha256Sum(body)
					out := appendTrailer(append([]byte(nil), body...), ln.Node, ln.Seq, &chain)
					ls[i] = out[:len(out)-1]
					chain = chainNext(&chain, ln.Seq, &sum)
				}
				return ls
			}, 1)
		}, BadSignature, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeLog(t, dir, 40, 4<<10)
			if rep := verify(t, dir); rep.Problem != nil {
				t.Fatalf("before tampering: %v", rep.Problem)
			}
			seg := tc.tamper(t, dir)
			rep := verify(t, dir)
			p := rep.Problem
			if p == nil {
				t.Fatalf("Verify found nothing after %s", tc.name)
			}
			if p.Kind != tc.wantKind || p.Segment != seg || (tc.wantLine != 0 && p.Line != tc.wantLine) {
				t.Errorf("Problem = %v; want kind %q in %s line %d", p, tc.wantKind, seg, tc.wantLine)
			}
			t.Logf("%s: %v", tc.name, p)
		})
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestTornTailIsRepairedNotTampering(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	segs := writeLog(t, dir, 10, 0)
	path := filepath.Join(dir, segs[len(segs)-1].name)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte(`{"eventVersion":"1.11","userIdentity":{"type":"Ro`)) // a crash mid-write
	f.Close()
	rep := verify(t, dir)
	if rep.Problem != nil || rep.TornBytes == 0 {
		t.Fatalf("torn last line: problem %v, torn %d; want no problem and a torn tail reported", rep.Problem, rep.TornBytes)
	}
	writeLog(t, dir, 3, 0) // restart: repair, start digest
	rep = verify(t, dir)
	if rep.Problem != nil || rep.TornBytes != 0 || rep.Records != 13 {
		t.Fatalf("after restart: %+v", rep)
	}
	var torn int64
	for _, ln := range lines(t, dir) {
		var d struct{ TrentDigest *Digest }
		json.Unmarshal(ln, &d)
		if d.TrentDigest != nil && d.TrentDigest.Reason == "start" {
			torn += d.TrentDigest.TornBytes
		}
	}
	if torn != 49 {
		t.Errorf("start digests record %d torn bytes, want 49", torn)
	}
}

type failingFile struct {
	segmentFile
	fail  *atomic.Bool
	syncs *atomic.Int64
}

func (f failingFile) Write(b []byte) (int, error) {
	if f.fail.Load() {
		return 0, errors.New("disk full")
	}
	return f.segmentFile.Write(b)
}

func (f failingFile) Sync() error {
	f.syncs.Add(1)
	return f.segmentFile.Sync()
}

func TestWriteFailureFailsClosed(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	var syncs atomic.Int64
	open := func(path string, create bool) (segmentFile, error) {
		f, err := openSegment(path, create)
		return failingFile{f, &fail, &syncs}, err
	}
	for _, mode := range []SyncMode{SyncAlways, SyncBatch} {
		t.Run(mode.String(), func(t *testing.T) {
			l := mustOpen(t, Options{Dir: t.TempDir(), Sync: mode, openFile: open})
			if err := l.Record(context.Background(), encryptEvent(0)); err != nil {
				t.Fatal(err)
			}
			fail.Store(true)
			defer fail.Store(false)
			deadline := time.Now().Add(5 * time.Second)
			var err error
			for err == nil && time.Now().Before(deadline) {
				err = l.Record(context.Background(), encryptEvent(1))
				time.Sleep(time.Millisecond)
			}
			if err == nil || l.Err() == nil || !strings.Contains(l.Err().Error(), "disk full") {
				t.Fatalf("Record after a write failure = %v, Err = %v; want the failure", err, l.Err())
			}
			if err := l.Record(context.Background(), encryptEvent(2)); err == nil {
				t.Error("the failure is not sticky")
			}
		})
	}
}

// shortFile's Write, once armed, waits for release, writes half of what it
// was given and fails (a disk that fills up in the middle of a batch).
type shortFile struct {
	segmentFile
	armed            *atomic.Bool
	entered, release chan struct{}
}

func (f shortFile) Write(b []byte) (int, error) {
	if !f.armed.CompareAndSwap(true, false) {
		return f.segmentFile.Write(b)
	}
	close(f.entered)
	<-f.release
	n, _ := f.segmentFile.Write(b[:len(b)/2])
	return n, errors.New("no space left on device")
}

// A write that fails halfway leaves a torn line; nothing may be written
// after it (it would glue a record to the torn line, a damage verify
// reports for ever), and a record queued before the failure must not be
// acknowledged.
func TestNoWriteAfterFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	open := func(path string, create bool) (segmentFile, error) {
		f, err := openSegment(path, create)
		return shortFile{f, &armed, entered, release}, err
	}
	l := mustOpen(t, Options{Dir: dir, Sync: SyncAlways, openFile: open})
	armed.Store(true)
	first, second := make(chan error), make(chan error)
	go func() { first <- l.Record(context.Background(), encryptEvent(1)) }()
	<-entered // the writer is writing the first record's batch
	go func() { second <- l.Record(context.Background(), encryptEvent(2)) }()
	for l.pendingLen() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-first; err == nil {
		t.Error("the record whose write failed was acknowledged")
	}
	if err := <-second; err == nil {
		t.Error("a record queued before the failure was acknowledged after it")
	}
	l.Close()
	if rep := verify(t, dir); rep.Problem != nil || rep.TornBytes == 0 {
		t.Fatalf("after the failure: problem %v, torn %d; want a torn tail only", rep.Problem, rep.TornBytes)
	}
	writeLog(t, dir, 2, 0) // restart: repair, go on
	if rep := verify(t, dir); rep.Problem != nil || rep.Records != 2 {
		t.Fatalf("after restart: %+v", rep)
	}
}

func TestGroupCommit(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	var syncs atomic.Int64
	open := func(path string, create bool) (segmentFile, error) {
		f, err := openSegment(path, create)
		return failingFile{f, &fail, &syncs}, err
	}
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir, Sync: SyncAlways, openFile: open})
	const workers, each = 32, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := l.Record(context.Background(), encryptEvent(w*each+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	n := syncs.Load()
	l.Close()
	if n >= workers*each {
		t.Errorf("%d fsyncs for %d records: no group commit", n, workers*each)
	}
	t.Logf("%d records, %d fsyncs", workers*each, n)
	if rep := verify(t, dir); rep.Problem != nil || rep.Records != workers*each {
		t.Errorf("verify: %+v", rep)
	}
}

func TestLastUsageRebuiltFromSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir})
	e := encryptEvent(5)
	l.Record(context.Background(), e)
	failed := encryptEvent(6)
	failed.ErrorCode = "DisabledException"
	l.Record(context.Background(), failed)
	u1, ok := l.LastUsage(testKeyARN)
	if !ok || u1.Operation != "Encrypt" || u1.RequestID != e.RequestID {
		t.Fatalf("LastUsage = %+v, %v", u1, ok)
	}
	l.Close()
	l2 := mustOpen(t, Options{Dir: dir})
	u2, ok := l2.LastUsage(testKeyARN)
	if !ok || u2 != u1 {
		t.Errorf("after reopening LastUsage = %+v, want %+v", u2, u1)
	}
}

func TestSignerSealedInStorage(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	now := time.Now()
	k1, c1, err := LoadOrCreateSigner(context.Background(), st, now)
	if err != nil {
		t.Fatal(err)
	}
	k2, c2, err := LoadOrCreateSigner(context.Background(), st, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) || !c1.Equal(c2) {
		t.Error("the signing key or its creation time changed on reload")
	}
	pemb, _ := PublicKeyPEM(&k1.PublicKey)
	pub, err := ParsePublicKeyPEM(pemb)
	if err != nil || !pub.Equal(&k1.PublicKey) {
		t.Errorf("public key PEM round trip: %v", err)
	}
}

func TestIdentityOfPrincipal(t *testing.T) {
	t.Parallel()
	p := iam.RootPrincipal("111122223333", "AKIAIOSFODNN7EXAMPLE")
	if typ := identityType(p.ARN); typ != "Root" {
		t.Errorf("identityType(%s) = %s, want Root", p.ARN, typ)
	}
}

// BenchmarkRecord measures the request path's share of auditing one Encrypt
// (encode, hash, chain, hand to the writer) with the writer running.
func BenchmarkRecord(b *testing.B) {
	for _, mode := range []SyncMode{SyncBatch, SyncAlways} {
		b.Run(mode.String(), func(b *testing.B) {
			l, err := Open(Options{Dir: b.TempDir(), Sync: mode, Signer: testSigner()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			e := encryptEvent(1)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Record(context.Background(), e); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// TestAppendTime: the record's timestamp is what time.Format writes, for any
// location and for years that need the slow path.
func TestAppendTime(t *testing.T) {
	t.Parallel()
	east := time.FixedZone("east", 5*3600+30*60)
	for _, tm := range []time.Time{
		time.Date(2026, 12, 1, 5, 4, 3, 999_999_999, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, east), // the previous day in UTC
		time.Date(999, 10, 31, 23, 59, 59, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		{},
	} {
		if got, want := string(appendTime(nil, tm)), tm.UTC().Format(timeLayout); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

// FuzzAppendString: a string reads back as encoding/json reads its own
// encoding (invalid UTF-8 as U+FFFD), whatever it holds and wherever its
// special bytes fall against appendString's 8-byte steps.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "tab\tline\nret\r", "\x00\x01\x1f\x7f",
		"é ü 中文 🔑", "bad \xff\xfe utf-8", "\u2028\u2029", "<html>&amp;", strings.Repeat("a", 300) + "\"",
		"01234567\"", "0123456\x1f89abcdef", "arn:aws:kms:us-east-1:111122223333:key/é", "!!!!!!!!\\!!!!!!!",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got, want string
		if err := json.Unmarshal(appendString(nil, s), &got); err != nil {
			t.Fatalf("appendString(%q) is not JSON: %v", s, err)
		}
		b, _ := json.Marshal(s)
		json.Unmarshal(b, &want)
		if got != want {
			t.Errorf("appendString(%q) reads back as %q, want %q", s, got, want)
		}
	})
}

// TestLastUsageOfProxyCalls: the XKS proxy's decryptions with a key count as
// its last use, reported as Decrypt (an operation GetKeyLastUsage knows),
// also once rebuilt from the segments.
func TestLastUsageOfProxyCalls(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir})
	e := &Event{Time: time.Now(), Source: SourceXKS, Name: "XksDecrypt", RequestID: "xks-request", Region: "us-east-1",
		Identity: Identity{ARN: "arn:aws:iam::111122223333:user/aws-kms", AccountID: "111122223333"}, Keys: [2]string{testKeyARN}}
	if err := l.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	u1, ok := l.LastUsage(testKeyARN)
	if !ok || u1.Operation != "Decrypt" || u1.RequestID != "xks-request" {
		t.Fatalf("LastUsage = %+v, %v", u1, ok)
	}
	l.Close()
	if u2, ok := mustOpen(t, Options{Dir: dir}).LastUsage(testKeyARN); !ok || u2 != u1 {
		t.Errorf("after reopening LastUsage = %+v, want %+v", u2, u1)
	}
}

// TestStartDigestCountsUnsignedTail: after a crash, the start digest signs
// the records the last run left unsigned, and says how many: its records
// member is the number of records since the previous digest, as every
// digest's.
func TestStartDigestCountsUnsignedTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeLog(t, dir, 3, 0)
	// A crash skips the shutdown digest: drop it.
	rewrite(t, dir, func(ls [][]byte) [][]byte { return ls[:len(ls)-1] }, 0)
	writeLog(t, dir, 0, 0)
	var starts []int
	for _, ln := range lines(t, dir) {
		var d struct{ TrentDigest *Digest }
		json.Unmarshal(ln, &d)
		if d.TrentDigest != nil && d.TrentDigest.Reason == "start" {
			starts = append(starts, d.TrentDigest.Records)
		}
	}
	if len(starts) != 2 || starts[1] != 3 {
		t.Errorf("start digests count %v records, want [0 3]", starts)
	}
	if rep := verify(t, dir); rep.Problem != nil {
		t.Fatal(rep.Problem)
	}
}
