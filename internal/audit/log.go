package audit

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trent-kms/trent/internal/durable"
	"github.com/trent-kms/trent/internal/requestid"
)

// SyncMode is when a record must be on disk.
type SyncMode int

const (
	// SyncBatch hands the records to the kernel (write) every
	// WriteInterval, or sooner when 256 KiB are waiting, and fsyncs at least
	// every BatchInterval. Loss window: a crash of the process loses at most
	// the records of the last WriteInterval (10 ms); a crash of the machine
	// (power loss, kernel panic) at most those of the last BatchInterval
	// (100 ms) plus one fsync.
	SyncBatch SyncMode = iota
	// SyncAlways answers a request only after its record is fsynced (group
	// commit). Loss window: none for answered requests.
	SyncAlways
)

// ParseSyncMode parses "batch" or "always".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "batch", "":
		return SyncBatch, nil
	case "always":
		return SyncAlways, nil
	}
	return 0, fmt.Errorf("audit: sync mode %q: want batch or always", s)
}

func (m SyncMode) String() string {
	if m == SyncAlways {
		return "always"
	}
	return "batch"
}

// Defaults of Options.
const (
	DefaultBatchInterval  = 100 * time.Millisecond
	WriteInterval         = 10 * time.Millisecond // SyncBatch: how long records may wait for write(2)
	wakeRecords           = 256                   // SyncBatch: write sooner when this many records wait
	DefaultSegmentSize    = 64 << 20
	DefaultSegmentAge     = 24 * time.Hour
	DefaultDigestInterval = time.Minute
	// maxPending bounds the records waiting for the writer in batch mode
	// (about 8 MiB of lines): past it, Record waits for the write as in
	// SyncAlways (back pressure instead of unbounded memory).
	maxPending = 8 << 10
)

// Options configure a Log.
type Options struct {
	// Dir holds the segment files (<data-dir>/audit). Empty: no files;
	// records go only to Stdout (if set) and to the last-usage index.
	Dir string
	// Node identifies the node (ValidNodeID) whose log this is: it is in
	// every line's chain member, every digest and every segment's file
	// name, so that the logs of several nodes sharing one database can be
	// gathered in one directory and each verified as its own chain. Empty:
	// the format of earlier releases (no node id).
	Node string
	Sync SyncMode
	// Signer signs the digests; required with Dir.
	Signer *ecdsa.PrivateKey
	// Stdout, when set, receives every line as well (log shippers).
	Stdout io.Writer
	// Expect is the head stored when this log was last known on disk
	// (LoadHead): Open reports a log that does not reach it (Rollback).
	// nil: nothing to compare.
	Expect *Head
	// Restored: the storage (and Expect) was just restored from a backup;
	// a log that does not reach Expect is then reported as such.
	Restored bool
	// TrackingStart is when this log began (GetKeyLastUsage's
	// TrackingStartDate); Open's time when zero.
	TrackingStart time.Time

	BatchInterval  time.Duration // DefaultBatchInterval when 0
	SegmentSize    int64         // DefaultSegmentSize when 0
	SegmentAge     time.Duration // DefaultSegmentAge when 0
	DigestInterval time.Duration // DefaultDigestInterval when 0
	Logger         *slog.Logger
	Now            func() time.Time

	// openFile opens a segment for appending (tests inject failures).
	openFile func(path string, create bool) (segmentFile, error)
}

type segmentFile interface {
	io.Writer
	Sync() error
	Close() error
}

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit: log closed")

