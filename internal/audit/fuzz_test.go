package audit

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseLine: the line parser used by verify, query and Open never
// panics, and what it accepts re-serializes to the same bytes.
func FuzzParseLine(f *testing.F) {
	dir := f.TempDir()
	l, err := Open(Options{Dir: dir, Signer: testSigner()})
	if err != nil {
		f.Fatal(err)
	}
	l.Record(t0ctx, encryptEvent(1))
	l.Close()
	segs, _ := listSegments(dir)
	data, _ := os.ReadFile(filepath.Join(dir, segs[0].name))
	ls, _ := splitLines(data)
	for _, b := range ls {
		f.Add(b)
	}
	f.Add([]byte(`{,"trent":{"seq":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000"}}`))
	f.Add([]byte(`{"a":1,"trent":{"seq":01,"prev":"00"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ln, err := ParseLine(b)
		if err != nil {
			return
		}
		out := appendTrailer(append([]byte(nil), ln.Body...), ln.Node, ln.Seq, &ln.Prev)
		if string(out[:len(out)-1]) != string(b) {
			t.Fatalf("ParseLine(%q) accepted a line that does not re-serialize: %q", b, out)
		}
	})
}

// FuzzVerifySegment: verify never panics on any segment content, and a
// segment that is not the log's own is never reported clean unless it
// parses as a chain.
func FuzzVerifySegment(f *testing.F) {
	dir := f.TempDir()
	l, err := Open(Options{Dir: dir, Signer: testSigner()})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		l.Record(t0ctx, encryptEvent(i))
	}
	l.Close()
	segs, _ := listSegments(dir)
	data, _ := os.ReadFile(filepath.Join(dir, segs[0].name))
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte("\n\n{}\n"))
	pub := &testSigner().PublicKey
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Report{}
		v := verifier{r: r, pub: pub, fp: Fingerprint(pub)}
		v.segment(segment{name: segmentName(1), first: 1}, data, true)
		if r.Problem == nil && r.Records+r.Digests > 0 && r.FirstSeq != 1 {
			t.Fatalf("a log that does not start at seq 1 verified: %+v", r)
		}
	})
}
