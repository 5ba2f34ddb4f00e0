package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type testConfig struct {
	Name    string
	On      bool
	Wait    time.Duration
	N       int
	Mode    string
	Level   slog.Level
	Secret  string
	Config  string
	Checked string
}

var testTable = Table[testConfig]{
	{Name: "name", Group: "A", Default: "def", Help: "a `NAME`", Value: func(c *testConfig) Value { return String(&c.Name) }},
	{Name: "on", Group: "A", Default: "false", Help: "a switch", Value: func(c *testConfig) Value { return Bool(&c.On) }},
	{Name: "wait", Group: "A", Default: "30s", Help: "a wait", Value: func(c *testConfig) Value { return Duration(&c.Wait) }},
	{Name: "n", Group: "B", Default: "3", Help: "a count", Value: func(c *testConfig) Value { return Int(&c.N) }},
	{Name: "mode", Group: "B", Default: "best-effort", Help: "a mode",
		Value: func(c *testConfig) Value { return OneOf(&c.Mode, "required", "best-effort", "off") }},
	{Name: "level", Group: "B", Default: "info", Help: "a level", Value: func(c *testConfig) Value { return Level(&c.Level) }},
	{Name: "secret", Group: "B", Help: "a secret", Secret: true, Value: func(c *testConfig) Value { return String(&c.Secret) }},
	{Name: "checked", Group: "B", Default: "ok", Help: "checked",
		Value: func(c *testConfig) Value { return String(&c.Checked) },
		Check: func(s string) error {
			if !strings.HasPrefix(s, "ok") {
				return errors.New("want ok...")
			}
			return nil
		}},
	{Name: FileSetting, Group: "B", Help: "the file", NotInFile: true, Value: func(c *testConfig) Value { return String(&c.Config) }},
}

func load(t *testing.T, args []string, env map[string]string) (testConfig, Origins, error) {
	t.Helper()
	var c testConfig
	testTable.Defaults(&c)
	fs := testTable.FlagSet("test", &c)
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	o, err := testTable.Apply(&c, fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return c, o, err
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "test.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTableCheck(t *testing.T) {
	if err := testTable.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	bad := Table[testConfig]{
		{Name: "a", Group: "X", Help: "h", Value: func(c *testConfig) Value { return String(&c.Name) }},
		{Name: "a", Group: "Y", Help: "h", Value: func(c *testConfig) Value { return String(&c.Name) }},
		{Name: "Bad_Name", Group: "X", Help: "h", Value: func(c *testConfig) Value { return String(&c.Name) }},
		{Name: "d", Group: "X", Default: "maybe", Help: "h", Value: func(c *testConfig) Value { return Bool(&c.On) }},
		{Name: "e", Group: "X", Value: func(c *testConfig) Value { return Bool(&c.On) }},
	}
	err := bad.Check()
	for _, want := range []string{`"a" declared twice`, `"Bad_Name"`, `group "X" is split`, "default of d", `"e" needs Help`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check() = %v, want it to contain %q", err, want)
		}
	}
}

func TestApplyPrecedence(t *testing.T) {
	file := writeFile(t, "version: v1\nname: from-file\nwait: 1m\nn: 7\nmode: off\n")
	c, o, err := load(t, []string{"--name", "from-flag", "--on"},
		map[string]string{"TRENT_CONFIG": file, "TRENT_NAME": "from-env", "TRENT_WAIT": "5s", "TRENT_LEVEL": "debug"})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := testConfig{Name: "from-flag", On: true, Wait: 5 * time.Second, N: 7, Mode: "off", Level: slog.LevelDebug,
		Config: file, Checked: "ok"}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	wantO := Origins{"name": "--name", "on": "--on", "wait": "TRENT_WAIT", "level": "TRENT_LEVEL", "config": "TRENT_CONFIG",
		"n": file + ":4", "mode": file + ":5"}
	if diff := cmp.Diff(wantO, o); diff != "" {
		t.Errorf("origins (-want +got):\n%s", diff)
	}
}

