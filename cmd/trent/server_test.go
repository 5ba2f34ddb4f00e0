package main

import (
	"os"
	"path/filepath"
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

	cfg, _, code := parseServerFlags([]string{"--region", "us-west-2"})
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
	cfg, _, code := parseServerFlags(nil)
	def := server.Default()
	if code != -1 || cfg.Addr != def.Addr || cfg.DataDir != def.DataDir || cfg.Dev {
		t.Errorf("defaults = %+v (exit %d), want %+v", cfg, code, def)
	}
	cfg, _, _ = parseServerFlags([]string{"--dev"})
	if !cfg.Dev || cfg.DataDir != "" {
		t.Errorf("--dev: Dev %v DataDir %q, want in memory", cfg.Dev, cfg.DataDir)
	}
	t.Setenv("TRENT_DEV", "true")
	cfg, _, _ = parseServerFlags([]string{"--data-dir", "d"})
	if !cfg.Dev || cfg.DataDir != "d" {
		t.Errorf("TRENT_DEV + --data-dir: Dev %v DataDir %q", cfg.Dev, cfg.DataDir)
	}
}

func TestServerUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"help", []string{"-h"}, nil, 0},
		{"unknown flag", []string{"--nope"}, nil, 2},
		{"extra argument", []string{"now"}, nil, 2},
		{"non-loopback plain HTTP", []string{"--addr", "0.0.0.0:8080"}, nil, 2},
		{"non-loopback with --insecure-http", []string{"--addr", "0.0.0.0:8080", "--insecure-http"}, nil, -1},
		{"bad bool in env", nil, map[string]string{"TRENT_DEV": "maybe"}, 2},
		{"bad account", []string{"--account-id", "abc"}, nil, 2},
		{"missing config file", []string{"--config", "/nonexistent/trent.yaml"}, nil, 2},
		{"tls half", []string{"--tls-cert", "c"}, nil, 2},
		{"bad log level", []string{"--log-level", "loud"}, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if _, _, code := parseServerFlags(tc.args); code != tc.want {
				t.Errorf("parseServerFlags(%q) exit = %d, want %d", tc.args, code, tc.want)
			}
		})
	}
}

func TestRunCommands(t *testing.T) {
	if got := run(nil); got != 2 {
		t.Errorf("run() = %d, want 2", got)
	}
	if got := run([]string{"frobnicate"}); got != 2 {
		t.Errorf("run(frobnicate) = %d, want 2", got)
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
	if _, ok := commands["server"]; !ok {
		t.Error("server command not registered")
	}
	if serverEnvName("data-dir") != "TRENT_DATA_DIR" {
		t.Errorf("serverEnvName(data-dir) = %s", serverEnvName("data-dir"))
	}
}
