package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/storage/pgstore"
)

func init() {
	commands["server"] = command{summary: "run the AWS-KMS-compatible server", run: runServer, usage: serverUsage,
		flags: func() *flag.FlagSet { c := server.Default(); return server.Settings.FlagSet("trent server", &c) }}
}

const serverUsage = `Usage: trent server [flags]

Runs the AWS KMS JSON API (SigV4-authenticated) on --addr, with GET /health
and GET /metrics. Point AWS SDKs and the AWS CLI at it with --endpoint-url or
AWS_ENDPOINT_URL.

Without flags: the embedded default, persistent in ./trent-data (bbolt
database, file-sealed root key, administrator credentials written mode 0600 to
./trent-data/credentials on first start).

With --dev: in memory (unless --data-dir), credentials AKIAIOSFODNN7EXAMPLE /
wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, account 111122223333, and unknown
access keys admitted without a signature check. For tests only.

Every setting is a flag, an environment variable TRENT_<NAME> (upper case,
dashes as underscores, e.g. TRENT_DATA_DIR) and a key of the --config FILE
(YAML, "version: v1"). A flag wins over the environment, the environment over
the file, the file over the default. Reference: docs/configuration.md.

The garbage collector runs with GOGC=400 and a soft memory limit of half the
memory (GOMEMLIMIT) unless the environment sets GOGC or GOMEMLIMIT.

SIGTERM or SIGINT shuts down gracefully (a second one exits at once); SIGHUP
reloads the TLS certificate.
`

func runServer(args []string) int {
	cfg, code := parseServerFlags(args)
	if code >= 0 {
		return code
	}
	logger := server.NewLogger(os.Stderr, &cfg)
	logger.Info("server: garbage collector", "settings", server.TuneGC(os.LookupEnv))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process without waiting for shutdown
	}()
	if err := server.Run(ctx, cfg, logger, os.Stderr); err != nil {
		fail(err)
		return 1
	}
	return 0
}

// passwordInFlag refuses (and says why) a --postgres-url flag holding a
// password, which every user of the machine can read in the process list,
// for every command that takes the server's settings.
func passwordInFlag(cmd string, origins map[string]string, url string) bool {
	if origins["postgres-url"] != "--postgres-url" || !pgstore.HasPassword(url) {
		return false
	}
	errorf("%s: --postgres-url holds a password, which every user of this machine can read in the process list", cmd)
	hintf("give it in TRENT_POSTGRES_URL or the configuration file (${ENV} references work), or leave it out of the URL and set PGPASSWORD or a pgpass file (PGPASSFILE)")
	return true
}

// parseServerFlags returns the configuration from the flags, the TRENT_*
// environment and the configuration file (server.Settings), or an exit code
// >= 0 when the command should stop (help: 0, usage error: 2).
func parseServerFlags(args []string) (server.Config, int) {
	cfg := server.Default()
	fs := server.Settings.FlagSet("trent server", &cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(os.Stdout, serverUsage)
			server.Settings.PrintUsage(os.Stdout)
			return cfg, 0
		}
		errorf("server: %v", err)
		hintf("run 'trent server -h' for the flags")
		return cfg, 2
	}
	if fs.NArg() > 0 {
		errorf("server: unexpected argument %q", fs.Arg(0))
		hintf("trent server takes only flags; run 'trent server -h' for them")
		return cfg, 2
	}
	origins, err := server.Settings.Apply(&cfg, fs, os.LookupEnv)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			errorf("server: %s", line)
		}
		return cfg, 2
	}
	if passwordInFlag("server", origins, cfg.PostgresURL) {
		return cfg, 2
	}
	if cfg.Dev && origins["data-dir"] == "" {
		cfg.DataDir = "" // in memory
	}
	if err := cfg.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			errorf("%s", line)
		}
		if !cfg.InsecureHTTP && cfg.TLSCertFile == "" && !server.IsLoopback(cfg.Addr) {
			hintf("listen on 127.0.0.1, or give --tls-cert and --tls-key")
		}
		return cfg, 2
	}
	return cfg, -1
}
