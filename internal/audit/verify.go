package audit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Problem kinds: what is wrong with the first bad spot of a log.
const (
	Changed      = "changed"       // a line's content differs from what the chain recorded
	Missing      = "missing"       // lines (or whole segments) were removed
	Reordered    = "reordered"     // lines are out of order (swapped or moved)
	Truncated    = "truncated"     // a closed segment lost its end
	BadSignature = "bad signature" // a digest's signature does not verify (forged or changed)
	// RolledBack: a start digest says the server found the log ending
	// before, or differing at, the head it had stored (Rollback).
	RolledBack = "rolled back"
)

// Problem is the first bad spot of a log.
type Problem struct {
	Kind    string
	Segment string // file name
	Line    int    // 1-based line number in Segment
	Seq     uint64 // the sequence number concerned (0 when unknown)
	Detail  string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%s: %s line %d (seq %d): %s", p.Kind, p.Segment, p.Line, p.Seq, p.Detail)
}

// Report is what Verify found.
type Report struct {
	Node      string // the node whose log was checked
	Segments  int
	Records   int // API call records checked
	Digests   int // digests whose signatures verified
	FirstSeq  uint64
	LastSeq   uint64
	Signed    uint64    // the last sequence number covered by a verified digest
	SignedAt  time.Time // that digest's time
	Unsigned  int       // lines after the last digest (not yet signed: the live tail, or lost to a crash before its digest)
	TornBytes int       // an incomplete last line of the last segment (a crash cut it; no caller was answered for it)
	CleanStop bool      // the log ends with a shutdown digest
	// Restores are the start digests' notes that the storage was restored
	// from a backup of another time than the log (Rollback.Restored).
	Restores []Rollback
	Problem  *Problem // nil when the log verifies
}

// VerifyOptions select what Verify checks.
type VerifyOptions struct {
	PublicKey    *ecdsa.PublicKey
	Since, Until time.Time // zero: unbounded. Segments wholly outside are skipped.
	// Node is the node whose log to check (Nodes lists those in a
	// directory); "" is the log of an earlier release, without node ids.
	Node string
}

// Verify checks the chain and the digest signatures of one node's log in
// dir and reports the first bad spot. Only the segments that overlap
// [Since, Until] are read; with Since, the first of them is trusted as the
// anchor of its chain, without it the chain must begin at seq 1. Every line
// must carry the node's id, except lines without any at the start of the
// chain (written before the node had an id).
func Verify(dir string, opts VerifyOptions) (*Report, error) {
	segs, err := nodeSegments(dir, opts.Node)
	if err != nil {
		return nil, err
	}
	segs, err = selectSegments(dir, segs, opts.Since, opts.Until)
	if err != nil {
		return nil, err
	}
	fp := Fingerprint(opts.PublicKey)
	r := &Report{Node: opts.Node, Segments: len(segs)}
	v := verifier{r: r, pub: opts.PublicKey, fp: fp, node: opts.Node, fromStart: opts.Since.IsZero()}
	for si, s := range segs {
		data, err := readSegment(dir, s)
		if err != nil {
			return nil, err
		}
		lastSeg := si == len(segs)-1
		if v.segment(s, data, lastSeg) {
			return r, nil
		}
	}
	// Reported once the chain verifies: it is a fact signed into the log,
	// and the chain after it is checked all the same.
	r.Problem = v.rolled
	return r, nil
}

type verifier struct {
	node   string
	named  bool // a line carrying the node's id was seen
	r      *Report
	pub    *ecdsa.PublicKey
	fp     string
	chain  [32]byte
	expect uint64 // next sequence number; 0 before the first line
	last   Line
	// where last is
	lastSeg  segment
	lastLine int
	// fromStart: every segment is read (no Since), so the chain must
	// begin at seq 1.
	fromStart bool
	rolled    *Problem // the first start digest reporting a Rollback
}

func (v *verifier) fail(kind string, s segment, line int, seq uint64, format string, args ...any) bool {
	v.r.Problem = &Problem{Kind: kind, Segment: s.name, Line: line, Seq: seq, Detail: fmt.Sprintf(format, args...)}
	return true
}

