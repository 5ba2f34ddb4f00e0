package config

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/keys"
)

// Seed is a parsed seed file: keys with fixed ids that `trent server --seed
// FILE` creates at start when they do not exist yet, and identities (users,
// roles, their inline policies and tags, access keys) that it makes so at
// every start (see iam.Service.ApplySeed; an access key that an earlier seed
// file declared and this one does not is deactivated).
//
//	keys:
//	  - id: 11111111-2222-3333-4444-555555555555
//	    region: us-east-1                # default: --region
//	    account: "111122223333"          # default: --account-id
//	    description: "..."
//	    spec: SYMMETRIC_DEFAULT          # any KeySpec but SM2; default SYMMETRIC_DEFAULT
//	    usage: ENCRYPT_DECRYPT           # required for other specs
//	    material: "base64"               # optional; ${ENV} references work: 32 bytes
//	                                     # (SYMMETRIC_DEFAULT), the key (HMAC_*), or
//	                                     # PKCS #8 DER of the private key (asymmetric)
//	    aliases: [alias/app]
//	    tags: {team: x}
//	    rotation: false
//	users:
//	  - name: app
//	    account: "123456789012"          # default: --account-id
//	    path: /services/                 # default: /
//	    tags: {team: x}
//	    policies:                        # inline policies: name -> document
//	      use-keys: '{"Version":"2012-10-17","Statement":[...]}'   # JSON text, or
//	      read-only:                     # the same as YAML
//	        Version: "2012-10-17"
//	        Statement: [...]
//	roles:
//	  - name: deployer
//	    account: "123456789012"
//	    path: /
//	    description: "..."
//	    max_session_duration: 3600       # 3600..43200
//	    trust_policy: {Version: "2012-10-17", Statement: [...]}   # JSON text or YAML
//	    tags: {}
//	    policies: {}
//	access_keys:
//	  - id: AKIAEXAMPLE0000000001
//	    secret: ${APP_SECRET}
//	    account: "123456789012"          # default: --account-id
//	    user: app                        # default: the account's root user
//	    status: Active                   # or Inactive
type Seed struct {
	Keys []SeedKey
	IAM  iam.Seed
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
	Spec, Usage string // KeySpec and KeyUsage; empty: SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT
	Material    []byte // nil, or the key material in its storage encoding
	Aliases     []string
	Tags        map[string]string
	Rotation    bool
}

// LogValue leaves the key material out.
func (k SeedKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("region", k.Region),
		slog.String("account", k.AccountID), slog.String("spec", k.Spec), slog.Bool("imported_material", k.Material != nil))
}

// Format keeps the key material out of fmt verbs too.
func (k SeedKey) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "SeedKey{ID:%s Region:%s AccountID:%s Spec:%s Material:REDACTED}", k.ID, k.Region, k.AccountID, k.Spec)
}

