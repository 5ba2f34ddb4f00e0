package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/trent-kms/trent/internal/iam"
	"log/slog"
	"strings"
)

// Seed is a parsed seed file: keys with fixed ids and access keys that
// `trent server --seed FILE` creates at start when they do not exist yet.
//
//	keys:
//	  - id: 11111111-2222-3333-4444-555555555555
//	    region: us-east-1                # default: --region
//	    account: "111122223333"          # default: --account-id
//	    description: "..."
//	    material: "base64 of 32 bytes"   # optional; ${ENV} references work
//	    aliases: [alias/app]
//	    tags: {team: x}
//	    rotation: false
//	access_keys:
//	  - id: AKIAEXAMPLE0000000001
//	    secret: ${APP_SECRET}
//	    account: "123456789012"          # default: --account-id
type Seed struct {
	Keys       []SeedKey
	AccessKeys []SeedAccessKey
}

// Wipe clears the key material of s (nil-safe).
func (s *Seed) Wipe() {
	if s == nil {
		return
	}
	for _, k := range s.Keys {
		clear(k.Material)
	}
}

// SeedKey is one key of a seed file, with defaults applied.
type SeedKey struct {
	ID          string
	Region      string
	AccountID   string
	Description string
	Material    []byte // nil, or exactly 32 bytes
	Aliases     []string
	Tags        map[string]string
	Rotation    bool
}

// LogValue leaves the key material out.
func (k SeedKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("region", k.Region),
		slog.String("account", k.AccountID), slog.Bool("imported_material", k.Material != nil))
}

// SeedAccessKey is one access key of a seed file.
type SeedAccessKey struct {
	ID        string
	Secret    string
	AccountID string
}

// LogValue leaves the secret out.
func (k SeedAccessKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("account", k.AccountID))
}

// Format keeps the secret out of fmt verbs too.
func (k SeedAccessKey) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "SeedAccessKey{ID:%s AccountID:%s Secret:REDACTED}", k.ID, k.AccountID)
}

type seedFile struct {
	Keys []struct {
		ID          string            `yaml:"id"`
		Region      string            `yaml:"region"`
		Account     string            `yaml:"account"`
		Description string            `yaml:"description"`
		Material    string            `yaml:"material"`
		Aliases     []string          `yaml:"aliases"`
		Tags        map[string]string `yaml:"tags"`
		Rotation    bool              `yaml:"rotation"`
	} `yaml:"keys"`
	AccessKeys []struct {
		ID      string `yaml:"id"`
		Secret  string `yaml:"secret"`
		Account string `yaml:"account"`
	} `yaml:"access_keys"`
}

// LoadSeed reads and parses the seed file at path; region and accountID are
// the defaults for entries that leave them out.
func LoadSeed(path, region, accountID string) (*Seed, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ParseSeed(data, region, accountID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseSeed parses a seed file; region and accountID are the defaults for
// entries that leave them out. It checks the shape of every entry (ids,
// account ids, material length, alias prefix) and reports all problems; the
// KMS service validates the rest when seeding.
func ParseSeed(data []byte, region, accountID string) (*Seed, error) {
	var f seedFile
	if err := decodeStrict(data, &f); err != nil {
		return nil, err
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: seed: "+format, args...)) }
	out := &Seed{}
	ids := map[string]bool{}
	for i, k := range f.Keys {
		sk := SeedKey{
			ID: k.ID, Region: k.Region, AccountID: k.Account, Description: k.Description,
			Aliases: k.Aliases, Tags: k.Tags, Rotation: k.Rotation,
		}
		if sk.Region == "" {
			sk.Region = region
		}
		if sk.AccountID == "" {
			sk.AccountID = accountID
		}
		switch {
		case sk.ID == "":
			bad("keys[%d]: missing id", i)
		case ids[sk.Region+"/"+sk.AccountID+"/"+sk.ID]:
			bad("keys[%d]: duplicate id %s", i, sk.ID)
		}
		ids[sk.Region+"/"+sk.AccountID+"/"+sk.ID] = true
		if !iam.IsAccountID(sk.AccountID) {
			bad("keys[%d]: account %q is not 12 digits", i, sk.AccountID)
		}
		if sk.Region == "" {
			bad("keys[%d]: missing region", i)
		}
		if k.Material != "" {
			m, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k.Material))
			switch {
			case err != nil:
				bad("keys[%d]: material is not valid base64", i)
			case len(m) != 32:
				bad("keys[%d]: material is %d bytes, want 32", i, len(m))
			default:
				sk.Material = m
			}
		}
		for _, a := range sk.Aliases {
			if !strings.HasPrefix(a, "alias/") || len(a) == len("alias/") {
				bad("keys[%d]: alias %q must start with alias/", i, a)
			}
		}
		out.Keys = append(out.Keys, sk)
	}
	akIDs := map[string]bool{}
	for i, k := range f.AccessKeys {
		ak := SeedAccessKey{ID: k.ID, Secret: k.Secret, AccountID: k.Account}
		if ak.AccountID == "" {
			ak.AccountID = accountID
		}
		switch {
		case ak.ID == "":
			bad("access_keys[%d]: missing id", i)
		case akIDs[ak.ID]:
			bad("access_keys[%d]: duplicate id %s", i, ak.ID)
		}
		akIDs[ak.ID] = true
		if ak.Secret == "" {
			bad("access_keys[%d]: missing secret", i)
		}
		if !iam.IsAccountID(ak.AccountID) {
			bad("access_keys[%d]: account %q is not 12 digits", i, ak.AccountID)
		}
		out.AccessKeys = append(out.AccessKeys, ak)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