// segment checks one segment; it returns true when it found a problem.
func (v *verifier) segment(s segment, data []byte, lastSeg bool) bool {
	lines, torn := splitLines(data)
	if len(lines) == 0 {
		if lastSeg {
			return false
		}
		return v.fail(Truncated, s, 1, v.expect, "the segment is empty")
	}
	for i, b := range lines {
		ln, err := ParseLine(b)
		if err != nil {
			return v.fail(Changed, s, i+1, v.expect, "not a valid record (%v): the line was changed or damaged", err)
		}
		switch {
		case ln.Node == v.node && ln.Node != "":
			v.named = true
		case ln.Node == "" && !v.named:
			// written before the node had an id
		default:
			return v.fail(Changed, s, i+1, ln.Seq, "the line names node %q in the log of node %q: the line was changed or moved", ln.Node, v.node)
		}
		if v.expect == 0 {
			if ln.Seq == 1 && ln.Prev != ([32]byte{}) {
				return v.fail(Changed, s, i+1, 1, "the first record of the log does not start the chain")
			}
			if ln.Seq != 1 && v.fromStart {
				return v.fail(Missing, s, i+1, 1, "the log begins at seq %d: records seq 1 to %d are missing (the first segments were removed; --since checks from a later segment on)", ln.Seq, ln.Seq-1)
			}
		} else if ln.Seq != v.expect {
			return v.misplaced(s, lines, i, ln)
		} else if ln.Prev != v.chain {
			at, line := s, i
			if i == 0 {
				at, line = v.lastSeg, v.lastLine
			}
			return v.fail(Changed, at, line, ln.Seq-1, "record seq %d was changed: its hash does not match what seq %d recorded", ln.Seq-1, ln.Seq)
		}
		if i == 0 && ln.Seq != s.first {
			return v.fail(Missing, s, 1, ln.Seq, "the file name says the segment starts at seq %d, its first line is seq %d", s.first, ln.Seq)
		}
		sum := sha256.Sum256(ln.Body)
		v.chain = chainNext(&ln.Prev, ln.Seq, &sum)
		v.expect = ln.Seq + 1
		if v.r.FirstSeq == 0 {
			v.r.FirstSeq = ln.Seq
		}
		v.r.LastSeq = ln.Seq
		v.last, v.lastSeg, v.lastLine = ln, s, i+1
		if ln.Digest {
			d, err := v.checkDigest(ln)
			if err != nil {
				return v.fail(BadSignature, s, i+1, ln.Seq, "digest: %v: the records before it were changed, or the digest was forged", err)
			}
			v.r.Digests++
			if d.Rollback != nil && d.Rollback.Restored {
				v.r.Restores = append(v.r.Restores, *d.Rollback)
			} else if d.Rollback != nil && v.rolled == nil {
				v.rolled = &Problem{Kind: RolledBack, Segment: s.name, Line: i + 1, Seq: ln.Seq,
					Detail: "the server's " + d.Reason + " digest says: " + d.Rollback.String()}
			}
			v.r.Signed, v.r.SignedAt, v.r.Unsigned = ln.Seq, d.Time, 0
			v.r.CleanStop = d.Reason == "shutdown"
		} else {
			v.r.Records++
			v.r.Unsigned++
			v.r.CleanStop = false
		}
	}
	if len(torn) > 0 {
		if !lastSeg {
			return v.fail(Truncated, s, len(lines)+1, v.expect, "the segment ends in the middle of a line (%d bytes): it was cut short", len(torn))
		}
		v.r.TornBytes = len(torn)
	}
	if !lastSeg && !v.last.Digest {
		return v.fail(Truncated, s, len(lines), v.last.Seq, "the segment ends at seq %d without its closing digest: records were cut from its end", v.last.Seq)
	}
	return false
}

