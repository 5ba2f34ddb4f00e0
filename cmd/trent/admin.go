package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/server"
)

func init() {
	commands["admin"] = command{summary: "identities of a stopped server's data directory: access keys, break-glass", run: runAdmin,
		usage: adminUsage, sub: adminVerbs, subFlags: func(verb string) *flag.FlagSet {
			cfg := server.Default()
			return adminFlags(verb, &cfg, new(adminArgs))
		}}
}

const adminUsage = `Usage: trent admin <command> --data-dir DIR [flags] [ACCESS_KEY_ID]

With the server stopped, works on the identities of DIR directly:

  list-accounts          the accounts the data directory holds
  list-access-keys       every access key (never a secret): account, id, user,
                         status, creation date and origin (generated at first
                         start, admin, seed, api)
  create-access-key [--account-id ID] [--user NAME] [--json]
                         a new Active access key of the account's root user
                         (break-glass; also the first administrator of an
                         account that has none), or of the IAM user NAME; the
                         secret is printed once, in the AWS credentials-file
                         format (JSON with --json). Default account: the
                         data directory's oldest
  deactivate-access-key ACCESS_KEY_ID
  activate-access-key ACCESS_KEY_ID
  delete-access-key ACCESS_KEY_ID
                         refused by the server from its next start on

A running server holds the database locked: manage its identities through
its IAM API instead, with an administrator's credentials (aws iam
create-access-key / update-access-key --status Inactive / delete-access-key
--endpoint-url URL).

With --storage postgres --postgres-url URL (or TRENT_POSTGRES_URL), the
commands work on the database that the nodes share, also while they run:
a change reaches every running node within its max-staleness (usually
milliseconds), so this is the break-glass of a cluster too. Give the seal
the nodes use (the same --root-key-file, ...).

The seal flags are those of trent server (--seal, --root-key-file, ...);
with --seal shamir, the unseal shares are read from standard input, one per
line.
`

// adminVerbs are the subcommands of trent admin.
var adminVerbs = []string{"list-accounts", "list-access-keys", "create-access-key", "deactivate-access-key", "activate-access-key", "delete-access-key"}

// adminFlags is the flag set of trent admin VERB: the server's settings,
// --user and --json.
func adminFlags(verb string, cfg *server.Config, a *adminArgs) *flag.FlagSet {
	fs := server.Settings.FlagSet("trent admin "+verb, cfg)
	fs.StringVar(&a.user, "user", "", "IAM user `NAME` (create-access-key)")
	fs.BoolVar(&a.json, "json", false, "print JSON")
	return fs
}

func runAdmin(args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" && args[0] != "-help" {
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprint(os.Stdout, adminUsage)
		return 0
	}
	verb, args := args[0], args[1:]
	run, ok := map[string]func(ctx context.Context, svc *iam.Service, a *adminArgs) error{
		"list-accounts":         adminListAccounts,
		"list-access-keys":      adminListKeys,
		"create-access-key":     adminCreateKey,
		"deactivate-access-key": adminSetStatus(iam.StatusInactive),
		"activate-access-key":   adminSetStatus(iam.StatusActive),
		"delete-access-key":     adminDeleteKey,
	}[verb]
	if !ok {
		errorf("admin: unknown command %q", verb)
		hintf("run 'trent admin -h' for the commands")
		return 2
	}

	cfg := server.Default()
	a := &adminArgs{}
	fs := adminFlags(verb, &cfg, a)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(os.Stdout, adminUsage)
			return 0
		}
		errorf("admin %s: %v", verb, err)
		return 2
	}
	origins, err := server.Settings.Apply(&cfg, fs, os.LookupEnv)
	if err != nil {
		errorf("admin %s: %v", verb, err)
		return 2
	}
	if passwordInFlag("admin "+verb, origins, cfg.PostgresURL) {
		return 2
	}
	a.account, a.args = cfg.AccountID, fs.Args()
	wantArgs := 0
	if strings.HasSuffix(verb, "e-access-key") && verb != "create-access-key" {
		wantArgs = 1
	}
	if len(a.args) != wantArgs {
		errorf("admin %s: want %d argument(s), got %d", verb, wantArgs, len(a.args))
		return 2
	}

	var shares []string
	if cfg.Seal == server.SealShamir {
		sc := bufio.NewScanner(io.LimitReader(os.Stdin, 1<<20))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				shares = append(shares, l)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, closeFn, err := server.OpenIdentities(ctx, cfg, shares, logger)
	if errors.Is(err, server.ErrInUse) {
		errorf("admin %s: %v", verb, err)
		hintf("stop the server, or use its IAM API with an administrator's credentials, e.g.")
		hintf("  aws iam --endpoint-url http://HOST:PORT create-access-key / update-access-key --status Inactive / delete-access-key")
		return 1
	}
	if err != nil {
		errorf("admin %s: %v", verb, err)
		return 1
	}
	err = run(ctx, svc, a)
	if cerr := closeFn(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		errorf("admin %s: %v", verb, err)
		return 1
	}
	return 0
}