type seedFile struct {
	Keys []struct {
		ID          string            `yaml:"id"`
		Region      string            `yaml:"region"`
		Account     string            `yaml:"account"`
		Description string            `yaml:"description"`
		Spec        string            `yaml:"spec"`
		Usage       string            `yaml:"usage"`
		Material    string            `yaml:"material"`
		Aliases     []string          `yaml:"aliases"`
		Tags        map[string]string `yaml:"tags"`
		Rotation    bool              `yaml:"rotation"`
	} `yaml:"keys"`
	Users []struct {
		Name     string               `yaml:"name"`
		Account  string               `yaml:"account"`
		Path     string               `yaml:"path"`
		Tags     map[string]string    `yaml:"tags"`
		Policies map[string]yaml.Node `yaml:"policies"`
	} `yaml:"users"`
	Roles []struct {
		Name               string               `yaml:"name"`
		Account            string               `yaml:"account"`
		Path               string               `yaml:"path"`
		Description        string               `yaml:"description"`
		MaxSessionDuration int32                `yaml:"max_session_duration"`
		TrustPolicy        yaml.Node            `yaml:"trust_policy"`
		Tags               map[string]string    `yaml:"tags"`
		Policies           map[string]yaml.Node `yaml:"policies"`
	} `yaml:"roles"`
	AccessKeys []struct {
		ID      string `yaml:"id"`
		Secret  string `yaml:"secret"`
		Account string `yaml:"account"`
		User    string `yaml:"user"`
		Status  string `yaml:"status"`
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
			Spec: k.Spec, Usage: k.Usage, Aliases: k.Aliases, Tags: k.Tags, Rotation: k.Rotation,
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
		if id := strings.ToLower(sk.ID); id != "" && (!arn.IsKeyID(id) || strings.HasPrefix(id, "mrk-")) {
			bad("keys[%d]: id %q is not a key id (a UUID)", i, sk.ID)
		}
		if sk.Spec != "" && !keys.Spec(sk.Spec).Supported() {
			bad("keys[%d]: key spec %q is not supported", i, sk.Spec)
		}
		ids[sk.Region+"/"+sk.AccountID+"/"+sk.ID] = true
		if !arn.IsAccountID(sk.AccountID) {
			bad("keys[%d]: account %q is not 12 digits", i, sk.AccountID)
		}
		if !arn.IsRegion(sk.Region) {
			bad("keys[%d]: region %q is not an AWS region name (e.g. us-east-1)", i, sk.Region)
		}
		if k.Material != "" {
			m, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k.Material))
			switch {
			case err != nil:
				bad("keys[%d]: material is not valid base64", i)
			case (sk.Spec == "" || sk.Spec == "SYMMETRIC_DEFAULT") && len(m) != 32:
				bad("keys[%d]: material is %d bytes, want 32", i, len(m))
			default:
				sk.Material = m
			}
		}
		for _, a := range sk.Aliases {
			if !arn.IsAliasName(a) {
				bad("keys[%d]: alias %q must start with alias/ followed by 1 to 250 of [a-zA-Z0-9:/_-]", i, a)
			}
		}
		out.Keys = append(out.Keys, sk)
	}
	users := map[string]bool{}
	for i, u := range f.Users {
		su := iam.SeedUser{AccountID: u.Account, Name: u.Name, Path: u.Path, Tags: seedTags(u.Tags)}
		if su.AccountID == "" {
			su.AccountID = accountID
		}
		switch id := su.AccountID + "/" + strings.ToLower(su.Name); {
		case su.Name == "":
			bad("users[%d]: missing name", i)
		case users[id]:
			bad("users[%d]: duplicate user %s", i, su.Name)
		default:
			users[id] = true
		}
		if !arn.IsAccountID(su.AccountID) {
			bad("users[%d]: account %q is not 12 digits", i, su.AccountID)
		}
		var err error
		if su.Policies, err = seedPolicies(u.Policies); err != nil {
			bad("users[%d]: %v", i, err)
		}
		out.IAM.Users = append(out.IAM.Users, su)
	}
	roles := map[string]bool{}
	for i, r := range f.Roles {
		sr := iam.SeedRole{AccountID: r.Account, Name: r.Name, Path: r.Path, Description: r.Description,
			MaxSessionDuration: r.MaxSessionDuration, Tags: seedTags(r.Tags)}
		if sr.AccountID == "" {
			sr.AccountID = accountID
		}
		switch id := sr.AccountID + "/" + strings.ToLower(sr.Name); {
		case sr.Name == "":
			bad("roles[%d]: missing name", i)
		case roles[id]:
			bad("roles[%d]: duplicate role %s", i, sr.Name)
		default:
			roles[id] = true
		}
		if !arn.IsAccountID(sr.AccountID) {
			bad("roles[%d]: account %q is not 12 digits", i, sr.AccountID)
		}
		var err error
		if r.TrustPolicy.Kind == 0 {
			bad("roles[%d]: missing trust_policy", i)
		} else if sr.TrustPolicy, err = policyText(&r.TrustPolicy); err != nil {
			bad("roles[%d]: trust_policy: %v", i, err)
		}
		if sr.Policies, err = seedPolicies(r.Policies); err != nil {
			bad("roles[%d]: %v", i, err)
		}
		out.IAM.Roles = append(out.IAM.Roles, sr)
	}
	akIDs := map[string]bool{}
	for i, k := range f.AccessKeys {
		ak := iam.SeedAccessKey{ID: k.ID, Secret: k.Secret, AccountID: k.Account, UserName: k.User}
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
		if !arn.IsAccountID(ak.AccountID) {
			bad("access_keys[%d]: account %q is not 12 digits", i, ak.AccountID)
		}
		switch k.Status {
		case "", iam.StatusActive:
		case iam.StatusInactive:
			ak.Inactive = true
		default:
			bad("access_keys[%d]: status %q: want Active or Inactive", i, k.Status)
		}
		out.IAM.AccessKeys = append(out.IAM.AccessKeys, ak)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// seedTags returns a seed file's tags, sorted by key.
func seedTags(m map[string]string) []iam.Tag {
	var tags []iam.Tag
	for k, v := range m {
		tags = append(tags, iam.Tag{Key: k, Value: v})
	}
	slices.SortFunc(tags, func(a, b iam.Tag) int { return strings.Compare(a.Key, b.Key) })
	return tags
}

// seedPolicies returns a seed file's inline policies, sorted by name.
func seedPolicies(m map[string]yaml.Node) ([]iam.SeedPolicy, error) {
	var ps []iam.SeedPolicy
	for name, n := range m {
		doc, err := policyText(&n)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		ps = append(ps, iam.SeedPolicy{Name: name, Document: doc})
	}
	slices.SortFunc(ps, func(a, b iam.SeedPolicy) int { return strings.Compare(a.Name, b.Name) })
	return ps, nil
}

// policyText returns a policy document given as JSON text (a string) or as
// YAML (a mapping), as JSON text. YAML scalars keep their text: an unquoted
// 2012-10-17 stays the string "2012-10-17"; numbers, booleans and null stay
// JSON numbers, booleans and null.
func policyText(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!str" {
			return "", fmt.Errorf("line %d: want JSON text or a YAML mapping", n.Line)
		}
		return n.Value, nil
	case yaml.MappingNode:
		var b strings.Builder
		if err := writeJSON(&b, n); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("line %d: want JSON text or a YAML mapping", n.Line)
}

func writeJSON(b *strings.Builder, n *yaml.Node) error {
	switch n.Kind {
	case yaml.AliasNode:
		return fmt.Errorf("line %d: YAML aliases are not supported in policies", n.Line)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			b.Write(k)
			b.WriteByte(':')
			if err := writeJSON(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, c); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			// Only JSON's number syntax: not YAML's 0123, +1, .5, 1.,
			// 1_000, 0x1F, .inf or .nan.
			if v := n.Value; v == "" || v[0] != '-' && (v[0] < '0' || v[0] > '9') || !json.Valid([]byte(v)) {
				return fmt.Errorf("line %d: number %q is not valid in JSON", n.Line, n.Value)
			}
			b.WriteString(n.Value)
		case "!!bool":
			if n.Value == "true" || n.Value == "false" {
				b.WriteString(n.Value)
			} else {
				q, _ := json.Marshal(n.Value)
				b.Write(q)
			}
		case "!!null":
			b.WriteString("null")
		default:
			q, _ := json.Marshal(n.Value)
			b.Write(q)
		}
	}
	return nil
}
