package audit

import (
	"bytes"
	"cmp"
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
	Node   string // the node that wrote it ("" in logs of earlier releases)
	Seq    uint64
	Prev   [32]byte // chain value of the line before
	Body   []byte   // the line up to its "trent" member (what the chain hashes)
	Digest bool     // a {"trentDigest": ...} line
}

// maxLine bounds one line: a record holds at most a 128 KiB policy,
// escaped, plus metadata; Record keeps every record within it (maxBody).
const maxLine = 1 << 20

const (
	trailerPrefix = `,"trent":{`
	nodeMember    = `"node":"`
	seqMember     = `"seq":`
)

var (
	errTrailer = errors.New("no valid \"trent\" chain member at its end")
	errJSON    = errors.New("not a JSON object")
)

// ParseLine parses one line (without its newline). It checks the shape:
// a JSON object ending with the chain member
// ,"trent":{"node":"ID","seq":N,"prev":"64 hex digits"}} (without "node" in
// logs of earlier releases). It does not check the chain.
func ParseLine(b []byte) (Line, error) {
	if len(b) > maxLine {
		return Line{}, fmt.Errorf("line longer than %d bytes", maxLine)
	}
	i := bytes.LastIndex(b, []byte(trailerPrefix))
	if i < 1 || b[0] != '{' {
		return Line{}, errTrailer
	}
	var ln Line
	rest := b[i+len(trailerPrefix):]
	if after, ok := bytes.CutPrefix(rest, []byte(nodeMember)); ok {
		j := bytes.IndexByte(after, '"')
		if j < 0 || !ValidNodeID(string(after[:j])) || !bytes.HasPrefix(after[j:], []byte(`",`)) {
			return Line{}, errTrailer
		}
		ln.Node = string(after[:j])
		rest = after[j+2:]
	}
	rest, ok := bytes.CutPrefix(rest, []byte(seqMember))
	if !ok {
		return Line{}, errTrailer
	}
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

// ValidNodeID reports whether id can name a node: 1 to 64 of A-Z a-z 0-9
// . _ -, not starting with a dot or a dash (it is part of file names).
func ValidNodeID(id string) bool {
	if len(id) == 0 || len(id) > 64 || id[0] == '.' || id[0] == '-' {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
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
	node  string // the node whose log it belongs to ("" in earlier releases)
	first uint64 // sequence number its name claims for its first line
}

// segmentFileName names the segment of node whose first line is seq:
// <node>.<seq, 20 digits>.jsonl (<seq>.jsonl for node ""), so that a node's
// segments sort in log order and the logs of several nodes can share a
// directory.
func segmentFileName(node string, seq uint64) string {
	if node == "" {
		return fmt.Sprintf("%020d.jsonl", seq)
	}
	return fmt.Sprintf("%s.%020d.jsonl", node, seq)
}

// parseSegmentName is the inverse of segmentFileName.
func parseSegmentName(name string) (segment, bool) {
	base, ok := strings.CutSuffix(name, ".jsonl")
	if !ok {
		return segment{}, false
	}
	node, num := "", base
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		node, num = base[:i], base[i+1:]
		if !ValidNodeID(node) {
			return segment{}, false
		}
	}
	if len(num) != 20 {
		return segment{}, false
	}
	first, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return segment{}, false
	}
	return segment{name: name, node: node, first: first}, true
}

// listSegments returns the segment files of dir, every node's, in log
// order by node.
func listSegments(dir string) ([]segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var segs []segment
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if s, ok := parseSegmentName(e.Name()); ok {
			segs = append(segs, s)
		}
	}
	slices.SortFunc(segs, func(a, b segment) int {
		if c := strings.Compare(a.node, b.node); c != 0 {
			return c
		}
		return cmp.Compare(a.first, b.first)
	})
	return segs, nil
}

// nodeSegments returns the segments of node's log in dir, in log order.
func nodeSegments(dir, node string) ([]segment, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(segs, func(s segment) bool { return s.node != node }), nil
}

// Nodes returns the nodes whose logs are in dir, sorted ("" stands for a
// log of an earlier release, whose files carry no node id).
func Nodes(dir string) ([]string, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	var nodes []string
	for _, s := range segs {
		if len(nodes) == 0 || nodes[len(nodes)-1] != s.node {
			nodes = append(nodes, s.node)
		}
	}
	return nodes, nil
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