type adminArgs struct {
	account, user string
	json          bool
	args          []string
}

func adminListAccounts(_ context.Context, svc *iam.Service, a *adminArgs) error {
	ids := svc.Accounts()
	text := strings.Join(ids, "\n")
	if text != "" {
		text += "\n"
	}
	(&opFlags{json: a.json}).print(map[string]any{"accounts": ids}, text)
	return nil
}

func adminListKeys(_ context.Context, svc *iam.Service, a *adminArgs) error {
	var keys []iam.AccessKeyInfo
	for _, k := range svc.AccessKeys() {
		if a.account == "" || k.AccountID == a.account {
			keys = append(keys, k)
		}
	}
	if a.json {
		type row struct {
			AccountID   string    `json:"account_id"`
			AccessKeyID string    `json:"access_key_id"`
			UserName    string    `json:"user_name,omitempty"`
			Status      string    `json:"status"`
			Created     time.Time `json:"created,omitzero"`
			Origin      string    `json:"origin"`
		}
		rows := []row{}
		for _, k := range keys {
			rows = append(rows, row{k.AccountID, k.AccessKeyID, k.UserName, k.Status, k.Created, k.Origin})
		}
		(&opFlags{json: true}).print(map[string]any{"access_keys": rows}, "")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tACCESS KEY ID\tUSER\tSTATUS\tCREATED\tORIGIN")
	for _, k := range keys {
		user, created := k.UserName, "-"
		if user == "" {
			user = "(root)"
		}
		if !k.Created.IsZero() {
			created = k.Created.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.AccountID, k.AccessKeyID, user, k.Status, created, k.Origin)
	}
	return tw.Flush()
}

func adminCreateKey(ctx context.Context, svc *iam.Service, a *adminArgs) error {
	acct := a.account
	if acct == "" {
		ids := svc.Accounts()
		if len(ids) == 0 {
			return errors.New("the data directory holds no account yet: name one with --account-id")
		}
		acct = ids[0]
	}
	k, err := svc.CreateOperatorKey(ctx, acct, a.user)
	if err != nil {
		return err
	}
	who := "the root user"
	if k.UserName != "" {
		who = "user " + k.UserName
	}
	fmt.Fprintf(stderr, "trent: created access key %s of %s of account %s; the secret is shown once\n", k.AccessKeyID, who, k.AccountID)
	err = (&opFlags{json: a.json}).print(map[string]string{"access_key_id": k.AccessKeyID, "secret_access_key": k.Secret.Reveal(),
		"account_id": k.AccountID, "user_name": k.UserName},
		fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n# account %s, %s\n", k.AccessKeyID, k.Secret.Reveal(), k.AccountID, who))
	if err != nil {
		return fmt.Errorf("writing the secret of access key %s: %w (the key exists and nobody has its secret: 'trent admin delete-access-key %s' with the same flags removes it)", k.AccessKeyID, err, k.AccessKeyID)
	}
	return nil
}

func adminSetStatus(status string) func(context.Context, *iam.Service, *adminArgs) error {
	return func(ctx context.Context, svc *iam.Service, a *adminArgs) error {
		if err := svc.SetAccessKeyStatus(ctx, a.args[0], status); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "trent: access key %s is %s\n", a.args[0], status)
		return nil
	}
}

func adminDeleteKey(ctx context.Context, svc *iam.Service, a *adminArgs) error {
	if err := svc.DeleteAccessKeyByID(ctx, a.args[0]); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "trent: access key %s deleted\n", a.args[0])
	return nil
}