func TestApplyErrors(t *testing.T) {
	file := writeFile(t, "version: v1\nnme: x\non: yes\nsecret: 5\nwait: soon\nchecked: no\nconfig: other.yaml\n")
	_, _, err := load(t, nil, map[string]string{
		"TRENT_CONFIG": file, "TRENT_ON": "yes", "TRENT_N": "-1", "TRENT_MODE": "sometimes", "TRENT_SECRET": "",
		"TRENT_LEVEL": "loud",
	})
	if err == nil {
		t.Fatal("Apply err = nil")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		`TRENT_ON="yes": not a boolean (accepted: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)`,
		`TRENT_N="-1": not a non-negative integer`,
		`TRENT_MODE="sometimes": want one of: required, best-effort, off`,
		`TRENT_LEVEL="loud": want one of: debug, info, warn, error`,
		file + `:2: unknown setting "nme" (did you mean name?)`,
		file + `:5: wait: "soon": not a duration (e.g. 500ms, 30s, 5m, 1h)`,
		file + `:6: checked: "no": want ok...`,
		file + `:7: unknown setting "config" (see docs/configuration.md)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	// A secret's value is never echoed.
	_, _, err = load(t, nil, map[string]string{"TRENT_CONFIG": writeFile(t, "version: v1\nsecret: [hunter2]\n")})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("secret list: err = %v", err)
	}
	_, _, err = load(t, nil, map[string]string{"TRENT_CONFIG": filepath.Join(t.TempDir(), "none.yaml")})
	if err == nil || !strings.Contains(err.Error(), "none.yaml: no such file") {
		t.Errorf("missing file: err = %v", err)
	}
	if _, _, err := load(t, []string{"--on=maybe"}, nil); err == nil || !strings.Contains(err.Error(), "not a boolean") {
		t.Errorf("--on=maybe: err = %v", err)
	}
	if _, _, err := load(t, []string{"--checked", "nope"}, nil); err == nil || !strings.Contains(err.Error(), "want ok") {
		t.Errorf("--checked nope: err = %v", err)
	}
}

func TestUsageReferenceExample(t *testing.T) {
	var b strings.Builder
	testTable.PrintUsage(&b)
	for _, want := range []string{"\nA:\n  --name NAME\n        a NAME\n        default def; env TRENT_NAME; file key name\n",
		"  --on\n        a switch\n", "  --wait duration\n", "  --config string\n        the file\n        env TRENT_CONFIG\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, b.String())
		}
	}
	ref := testTable.Reference("# ref\n")
	if !strings.Contains(ref, "| `--mode value` | `TRENT_MODE` | `mode` | required \\| best-effort \\| off | `best-effort` | A mode. |") {
		t.Errorf("reference:\n%s", ref)
	}
	// The example parses, sets nothing, and names every file setting.
	ex := testTable.Example("header")
	f, err := ParseFile([]byte(ex))
	if err != nil || len(f.Settings()) != 0 {
		t.Fatalf("example: %v %v\n%s", err, f, ex)
	}
	for _, n := range testTable.Names() {
		if n != FileSetting && !strings.Contains(ex, "\n# "+n+": ") {
			t.Errorf("example lacks %s:\n%s", n, ex)
		}
	}
	// Uncommented, each default reads back as itself.
	var lines []string
	for _, l := range strings.Split(ex, "\n") {
		if s, ok := strings.CutPrefix(l, "# "); ok && strings.Contains(s, ": ") && !strings.Contains(s, "(") {
			lines = append(lines, s)
		}
	}
	p := writeFile(t, "version: v1\n"+strings.Join(lines, "\n")+"\n")
	c, _, err := load(t, nil, map[string]string{"TRENT_CONFIG": p})
	var def testConfig
	testTable.Defaults(&def)
	def.Config = p
	if err != nil || c != def {
		t.Errorf("uncommented example: %v\n%+v\nwant %+v", err, c, def)
	}
}

func TestUnknownEnv(t *testing.T) {
	got := testTable.UnknownEnv([]string{"TRENT_NAME=x", "TRENT_NAEM=y", "HOME=/", "TRENT_WAIT=1s"})
	if diff := cmp.Diff([]string{"TRENT_NAEM"}, got); diff != "" {
		t.Errorf("UnknownEnv (-want +got):\n%s", diff)
	}
}
