package barrier_test

import (
	"fmt"
	"testing"

	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// BenchmarkRecord measures sealing and opening a 1 KiB record through the
// barrier over the in-memory store (no seal call on this path).
func BenchmarkRecord(b *testing.B) {
	br := mustOpen(b, memstore.New(), keyring.GenerateEphemeral())
	val := make([]byte, 1024)
	b.Run("Put", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			err := br.Update(ctx, func(tx storage.Tx) error { return tx.Put(fmt.Sprint("kms/key/", i%1000), val) })
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			err := br.View(ctx, func(tx storage.Tx) error { _, err := tx.Get(fmt.Sprint("kms/key/", i%1000)); return err })
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
