package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/trent-kms/trent/internal/backup"
	"github.com/trent-kms/trent/internal/durable"
	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/storage/boltstore"
	"github.com/trent-kms/trent/internal/storage/memstore"
	"github.com/trent-kms/trent/internal/storage/pgstore"
)

func init() {
	commands["operator"] = command{summary: "seal lifecycle: init, unseal, seal, status, rotate, migrate-seal", run: runOperator,
		usage: operatorUsage, sub: []string{"init", "unseal", "seal", "status", "rotate", "migrate-seal"}, subFlags: operatorSubFlags}
	commands["backup"] = command{summary: "write a backup of a running server (administrator)", run: runBackup, usage: backupUsage,
		flags: func() *flag.FlagSet { return backupFlags(new(backupOpts)) }}
	commands["restore"] = command{summary: "restore a backup into an empty data directory", run: runRestore, usage: restoreUsage,
		flags: func() *flag.FlagSet { return restoreFlags(new(restoreOpts)) }}
}

const operatorUsage = `Usage: trent operator <init|unseal|seal|status|rotate|migrate-seal> [flags]

  init --shares N --threshold T [--json]
        initialise a server started with --seal shamir on an empty data
        directory: prints the N unseal shares and the first administrator's
        access key, shown once (no authentication: only while uninitialised)
  unseal [--reset] [SHARE|-]
        submit one unseal share (shamir) and print the progress; without
        SHARE (or with -) the share is read from standard input, which keeps
        it out of the process list; with any other seal, retry its auto-unseal;
        --reset discards the shares submitted so far
  seal  seal the server: keys wiped from memory, KMS calls refused
        (administrator)
  status
        print the seal state, data keys and rewrap progress
  rotate [--root] [--wait]
        new data key for new writes, older records rewrapped in the
        background; --root replaces the root key first (administrator)
  migrate-seal --data-dir DIR --to KIND [seal flags]
        with the server stopped: rewrap the root key of DIR from its seal
        (--seal, default file) to another kind; records are not touched

Client commands reach the server at --endpoint (default $AWS_ENDPOINT_URL)
and sign administrator calls with the AWS credentials of the environment
(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile) for
--region REGION (default AWS_REGION, or us-east-1); --json prints JSON.
`

// opFlags are the connection flags of the operator client commands.
type opFlags struct {
	endpoint, region, profile string
	json                      bool
}

func (o *opFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.endpoint, "endpoint", "", "server `URL` (default: $AWS_ENDPOINT_URL)")
	fs.StringVar(&o.region, "region", "", "signing `region` (default: AWS_REGION, or us-east-1)")
	fs.StringVar(&o.profile, "profile", "", "shared config `profile` for the credentials")
}

func (o *opFlags) client(ctx context.Context, signed bool) (*server.OperatorClient, error) {
	ep := o.endpoint
	if ep == "" {
		ep = os.Getenv("AWS_ENDPOINT_URL")
	}
	if ep == "" {
		return nil, errors.New("no endpoint: use --endpoint or set AWS_ENDPOINT_URL")
	}
	hc, err := httpClient(0, false)
	if err != nil {
		return nil, err
	}
	c := &server.OperatorClient{Endpoint: ep, Region: o.region, HTTP: hc}
	if !signed {
		return c, nil
	}
	var opts []func(*config.LoadOptions) error
	if o.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if err := checkCredentials(ctx, cfg); err != nil {
		return nil, err
	}
	c.Credentials = cfg.Credentials
	if c.Region == "" {
		c.Region = cfg.Region
	}
	return c, nil
}

// print writes v as JSON (--json) or text to standard output, and reports
// a failed write: what is shown once (unseal shares, secrets) must not be
// lost silently.
func (o *opFlags) print(v any, text string) error {
	if o.json {
		b, _ := json.MarshalIndent(v, "", "  ")
		text = string(b) + "\n"
	}
	if _, err := io.WriteString(os.Stdout, text); err != nil {
		return err
	}
	// When standard output is a file, it is on disk before this returns.
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode().IsRegular() {
		return os.Stdout.Sync()
	}
	return nil
}

// operatorOpts are the flags of the operator client commands (all but
// migrate-seal).
type operatorOpts struct {
	opFlags
	shares, threshold int
	root, wait, reset bool
}

