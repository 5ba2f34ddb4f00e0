package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/audit/audittest"
)

func recordN(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := range n {
		if err := l.Record(t0ctx, encryptEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func verifyNode(t *testing.T, dir, node string) *Report {
	t.Helper()
	r, err := Verify(dir, VerifyOptions{PublicKey: &testSigner().PublicKey, Node: node})
	if err != nil {
		t.Fatalf("Verify(node %q): %v", node, err)
	}
	return r
}

// Several nodes' logs in one directory: each file and line names its node,
// and each node's chain verifies on its own.
func TestNodesShareADirectory(t *testing.T) {
	dir := t.TempDir()
	for _, node := range []string{"node-a", "node-b"} {
		l := mustOpen(t, Options{Dir: dir, Node: node, SegmentSize: 4 << 10, Sync: SyncAlways})
		recordN(t, l, 40)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	nodes, err := Nodes(dir)
	if err != nil || !slices.Equal(nodes, []string{"node-a", "node-b"}) {
		t.Fatalf("Nodes = %v, %v", nodes, err)
	}
	segs, _ := listSegments(dir)
	if len(segs) < 4 {
		t.Fatalf("%d segments, want several per node (rotation at 4 KiB)", len(segs))
	}
	for _, s := range segs {
		data, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s.name, s.node+".") {
			t.Errorf("segment %s does not start with its node id", s.name)
		}
		ls, _ := splitLines(data)
		for _, b := range ls {
			ln, err := ParseLine(b)
			if err != nil || ln.Node != s.node {
				t.Fatalf("%s: line %q: node %q, %v", s.name, b, ln.Node, err)
			}
			audittest.MustValidate(t, b)
		}
	}
	for _, node := range nodes {
		r := verifyNode(t, dir, node)
		if r.Problem != nil || r.Records != 40 || !r.CleanStop {
			t.Errorf("Verify(%s) = %+v, problem %v; want 40 records, clean stop", node, r, r.Problem)
		}
	}
	n := 0
	if err := Query(dir, Filter{}, func(e *Entry) error { n++; return nil }); err != nil || n != 80 {
		t.Errorf("Query over both nodes: %d records, %v; want 80", n, err)
	}
}

// A line moved from one node's log into another's is found, even with its
// chain member rewritten to fit.
func TestLineMovedBetweenNodes(t *testing.T) {
	dir := t.TempDir()
	for _, node := range []string{"a", "b"} {
		l := mustOpen(t, Options{Dir: dir, Node: node})
		recordN(t, l, 5)
		l.Close()
	}
	segB, _ := nodeSegments(dir, "b")
	pathB := filepath.Join(dir, segB[0].name)
	data, _ := os.ReadFile(pathB)
	// The line claims to be node a's: the node in its chain member differs.
	bad := bytes.Replace(data, []byte(`"trent":{"node":"b"`), []byte(`"trent":{"node":"a"`), 1)
	if err := os.WriteFile(pathB, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := verifyNode(t, dir, "b"); r.Problem == nil || r.Problem.Kind != Changed {
		t.Errorf("Verify(b) after a line names node a: problem %v, want %s", r.Problem, Changed)
	}
	if r := verifyNode(t, dir, "a"); r.Problem != nil {
		t.Errorf("Verify(a) = %v, want clean (its own files are intact)", r.Problem)
	}
}

// A log of an earlier release (no node ids) becomes the node's log at its
// first start with an id: the files are renamed, the chain goes on and
// verifies.
func TestLegacyLogAdopted(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir})
	recordN(t, l, 10)
	l.Close()
	l = mustOpen(t, Options{Dir: dir, Node: "n1"})
	recordN(t, l, 10)
	l.Close()
	nodes, _ := Nodes(dir)
	if !slices.Equal(nodes, []string{"n1"}) {
		t.Fatalf("Nodes after adoption = %q, want [n1]", nodes)
	}
	r := verifyNode(t, dir, "n1")
	if r.Problem != nil || r.Records != 20 {
		t.Errorf("Verify(n1) = %+v, problem %v; want the 20 records of both runs", r, r.Problem)
	}
	// A line without a node id after named ones is refused.
	segs, _ := nodeSegments(dir, "n1")
	last := filepath.Join(dir, segs[len(segs)-1].name)
	data, _ := os.ReadFile(last)
	bad := bytes.Replace(data, []byte(`"trent":{"node":"n1",`), []byte(`"trent":{`), -1)
	os.WriteFile(last, bad, 0o600)
	if r := verifyNode(t, dir, "n1"); r.Problem == nil {
		t.Error("Verify accepts lines that dropped their node id after named lines")
	}
}

func TestNodeIDs(t *testing.T) {
	for id, ok := range map[string]bool{
		"node-1": true, "ip-10-0-0-1.ec2.internal": true, "a": true, "A_b.c-d": true,
		"": false, ".hidden": false, "-x": false, "a/b": false, "a b": false, `a"b`: false,
		strings.Repeat("x", 64): true, strings.Repeat("x", 65): false,
	} {
		if ValidNodeID(id) != ok {
			t.Errorf("ValidNodeID(%q) = %v, want %v", id, !ok, ok)
		}
	}
	if _, err := Open(Options{Node: "a/b"}); err == nil {
		t.Error("Open with node id a/b succeeds")
	}
}
