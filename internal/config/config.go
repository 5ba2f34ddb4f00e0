// Package config parses Trent's YAML files: the server configuration file
// (`trent server --config FILE`) and the seed file (`--seed FILE`).
//
// Both are versioned or strictly shaped, reject unknown keys, and expand
// `${NAME}` environment references in string values (an unset variable is an
// error, never an empty string). Parsing reports every problem it finds, not
// just the first.
//
// The server configuration file has the same keys as the flags of
// `trent server`:
//
//	version: v1
//	dev: false
//	addr: 127.0.0.1:8080
//	data-dir: /var/lib/trent
//	root-key-file: /etc/trent/root.key
//	seed: /etc/trent/seed.yaml
//	tls-cert: /etc/trent/tls.crt
//	tls-key: /etc/trent/tls.key
//	insecure-http: false
//	account-id: "111122223333"
//	region: us-east-1
//	log-level: info
//
// Precedence (applied by cmd/trent): a flag on the command line, then its
// TRENT_<FLAG> environment variable, then the file, then the default.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/trent-kms/trent/internal/iam"
	"io"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Version is the only configuration file version.
const Version = "v1"

// maxFileSize bounds the files this package reads.
const maxFileSize = 1 << 20

// File is a parsed server configuration file. A nil field was not set.
type File struct {
	Version      string  `yaml:"version"`
	Dev          *bool   `yaml:"dev"`
	Addr         *string `yaml:"addr"`
	DataDir      *string `yaml:"data-dir"`
	RootKeyFile  *string `yaml:"root-key-file"`
	Seed         *string `yaml:"seed"`
	TLSCert      *string `yaml:"tls-cert"`
	TLSKey       *string `yaml:"tls-key"`
	InsecureHTTP *bool   `yaml:"insecure-http"`
	AccountID    *string `yaml:"account-id"`
	Region       *string `yaml:"region"`
	LogLevel     *string `yaml:"log-level"`
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
	return f, nil
}

// ParseFile parses a server configuration file.
func ParseFile(data []byte) (*File, error) {
	var f File
	if err := decodeStrict(data, &f); err != nil {
		return nil, err
	}
	var errs []error
	switch f.Version {
	case Version:
	case "":
		errs = append(errs, errors.New(`config: missing "version: v1"`))
	default:
		errs = append(errs, fmt.Errorf("config: unsupported version %q (want %q)", f.Version, Version))
	}
	if f.AccountID != nil && !iam.IsAccountID(*f.AccountID) {
		errs = append(errs, fmt.Errorf("config: account-id %q is not 12 digits", *f.AccountID))
	}
	if (f.TLSCert == nil) != (f.TLSKey == nil) {
		errs = append(errs, errors.New("config: tls-cert and tls-key go together"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &f, nil
}

// Settings returns the settings present in the file as flag name → value,
// in the text form the flag package parses.
func (f *File) Settings() map[string]string {
	m := make(map[string]string)
	str := func(name string, v *string) {
		if v != nil {
			m[name] = *v
		}
	}
	boolean := func(name string, v *bool) {
		if v != nil {
			m[name] = strconv.FormatBool(*v)
		}
	}
	boolean("dev", f.Dev)
	str("addr", f.Addr)
	str("data-dir", f.DataDir)
	str("root-key-file", f.RootKeyFile)
	str("seed", f.Seed)
	str("tls-cert", f.TLSCert)
	str("tls-key", f.TLSKey)
	boolean("insecure-http", f.InsecureHTTP)
	str("account-id", f.AccountID)
	str("region", f.Region)
	str("log-level", f.LogLevel)
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
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("config: empty document")
		}
		return fmt.Errorf("config: %w", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return errors.New("config: more than one YAML document")
	}
	if err := expandEnv(&root); err != nil {
		return err
	}
	// Re-encode and decode with KnownFields: yaml.v3 checks unknown keys
	// only in Decoder.Decode, not in Node.Decode.
	b, err := yaml.Marshal(&root)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec = yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
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
