package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/trent-kms/trent/internal/config"
	"github.com/trent-kms/trent/internal/server"
)

func init() {
	commands["server"] = command{summary: "run the AWS-KMS-compatible server", run: runServer}
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

Every flag is also read from the environment variable TRENT_<FLAG> (upper
case, dashes as underscores, e.g. TRENT_DATA_DIR) when not given on the
command line, then from --config FILE (YAML, "version: v1", same keys as the
flags).

SIGTERM or SIGINT shuts down gracefully (a second one exits at once); SIGHUP
reloads the TLS certificate.

Flags:
`

// serverEnvName is the environment variable of a flag: data-dir → TRENT_DATA_DIR.
func serverEnvName(flagName string) string {
	return "TRENT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func runServer(args []string) int {
	cfg, logLevel, code := parseServerFlags(args)
	if code >= 0 {
		return code
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process without waiting for shutdown
	}()
	if err := server.Run(ctx, cfg, logger, os.Stderr); err != nil {
		errorf("%v", err)
		return 1
	}
	return 0
}

// parseServerFlags returns the configuration, or an exit code >= 0 when the
// command should stop (help: 0, usage error: 2).
func parseServerFlags(args []string) (server.Config, slog.Level, int) {
	cfg := server.Default()
	fs := flag.NewFlagSet("trent server", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serverUsage)
		fs.PrintDefaults()
	}
	fs.BoolVar(&cfg.Dev, "dev", cfg.Dev, "development mode: in memory, well-known credentials, INSECURE")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen `HOST:PORT` (port 0 picks a free port)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data `directory` (with --dev: in memory unless given)")
	fs.StringVar(&cfg.RootKeyFile, "root-key-file", "", "root key `file` of the file seal (default <data-dir>/root.key)")
	fs.StringVar(&cfg.SeedFile, "seed", "", "YAML seed `file`: keys and access keys created at start if missing")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "TLS certificate `file` (PEM); with --tls-key")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "TLS private key `file` (PEM); with --tls-cert")
	fs.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "allow plain HTTP on a non-loopback address")
	fs.StringVar(&cfg.AccountID, "account-id", cfg.AccountID, "default account `ID` (12 digits)")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "default `region` of seed entries")
	configFile := fs.String("config", "", "YAML configuration `file` (version: v1, same keys as the flags)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")

	fs.SetOutput(io.Discard) // errors are printed as "trent: error: ..."
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fs.Usage()
			return cfg, 0, 0
		}
		errorf("server: %v", err)
		hintf("run 'trent server -h' for the flags")
		return cfg, 0, 2
	}
	if fs.NArg() > 0 {
		errorf("server: unexpected argument %q", fs.Arg(0))
		return cfg, 0, 2
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := serverEnvName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", env, err))
			}
			set[f.Name] = true
		}
	})
	if *configFile != "" {
		file, err := config.LoadFile(*configFile)
		if err != nil {
			errs = append(errs, err)
		} else {
			for name, v := range file.Settings() {
				if set[name] {
					continue
				}
				if err := fs.Set(name, v); err != nil {
					errs = append(errs, fmt.Errorf("%s: %s: %v", *configFile, name, err))
				}
				set[name] = true
			}
		}
	}
	if cfg.Dev && !set["data-dir"] {
		cfg.DataDir = "" // in memory
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %v", err))
	}
	if err := errors.Join(errs...); err != nil {
		errorf("server: %v", err)
		return cfg, 0, 2
	}
	if err := cfg.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			errorf("%s", line)
		}
		if !cfg.InsecureHTTP && cfg.TLSCertFile == "" && !server.IsLoopback(cfg.Addr) {
			hintf("listen on 127.0.0.1, or give --tls-cert and --tls-key")
		}
		return cfg, 0, 2
	}
	return cfg, level, -1
}
