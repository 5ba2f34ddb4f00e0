package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestSyncDropsBehind: once synced, a segment's whole pages leave the page
// cache; the page being appended to stays.
func TestSyncDropsBehind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	f, err := openSegment(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := os.Getpagesize()
	data := bytes.Repeat([]byte("r"), 2*dropBehind+100)
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	before := resident(t, path)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	after := resident(t, path)
	full := len(data) / page
	if n := count(before[:full]); n < full/2 {
		t.Skipf("only %d of %d pages were cached after the write: cannot tell", n, full)
	}
	if n := count(after[:full]); n != 0 {
		t.Errorf("%d of %d whole pages still cached after Sync", n, full)
	}
	if !after[full] {
		t.Error("the partial last page was dropped: the next write would read it back")
	}
	// The next sync drops nothing until another dropBehind has gathered.
	if _, err := f.Write(data[:page]); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if !resident(t, path)[full] {
		t.Error("a sync with less than dropBehind new data dropped pages")
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, append(data, data[:page]...)) {
		t.Fatalf("segment content changed (%v)", err)
	}
}

func resident(t *testing.T, path string) []bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	out := make([]bool, len(vec))
	for i, v := range vec {
		out[i] = v&1 != 0
	}
	return out
}

func count(b []bool) (n int) {
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}
