package envelope

import (
	"crypto"
	"hash"
	"runtime"
)

// pipeChunk is how many bytes a pipeHash collects before it hands them to
// its hashing goroutine, and pipeDepth how many chunks may be in flight.
const (
	pipeChunk = 256 << 10
	pipeDepth = 4
)

// pipeHash is the signature hash of a signed message, computed on a second
// core while the caller encrypts (decrypts) and writes (reads) the next
// bytes. SHA-384 over the whole message is the bound of the signed suites
// (about 0.8 GB/s, a fifth of AES-GCM's rate): done in line it adds its time
// to everything else; overlapped, a message goes at the rate of SHA-384
// alone when a second core is free.
//
// Write copies its bytes into the chunk being filled (a copy costs a small
// fraction of hashing them). A full chunk is queued to one goroutine that
// hashes the chunks in order and hands each back once hashed. The caller,
// faster than SHA-384, waits only when all pipeDepth chunks are queued, so
// the hashing goroutine always has the next chunk at hand and runs without a
// pause: no wake-up sits between two chunks on the hashing side (a goroutine
// per chunk, chained, lost a quarter of the rate to wake-ups).
//
// The goroutine starts with the first full chunk; a message shorter than a
// chunk is hashed in line by Sum. Sum must be called once, last. A pipeHash
// abandoned without Sum (a failed message) stops its goroutine once it is
// unreachable, through a cleanup that closes the queue.
type pipeHash struct {
	h    hash.Hash
	fill []byte // the chunk being filled

	queue chan []byte     // full chunks, in order; nil until the first
	free  chan []byte     // chunks hashed, to fill again
	done  chan struct{}   // closed when the goroutine has hashed all of queue
	made  int             // chunks allocated, at most pipeDepth
	stop  runtime.Cleanup // closes queue if p is dropped before Sum
}

func newPipeHash(h crypto.Hash) *pipeHash {
	return &pipeHash{h: h.New(), fill: make([]byte, 0, pipeChunk), made: 1}
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

// handOff queues the full chunk and takes a free one to fill.
func (p *pipeHash) handOff() {
	if p.queue == nil {
		p.start()
	}
	p.queue <- p.fill
	if p.made < pipeDepth {
		p.made++
		p.fill = make([]byte, 0, pipeChunk)
		return
	}
	p.fill = (<-p.free)[:0]
}

func (p *pipeHash) start() {
	queue, free, done := make(chan []byte, pipeDepth), make(chan []byte, pipeDepth), make(chan struct{})
	p.queue, p.free, p.done = queue, free, done
	go hashChunks(p.h, queue, free, done)
	// The goroutine holds no reference to p: once p is dropped, the queue is
	// closed and the goroutine ends. Sum stops the cleanup.
	p.stop = runtime.AddCleanup(p, func(q chan []byte) { close(q) }, queue)
}

func hashChunks(h hash.Hash, queue <-chan []byte, free chan<- []byte, done chan<- struct{}) {
	defer close(done)
	for chunk := range queue {
		h.Write(chunk)
		free <- chunk // never blocks: free holds every chunk
	}
}

// Sum waits for the chunks in flight, hashes the rest and returns the hash.
func (p *pipeHash) Sum() []byte {
	if p.queue != nil {
		p.stop.Stop()
		close(p.queue)
		p.queue = nil
		<-p.done
	}
	p.h.Write(p.fill)
	p.fill = p.fill[:0]
	return p.h.Sum(nil)
}