// Log is the audit log. Create it with Open; it is safe for concurrent use.
type Log struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	fp   string // signing key fingerprint

	mu        sync.Mutex
	pending   *batch
	spare     []spare // written batches' buffers, to fill again (at most maxSpare)
	headSeq   uint64  // seq and chain as of the last batch written (Head)
	headChain [32]byte
	err       error       // sticky: the log cannot be written
	failed    atomic.Bool // err is set (Err without the lock: every API call asks)
	closed    bool
	signed    Head // the last digest line synced (SignedHead)
	usage     map[string]Usage
	usageNew  map[string]struct{} // keys of usage changed since TakeUsage
	want      int                 // SyncAlways: the last batch's record count (gather)

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	// owned by the writer goroutine (and by Open before it starts)
	seq          uint64   // last sequence number assigned
	chain        [32]byte // chain value after line seq
	sinceDigest  int      // lines since the last digest
	lastDigest   time.Time
	segName      string // the segment lines are being appended to
	out          []byte // the lines of a batch: its bodies, chained, and digests
	f            segmentFile
	segFile      os.FileInfo // the file at segName when f was opened (segmentMoved)
	segSize      int64
	segStart     time.Time
	lastSync     time.Time
	dirty        bool
	took         time.Duration // SyncAlways: the last batch's write and fsync
	digestAt     Head          // the last digest line appended
	syncedDigest uint64        // digestAt.Seq as of the last sync
	rollback     *Rollback     // set by Open: the log found does not reach Options.Expect
	lost         *Rollback     // set by replaceSegment: what the next digest records
}

// batch is the records handed to the log since the writer last took them:
// their bodies, encoded and hashed by Record (while the event's data is in
// the cache, and in parallel: in SyncAlways mode the hashing overlaps the
// fsync of the batch before) and copied in one after the other. The writer
// chains them (each line's trailer and link) as it copies them out, and
// adds the digests due.
type batch struct {
	buf    []byte        // the bodies
	ends   []int         // where each body ends in buf
	sums   [][32]byte    // each body's SHA-256
	done   chan struct{} // closed once the records are written (and synced, as the mode wants)
	err    error         // valid after done
	rotate bool          // the lines end with a segment-close digest
	woken  bool          // the writer was woken for this batch
}

// spare is a written batch's storage, kept for a later batch.
type spare struct {
	buf  []byte
	ends []int
	sums [][32]byte
}

// batchCap is the capacity a batch's buffer starts with: what batch mode
// gathers before it wakes the writer, and some.
const batchCap = 320 << 10

// maxSpare is how many written batch buffers the log keeps: with one being
// filled and one being written, a third lets a batch start while the writer
// still holds the last one, without a new 320 KiB allocation (and the
// collector's and the scavenger's work that follows it). A buffer that grew
// past batchCap is kept at its size, so a log under heavy load stops
// growing (copying) its batches.
const maxSpare = 2

func (l *Log) newBatch() *batch {
	b := &batch{done: make(chan struct{})}
	if n := len(l.spare); n > 0 {
		b.buf, b.ends, b.sums = l.spare[n-1].buf, l.spare[n-1].ends, l.spare[n-1].sums
		l.spare = l.spare[:n-1]
	} else {
		b.buf = make([]byte, 0, batchCap)
	}
	return b
}

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// Record appends the record of e. In SyncAlways mode it returns once the
// record is on disk. It returns an error, and the caller must fail the
// request, when the log cannot be written.
func (l *Log) Record(_ context.Context, e *Event) error {
	id := requestid.New()
	bp := bodyPool.Get().(*[]byte)
	body := appendBody((*bp)[:0], e, id)
	if len(body) > maxBody {
		body = appendBody(body[:0], withoutParams(e), id)
	}
	sum := sha256.Sum256(body)

	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		*bp = body[:0]
		bodyPool.Put(bp)
		return err
	}
	b := l.pending
	b.buf = append(b.buf, body...)
	b.ends = append(b.ends, len(b.buf))
	b.sums = append(b.sums, sum)
	if e.ErrorCode == "" && TrackedOps[e.Name] {
		l.trackLocked(e, id)
	}
	n := len(b.ends)
	wait := l.opts.Sync == SyncAlways || n > maxPending
	wake := (l.opts.Sync == SyncAlways && (n == 1 || n == l.want)) || (n >= wakeRecords && !b.woken)
	b.woken = b.woken || wake
	l.mu.Unlock()
	*bp = body[:0]
	bodyPool.Put(bp)

	if wake {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	if wait {
		<-b.done
		return b.err
	}
	return nil
}

func (l *Log) usableLocked() error {
	if l.err != nil {
		return l.err
	}
	if l.closed {
		return ErrClosed
	}
	return nil
}