func operatorFlags(verb string, v *operatorOpts) *flag.FlagSet {
	fs := flag.NewFlagSet("trent operator "+verb, flag.ContinueOnError)
	v.register(fs)
	fs.BoolVar(&v.json, "json", false, "print JSON")
	fs.IntVar(&v.shares, "shares", 5, "number of unseal shares (init)")
	fs.IntVar(&v.threshold, "threshold", 3, "shares needed to unseal (init)")
	fs.BoolVar(&v.root, "root", false, "also rotate the root key (rotate)")
	fs.BoolVar(&v.wait, "wait", false, "wait for the rewrap to finish (rotate)")
	fs.BoolVar(&v.reset, "reset", false, "discard the shares submitted so far (unseal)")
	return fs
}

// operatorSubFlags returns the flag set of trent operator SUB.
func operatorSubFlags(sub string) *flag.FlagSet {
	if sub == "migrate-seal" {
		return migrateFlags(new(server.Config), new(migrateOpts))
	}
	return operatorFlags(sub, new(operatorOpts))
}

func runOperator(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stdout, operatorUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	verb, args := args[0], args[1:]
	if verb == "migrate-seal" {
		return runMigrateSeal(args)
	}
	var v operatorOpts
	fs := operatorFlags(verb, &v)
	fs.SetOutput(io.Discard)
	o, shares, threshold, root, wait, reset := &v.opFlags, &v.shares, &v.threshold, &v.root, &v.wait, &v.reset
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(os.Stdout, operatorUsage)
			return 0
		}
		errorf("operator %s: %v", verb, err)
		return 2
	}
	ctx := context.Background()
	signed := verb == "seal" || verb == "rotate"
	c, err := o.client(ctx, signed)
	if err != nil {
		fail(fmt.Errorf("operator %s: %w", verb, err))
		return 2
	}
	switch verb {
	case "init":
		if len(pos) > 0 {
			errorf("operator init: unexpected argument %q", pos[0])
			return 2
		}
		out, err := c.Init(ctx, *shares, *threshold)
		if err != nil {
			return opFailed(verb, err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Unseal shares (any %d of %d unseal; shown once: hand each to its keeper):\n", out.Threshold, len(out.Shares))
		for i, s := range out.Shares {
			fmt.Fprintf(&b, "  share %d: %s\n", i+1, s)
		}
		if out.AccessKeyID != "" {
			fmt.Fprintf(&b, "\nFirst administrator (account %s; shown once):\n  aws_access_key_id = %s\n  aws_secret_access_key = %s\n", out.AccountID, out.AccessKeyID, out.SecretAccessKey)
		} else {
			where := "the data directory (see the server log)"
			if out.Storage == server.StoragePostgres {
				where = "the data directory of the node it unseals (see that node's log)"
			}
			fmt.Fprintf(&b, "\nFirst administrator: not created yet; the unseal that starts the services writes its credentials to %s\n", where)
		}
		if err := o.print(out, b.String()); err != nil {
			// The barrier is initialised under shares nobody received.
			errorf("operator init: writing the unseal shares: %v", err)
			if out.Storage == server.StoragePostgres {
				hintf("they are lost: stop every node, drop Trent's tables from their PostgreSQL database")
				hintf("  (DROP TABLE trent_records, trent_changes, trent_changes_pruned, trent_schema), start the nodes and run init again")
			} else {
				hintf("they are lost: stop the server, delete %s in its data directory and run init again", server.DBFile)
			}
			return 1
		}
		if out.Error != "" {
			errorf("operator init: %s", out.Error)
			return 1
		}
	case "unseal":
		share, err := readShare(pos)
		if err != nil {
			errorf("operator unseal: %v", err)
			return 2
		}
		st, err := c.Unseal(ctx, share, *reset)
		if err != nil {
			var oe *server.OperatorError
			if errors.As(err, &oe) && oe.Unseal != nil && !o.json {
				defer fmt.Print(unsealText(*oe.Unseal))
			}
			return opFailed(verb, err)
		}
		o.print(st, unsealText(st))
	case "seal":
		st, err := c.Seal(ctx)
		if err != nil {
			return opFailed(verb, err)
		}
		o.print(st, "sealed\n")
	case "status":
		st, err := c.Status(ctx)
		if err != nil {
			return opFailed(verb, err)
		}
		o.print(st, statusText(st))
	case "rotate":
		st, err := c.Rotate(ctx, *root)
		if err != nil {
			return opFailed(verb, err)
		}
		// Done when the keyring holds one version again (on a node that is
		// not the leader of a database's nodes, the rewrap runs elsewhere:
		// only the keyring shows its end).
		for *wait && ((st.Rewrap != nil && st.Rewrap.Running) || len(st.DataKeys) > 1) {
			if st.Rewrap != nil && st.Rewrap.Error != "" {
				return opFailed(verb, errors.New("rewrap: "+st.Rewrap.Error))
			}
			time.Sleep(500 * time.Millisecond)
			if st, err = c.Status(ctx); err != nil {
				return opFailed(verb, err)
			}
			if !o.json && st.Rewrap != nil {
				fmt.Fprintf(stderr, "trent: rewrap to data key %d: %d rewrapped, %d remaining\n", st.Rewrap.Target, st.Rewrap.Rewrapped, st.Rewrap.Remaining)
			}
		}
		o.print(st, statusText(st))
	default:
		errorf("operator: unknown command %q", verb)
		hintf("run 'trent operator -h' for the commands")
		return 2
	}
	return 0
}

func opFailed(verb string, err error) int {
	errorf("operator %s: %v", verb, err)
	return 1
}

// readShare takes the share from the argument, or from standard input
// (argument "-" or none).
func readShare(pos []string) (string, error) {
	if len(pos) > 1 {
		return "", errors.New("one share at a time")
	}
	if len(pos) == 1 && pos[0] != "-" {
		return pos[0], nil
	}
	if len(pos) == 0 && isTerminal(os.Stdin) {
		fmt.Fprint(stderr, "unseal share (empty to retry an auto-unseal): ")
	}
	line, err := bufio.NewReader(io.LimitReader(os.Stdin, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

func unsealText(st server.UnsealStatus) string {
	if !st.Sealed {
		return "unsealed\n"
	}
	if st.Threshold > 0 {
		return fmt.Sprintf("sealed: %d of %d shares submitted\n", st.Progress, st.Threshold)
	}
	return "sealed\n"
}

func statusText(st server.StatusBody) string {
	var b strings.Builder
	state := "unsealed"
	switch {
	case !st.Initialized:
		state = "not initialised"
	case st.Sealed:
		state = "sealed"
	}
	fmt.Fprintf(&b, "seal: %s (%s)\n", st.Seal, state)
	if st.Threshold > 0 {
		fmt.Fprintf(&b, "unseal progress: %d of %d shares (%d issued)\n", st.Progress, st.Threshold, st.Shares)
	}
	if st.DataKey != 0 {
		fmt.Fprintf(&b, "data key: %d (versions held: %v)\n", st.DataKey, st.DataKeys)
	}
	if r := st.Rewrap; r != nil {
		state := "done"
		if r.Running {
			state = "running"
		}
		fmt.Fprintf(&b, "rewrap to %d: %s, %d rewrapped, %d remaining\n", r.Target, state, r.Rewrapped, r.Remaining)
		if r.Error != "" {
			fmt.Fprintf(&b, "rewrap error: %s\n", r.Error)
		}
	}
	if c := st.Cluster; c != nil {
		role := "follower"
		if c.Leader {
			role = "leader"
		}
		fmt.Fprintf(&b, "cluster: node %s (%s), applied version %d of %d, staleness %.3fs\n", c.Node, role, c.Applied, c.Latest, c.StalenessSeconds)
		if c.Error != "" {
			fmt.Fprintf(&b, "cluster error: %s\n", c.Error)
		}
	}
	return b.String()
}

const backupUsage = `Usage: trent backup [--endpoint URL] -o FILE

Writes a consistent backup of a running server (one read transaction:
writes go on meanwhile) to FILE: every record as stored, sealed by the
barrier, so the backup is useless without the seal (the file seal's key,
the Shamir shares, the HSM or the KMS key). Needs an administrator's
credentials (from the environment, as the AWS CLI). The file is verified
(digest and format) before it is kept.

Flags:
`

// backupOpts are the flags of trent backup.
type backupOpts struct {
	opFlags
	out string
}

func backupFlags(b *backupOpts) *flag.FlagSet {
	fs := flag.NewFlagSet("trent backup", flag.ContinueOnError)
	b.register(fs)
	fs.StringVar(&b.out, "o", "", "output `file` (created; never overwritten)")
	return fs
}

func runBackup(args []string) int {
	var b backupOpts
	o, out := &b.opFlags, &b.out
	if _, code, ok := parseFlags("backup", backupFlags(&b), backupUsage, args); !ok {
		return code
	}
	if *out == "" {
		errorf("backup: -o FILE is required")
		return 2
	}
	exists := func() int {
		errorf("backup: %s exists: a backup never overwrites a file", *out)
		hintf("give another -o FILE, or move that one away first")
		return 1
	}
	if _, err := os.Lstat(*out); err == nil {
		return exists() // before the download, not after it
	}
	ctx := context.Background()
	c, err := o.client(ctx, true)
	if err != nil {
		fail(fmt.Errorf("backup: %w", err))
		return 2
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".trent-backup-*")
	if err != nil {
		errorf("backup: %v", err)
		return 1
	}
	defer os.Remove(tmp.Name())
	n, err := c.Backup(ctx, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	var h backup.Header
	if err == nil {
		h, err = backup.Restore(ctx, tmp, memstore.New()) // verify it all
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = durable.Link(tmp.Name(), *out)
	}
	if errors.Is(err, os.ErrExist) {
		return exists() // made meanwhile
	}
	if err != nil {
		errorf("backup: %v", err)
		return 1
	}
	fmt.Fprintf(stderr, "trent: backup written to %s: %d records, %d bytes, seal %s\n", *out, h.Records, n, h.Seal)
	return 0
}

const restoreUsage = `Usage: trent restore --data-dir DIR FILE
       trent restore --storage postgres [--postgres-url URL] FILE

Restores the backup FILE into DIR, which must not hold a database yet, or
into an empty PostgreSQL database (URL from --postgres-url or
$TRENT_POSTGRES_URL; the whole backup is checked in memory, then written in
one transaction). The backup's digest and format are checked before
anything is kept. Then start the server (or the nodes) on it with the
backup's seal (--seal KIND and its key: the root key file, the Shamir
shares, the HSM token or the KMS key).

Flags:
`

// restoreOpts are the flags of trent restore.
type restoreOpts struct {
	dir, storage, pgURL string
}

func restoreFlags(r *restoreOpts) *flag.FlagSet {
	fs := flag.NewFlagSet("trent restore", flag.ContinueOnError)
	fs.StringVar(&r.dir, "data-dir", "", "data `directory` to restore into (empty or new)")
	fs.StringVar(&r.storage, "storage", server.StorageBolt, "bolt (into --data-dir) or postgres (into --postgres-url)")
	fs.StringVar(&r.pgURL, "postgres-url", os.Getenv("TRENT_POSTGRES_URL"), "PostgreSQL `URL` of an empty database (TRENT_POSTGRES_URL)")
	return fs
}

func runRestore(args []string) int {
	var r restoreOpts
	dir, storageKind, pgURL := &r.dir, &r.storage, &r.pgURL
	pos, code, ok := parseFlags("restore", restoreFlags(&r), restoreUsage, args)
	if !ok {
		return code
	}
	if *storageKind == server.StoragePostgres {
		if *pgURL == "" || len(pos) != 1 {
			errorf("restore: want --postgres-url URL (or TRENT_POSTGRES_URL) and one backup FILE")
			return 2
		}
		if pgstore.HasPassword(*pgURL) && os.Getenv("TRENT_POSTGRES_URL") != *pgURL {
			errorf("restore: refusing a password in --postgres-url on the command line")
			hintf("use TRENT_POSTGRES_URL, PGPASSWORD or a pgpass file")
			return 2
		}
		f, err := os.Open(pos[0])
		if err != nil {
			errorf("restore: %v", err)
			return 1
		}
		defer f.Close()
		h, err := server.RestorePostgres(context.Background(), *pgURL, f)
		if err != nil {
			errorf("restore: %v", err)
			return 1
		}
		fmt.Fprintf(stderr, "trent: restored %d records into %s; start the nodes on it with --storage postgres --seal %s (with that seal's key)\n", h.Records, pgstore.Describe(*pgURL), h.Seal)
		return 0
	}
	if *storageKind != server.StorageBolt {
		errorf("restore: --storage must be bolt or postgres")
		return 2
	}
	if *dir == "" || len(pos) != 1 {
		errorf("restore: want --data-dir DIR and one backup FILE")
		return 2
	}
	h, err := restore(*dir, pos[0])
	if err != nil {
		errorf("restore: %v", err)
		return 1
	}
	fmt.Fprintf(stderr, "trent: restored %d records into %s; start it with: trent server --data-dir %s --seal %s (with that seal's key)\n", h.Records, *dir, *dir, h.Seal)
	return 0
}

func restore(dir, file string) (backup.Header, error) {
	f, err := os.Open(file)
	if err != nil {
		return backup.Header{}, err
	}
	defer f.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return backup.Header{}, err
	}
	db := filepath.Join(dir, server.DBFile)
	if _, err := os.Stat(db); err == nil {
		return backup.Header{}, fmt.Errorf("%s exists: restore only into a new data directory", db)
	}
	tmp := db + ".restoring"
	os.Remove(tmp)
	st, err := boltstore.Open(tmp)
	if err != nil {
		return backup.Header{}, err
	}
	h, err := backup.Restore(context.Background(), f, st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = durable.Link(tmp, db) // fails if a database appeared meanwhile
	}
	os.Remove(tmp)
	return h, err
}
