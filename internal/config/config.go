// Package config holds Trent's settings machinery and parses its YAML files:
// the server configuration file (`trent server --config FILE`) and the seed
// file (`--seed FILE`).
//
// # Settings
//
// A setting is declared once, as a row of a [Table]: name, group, default,
// help, and the field of the configuration it binds to (with [String],
// [Bool], [Duration], [Int], [OneOf] or [Level]), plus an optional check.
// From that row come the flag --NAME, the environment variable TRENT_NAME,
// the key NAME of the configuration file, its line in --help, and its
// entries in the generated reference (docs/configuration.md) and example
// (docs/trent.example.yaml). Precedence ([Table.Apply]): the flag, then the
// environment, then the file, then the default.
//
// The server's table is internal/server's Settings. To add a setting:
//
//  1. add the field to server.Config;
//
//  2. add one row to server.Settings, in its group:
//
//     {Name: "audit-sync", Group: "Audit", Default: "true",
//     Help: "fsync the audit log before each response",
//     Value: func(c *Config) config.Value { return config.Bool(&c.AuditSync) }},
//
//  3. check across settings, if any, in server.Config.Validate;
//
//  4. regenerate the docs: go test ./internal/server -run TestSettingsDocs -update
//
// Nothing else: the flag, the environment variable, the file key, --help and
// the docs follow from the row.
//
// # Files
//
// Both files are versioned or strictly shaped, reject unknown keys, and
// expand `${NAME}` environment references in string values (an unset
// variable is an error, never an empty string). Parsing reports every
// problem it finds, not just the first. The configuration file is a flat
// mapping of setting names to scalar values:
//
//	version: v1
//	addr: 127.0.0.1:8080
//	data-dir: /var/lib/trent
//	tls-cert: /etc/trent/tls.crt
//	tls-key: ${TRENT_TLS_KEY_PATH}
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Version is the only configuration file version.
const Version = "v1"

// maxFileSize bounds the files this package reads.
const maxFileSize = 1 << 20

// File is a parsed configuration file: setting names and their values, as
// text, in file order. [Table.Apply] checks the names against the table.
type File struct {
	Path    string
	entries []fileEntry
}

type fileEntry struct {
	key, value string
	line       int
}

// LoadFile reads and parses the configuration file at path.
func LoadFile(path string) (*File, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	f, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// ParseFile parses a configuration file: "version: v1" and a flat mapping of
// names to scalar values, ${NAME} references expanded.
func ParseFile(data []byte) (*File, error) {
	root, err := decodeNode(data)
	if err != nil {
		return nil, err
	}
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config: line %d: want a mapping of setting names to values", doc.Line)
	}
	f := &File{}
	var errs []error
	version := ""
	seen := map[string]bool{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		if seen[k.Value] {
			errs = append(errs, fmt.Errorf("config: line %d: %s given twice", k.Line, k.Value))
			continue
		}
		seen[k.Value] = true
		if v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("config: line %d: %s: want a single value, not a list or mapping", v.Line, k.Value))
			continue
		}
		if k.Value == "version" {
			version = v.Value
			continue
		}
		f.entries = append(f.entries, fileEntry{key: k.Value, value: v.Value, line: k.Line})
	}
	switch version {
	case Version:
	case "":
		errs = append(errs, errors.New(`config: missing "version: v1"`))
	default:
		errs = append(errs, fmt.Errorf("config: unsupported version %q (want %q)", version, Version))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

// Settings returns the settings of the file as name -> value.
func (f *File) Settings() map[string]string {
	m := make(map[string]string, len(f.entries))
	for _, e := range f.entries {
		m[e.key] = e.value
	}
	return m
}

func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("config: %s is larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// decodeStrict decodes one YAML document into v, rejecting unknown keys and
// expanding ${NAME} references in scalar values first.
func decodeStrict(data []byte, v any) error {
	root, err := decodeNode(data)
	if err != nil {
		return err
	}
	// Re-encode and decode with KnownFields: yaml.v3 checks unknown keys
	// only in Decoder.Decode, not in Node.Decode.
	b, err := yaml.Marshal(root)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// decodeNode decodes exactly one YAML document and expands its ${NAME}
// references.
func decodeNode(data []byte) (*yaml.Node, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("config: empty document")
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("config: more than one YAML document")
	}
	if err := expandEnv(&root); err != nil {
		return nil, err
	}
	return &root, nil
}

// expandEnv replaces ${NAME} in every scalar value (not keys) with the value
// of the environment variable NAME. An unset variable is an error that names
// the line.
func expandEnv(n *yaml.Node) error {
	var errs []error
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		switch n.Kind {
		case yaml.ScalarNode:
			if isKey || !strings.Contains(n.Value, "${") {
				return
			}
			v, err := expand(n.Value)
			if err != nil {
				errs = append(errs, fmt.Errorf("config: line %d: %w", n.Line, err))
				return
			}
			// Let the tag be resolved from the expanded text, so that
			// "dev: ${X}" with X=true is a boolean.
			n.Value = v
			n.Tag = ""
			n.Style = 0
		case yaml.MappingNode:
			for i, c := range n.Content {
				walk(c, i%2 == 0)
			}
		default:
			for _, c := range n.Content {
				walk(c, false)
			}
		}
	}
	walk(n, false)
	return errors.Join(errs...)
}

func expand(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", errors.New("unterminated ${ reference")
		}
		name := s[i+2 : i+j]
		if !validEnvName(name) {
			return "", fmt.Errorf("invalid environment reference ${%s}", name)
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
