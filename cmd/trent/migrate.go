package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/trent-kms/trent/internal/server"
)

const migrateUsage = `Usage: trent operator migrate-seal --data-dir DIR --to KIND [flags]

With the server stopped, rewraps the root key of DIR from its current seal
(--seal, default file) to KIND (file, shamir, pkcs11, kms). Records and the
data keyring are not touched. The seal flags are those of trent server
(root-key-file, pkcs11-*, seal-kms-*); each kind has its own, so one
command line names both seals. From shamir: T shares are read from
standard input, one per line. To shamir: --shares N --threshold T, and the
new shares are printed (JSON with --json), shown once. To file: the key
file (root-key-file, default DIR/root.key) is created and must not exist.
Then start the server with --seal KIND.
`

// migrateOpts are the flags of trent operator migrate-seal besides the
// server's settings.
type migrateOpts struct {
	to                string
	shares, threshold int
	json              bool
}

func migrateFlags(cfg *server.Config, m *migrateOpts) *flag.FlagSet {
	fs := server.Settings.FlagSet("trent operator migrate-seal", cfg)
	fs.StringVar(&m.to, "to", "", "seal `kind` to migrate to")
	fs.IntVar(&m.shares, "shares", 5, "number of unseal shares (to shamir)")
	fs.IntVar(&m.threshold, "threshold", 3, "shares needed to unseal (to shamir)")
	fs.BoolVar(&m.json, "json", false, "print the new shares as JSON (to shamir)")
	return fs
}

func runMigrateSeal(args []string) int {
	cfg := server.Default()
	var m migrateOpts
	fs := migrateFlags(&cfg, &m)
	fs.SetOutput(io.Discard)
	to, shares, threshold, asJSON := &m.to, &m.shares, &m.threshold, &m.json
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(os.Stdout, migrateUsage)
			return 0
		}
		errorf("operator migrate-seal: %v", err)
		return 2
	}
	origins, err := server.Settings.Apply(&cfg, fs, os.LookupEnv)
	if err != nil {
		errorf("operator migrate-seal: %v", err)
		return 2
	}
	if passwordInFlag("operator migrate-seal", origins, cfg.PostgresURL) {
		return 2
	}
	var in []string
	if cfg.Seal == server.SealShamir {
		sc := bufio.NewScanner(io.LimitReader(os.Stdin, 1<<20))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				in = append(in, l)
			}
		}
	}
	// The new shares are printed before the migration commits: a data
	// directory is never left sealed with shares that were not written out.
	show := func(out []string) error {
		o := opFlags{json: *asJSON}
		var b strings.Builder
		fmt.Fprintf(&b, "New unseal shares (any %d of %d; shown once):\n", *threshold, len(out))
		for i, s := range out {
			fmt.Fprintf(&b, "  share %d: %s\n", i+1, s)
		}
		return o.print(map[string]any{"shares": out, "threshold": *threshold}, b.String())
	}
	if err := server.MigrateSeal(context.Background(), cfg, *to, in, *shares, *threshold, show); err != nil {
		errorf("operator migrate-seal: %v", err)
		return 1
	}
	fmt.Fprintf(stderr, "trent: %s now sealed with the %s seal; start it with --seal %s\n", cfg.DataDir, *to, *to)
	return 0
}
