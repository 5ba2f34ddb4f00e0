package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/storage/memstore"
)

// runLog opens the log in dir comparing it with the head stored in st,
// records n events, closes it and stores its head, as the server does. It
// returns what Open found.
func runLog(t *testing.T, dir string, st *memstore.Store, n int, segSize int64) *Rollback {
	t.Helper()
	return runNodeLog(t, dir, st, "", n, segSize)
}

// runNodeLog is runLog for the log of node (the head stored under "", as
// on a store of one server).
func runNodeLog(t *testing.T, dir string, st *memstore.Store, node string, n int, segSize int64) *Rollback {
	t.Helper()
	want, err := LoadHead(t0ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, Options{Dir: dir, Node: node, SegmentSize: segSize, Expect: want})
	for i := range n {
		if err := l.Record(t0ctx, encryptEvent(i)); err != nil {
			t.Fatal(err)
		}
		for i%5 == 4 && l.pendingLen() > 0 { // batches (and rotations) now and then
			time.Sleep(time.Millisecond)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	h, ok := l.SignedHead()
	if !ok {
		t.Fatal("no signed head after Close")
	}
	if err := StoreHead(t0ctx, st, "", h); err != nil {
		t.Fatal(err)
	}
	return l.Rollback()
}

// The end of a log cut off, its newest segments deleted or the log replaced
// by an older copy of itself: the chain alone still verifies,
// but the next start finds the log short of the head the server stored,
// says so in its signed start digest, and verify reports it.
func TestRollbackDetectedAtStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *testing.T, dir, older string)
		found  string // the Rollback's FoundChain: "" (ends before) or set (replaced)
	}{
		{"newest records cut off", func(t *testing.T, dir, _ string) {
			// the shutdown digest and the records before it in its segment
			rewrite(t, dir, func(ls [][]byte) [][]byte { return ls[:max(len(ls)-3, 0)] }, lastSegment(t, dir))
		}, ""},
		{"newest segments deleted", func(t *testing.T, dir, _ string) {
			segs, _ := listSegments(dir)
			for _, s := range segs[len(segs)-2:] {
				os.Remove(filepath.Join(dir, s.name))
			}
		}, ""},
		{"whole log deleted", func(t *testing.T, dir, _ string) {
			segs, _ := listSegments(dir)
			for _, s := range segs {
				os.Remove(filepath.Join(dir, s.name))
			}
		}, ""},
		{"older copy put back", func(t *testing.T, dir, older string) {
			segs, _ := listSegments(dir)
			for _, s := range segs {
				os.Remove(filepath.Join(dir, s.name))
			}
			olds, _ := listSegments(older)
			for _, s := range olds {
				b, _ := os.ReadFile(filepath.Join(older, s.name))
				os.WriteFile(filepath.Join(dir, s.name), b, 0o600)
			}
		}, ""},
		{"replaced by another log as long", func(t *testing.T, dir, _ string) {
			segs, _ := listSegments(dir)
			for _, s := range segs {
				os.Remove(filepath.Join(dir, s.name))
			}
			writeLog(t, dir, 60, 4<<10) // same key, longer, other records
		}, "set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, older := t.TempDir(), t.TempDir()
			st := memstore.New()
			if rb := runLog(t, dir, st, 20, 4<<10); rb != nil {
				t.Fatalf("first start: %+v", rb)
			}
			segs, _ := listSegments(dir)
			for _, s := range segs {
				b, _ := os.ReadFile(filepath.Join(dir, s.name))
				os.WriteFile(filepath.Join(older, s.name), b, 0o600)
			}
			if rb := runLog(t, dir, st, 20, 4<<10); rb != nil {
				t.Fatalf("restart of an untouched log: %+v", rb)
			}
			expect, _ := LoadHead(t0ctx, st, "")
			tt.change(t, dir, older)
			if rep := verify(t, dir); rep.Problem != nil {
				t.Fatalf("the changed log no longer verifies by itself (%v): not the case under test", rep.Problem)
			}

			rb := runLog(t, dir, st, 1, 4<<10)
			if rb == nil || rb.Expected != *expect || (rb.FoundChain != "") != (tt.found != "") {
				t.Fatalf("Rollback = %+v, want one from head %+v (found chain %q)", rb, expect, tt.found)
			}
			var start *Digest
			for _, ln := range lines(t, dir) {
				var d struct{ TrentDigest *Digest }
				json.Unmarshal(ln, &d)
				if d.TrentDigest != nil && d.TrentDigest.Rollback != nil {
					start = d.TrentDigest
				}
			}
			if start == nil || start.Reason != "start" || start.Rollback.Expected.Seq != expect.Seq {
				t.Fatalf("start digest = %+v, want one carrying the rollback", start)
			}
			rep := verify(t, dir)
			if rep.Problem == nil || rep.Problem.Kind != RolledBack {
				t.Fatalf("Verify = %+v, want %s", rep.Problem, RolledBack)
			}
			// Reported once: the next start compares with the new head.
			if rb := runLog(t, dir, st, 1, 4<<10); rb != nil {
				t.Errorf("the start after the report reports again: %+v", rb)
			}
		})
	}
}