// misplaced names what is wrong with line i whose seq is not the one expected.
func (v *verifier) misplaced(s segment, lines [][]byte, i int, ln Line) bool {
	if ln.Prev == v.chain {
		return v.fail(Changed, s, i+1, v.expect, "record seq %d carries seq %d: the line was changed", v.expect, ln.Seq)
	}
	if ln.Seq > v.expect {
		for j := i + 1; j < len(lines) && j <= i+16; j++ {
			if next, err := ParseLine(lines[j]); err == nil && next.Seq == v.expect {
				return v.fail(Reordered, s, i+1, ln.Seq, "seq %d comes before seq %d: records were reordered", ln.Seq, v.expect)
			}
		}
		if ln.Seq == v.expect+1 {
			return v.fail(Missing, s, i+1, v.expect, "record seq %d is missing (seq %d follows seq %d)", v.expect, ln.Seq, v.expect-1)
		}
		return v.fail(Missing, s, i+1, v.expect, "records seq %d to %d are missing (seq %d follows seq %d)", v.expect, ln.Seq-1, ln.Seq, v.expect-1)
	}
	return v.fail(Reordered, s, i+1, ln.Seq, "seq %d comes after seq %d: records were reordered or repeated", ln.Seq, v.expect-1)
}

type digestLine struct {
	TrentDigest json.RawMessage `json:"trentDigest"`
	Signature   string          `json:"signature"`
}

func (v *verifier) checkDigest(ln Line) (*Digest, error) {
	obj := append(append([]byte(nil), ln.Body...), '}')
	var dl digestLine
	if err := json.Unmarshal(obj, &dl); err != nil {
		return nil, fmt.Errorf("malformed (%v)", err)
	}
	sig, err := base64.StdEncoding.DecodeString(dl.Signature)
	if err != nil {
		return nil, fmt.Errorf("signature is not base64")
	}
	if v.pub == nil || !ecdsa.VerifyASN1(v.pub, digestHash(dl.TrentDigest), sig) {
		return nil, fmt.Errorf("signature does not verify with public key %.16s", v.fp)
	}
	var d Digest
	if err := json.Unmarshal(dl.TrentDigest, &d); err != nil {
		return nil, fmt.Errorf("malformed (%v)", err)
	}
	if d.Seq != ln.Seq {
		return nil, fmt.Errorf("signed for seq %d, found at seq %d", d.Seq, ln.Seq)
	}
	if d.Node != ln.Node {
		return nil, fmt.Errorf("signed for node %q, found in the log of node %q", d.Node, ln.Node)
	}
	if d.Prev != hex.EncodeToString(ln.Prev[:]) {
		return nil, fmt.Errorf("it signed chain value %.16s, the records before it give %x", d.Prev, ln.Prev[:8])
	}
	return &d, nil
}

// lineTime returns the time of a line (eventTime of a record, time of a
// digest).
func lineTime(body []byte) (time.Time, bool) {
	var x struct {
		EventTime   string `json:"eventTime"`
		TrentDigest *struct {
			Time time.Time `json:"time"`
		} `json:"trentDigest"`
	}
	obj := append(append([]byte(nil), body...), '}')
	if json.Unmarshal(obj, &x) != nil {
		return time.Time{}, false
	}
	if x.TrentDigest != nil {
		return x.TrentDigest.Time, true
	}
	t, err := time.Parse(timeLayout, x.EventTime)
	return t, err == nil
}

// selectSegments keeps the segments that may hold lines in [since, until]:
// a segment spans from the time of its first line to the first line of the
// next.
func selectSegments(dir string, segs []segment, since, until time.Time) ([]segment, error) {
	if since.IsZero() && until.IsZero() {
		return segs, nil
	}
	starts := make([]time.Time, len(segs))
	for i, s := range segs {
		data, err := readSegment(dir, s)
		if err != nil {
			return nil, err
		}
		if j := bytes.IndexByte(data, '\n'); j > 0 {
			if ln, err := ParseLine(data[:j]); err == nil {
				starts[i], _ = lineTime(ln.Body)
			}
		}
	}
	// A contiguous run: from the last segment that starts at or before
	// since, to the last that starts at or before until.
	first, end := 0, len(segs)
	if !since.IsZero() {
		for i, t := range starts {
			if !t.IsZero() && !t.After(since) {
				first = i
			}
		}
	}
	if !until.IsZero() {
		for i := first + 1; i < len(segs); i++ {
			if !starts[i].IsZero() && starts[i].After(until) {
				end = i
				break
			}
		}
	}
	out := segs[first:end]
	return out, nil
}
