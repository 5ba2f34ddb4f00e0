package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/server"
)

func TestServerFlagPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "trent.yaml")
	err := os.WriteFile(cfgFile, []byte(`version: v1
addr: 127.0.0.1:7001
data-dir: /from/file
region: eu-west-1
account-id: "222233334444"
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRENT_CONFIG", cfgFile)
	t.Setenv("TRENT_DATA_DIR", "/from/env")
	t.Setenv("TRENT_REGION", "ap-south-1")

	cfg, code := parseServerFlags([]string{"--region", "us-west-2"})
	if code != -1 {
		t.Fatalf("parseServerFlags exit = %d", code)
	}
	for _, c := range []struct{ name, got, want string }{
		{"addr (file)", cfg.Addr, "127.0.0.1:7001"},
		{"data-dir (env over file)", cfg.DataDir, "/from/env"},
		{"region (flag over env)", cfg.Region, "us-west-2"},
		{"account-id (file)", cfg.AccountID, "222233334444"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestServerFlagDefaults(t *testing.T) {
	cfg, code := parseServerFlags(nil)
	def := server.Default()
	if code != -1 || cfg.Addr != def.Addr || cfg.DataDir != def.DataDir || cfg.Dev {
		t.Errorf("defaults = %+v (exit %d), want %+v", cfg, code, def)
	}
	cfg, _ = parseServerFlags([]string{"--dev"})
	if !cfg.Dev || cfg.DataDir != "" {
		t.Errorf("--dev: Dev %v DataDir %q, want in memory", cfg.Dev, cfg.DataDir)
	}
	t.Setenv("TRENT_DEV", "true")
	cfg, _ = parseServerFlags([]string{"--data-dir", "d"})
	if !cfg.Dev || cfg.DataDir != "d" {
		t.Errorf("TRENT_DEV + --data-dir: Dev %v DataDir %q", cfg.Dev, cfg.DataDir)
	}
}

// captureStderr sends errors and hints to a buffer for the test.
func captureStderr(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	old := stderr
	stderr = &buf
	t.Cleanup(func() { stderr = old })
	return &buf
}

func TestServerUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want int
		msg  string // expected on stderr
	}{
		{"unknown flag", []string{"--nope"}, nil, 2,
			"trent: error: server: flag provided but not defined: -nope\ntrent: hint: run 'trent server -h' for the flags\n"},
		{"extra argument", []string{"now"}, nil, 2, "trent: error: server: unexpected argument \"now\"\n" +
			"trent: hint: trent server takes only flags; run 'trent server -h' for them\n"},
		{"non-loopback plain HTTP", []string{"--addr", "0.0.0.0:8080"}, nil, 2,
			"trent: error: server: refusing plain HTTP on non-loopback address 0.0.0.0:8080: use --tls-cert/--tls-key, or --insecure-http\n" +
				"trent: hint: listen on 127.0.0.1, or give --tls-cert and --tls-key\n"},
		{"non-loopback with --insecure-http", []string{"--addr", "0.0.0.0:8080", "--insecure-http"}, nil, -1, ""},
		{"bad bool in env", nil, map[string]string{"TRENT_DEV": "yes"}, 2,
			"trent: error: server: TRENT_DEV=\"yes\": not a boolean (accepted: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)\n"},
		{"bad account", []string{"--account-id", "abc"}, nil, 2,
			"trent: error: server: invalid value \"abc\" for flag -account-id: not an account id (12 digits)\n" +
				"trent: hint: run 'trent server -h' for the flags\n"},
		{"bad account in env", nil, map[string]string{"TRENT_ACCOUNT_ID": "12"}, 2,
			"trent: error: server: TRENT_ACCOUNT_ID=\"12\": not an account id (12 digits)\n"},
		{"missing config file", []string{"--config", "/nonexistent/trent.yaml"}, nil, 2,
			"trent: error: server: config: open /nonexistent/trent.yaml: no such file or directory\n"},
		{"tls half", []string{"--tls-cert", "c"}, nil, 2, "trent: error: server: --tls-cert and --tls-key go together\n"},
		{"bad log level", []string{"--log-level", "loud"}, nil, 2,
			"trent: error: server: invalid value \"loud\" for flag -log-level: want one of: debug, info, warn, error\n" +
				"trent: hint: run 'trent server -h' for the flags\n"},
		{"bad log format in env", nil, map[string]string{"TRENT_LOG_FORMAT": "xml"}, 2,
			"trent: error: server: TRENT_LOG_FORMAT=\"xml\": want one of: text, json\n"},
		{"postgres password on the command line", []string{"--storage", "postgres", "--postgres-url", "postgres://trent:s3cret@db/trent"}, nil, 2,
			"trent: error: server: --postgres-url holds a password, which every user of this machine can read in the process list\n" +
				"trent: hint: give it in TRENT_POSTGRES_URL or the configuration file (${ENV} references work), or leave it out of the URL and set PGPASSWORD or a pgpass file (PGPASSFILE)\n"},
		{"postgres password in env", []string{"--storage", "postgres"}, map[string]string{"TRENT_POSTGRES_URL": "postgres://trent:s3cret@db/trent"}, -1, ""},
		{"postgres without password", []string{"--storage", "postgres", "--postgres-url", "postgres://trent@db/trent"}, nil, -1, ""},
		{"postgres without URL", []string{"--storage", "postgres"}, nil, 2, "trent: error: server: --storage postgres needs --postgres-url\n"},
		{"postgres in dev without a root key file", []string{"--dev", "--storage", "postgres", "--postgres-url", "postgres://db/trent"}, nil, 2,
			"trent: error: server: --storage postgres needs the root key in a file: give --root-key-file (or --data-dir)\n"},
		{"unknown storage", []string{"--storage", "sqlite"}, nil, 2,
			"trent: error: server: invalid value \"sqlite\" for flag -storage: want one of: bolt, postgres\n" +
				"trent: hint: run 'trent server -h' for the flags\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out := captureStderr(t)
			if _, code := parseServerFlags(tc.args); code != tc.want {
				t.Errorf("parseServerFlags(%q) exit = %d, want %d", tc.args, code, tc.want)
			}
			if out.String() != tc.msg {
				t.Errorf("parseServerFlags(%q) stderr:\n%s\nwant:\n%s", tc.args, out, tc.msg)
			}
		})
	}
}

func TestRunCommands(t *testing.T) {
	out := captureStderr(t)
	if got := run(nil); got != 2 || !strings.HasPrefix(out.String(), "Usage: trent <command>") {
		t.Errorf("run() = %d, stderr %q; want 2 and the usage", got, out)
	}
	out.Reset()
	if got := run([]string{"frobnicate"}); got != 2 || out.String() != "trent: error: unknown command \"frobnicate\"\ntrent: hint: run 'trent help' for the list of commands\n" {
		t.Errorf("run(frobnicate) = %d, stderr %q; want 2", got, out)
	}
	if got := run([]string{"version"}); got != 0 {
		t.Errorf("run(version) = %d, want 0", got)
	}
	if got := run([]string{"version", "x"}); got != 2 {
		t.Errorf("run(version x) = %d, want 2", got)
	}
	if got := run([]string{"help"}); got != 0 {
		t.Errorf("run(help) = %d, want 0", got)
	}
	if _, code := parseServerFlags([]string{"-h"}); code != 0 {
		t.Errorf("trent server -h exit = %d, want 0", code)
	}
	if _, ok := commands["server"]; !ok {
		t.Error("server command not registered")
	}
}