// No false alarm: a crash (no shutdown digest, records after the last
// digest lost with the torn tail) leaves the stored head on disk.
func TestStoredHeadSurvivesCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := memstore.New()
	runLog(t, dir, st, 5, 0)
	l := mustOpen(t, Options{Dir: dir, Expect: func() *Head { h, _ := LoadHead(t0ctx, st, ""); return h }()})
	if l.Rollback() != nil {
		t.Fatalf("Rollback = %+v", l.Rollback())
	}
	h, ok := l.SignedHead() // the start digest, synced by Open
	if !ok {
		t.Fatal("no signed head after Open")
	}
	StoreHead(t0ctx, st, "", h)
	for i := range 3 {
		l.Record(t0ctx, encryptEvent(i))
	}
	l.Close()
	// The crash: the shutdown digest and the last records never reached
	// the disk.
	rewrite(t, dir, func(ls [][]byte) [][]byte { return ls[:len(ls)-3] }, lastSegment(t, dir))
	if rb := runLog(t, dir, st, 0, 0); rb != nil {
		t.Errorf("after a crash: %+v", rb)
	}
}

func lastSegment(t *testing.T, dir string) int {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil || len(segs) == 0 {
		t.Fatalf("listSegments: %v, %v", segs, err)
	}
	return len(segs) - 1
}

// A new node id in the same directory (--node-id set) starts a new chain:
// the head stored for the one before is checked against that one's
// segments, so the change is no rollback, while the node id and the log
// removed together are.
func TestStoredHeadOfAnotherNodeID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := memstore.New()
	runNodeLog(t, dir, st, "a", 5, 0)
	if rb := runNodeLog(t, dir, st, "b", 5, 0); rb != nil {
		t.Fatalf("node id a -> b, a's log in place: %+v", rb)
	}
	segs, _ := nodeSegments(dir, "b")
	for _, s := range segs {
		os.Remove(filepath.Join(dir, s.name))
	}
	rb := runNodeLog(t, dir, st, "c", 0, 0)
	if rb == nil || rb.Expected.Node != "b" || rb.FoundSeq != 0 {
		t.Fatalf("node id b -> c, b's log removed: Rollback = %+v", rb)
	}
}

// A segment removed, replaced by an older copy or cut short while the
// server runs: the writer notices at its next batch, goes on in a new
// segment (so that what follows is on disk, not in a file no one can
// read), and its next digest records what the log on disk lacks, which
// verify reports.
func TestSegmentMovedWhileRunning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(path string, older []byte) error
	}{
		{"removed", func(path string, _ []byte) error { return os.Remove(path) }},
		{"replaced by an older copy", func(path string, older []byte) error {
			tmp := path + ".tmp"
			if err := os.WriteFile(tmp, older, 0o600); err != nil {
				return err
			}
			return os.Rename(tmp, path)
		}},
		{"cut short", func(path string, older []byte) error { return os.Truncate(path, int64(len(older))) }},
		{"directory removed", func(path string, _ []byte) error { return os.RemoveAll(filepath.Dir(path)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			// A digest after every batch: the last one synced is recent.
			l := mustOpen(t, Options{Dir: dir, Sync: SyncAlways, DigestInterval: time.Nanosecond})
			record := func(from, to int) {
				for i := from; i < to; i++ {
					if err := l.Record(context.Background(), encryptEvent(i)); err != nil {
						t.Fatal(err)
					}
				}
			}
			record(0, 3)
			segs, err := listSegments(dir)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, segs[len(segs)-1].name)
			older, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			record(3, 6)
			if err := tt.change(path, older); err != nil {
				t.Fatal(err)
			}
			record(6, 9)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			final, _ := l.Head()

			var last uint64
			var lost *Digest
			for _, b := range lines(t, dir) {
				ln := mustParse(t, b)
				last = max(last, ln.Seq)
				var d struct{ TrentDigest *Digest }
				json.Unmarshal(b, &d)
				if d.TrentDigest != nil && d.TrentDigest.Rollback != nil {
					lost = d.TrentDigest
				}
			}
			if last != final {
				t.Errorf("the log on disk ends at seq %d, the writer's at %d: the lines after the change went to a file no one can read", last, final)
			}
			if lost == nil || lost.Reason != "segment-lost" {
				t.Fatalf("digest carrying the loss = %+v, want a segment-lost digest with a rollback", lost)
			}
			if rb := lost.Rollback; rb.Expected.Seq == 0 || rb.FoundSeq >= rb.Expected.Seq && rb.FoundChain == "" {
				t.Errorf("rollback = %+v: does not say what is missing", rb)
			}
			if _, err := os.Stat(filepath.Join(dir, PublicKeyFile)); err != nil {
				t.Errorf("public key beside the segments: %v", err)
			}
			if rep := verify(t, dir); rep.Problem == nil {
				t.Errorf("Verify found no problem in a log whose segment was %s", tt.name)
			}
		})
	}
}

