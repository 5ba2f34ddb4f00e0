package server

import (
	"flag"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md and docs/trent.example.yaml from Settings")

const referenceIntro = `# Configuration reference

<!-- Generated from internal/server/settings.go (server.Settings): do not edit.
     Regenerate with: go test ./internal/server -run TestSettingsDocs -update -->

Every setting of ` + "`trent server`" + ` is a flag (` + "`--data-dir DIR`" + `), an environment variable
(` + "`TRENT_DATA_DIR`" + `) and a key of the configuration file given by ` + "`--config FILE`" + ` (YAML,
` + "`version: v1`" + `; a commented example is [trent.example.yaml](trent.example.yaml)). A flag wins over
the environment, the environment over the file, the file over the default. String values in the file may use
` + "`${NAME}`" + ` references to environment variables (an unset variable is an error). An invalid value is
an error that names where it came from (the flag, the variable, or the file and line); the server starts only
when every setting is valid.
`

const exampleHeader = `Trent server configuration: trent server --config FILE

Generated from internal/server/settings.go (server.Settings): every setting,
commented out at its default, so this file as it is changes nothing.
Uncomment and edit what you need. Each key is also a flag of trent server
(--data-dir) and an environment variable (TRENT_DATA_DIR). Precedence: flag,
then environment, then this file, then the default. Values may use ${NAME}
references to environment variables (an unset variable is an error), e.g.
tls-key: ${TRENT_TLS_KEY_PATH}. Reference: docs/configuration.md.`

func TestSettingsTable(t *testing.T) {
	if err := Settings.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestSettingsDocs keeps the generated reference and example in docs/ equal
// to what Settings says.
func TestSettingsDocs(t *testing.T) {
	for _, d := range []struct{ path, text string }{
		{"../../docs/configuration.md", Settings.Reference(referenceIntro)},
		{"../../docs/trent.example.yaml", Settings.Example(exampleHeader)},
	} {
		if *update {
			if err := os.WriteFile(d.path, []byte(d.text), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(d.path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d.text, string(got)); diff != "" {
			t.Errorf("%s is stale; run: go test ./internal/server -run TestSettingsDocs -update\n(-want +got):\n%s", d.path, diff)
		}
	}
}

// TestExampleConfigLoads reads the example file through the table: it
// parses and leaves every default as it is.
func TestExampleConfigLoads(t *testing.T) {
	cfg := Default()
	fs := Settings.FlagSet("test", &cfg)
	if err := fs.Parse([]string{"--config", "../../docs/trent.example.yaml"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Settings.Apply(&cfg, fs, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatalf("example config: %v", err)
	}
	want := Default()
	want.ConfigFile = "../../docs/trent.example.yaml"
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("example config changed settings (-want +got):\n%s", diff)
	}
}
