package ciphertext

import (
	"bytes"
	"testing"
)

func sampleExternal() *External {
	return &External{
		KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab", IV: bytes.Repeat([]byte{7}, 12),
		Metadata: []byte{1, 0, 0, 0, 2}, Tag: bytes.Repeat([]byte{9}, TagSize), Ciphertext: sample().Marshal(),
	}
}

func TestExternalRoundTrip(t *testing.T) {
	t.Parallel()
	for _, e := range []*External{sampleExternal(), {KeyID: "k", IV: make([]byte, 16), Tag: make([]byte, TagSize), Ciphertext: []byte{1}}} {
		data := e.Marshal()
		if !IsExternal(data) {
			t.Fatal("IsExternal = false")
		}
		got, err := ParseExternal(data)
		if err != nil {
			t.Fatal(err)
		}
		if got.KeyID != e.KeyID || !bytes.Equal(got.IV, e.IV) || !bytes.Equal(got.Metadata, e.Metadata) ||
			!bytes.Equal(got.Tag, e.Tag) || !bytes.Equal(got.Ciphertext, e.Ciphertext) {
			t.Fatalf("ParseExternal(Marshal(%+v)) = %+v", e, got)
		}
		if id, ok := KeyIDOf(data); !ok || id != e.KeyID {
			t.Fatalf("KeyIDOf = %q, %v", id, ok)
		}
		if _, err := Parse(data); err == nil {
			t.Fatal("Parse took an external blob")
		}
		if !bytes.Equal(got.Header(), data[:2+len(e.KeyID)]) {
			t.Fatal("Header is not the blob's first bytes")
		}
	}
}

func TestParseExternalRejects(t *testing.T) {
	t.Parallel()
	good := sampleExternal().Marshal()
	l := len(sampleExternal().KeyID)
	for name, data := range map[string][]byte{
		"empty":          nil,
		"version 1":      sample().Marshal(),
		"no ciphertext":  good[:len(good)-len(sampleExternal().Ciphertext)],
		"bad IV length":  append(append(append([]byte{}, good[:2+l]...), 13), good[3+l:]...),
		"long metadata":  append(append(append([]byte{}, good[:3+l+12]...), 21), good[4+l+12:]...),
		"bad key id":     append([]byte{VersionExternal, 1, '/'}, good[3:]...),
		"zero key id":    append([]byte{VersionExternal, 0}, good[2:]...),
		"too long":       append(append([]byte{}, good...), make([]byte, MaxBlobLen)...),
		"truncated head": good[:2+l+5],
	} {
		if _, err := ParseExternal(data); err == nil {
			t.Errorf("%s: ParseExternal accepted %x", name, data)
		}
	}
}

func FuzzParseExternal(f *testing.F) {
	f.Add(sampleExternal().Marshal())
	f.Add([]byte{VersionExternal, 1, 'k', 12})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseExternal(data)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to exactly the same bytes.
		if !bytes.Equal(e.Marshal(), data) {
			t.Fatalf("Marshal(ParseExternal(%x)) = %x", data, e.Marshal())
		}
		if id, ok := KeyIDOf(data); !ok || id != e.KeyID {
			t.Fatalf("KeyIDOf(%x) = %q, %v; ParseExternal's is %q", data, id, ok, e.KeyID)
		}
	})
}
