package audit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/trent-kms/trent/internal/durable"
)

// PublicKeyFile is the file of Dir holding the signing key's public half
// (PEM), written at every Open. Pin a copy elsewhere: whoever can rewrite
// the segments can rewrite this file too.
const PublicKeyFile = "public-key.pem"

// Open opens (or creates) the log in opts.Dir, repairs a line torn by a
// crash (removes the incomplete last line, which no caller was answered
// for, and says so in the start digest), rebuilds the last-usage index from
// the segments, and starts the writer.
func Open(opts Options) (*Log, error) {
	if opts.BatchInterval <= 0 {
		opts.BatchInterval = DefaultBatchInterval
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.SegmentAge <= 0 {
		opts.SegmentAge = DefaultSegmentAge
	}
	if opts.DigestInterval <= 0 {
		opts.DigestInterval = DefaultDigestInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.openFile == nil {
		opts.openFile = openSegment
	}
	if opts.Node != "" && !ValidNodeID(opts.Node) {
		return nil, fmt.Errorf("audit: node id %q: want 1 to 64 of A-Z a-z 0-9 . _ -, not starting with . or -", opts.Node)
	}
	l := &Log{
		opts: opts, log: opts.Logger, now: opts.Now, usage: map[string]Usage{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.opts.TrackingStart.IsZero() {
		l.opts.TrackingStart = l.now().UTC()
	}
	l.pending = l.newBatch()
	if opts.Dir != "" {
		if err := l.openDir(); err != nil {
			return nil, err
		}
	}
	go l.run()
	return l, nil
}

func (l *Log) openDir() error {
	if l.opts.Signer == nil {
		return errors.New("audit: a signing key is required")
	}
	dir := l.opts.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	l.fp = Fingerprint(&l.opts.Signer.PublicKey)
	if err := l.writePublicKey(); err != nil {
		return err
	}
	if err := l.adoptLegacy(); err != nil {
		return err
	}
	segs, err := nodeSegments(dir, l.opts.Node)
	if err != nil {
		return err
	}
	var torn int64
	if len(segs) == 0 {
		l.segName = segmentFileName(l.opts.Node, 1)
		if err = l.openSeg(l.segName, true); err != nil {
			return err
		}
		if err := syncDir(dir); err != nil {
			return err
		}
	} else {
		last := segs[len(segs)-1]
		if torn, err = repairTail(filepath.Join(dir, last.name)); err != nil {
			return err
		}
		if torn > 0 {
			l.log.Warn("audit: removed an incomplete last line (a crash cut it while it was written; no caller was answered for it)",
				"segment", last.name, "bytes", torn)
		}
		if err := l.loadHead(segs); err != nil {
			return err
		}
		l.segName = last.name
		if err := l.openSeg(last.name, false); err != nil {
			return err
		}
		l.segSize = l.segFile.Size()
		if err := l.rebuildUsage(segs); err != nil {
			return err
		}
	}
	if l.opts.Expect != nil {
		if l.rollback, err = l.checkHead(segs, l.opts.Expect); err != nil {
			return err
		}
	}
	now := l.now()
	l.segStart, l.lastSync, l.lastDigest = now, now, now
	// The start digest signs whatever the last run left unsigned (a crash
	// skips the shutdown digest) and is on disk before the first request.
	if l.out, err = l.appendDigest(l.out[:0], "start", torn); err != nil {
		return err
	}
	l.headSeq, l.headChain = l.seq, l.chain
	if err := l.write(l.out, now, true); err != nil {
		l.f.Close()
		return err
	}
	if l.rollback != nil && l.rollback.Restored {
		l.log.Warn("audit: the storage was restored from a backup, and the audit log beside it does not reach the backup's head; the start digest records it",
			"found", l.rollback.String(), "expected_seq", l.rollback.Expected.Seq, "found_seq", l.rollback.FoundSeq)
	} else if l.rollback != nil {
		l.log.Error("audit: the audit log does not reach the head the server stored: records were removed or the log was replaced; the start digest records it and 'trent audit verify' reports it",
			"found", l.rollback.String(), "expected_seq", l.rollback.Expected.Seq, "found_seq", l.rollback.FoundSeq)
	}
	return nil
}

// writePublicKey writes the digests' public key beside the segments
// (PublicKeyFile), where verify finds it.
func (l *Log) writePublicKey() error {
	pub, err := PublicKeyPEM(&l.opts.Signer.PublicKey)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(l.opts.Dir, PublicKeyFile), pub)
}

// adoptLegacy renames the segments of a log without node ids (written by
// an earlier release, or before the node had an id) to this node's names,
// when this node has no segment yet: the log goes on as this node's chain.
// The lines keep their chain; verification accepts lines without a node id
// at the start of a node's chain.
func (l *Log) adoptLegacy() error {
	if l.opts.Node == "" {
		return nil
	}
	mine, err := nodeSegments(l.opts.Dir, l.opts.Node)
	if err != nil || len(mine) > 0 {
		return err
	}
	legacy, err := nodeSegments(l.opts.Dir, "")
	if err != nil || len(legacy) == 0 {
		return err
	}
	for _, s := range legacy {
		to := segmentFileName(l.opts.Node, s.first)
		if err := os.Rename(filepath.Join(l.opts.Dir, s.name), filepath.Join(l.opts.Dir, to)); err != nil {
			return fmt.Errorf("audit: name the earlier log's segments after this node: %w", err)
		}
	}
	l.log.Info("audit: the log's segments now carry this node's id", "node", l.opts.Node, "segments", len(legacy))
	return syncDir(l.opts.Dir)
}

// repairTail cuts bytes after the last newline of the file at path (a line
// a crash cut short) and returns how many it removed.
func repairTail(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	_, torn := splitLines(data)
	if len(torn) == 0 {
		return 0, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("audit: repair %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Truncate(int64(len(data) - len(torn))); err != nil {
		return 0, fmt.Errorf("audit: repair %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("audit: repair %s: %w", path, err)
	}
	return int64(len(torn)), nil
}

// loadHead sets seq and chain from the last line of the log, and
// sinceDigest to the records after the last digest.
func (l *Log) loadHead(segs []segment) error {
	for i := len(segs) - 1; i >= 0; i-- {
		data, err := readSegment(l.opts.Dir, segs[i])
		if err != nil {
			return err
		}
		lines, _ := splitLines(data)
		if len(lines) == 0 {
			continue
		}
		ln, err := ParseLine(lines[len(lines)-1])
		if err != nil {
			return fmt.Errorf("audit: the last line of %s is not a valid record (%v): run 'trent audit verify' and move the damaged log aside", segs[i].name, err)
		}
		sum := sha256.Sum256(ln.Body)
		l.seq = ln.Seq
		l.chain = chainNext(&ln.Prev, ln.Seq, &sum)
		// The records after the last digest (a crash skipped the shutdown
		// digest) are the start digest's to sign, and to count.
		for j := len(lines) - 1; j >= 0 && !bytes.HasPrefix(lines[j], []byte(`{"trentDigest":`)); j-- {
			l.sinceDigest++
		}
		return nil
	}
	return nil
}

// Usage is the last successful cryptographic use of a key.
type Usage struct {
	Operation string
	Time      time.Time
	EventID   string
	RequestID string
}

func (l *Log) trackLocked(e *Event, eventID string) {
	rs, n := resources(e)
	for _, arn := range rs[:n] {
		l.usage[arn] = Usage{Operation: trackedOp(e.Name), Time: e.Time.UTC().Truncate(time.Second), EventID: eventID, RequestID: e.RequestID}
		if l.usageNew == nil {
			l.usageNew = make(map[string]struct{})
		}
		l.usageNew[arn] = struct{}{}
	}
}

// TakeUsage returns the last uses recorded since the previous call (by key
// ARN), for sharing them with other nodes.
func (l *Log) TakeUsage() map[string]Usage {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]Usage, len(l.usageNew))
	for arn := range l.usageNew {
		out[arn] = l.usage[arn]
	}
	l.usageNew = nil
	return out
}

// LastUsage returns the last successful tracked operation (TrackedOps) on
// the key keyARN that this log recorded.
func (l *Log) LastUsage(keyARN string) (Usage, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u, ok := l.usage[keyARN]
	return u, ok
}

// TrackingStart is when this log began recording (Options.TrackingStart).
func (l *Log) TrackingStart() time.Time { return l.opts.TrackingStart }

// usageRecord is what rebuildUsage reads of a record.
type usageRecord struct {
	EventTime string `json:"eventTime"`
	EventName string `json:"eventName"`
	ErrorCode string `json:"errorCode"`
	EventID   string `json:"eventID"`
	RequestID string `json:"requestID"`
	Resources []struct {
		ARN string `json:"ARN"`
	} `json:"resources"`
}

// rebuildUsage reads the last-usage index back from the segments.
func (l *Log) rebuildUsage(segs []segment) error {
	for _, s := range segs {
		data, err := readSegment(l.opts.Dir, s)
		if err != nil {
			return err
		}
		lines, _ := splitLines(data)
		for _, b := range lines {
			if !bytes.Contains(b, []byte(`"resources":`)) || bytes.Contains(b, []byte(`"errorCode":`)) {
				continue
			}
			var r usageRecord
			if json.Unmarshal(b, &r) != nil || !TrackedOps[r.EventName] {
				continue
			}
			t, err := time.Parse(timeLayout, r.EventTime)
			if err != nil {
				continue
			}
			for _, res := range r.Resources {
				l.usage[res.ARN] = Usage{Operation: trackedOp(r.EventName), Time: t, EventID: r.EventID, RequestID: r.RequestID}
			}
		}
	}
	return nil
}

// PublicKeyPEM encodes pub as a PEM "PUBLIC KEY" block (PKIX).
func PublicKeyPEM(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("audit: public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM parses what PublicKeyPEM wrote.
func ParsePublicKeyPEM(b []byte) (*ecdsa.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("audit: no PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit: public key: %w", err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("audit: public key is not ECDSA")
	}
	return ek, nil
}

// Fingerprint is the hex SHA-256 of the key's PKIX encoding.
func Fingerprint(pub *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func writeFileAtomic(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp, err := durable.Temp(filepath.Dir(path), filepath.Base(path))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := io.Copy(tmp, bytes.NewReader(data))
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return syncDir(filepath.Dir(path))
}
