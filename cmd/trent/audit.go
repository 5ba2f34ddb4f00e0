package main

import (
	"bufio"
	"crypto/ecdsa"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/server"
)

func init() {
	commands["audit"] = command{summary: "verify, query the audit log; print its public key", run: runAudit,
		usage: auditUsage, sub: []string{"verify", "query", "public-key"}, subFlags: auditSubFlags}
}

const auditUsage = `Usage: trent audit <verify|query|public-key> [flags]

The audit log is CloudTrail-format JSON Lines under <data-dir>/audit, each
record chained to the one before by hash, with digests signed by the audit
signing key. These commands read the segment files only: they work on a
stopped server's data directory and on a running one's.

Every node keeps its own log, one chain per node: the node id is in every
record and in the file names (<node>.<seq>.jsonl), so the logs of the nodes
of one database can be gathered in one directory, or named with one
--data-dir each; verify checks every node's chain it finds.

  trent audit verify      check the chain and the signatures; name the first
                          bad record (changed, missing, reordered, truncated,
                          bad signature) and exit 1
  trent audit query       print the records that match filters, as JSON lines
                          or a table
  trent audit public-key  print the public key that verifies the digests (PEM);
                          keep a copy outside the server and pass it to
                          verify --public-key

Run 'trent audit <command> -h' for its flags.
`

func runAudit(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(args[1:])
	case "query":
		return runAuditQuery(args[1:])
	case "public-key":
		return runAuditPublicKey(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Print(auditUsage)
		return 0
	}
	errorf("audit: unknown command %q", args[0])
	hintf("run 'trent audit -h'")
	return 2
}

// auditFlags are the flags every audit command has.
type auditFlags struct {
	dataDir  string   // the first (or only) data directory
	dataDirs []string // every --data-dir given (nodes of one database)
}

func (a *auditFlags) register(fs *flag.FlagSet) {
	def := "./trent-data"
	if v := os.Getenv("TRENT_DATA_DIR"); v != "" {
		def = v
	}
	a.dataDir = def
	fs.Func("data-dir", "the server's data `directory` (TRENT_DATA_DIR; default ./trent-data); repeat it for the nodes of one database", func(v string) error {
		a.dataDirs = append(a.dataDirs, v)
		a.dataDir = a.dataDirs[0]
		return nil
	})
}

func (a *auditFlags) dir() string { return filepath.Join(a.dataDir, server.AuditDir) }

// dirs returns the audit directories of every --data-dir.
func (a *auditFlags) dirs() []string {
	if len(a.dataDirs) == 0 {
		return []string{a.dir()}
	}
	var ds []string
	for _, d := range a.dataDirs {
		ds = append(ds, filepath.Join(d, server.AuditDir))
	}
	return ds
}

// parseAuditFlags parses args; ok=false means stop with code.
func parseAuditFlags(fs *flag.FlagSet, usage string, args []string) (code int, ok bool) {
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); printFlags(fs.Output(), fs) }
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fs.Usage()
			return 0, false
		}
		errorf("%s: %v", fs.Name(), err)
		hintf("run '%s -h' for the flags", fs.Name())
		return 2, false
	}
	if fs.NArg() > 0 {
		errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// timeFlag is a point in time: RFC 3339 (2026-11-30T12:00:00Z), a date
// (2026-11-30), or a duration before now (90m, 24h).
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	if d, err := time.ParseDuration(s); err == nil {
		f.t = time.Now().Add(-d)
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			f.t = t
			return nil
		}
	}
	return fmt.Errorf("want RFC 3339 (2026-11-30T12:00:00Z), a date (2026-11-30) or a duration before now (24h)")
}

const auditVerifyUsage = `Usage: trent audit verify [flags]

Checks every record's hash chain and every digest's signature. Exits 0 when
the log verifies, 1 when it does not (naming the first bad record and what is
wrong with it), 2 on usage errors.

Records written after the last digest are not signed yet (a running server
signs them within a minute, a restarted one at start); a line cut by a crash
is reported as the torn, unacknowledged tail, and the server removes it at
its next start.

Flags:
`

