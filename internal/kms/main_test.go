package kms

import (
	"os"
	"testing"

	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

// The tests of several nodes on one database use a real PostgreSQL
// (pgtest), started on first use.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
