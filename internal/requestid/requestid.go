// Package requestid makes the request ids of the API front doors and
// carries them in contexts to the log lines written while a request runs.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
)

// randBuf is crypto/rand output read ahead: one read serves 256 ids, since
// a read costs several times the rest of New and every request takes two
// ids (its request id and its audit event id). Ids are unique, not secret;
// the bytes are still cleared once used.
type randBuf struct {
	b   [4096]byte
	off int
}

var randPool = sync.Pool{New: func() any { return &randBuf{off: 4096} }}

// New returns a random (version 4) UUID in its canonical form, the shape of
// AWS request ids.
func New() string {
	r := randPool.Get().(*randBuf)
	if r.off+16 > len(r.b) {
		rand.Read(r.b[:])
		r.off = 0
	}
	var u [16]byte
	copy(u[:], r.b[r.off:])
	clear(r.b[r.off : r.off+16])
	r.off += 16
	randPool.Put(r)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

type ctxKey struct{}

// NewContext returns ctx carrying the request id id, so that what runs the
// request can name it (LogHandler does, in log lines).
// It costs one allocation per request (context.WithValue costs two: the
// string is boxed in an interface).
func NewContext(ctx context.Context, id string) context.Context {
	return &idContext{ctx, id}
}

// idContext is a context carrying a request id.
type idContext struct {
	context.Context
	id string
}

func (c *idContext) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// FromContext returns the request id that ctx carries, if any.
func FromContext(ctx context.Context) (string, bool) {
	c, ok := ctx.Value(ctxKey{}).(*idContext)
	if !ok {
		return "", false
	}
	return c.id, true
}

// LogHandler returns a handler that adds to the records logged with a
// context carrying a request id (NewContext) that id as request_id, then
// hands them to h.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ h slog.Handler }

func (l logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := FromContext(ctx); ok {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return l.h.Handle(ctx, r)
}

func (l logHandler) WithAttrs(as []slog.Attr) slog.Handler { return logHandler{l.h.WithAttrs(as)} }
func (l logHandler) WithGroup(name string) slog.Handler    { return logHandler{l.h.WithGroup(name)} }