// auditSubFlags returns the flag set of trent audit SUB.
func auditSubFlags(sub string) *flag.FlagSet {
	switch sub {
	case "verify":
		return auditVerifyFlags(new(auditVerifyOpts))
	case "query":
		return auditQueryFlags(new(auditQueryOpts))
	case "public-key":
		return auditPublicKeyFlags(new(auditFlags))
	}
	return nil
}

// auditVerifyOpts are the flags of trent audit verify.
type auditVerifyOpts struct {
	auditFlags
	pubFile      string
	since, until timeFlag
}

func auditVerifyFlags(v *auditVerifyOpts) *flag.FlagSet {
	fs := flag.NewFlagSet("trent audit verify", flag.ContinueOnError)
	v.register(fs)
	fs.StringVar(&v.pubFile, "public-key", "", "PEM `file` of the audit public key (default: public-key.pem of each audit directory)")
	fs.Var(&v.since, "since", "check from this `time` on (RFC 3339, date, or duration before now)")
	fs.Var(&v.until, "until", "check up to this `time`")
	return fs
}

func runAuditVerify(args []string) int {
	var v auditVerifyOpts
	fs := auditVerifyFlags(&v)
	a, pubFile, since, until := &v.auditFlags, &v.pubFile, &v.since, &v.until
	if code, ok := parseAuditFlags(fs, auditVerifyUsage, args); !ok {
		return code
	}
	pinned := *pubFile != ""
	code, logs := 0, 0
	for _, dir := range a.dirs() {
		file := *pubFile
		if !pinned {
			file = filepath.Join(dir, audit.PublicKeyFile)
		}
		pemBytes, err := os.ReadFile(file)
		if err != nil {
			errorf("audit verify: %v", err)
			hintf("is %s a Trent data directory? give it with --data-dir", filepath.Dir(dir))
			return 1
		}
		pub, err := audit.ParsePublicKeyPEM(pemBytes)
		if err != nil {
			errorf("audit verify: %s: %v", file, err)
			return 1
		}
		nodes, err := audit.Nodes(dir)
		if err != nil {
			errorf("audit verify: %v", err)
			return 1
		}
		for _, node := range nodes {
			logs++
			if !verifyNodeLog(dir, node, pub, pinned, since.t, until.t) {
				code = 1
			}
		}
	}
	if logs == 0 {
		errorf("audit verify: no audit log in %s", strings.Join(a.dirs(), ", "))
		return 1
	}
	if !pinned {
		hintf("the public key was read from the data directory; for tamper evidence against whoever can write it, verify with a copy kept elsewhere (--public-key)")
	}
	return code
}

// verifyNodeLog verifies one node's chain in dir and prints the outcome; it
// reports whether it verifies.
func verifyNodeLog(dir, node string, pub *ecdsa.PublicKey, pinned bool, since, until time.Time) bool {
	rep, err := audit.Verify(dir, audit.VerifyOptions{PublicKey: pub, Since: since, Until: until, Node: node})
	if err != nil {
		errorf("audit verify: %v", err)
		return false
	}
	name := "the audit log"
	if node != "" {
		name = "the audit log of node " + node
	}
	if p := rep.Problem; p != nil {
		errorf("%s does NOT verify: %s", name, p.Kind)
		fmt.Fprintf(stderr, "trent: error: at %s line %d (seq %d): %s\n", filepath.Join(dir, p.Segment), p.Line, p.Seq, p.Detail)
		if p.Kind == audit.BadSignature && !pinned {
			hintf("the public key was read from the data directory; verify with a copy kept elsewhere (--public-key)")
		}
		return false
	}
	fmt.Printf("trent: %s verifies: %d records, %d signed digests, seq %d to %d in %d segments\n",
		name, rep.Records, rep.Digests, rep.FirstSeq, rep.LastSeq, rep.Segments)
	fmt.Printf("trent: signed up to seq %d (%s) with key %.16s…\n", rep.Signed, rep.SignedAt.Format(time.RFC3339), audit.Fingerprint(pub))
	if rep.Unsigned > 0 {
		fmt.Printf("trent: note: %d records after the last digest are not signed yet (a running server signs them within a minute; after a crash the next start signs them)\n", rep.Unsigned)
	}
	for _, r := range rep.Restores {
		fmt.Printf("trent: note: a start digest says %s\n", r.String())
	}
	if rep.TornBytes > 0 {
		fmt.Printf("trent: note: the last segment ends in an incomplete line of %d bytes: a crash cut a record while it was written; no caller was answered for it, and the server removes it at its next start\n", rep.TornBytes)
	}
	if !rep.CleanStop {
		fmt.Printf("trent: note: the log does not end with a shutdown digest: the server is running, or it stopped without shutting down\n")
	}
	return true
}

