package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/trent-kms/trent/internal/storage"
)

// The end of a log cannot be checked from its files alone: cut at a digest,
// its newest segments deleted or replaced by an older copy of itself, a log
// is still a valid chain. So the server keeps, in storage (sealed by the
// barrier like every record, out of reach of whoever can only write the
// files), the head of its log as of the last digest it knows on disk, and
// Open compares the log it finds with it: a log that ends before that head,
// or whose line at that seq is another, is reported in the start digest
// (Rollback) and by verify.

// HeadPrefix is where each node's stored head lives in storage:
// HeadPrefix + node id ("-" for a log without node ids).
const HeadPrefix = "audit/head/"

// Head is the position of a digest line the log has synced: its seq and the
// chain value after it.
type Head struct {
	Node  string    `json:"node,omitempty"` // the node whose chain it is
	Seq   uint64    `json:"seq"`
	Chain string    `json:"chain"` // hex
	Time  time.Time `json:"time"`  // the digest's time
}

// Rollback is what a start digest says when the log found at start does not
// reach the head stored when the log was last known on disk.
type Rollback struct {
	Expected Head `json:"expected"`
	// FoundSeq is the last seq of the log found; FoundChain the chain value
	// after its line Expected.Seq when it has one (then it differs from
	// Expected.Chain: the log was replaced), else empty (the log ends
	// before: its end was cut off).
	FoundSeq   uint64 `json:"foundSeq"`
	FoundChain string `json:"foundChain,omitempty"`
	// Restored: the storage was just restored from a backup (whose head
	// may be of another time than the log beside it): not tampering by
	// itself, reported as a note.
	Restored bool `json:"restored,omitempty"`
}

func (r *Rollback) String() string {
	var s string
	if r.FoundChain == "" {
		s = fmt.Sprintf("the log ends at seq %d, before seq %d, which it held signed at %s", r.FoundSeq, r.Expected.Seq, r.Expected.Time.Format(time.RFC3339))
	} else {
		s = fmt.Sprintf("the log's line seq %d is not the one it held signed at %s (chain %.16s, found %.16s)",
			r.Expected.Seq, r.Expected.Time.Format(time.RFC3339), r.Expected.Chain, r.FoundChain)
	}
	switch {
	case r.Restored:
		return s + ": the storage was restored from a backup, and the audit segments beside it are not those of the backup's time"
	case r.FoundChain == "":
		return s + ": its end was cut off, or it was replaced by an older copy"
	}
	return s + ": the log was replaced"
}

func headPath(node string) string {
	if node == "" {
		return HeadPrefix + "-"
	}
	return HeadPrefix + node
}

// LoadHead returns the head stored for node's log, nil when none is (a data
// directory of a release before heads were kept, or a new node).
func LoadHead(ctx context.Context, st storage.Store, node string) (*Head, error) {
	var h *Head
	err := st.View(ctx, func(tx storage.Tx) error {
		b, err := tx.Get(headPath(node))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		h = new(Head)
		return json.Unmarshal(b, h)
	})
	if err != nil {
		return nil, fmt.Errorf("audit: stored head: %w", err)
	}
	return h, nil
}

// StoreHead stores h as node's head.
func StoreHead(ctx context.Context, st storage.Store, node string, h Head) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := st.Update(ctx, func(tx storage.Tx) error { return tx.Put(headPath(node), b) }); err != nil {
		return fmt.Errorf("audit: store head: %w", err)
	}
	return nil
}

// SignedHead returns the last digest line that is synced to disk (false
// before any, and for a log without files).
func (l *Log) SignedHead() (Head, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.signed, l.signed.Seq != 0
}

// Rollback returns what Open found when the log did not reach
// Options.Expect (nil when it did, or without Expect).
func (l *Log) Rollback() *Rollback { return l.rollback }

// checkHead compares the log Open found (segs, this node's segments; seq
// loaded) with the expected head.
func (l *Log) checkHead(segs []segment, want *Head) (*Rollback, error) {
	if want.Seq == 0 {
		return nil, nil
	}
	last := l.seq
	if want.Node != l.opts.Node {
		// The head of another node id's chain (this directory's node id
		// changed, e.g. --node-id was set): that chain must reach it.
		var err error
		if segs, err = nodeSegments(l.opts.Dir, want.Node); err != nil {
			return nil, err
		}
		if last, err = l.lastSeq(segs); err != nil {
			return nil, err
		}
	}
	rb, err := l.compare(segs, last, want)
	if rb != nil {
		rb.Restored = l.opts.Restored
	}
	return rb, err
}

// compareDisk compares the log on disk (this node's segments, its last seq
// read from them) with want, as checkHead does at start.
func (l *Log) compareDisk(want *Head) (*Rollback, error) {
	if want.Seq == 0 {
		return nil, nil
	}
	segs, err := nodeSegments(l.opts.Dir, l.opts.Node)
	if err != nil {
		return nil, err
	}
	last, err := l.lastSeq(segs)
	if err != nil {
		return nil, err
	}
	return l.compare(segs, last, want)
}

// compare reports a log (segs, whose last seq is last) that does not reach
// want: it ends before want's seq, or its line at that seq is another.
func (l *Log) compare(segs []segment, last uint64, want *Head) (*Rollback, error) {
	rb := &Rollback{Expected: *want, FoundSeq: last}
	if last < want.Seq {
		return rb, nil
	}
	chain, err := l.chainAfter(segs, want.Seq)
	if err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(chain[:]); got != want.Chain {
		rb.FoundChain = got
		return rb, nil
	}
	return nil, nil
}

// lastSeq returns the seq of the last line of segs (0 for none).
func (l *Log) lastSeq(segs []segment) (uint64, error) {
	for i := len(segs) - 1; i >= 0; i-- {
		data, err := readSegment(l.opts.Dir, segs[i])
		if err != nil {
			return 0, err
		}
		if lines, _ := splitLines(data); len(lines) > 0 {
			ln, err := ParseLine(lines[len(lines)-1])
			if err != nil {
				return 0, nil // damaged: verify names it
			}
			return ln.Seq, nil
		}
	}
	return 0, nil
}

// chainAfter returns the chain value after line seq of the log (zero when
// the line is not found: a segment was removed, which verify reports).
func (l *Log) chainAfter(segs []segment, seq uint64) ([32]byte, error) {
	i := len(segs) - 1
	for i > 0 && segs[i].first > seq {
		i--
	}
	if i < 0 {
		return [32]byte{}, nil
	}
	data, err := readSegment(l.opts.Dir, segs[i])
	if err != nil {
		return [32]byte{}, err
	}
	lines, _ := splitLines(data)
	for _, b := range lines {
		if !bytes.Contains(b, []byte(`"seq":`+fmt.Sprint(seq)+`,`)) {
			continue
		}
		ln, err := ParseLine(b)
		if err != nil || ln.Seq != seq {
			continue
		}
		sum := sha256.Sum256(ln.Body)
		return chainNext(&ln.Prev, ln.Seq, &sum), nil
	}
	return [32]byte{}, nil
}
