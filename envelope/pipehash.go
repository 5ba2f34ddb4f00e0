package envelope

import (
	"crypto"
	"hash"
)

// pipeChunk is how many bytes a pipeHash collects before it hashes them on
// another goroutine.
const pipeChunk = 128 << 10

// pipeHash is the signature hash of a signed message, computed on a second
// core while the caller encrypts (decrypts) and writes (reads) the next
// bytes. SHA-384 over the whole message is the bound of the signed suites
// (about 0.7 GB/s, a fifth of AES-GCM's rate): done in line it adds its time
// to everything else; overlapped, a message goes at the rate of SHA-384
// alone when a second core is free.
//
// Write copies its bytes into the chunk being filled (a copy costs a small
// fraction of hashing them). A full chunk is handed to a goroutine that
// hashes it after the chunk before, while the caller fills the other one;
// the caller waits only when it gets a whole chunk ahead of the hashing.
// Each goroutine ends once its chunk is hashed, so an abandoned pipeHash
// leaks nothing. Sum hashes the rest in line and must be called once, last.
// A message shorter than a chunk is hashed in line by Sum, as before.
type pipeHash struct {
	h    hash.Hash
	fill []byte        // the chunk being filled
	next []byte        // the other chunk: free once prev is closed
	prev chan struct{} // closed when every chunk handed off is hashed; nil: none in flight
}

func newPipeHash(h crypto.Hash) *pipeHash {
	return &pipeHash{h: h.New(), fill: make([]byte, 0, pipeChunk)}
}

func (p *pipeHash) Write(b []byte) {
	for len(b) > 0 {
		n := copy(p.fill[len(p.fill):cap(p.fill)], b)
		p.fill = p.fill[:len(p.fill)+n]
		b = b[n:]
		if len(p.fill) == cap(p.fill) {
			p.handOff()
		}
	}
}

// handOff hashes the full chunk on a goroutine, after the one before it.
func (p *pipeHash) handOff() {
	chunk, prev, done := p.fill, p.prev, make(chan struct{})
	go func() {
		if prev != nil {
			<-prev
		}
		p.h.Write(chunk)
		close(done)
	}()
	p.prev = done
	if p.next == nil {
		p.next = make([]byte, 0, pipeChunk)
	} else {
		<-prev // the other chunk is hashed: it can be filled again
	}
	p.fill, p.next = p.next[:0], chunk
}

// Sum waits for the chunks in flight, hashes the rest and returns the hash.
func (p *pipeHash) Sum() []byte {
	if p.prev != nil {
		<-p.prev
		p.prev = nil
	}
	p.h.Write(p.fill)
	p.fill = p.fill[:0]
	return p.h.Sum(nil)
}