const auditQueryUsage = `Usage: trent audit query [flags]

Prints the API call records that match every filter given, oldest first, as
JSON lines (the records as stored) or a table.

Flags:
`

// auditQueryOpts are the flags of trent audit query.
type auditQueryOpts struct {
	auditFlags
	filter       audit.Filter
	since, until timeFlag
	output       string
}

func auditQueryFlags(q *auditQueryOpts) *flag.FlagSet {
	fs := flag.NewFlagSet("trent audit query", flag.ContinueOnError)
	q.register(fs)
	f := &q.filter
	fs.StringVar(&f.Key, "key", "", "key `id` or key ARN")
	fs.StringVar(&f.Principal, "principal", "", "principal `ARN`, access key id or user name")
	fs.StringVar(&f.EventName, "event", "", "event `name` (operation), e.g. Decrypt")
	fs.Var(&q.since, "since", "records from this `time` on (RFC 3339, date, or duration before now)")
	fs.Var(&q.until, "until", "records up to this `time`")
	fs.BoolVar(&f.ErrorsOnly, "errors", false, "only records of failed or denied calls")
	fs.StringVar(&q.output, "output", "json", "output `format`: json (JSON lines) or table")
	return fs
}

func runAuditQuery(args []string) int {
	var q auditQueryOpts
	fs := auditQueryFlags(&q)
	a, f, since, until, output := &q.auditFlags, &q.filter, &q.since, &q.until, &q.output
	if code, ok := parseAuditFlags(fs, auditQueryUsage, args); !ok {
		return code
	}
	if *output != "json" && *output != "table" {
		errorf("audit query: --output must be json or table")
		return 2
	}
	f.Since, f.Until = since.t, until.t
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var tw *tabwriter.Writer
	if *output == "table" {
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tNODE\tEVENT\tPRINCIPAL\tKEY\tERROR")
	}
	var err error
	for _, dir := range a.dirs() {
		err = audit.Query(dir, *f, func(e *audit.Entry) error {
			if tw == nil {
				out.Write(e.Line)
				return out.WriteByte('\n')
			}
			_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), dash(e.Node), e.EventName,
				dash(e.Principal), dash(strings.Join(e.Keys, ",")), dash(e.ErrorCode))
			return err
		})
		if err != nil {
			break
		}
	}
	if tw != nil {
		tw.Flush()
	}
	if err != nil {
		errorf("audit query: %v", err)
		return 1
	}
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

const auditPublicKeyUsage = `Usage: trent audit public-key [flags]

Prints the public key (PEM) that verifies the audit log's digests, from
<data-dir>/audit/public-key.pem (the server writes it at every start). Keep a
copy elsewhere and give it to 'trent audit verify --public-key': a verifier
then needs neither the server nor trust in the data directory.

Flags:
`

func auditPublicKeyFlags(a *auditFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("trent audit public-key", flag.ContinueOnError)
	a.register(fs)
	return fs
}

func runAuditPublicKey(args []string) int {
	var a auditFlags
	fs := auditPublicKeyFlags(&a)
	if code, ok := parseAuditFlags(fs, auditPublicKeyUsage, args); !ok {
		return code
	}
	path := filepath.Join(a.dir(), audit.PublicKeyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		errorf("audit public-key: %v", err)
		hintf("the server writes it at start; is %s its data directory?", a.dataDir)
		return 1
	}
	if _, err := audit.ParsePublicKeyPEM(b); err != nil {
		errorf("audit public-key: %s: %v", path, err)
		return 1
	}
	os.Stdout.Write(b)
	return 0
}