// appendLine chains the body at dst[start:] as line seq+1: it appends the
// line's trailer (with the chain value before it) and advances the chain.
// The writer's (and Open's).
func (l *Log) appendLine(dst []byte, start int) []byte {
	sum := sha256.Sum256(dst[start:])
	return l.appendTrailerOf(dst, &sum)
}

// appendTrailerOf closes the line of a body whose SHA-256 is sum (the body
// just appended to dst) and advances the chain.
func (l *Log) appendTrailerOf(dst []byte, sum *[32]byte) []byte {
	l.seq++
	dst = appendTrailer(dst, l.opts.Node, l.seq, &l.chain)
	l.chain = chainNext(&l.chain, l.seq, sum)
	l.sinceDigest++
	return dst
}

// appendTrailer closes a line: ,"trent":{"node":"ID","seq":N,"prev":"HEX"}}\n
// (without "node" when node is empty).
func appendTrailer(dst []byte, node string, seq uint64, prev *[32]byte) []byte {
	dst = append(dst, trailerPrefix...)
	if node != "" {
		dst = append(append(append(dst, nodeMember...), node...), `",`...)
	}
	dst = append(dst, seqMember...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"prev":"`...)
	dst = hex.AppendEncode(dst, prev[:])
	return append(dst, "\"}}\n"...)
}

// chainNext is c(N) = SHA-256(c(N-1) || uint64be(N) || SHA-256(body(N))).
func chainNext(prev *[32]byte, seq uint64, bodySum *[32]byte) [32]byte {
	var in [72]byte
	copy(in[:32], prev[:])
	binary.BigEndian.PutUint64(in[32:40], seq)
	copy(in[40:], bodySum[:])
	return sha256.Sum256(in[:])
}

// Digest is the signed part of a digest line.
type Digest struct {
	Version        int       `json:"version"`
	Reason         string    `json:"reason"` // start, periodic, segment-close, shutdown, segment-lost
	Time           time.Time `json:"time"`
	Seq            uint64    `json:"seq"`  // this line's sequence number
	Prev           string    `json:"prev"` // chain value of the line before: signs everything before
	Records        int       `json:"records"`
	Segment        string    `json:"segment"`
	KeyFingerprint string    `json:"keyFingerprint"`
	TornBytes      int64     `json:"tornBytes,omitempty"` // start: bytes of an incomplete last line removed
	Node           string    `json:"node,omitempty"`      // the node whose log this is
	// Rollback (start): the log found ends before, or differs at, the
	// head the server had stored (Options.Expect); (segment-lost, or the
	// digest after replaceSegment) the log on disk, when the segment being
	// written moved, does not reach the last digest synced.
	Rollback *Rollback `json:"rollback,omitempty"`
}

// digestDomain separates digest signatures from any other use of the key.
const digestDomain = "trent audit digest v1\n"

func digestHash(raw []byte) []byte {
	h := sha256.New()
	h.Write([]byte(digestDomain))
	h.Write(raw)
	return h.Sum(nil)
}

// appendDigest appends a signed digest line to dst. The writer's (and
// Open's).
func (l *Log) appendDigest(dst []byte, reason string, torn int64) ([]byte, error) {
	now := l.now().UTC()
	d := Digest{
		Version: 1, Reason: reason, Time: now, Seq: l.seq + 1, Prev: hex.EncodeToString(l.chain[:]),
		Records: l.sinceDigest, Segment: l.segName, KeyFingerprint: l.fp, TornBytes: torn, Node: l.opts.Node,
	}
	switch {
	case reason == "start":
		d.Rollback = l.rollback
	case l.lost != nil:
		d.Rollback, l.lost = l.lost, nil
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return dst, err
	}
	sig, err := ecdsa.SignASN1(rand.Reader, l.opts.Signer, digestHash(raw))
	if err != nil {
		return dst, fmt.Errorf("audit: sign digest: %w", err)
	}
	start := len(dst)
	dst = append(dst, `{"trentDigest":`...)
	dst = append(dst, raw...)
	dst = append(dst, `,"signature":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, sig)
	dst = append(dst, '"')
	dst = l.appendLine(dst, start)
	l.sinceDigest = 0
	l.lastDigest = now
	l.digestAt = Head{Node: l.opts.Node, Seq: l.seq, Chain: hex.EncodeToString(l.chain[:]), Time: now}
	return dst, nil
}

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	every := l.opts.BatchInterval
	if l.opts.Sync == SyncBatch {
		every = min(every, WriteInterval)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-l.wake:
			l.gather()
			l.cycle(false)
		case <-tick.C:
			l.cycle(false)
		case <-l.stop:
			l.cycle(true)
			if l.f != nil {
				if err := l.f.Close(); err != nil {
					l.fail(err)
				}
			}
			return
		}
	}
}

// maxGather bounds gather's wait.
const maxGather = 2 * time.Millisecond

// gather, in SyncAlways mode, waits for the pending batch to reach the last
// one's record count, at most a quarter of the last batch's write and fsync
// (and maxGather): the requests answered by the last fsync are preparing
// their next records, and one fsync for all of them costs less than one
// for the first back and another for the rest. A lone caller (the last
// batch had one record) never waits.
func (l *Log) gather() {
	if l.opts.Sync != SyncAlways || l.f == nil {
		return
	}
	var deadline *time.Timer
	for {
		l.mu.Lock()
		n, want := len(l.pending.ends), l.want
		l.mu.Unlock()
		if n == 0 || n >= want {
			return
		}
		if deadline == nil {
			deadline = time.NewTimer(min(l.took/4, maxGather))
			defer deadline.Stop()
		}
		select {
		case <-l.wake:
		case <-deadline.C:
			return
		case <-l.stop:
			return
		}
	}
}

// cycle takes the pending records, chains them (adding a digest when one is
// due), writes them, and syncs as the mode wants.
func (l *Log) cycle(final bool) {
	now := l.now()
	l.mu.Lock()
	b := l.pending
	failed := l.err != nil
	if len(b.ends) == 0 && l.digestDue(now, final, 0) == "" {
		l.mu.Unlock()
		if l.dirty && (final || now.Sub(l.lastSync) >= l.opts.BatchInterval) {
			if err := l.sync(now); err != nil {
				l.fail(err)
			}
		}
		return
	}
	l.pending = l.newBatch()
	l.want = len(b.ends)
	l.mu.Unlock()
	if failed {
		// Nothing more goes to a log that failed: a write cut short left
		// a torn line, and a line appended after it would be damaged too.
		// The records queued before the failure are refused (SyncAlways)
		// or lost (SyncBatch, answered already).
		if len(b.ends) > 0 {
			l.log.Error("audit: records not written: the audit log failed", "records", len(b.ends))
		}
		b.err = l.Err()
		l.release(b)
		return
	}

	if l.segmentMoved() {
		if err := l.replaceSegment(now); err != nil {
			l.fail(err)
			b.err = l.Err()
			l.release(b)
			return
		}
	}
	out, from := l.out[:0], 0
	for i, end := range b.ends {
		out = append(out, b.buf[from:end]...)
		out = l.appendTrailerOf(out, &b.sums[i])
		from = end
	}
	var err error
	switch reason := l.digestDue(now, final, len(out)); reason {
	case "segment-close":
		if out, err = l.appendDigest(out, reason, 0); err == nil {
			b.rotate = true
			l.segName = segmentFileName(l.opts.Node, l.seq+1)
		}
	case "":
	default:
		out, err = l.appendDigest(out, reason, 0)
	}
	if err != nil {
		l.fail(err)
	}
	l.mu.Lock()
	l.headSeq, l.headChain = l.seq, l.chain
	l.mu.Unlock()

	start := time.Now()
	l.out = out
	err = l.write(out, now, final || b.rotate)
	l.took = time.Since(start)
	if err == nil && b.rotate {
		err = l.rotate(now)
	}
	if err != nil {
		l.fail(err)
		b.err = l.Err()
	}
	l.release(b)
}

// release answers the records of b (with b.err) and keeps its storage.
func (l *Log) release(b *batch) {
	close(b.done)
	l.mu.Lock()
	if len(l.spare) < maxSpare {
		l.spare = append(l.spare, spare{buf: b.buf[:0], ends: b.ends[:0], sums: b.sums[:0]})
	}
	l.mu.Unlock()
}

// digestDue is the digest a cycle must end with, "" for none: shutdown when
// final, segment-close when the segment is full or old (with size more
// bytes to write), segment-lost after replaceSegment found lines missing,
// periodic when the interval has passed since the last.
func (l *Log) digestDue(now time.Time, final bool, size int) string {
	if l.f == nil {
		return ""
	}
	size64 := l.segSize + int64(size)
	switch {
	case final:
		return "shutdown"
	case size64 >= l.opts.SegmentSize || (now.Sub(l.segStart) >= l.opts.SegmentAge && size64 > 0):
		return "segment-close"
	case l.lost != nil:
		return "segment-lost"
	case l.sinceDigest > 0 && now.Sub(l.lastDigest) >= l.opts.DigestInterval:
		return "periodic"
	}
	return ""
}

// write appends buf to the segment (and stdout), then fsyncs when the mode
// or syncNow asks.
func (l *Log) write(buf []byte, now time.Time, syncNow bool) error {
	if l.f != nil {
		if _, err := l.f.Write(buf); err != nil {
			return fmt.Errorf("audit: %w", err) // *PathError: names the segment
		}
		l.segSize += int64(len(buf))
		l.dirty = true
	}
	if l.opts.Stdout != nil {
		if _, err := l.opts.Stdout.Write(buf); err != nil {
			if l.f == nil {
				return fmt.Errorf("audit: write stdout: %w", err)
			}
			l.log.Warn("audit: stdout sink failed; records are still written to the segment files", "err", err)
			l.opts.Stdout = nil
		}
	}
	if l.f != nil && (syncNow || l.opts.Sync == SyncAlways || now.Sub(l.lastSync) >= l.opts.BatchInterval) {
		return l.sync(now)
	}
	return nil
}

func (l *Log) sync(now time.Time) error {
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit: fsync: %w", err) // *PathError: names the segment
	}
	l.lastSync = now
	l.dirty = false
	if l.digestAt.Seq != l.syncedDigest {
		// Every line appended is written before a sync: the last digest is
		// on disk.
		l.syncedDigest = l.digestAt.Seq
		l.mu.Lock()
		l.signed = l.digestAt
		l.mu.Unlock()
	}
	return nil
}

// rotate closes the current segment (already synced, ending with its
// segment-close digest) and opens the next.
func (l *Log) rotate(now time.Time) error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("audit: close segment: %w", err)
	}
	l.f = nil
	l.mu.Lock()
	name := l.segName
	l.mu.Unlock()
	// A file already at the next segment's name (put there while the
	// server ran) is none of the log's, which never wrote that seq.
	if err := l.moveAside(name, now); err != nil {
		return err
	}
	if err := l.openSeg(name, true); err != nil {
		return err
	}
	l.segSize, l.segStart = 0, now
	return syncDir(l.opts.Dir)
}

// moveAside renames a file found at the name of a segment the log is about
// to create, which the log did not write, to <name>.replaced-<ns> (kept
// for whoever looks into it), so that the segment can be created and the
// log goes on instead of failing every call.
func (l *Log) moveAside(name string, now time.Time) error {
	path := filepath.Join(l.opts.Dir, name)
	if _, err := os.Lstat(path); err != nil {
		return nil
	}
	aside := fmt.Sprintf("%s.replaced-%d", path, now.UnixNano())
	if err := os.Rename(path, aside); err != nil {
		return fmt.Errorf("audit: move aside the file found at the new segment's name: %w", err)
	}
	l.log.Error("audit: a file found at the new segment's name, which the log had not written, was moved aside",
		"segment", name, "moved_to", filepath.Base(aside))
	return nil
}

// openSeg opens segment name for appending (creating it when create) and
// notes which file it is: the one opened (fstat), not whatever is at its
// path a moment later, which segmentMoved would take for it.
func (l *Log) openSeg(name string, create bool) error {
	path := filepath.Join(l.opts.Dir, name)
	f, err := l.opts.openFile(path, create)
	if err != nil {
		return err
	}
	var fi os.FileInfo
	if sf, ok := f.(interface{ Stat() (os.FileInfo, error) }); ok {
		fi, err = sf.Stat()
	} else {
		fi, err = os.Stat(path) // a test's file without Stat
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	l.f, l.segFile = f, fi
	return nil
}

// segmentMoved reports whether the segment being appended to is no longer
// the file at its path (removed, or replaced by another file) or is shorter
// than what was appended to it (cut short) while the server ran: lines
// appended to it would then reach no one, or follow a gap. One stat(2) per
// written batch.
func (l *Log) segmentMoved() bool {
	if l.f == nil || l.segFile == nil {
		return false
	}
	fi, err := os.Stat(filepath.Join(l.opts.Dir, l.segName))
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	return !os.SameFile(fi, l.segFile) || fi.Size() < l.segSize
}

// replaceSegment goes on in a new segment after segmentMoved, so that the
// lines that follow are on disk, and has the next digest record what the
// log on disk lacks of the last digest synced (as a start digest records a
// rollback found at start): verify reports it. The lines appended to the
// moved file since that digest are lost with it, and verify reports their
// seqs missing.
func (l *Log) replaceSegment(now time.Time) error {
	old := l.segName
	l.f.Close() // nothing appended to it reaches the log any more
	l.f = nil
	// The directory too may be gone (removed whole): made again, with the
	// public key, the log goes on rather than failing every call.
	if err := os.MkdirAll(l.opts.Dir, 0o700); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if _, err := os.Stat(filepath.Join(l.opts.Dir, PublicKeyFile)); errors.Is(err, fs.ErrNotExist) {
		if err := l.writePublicKey(); err != nil {
			return err
		}
	}
	l.segName = segmentFileName(l.opts.Node, l.seq+1)
	// A file at the new segment's name is none of the log's: nothing was
	// appended to the segment that moved when it had that name (right
	// after a rotation), and seq+1 on was never written. Moved aside, not
	// compared.
	if err := l.moveAside(l.segName, now); err != nil {
		return err
	}
	rb, err := l.compareDisk(&l.signed)
	if err != nil {
		return err
	}
	if err := l.openSeg(l.segName, true); err != nil {
		return err
	}
	l.segSize, l.segStart, l.lost = 0, now, rb
	found := "nothing signed is missing"
	if rb != nil {
		found = rb.String()
	}
	l.log.Error("audit: the segment being written was removed, replaced or cut short while the server ran; the log goes on in a new segment, whose next digest records what is missing, and 'trent audit verify' reports it",
		"segment", old, "new_segment", l.segName, "found", found)
	return syncDir(l.opts.Dir)
}

// fail makes err sticky: every later Record fails.
func (l *Log) fail(err error) {
	l.mu.Lock()
	first := l.err == nil
	if first {
		l.err = err
		l.failed.Store(true)
	}
	l.mu.Unlock()
	if first {
		l.log.Error("audit: the audit log cannot be written: every API call fails until the server is restarted with a writable log", "err", err)
	}
}

// Err returns why the log cannot be written, or nil.
func (l *Log) Err() error {
	if !l.failed.Load() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close writes a shutdown digest, syncs and closes the segment. Record
// fails with ErrClosed afterwards. Close is safe to call more than once.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil && !errors.Is(l.err, ErrClosed) {
		return l.err
	}
	return nil
}

// segmentName is the file of the segment whose first line is seq in a log
// without a node id (earlier releases, tests).
func segmentName(seq uint64) string { return segmentFileName("", seq) }

func openSegment(path string, create bool) (segmentFile, error) {
	flag := os.O_WRONLY | os.O_APPEND
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open segment: %w", err)
	}
	sf, err := dataSync(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: open segment: %w", err)
	}
	return sf, nil
}

func syncDir(dir string) error {
	if err := durable.SyncDir(dir); err != nil {
		return fmt.Errorf("audit: sync directory: %w", err)
	}
	return nil
}

// Head returns the chain's position: the sequence number of the last record
// and the chain value after it (what a backup records of the log, which
// lives in files beside the database).
func (l *Log) Head() (seq uint64, chain [32]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.headSeq, l.headChain
}
