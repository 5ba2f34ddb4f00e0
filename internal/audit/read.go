package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Line is one parsed line of a segment.
type Line struct {
	Seq    uint64
	Prev   [32]byte // chain value of the line before
	Body   []byte   // the line up to its "trent" member (what the chain hashes)
	Digest bool     // a {"trentDigest": ...} line
}

// maxLine bounds one line: a record holds at most a 128 KiB policy,
// escaped, plus metadata.
const maxLine = 1 << 20

const trailerPrefix = `,"trent":{"seq":`

var (
	errTrailer = errors.New("no valid \"trent\" chain member at its end")
	errJSON    = errors.New("not a JSON object")
)

// ParseLine parses one line (without its newline). It checks the shape:
// a JSON object ending with the chain member
// ,"trent":{"seq":N,"prev":"64 hex digits"}}. It does not check the chain.
func ParseLine(b []byte) (Line, error) {
	if len(b) > maxLine {
		return Line{}, fmt.Errorf("line longer than %d bytes", maxLine)
	}
	i := bytes.LastIndex(b, []byte(trailerPrefix))
	if i < 1 || b[0] != '{' {
		return Line{}, errTrailer
	}
	rest := b[i+len(trailerPrefix):]
	j := bytes.IndexByte(rest, ',')
	if j < 1 || j > 20 || (rest[0] == '0' && j > 1) {
		return Line{}, errTrailer
	}
	seq, err := strconv.ParseUint(string(rest[:j]), 10, 64)
	if err != nil || seq == 0 {
		return Line{}, errTrailer
	}
	rest = rest[j:]
	const prevPrefix = `,"prev":"`
	if !bytes.HasPrefix(rest, []byte(prevPrefix)) {
		return Line{}, errTrailer
	}
	rest = rest[len(prevPrefix):]
	if len(rest) != 64+len(`"}}`) || string(rest[64:]) != `"}}` {
		return Line{}, errTrailer
	}
	var ln Line
	if _, err := hex.Decode(ln.Prev[:], rest[:64]); err != nil || !isLowerHex(rest[:64]) {
		return Line{}, errTrailer
	}
	ln.Seq = seq
	ln.Body = b[:i]
	if !validObject(ln.Body) {
		return Line{}, errJSON
	}
	ln.Digest = bytes.HasPrefix(ln.Body, []byte(`{"trentDigest":`))
	return ln, nil
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validObject reports whether body + "}" is one JSON object.
func validObject(body []byte) bool {
	obj := make([]byte, len(body)+1)
	copy(obj, body)
	obj[len(body)] = '}'
	return json.Valid(obj)
}

// segment is one segment file of a log directory.
type segment struct {
	name  string
	first uint64 // sequence number its name claims for its first line
}

// listSegments returns the segment files of dir in log order.
func listSegments(dir string) ([]segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var segs []segment
	for _, e := range entries {
		name := e.Name()
		num, ok := strings.CutSuffix(name, ".jsonl")
		if !ok || len(num) != 20 || e.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, segment{name: name, first: first})
	}
	slices.SortFunc(segs, func(a, b segment) int { return strings.Compare(a.name, b.name) })
	return segs, nil
}

// splitLines splits a segment into complete lines and the torn rest (bytes
// after the last newline: a line cut short).
func splitLines(data []byte) (lines [][]byte, torn []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return lines, data
		}
		lines = append(lines, data[:i])
		data = data[i+1:]
	}
	return lines, nil
}

func readSegment(dir string, s segment) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, s.name))
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return data, nil
}