// The segment a rotation just opened (empty) replaced by another file
// while the server runs: the new segment has the same name, and the log
// goes on in it after moving the other file aside, instead of failing
// every call on the file in its way.
func TestSegmentReplacedAfterRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir, Sync: SyncAlways, SegmentSize: 4 << 10})
	var segs []segment
	for i := 0; len(segs) < 2; i++ {
		if i == 100 {
			t.Fatal("no rotation after 100 records")
		}
		if err := l.Record(context.Background(), encryptEvent(i)); err != nil {
			t.Fatal(err)
		}
		var err error
		if segs, err = listSegments(dir); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, segs[1].name)
	foreign := []byte("{\"not\":\"the log's\"}\n")
	if err := os.WriteFile(path+".tmp", foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := l.Record(context.Background(), encryptEvent(i)); err != nil {
			t.Fatalf("Record after the new segment was replaced: %v", err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	final, _ := l.Head()
	if last := mustParse(t, lines(t, dir)[len(lines(t, dir))-1]).Seq; last != final {
		t.Errorf("the log on disk ends at seq %d, the writer's at %d", last, final)
	}
	if rep := verify(t, dir); rep.Problem != nil {
		t.Errorf("Verify: %v (nothing of the log was lost)", rep.Problem)
	}
	aside, _ := filepath.Glob(path + ".replaced-*")
	if len(aside) != 1 {
		t.Fatalf("files moved aside: %q, want the one found at %s", aside, segs[1].name)
	}
	if got, _ := os.ReadFile(aside[0]); !bytes.Equal(got, foreign) {
		t.Errorf("file moved aside holds %q, want %q", got, foreign)
	}
}

// A segment replaced right after the writer opened it, before it noted
// which file it is: the writer notes the file it opened, not the other
// one, and so notices the change at its next batch instead of appending
// to a file no one can read.
func TestSegmentReplacedAsOpened(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var armed atomic.Bool
	foreign := []byte("{\"not\":\"the log's\"}\n")
	open := func(path string, create bool) (segmentFile, error) {
		f, err := openSegment(path, create)
		if err == nil && create && armed.CompareAndSwap(true, false) {
			if err := os.WriteFile(path+".tmp", foreign, 0o600); err != nil {
				return nil, err
			}
			if err := os.Rename(path+".tmp", path); err != nil {
				return nil, err
			}
		}
		return f, err
	}
	l := mustOpen(t, Options{Dir: dir, Sync: SyncAlways, SegmentSize: 4 << 10, openFile: open})
	armed.Store(true) // the next segment a rotation opens
	for i := 0; i < 20; i++ {
		if err := l.Record(context.Background(), encryptEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if armed.Load() {
		t.Fatal("no rotation after 20 records")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	final, _ := l.Head()
	all := lines(t, dir)
	if last := mustParse(t, all[len(all)-1]).Seq; last != final {
		t.Errorf("the log on disk ends at seq %d, the writer's at %d: the lines after the rotation went to a file no one can read", last, final)
	}
	if rep := verify(t, dir); rep.Problem != nil {
		t.Errorf("Verify: %v (the file that replaced the segment stands in the log's place)", rep.Problem)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, "*.replaced-*")); len(aside) != 1 {
		t.Errorf("files moved aside: %q, want the one that replaced the segment", aside)
	}
}

// A file put at the next segment's name while the server runs is moved
// aside when the log rotates to that name, and the log goes on: the
// rotation's create used to fail, and every call with it.
func TestRotationOntoForeignFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := mustOpen(t, Options{Dir: dir, Sync: SyncAlways, SegmentAge: time.Hour, Now: clock})
	for i := range 2 {
		if err := l.Record(context.Background(), encryptEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The segment ages past SegmentAge: the next cycle (a record and the
	// segment-close digest, or the digest alone on a tick) rotates to the
	// segment after seq+2 or seq+1.
	seq, _ := l.Head()
	foreign := []byte("{\"not\":\"the log's\"}\n")
	var planted []string
	for _, s := range []uint64{seq + 2, seq + 3} {
		path := filepath.Join(dir, segmentFileName("", s))
		if err := os.WriteFile(path, foreign, 0o600); err != nil {
			t.Fatal(err)
		}
		planted = append(planted, path)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	for i := range 3 {
		if err := l.Record(context.Background(), encryptEvent(i)); err != nil {
			t.Fatalf("Record after the rotation onto a foreign file: %v", err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "*.replaced-*"))
	if len(aside) != 1 {
		t.Fatalf("files moved aside: %q, want one", aside)
	}
	if got, _ := os.ReadFile(aside[0]); !bytes.Equal(got, foreign) {
		t.Errorf("file moved aside holds %q, want %q", got, foreign)
	}
	for _, p := range planted { // the one the log did not reach
		if got, err := os.ReadFile(p); err == nil && bytes.Equal(got, foreign) {
			os.Remove(p)
		}
	}
	if rep := verify(t, dir); rep.Problem != nil {
		t.Errorf("Verify: %v (nothing of the log was lost)", rep.Problem)
	}
}
