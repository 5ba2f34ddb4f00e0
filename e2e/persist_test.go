package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/google/go-cmp/cmp"
)

// adminCreds is the content of <data-dir>/credentials.
type adminCreds struct {
	AccessKey, Secret, Account string
}

var accountRE = regexp.MustCompile(`#.*account\s+(\d{12})`)

// readCredentials parses <dir>/credentials (AWS shared-credentials format
// with a "# account N" comment) and checks its mode.
func readCredentials(t *testing.T, dir string) adminCreds {
	t.Helper()
	path := filepath.Join(dir, "credentials")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("credentials file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	must(t, err)
	var c adminCreds
	sc := bufio.NewScanner(bytes.NewReader(b))
	section := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := accountRE.FindStringSubmatch(line); m != nil {
			c.Account = m[1]
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[] ")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section != "default" {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			c.AccessKey = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.Secret = strings.TrimSpace(v)
		}
	}
	if c.AccessKey == "" || c.Secret == "" || c.Account == "" {
		t.Fatalf("credentials file incomplete (need [default] key id, secret and '# account N'):\n%s", redact(b, c.Secret))
	}
	return c
}

func redact(b []byte, secret string) string {
	if secret == "" {
		return string(b)
	}
	return strings.ReplaceAll(string(b), secret, "<secret>")
}

// startEmbedded starts the embedded default (not dev) on dir.
func startEmbedded(t *testing.T, dir string, extra ...string) *server {
	t.Helper()
	return startServer(t, append([]string{"server", "--data-dir", dir, "--addr", "127.0.0.1:0"}, extra...)...)
}

func stopClean(t *testing.T, s *server) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Errorf("server did not stop cleanly on SIGTERM: %v", err)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := startEmbedded(t, dir)
	creds := readCredentials(t, dir)
	for _, f := range []string{"trent.db", "root.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("data dir: %v", err)
		} else if f == "root.key" && fi.Mode().Perm() != 0o600 {
			t.Errorf("root.key mode %v, want 0600", fi.Mode().Perm())
		}
	}
	c := s1.client(devRegion, creds.AccessKey, creds.Secret)

	// Outside dev mode unknown access keys and wrong secrets are refused.
	_, err := s1.dev().ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "UnrecognizedClientException")
	_, err = s1.client(devRegion, creds.AccessKey, "wrong").ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "InvalidSignatureException")
	// A session token nobody issued.
	withToken := kms.NewFromConfig(aws.Config{
		Region:      devRegion,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKey, creds.Secret, "bogus-session-token"),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}, func(o *kms.Options) { o.BaseEndpoint = aws.String(s1.URL) })
	_, err = withToken.ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "UnrecognizedClientException")

	// State worth keeping.
	out, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{
		Description: aws.String("persistent"),
		Tags:        []types.Tag{{TagKey: aws.String("env"), TagValue: aws.String("test")}},
	})
	must(t, err)
	id := aws.ToString(out.KeyMetadata.KeyId)
	if aws.ToString(out.KeyMetadata.AWSAccountId) != creds.Account {
		t.Errorf("key account %q, credentials file says %q", aws.ToString(out.KeyMetadata.AWSAccountId), creds.Account)
	}
	_, err = c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/persist"), TargetKeyId: aws.String(id)})
	must(t, err)
	policy := customPolicy(creds.Account, "e2e-persist")
	_, err = c.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(policy)})
	must(t, err)
	_, err = c.EnableKeyRotation(ctx(t), &kms.EnableKeyRotationInput{KeyId: aws.String(id), RotationPeriodInDays: aws.Int32(180)})
	must(t, err)
	ec := map[string]string{"app": "persist"}
	pt0 := []byte("before rotation")
	blob0 := roundTrip(t, c, "alias/persist", pt0, ec)
	_, err = c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	must(t, err)
	pt1 := []byte("after rotation")
	blob1 := roundTrip(t, c, id, pt1, ec)
	disabled := aws.ToString(newKey(t, c, "disabled").KeyId)
	_, err = c.DisableKey(ctx(t), &kms.DisableKeyInput{KeyId: aws.String(disabled)})
	must(t, err)
	pending := aws.ToString(newKey(t, c, "pending").KeyId)
	sched, err := c.ScheduleKeyDeletion(ctx(t), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(pending), PendingWindowInDays: aws.Int32(9)})
	must(t, err)
	west := s1.client("us-west-2", creds.AccessKey, creds.Secret)
	westKey := aws.ToString(newKey(t, west, "west").KeyId)
	before := describe(t, c, id)
	stBefore := rotationStatus(t, c, id)
	rotBefore, err := c.ListKeyRotations(ctx(t), &kms.ListKeyRotationsInput{KeyId: aws.String(id)})
	must(t, err)
	aliasesBefore, err := c.ListAliases(ctx(t), &kms.ListAliasesInput{KeyId: aws.String(id)})
	must(t, err)

	credsBytes, err := os.ReadFile(filepath.Join(dir, "credentials"))
	must(t, err)
	stopClean(t, s1)

	// Restart on the same directory.
	s2 := startEmbedded(t, dir)
	after, err := os.ReadFile(filepath.Join(dir, "credentials"))
	must(t, err)
	if !bytes.Equal(credsBytes, after) {
		t.Error("restart rewrote the credentials file")
	}
	c = s2.client(devRegion, creds.AccessKey, creds.Secret)
	got := describe(t, c, "alias/persist")
	if diff := cmp.Diff(before, got, cmp.AllowUnexported(types.KeyMetadata{})); diff != "" {
		t.Errorf("key metadata changed across restart (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"env": "test"}, listTags(t, c, id)); diff != "" {
		t.Errorf("tags after restart (-want +got):\n%s", diff)
	}
	pol, err := c.GetKeyPolicy(ctx(t), &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
	must(t, err)
	jsonEqual(t, aws.ToString(pol.Policy), policy)
	st := rotationStatus(t, c, id)
	if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 180 {
		t.Errorf("rotation after restart: enabled %v period %d", st.KeyRotationEnabled, aws.ToInt32(st.RotationPeriodInDays))
	}
	if st.NextRotationDate == nil || stBefore.NextRotationDate == nil || !st.NextRotationDate.Equal(*stBefore.NextRotationDate) {
		t.Errorf("NextRotationDate %v after restart, was %v", st.NextRotationDate, stBefore.NextRotationDate)
	}
	lr, err := c.ListKeyRotations(ctx(t), &kms.ListKeyRotationsInput{KeyId: aws.String(id)})
	must(t, err)
	if diff := cmp.Diff(rotBefore.Rotations, lr.Rotations, cmp.AllowUnexported(types.RotationsListEntry{})); diff != "" {
		t.Errorf("ListKeyRotations changed across restart (-before +after):\n%s", diff)
	}
	la, err := c.ListAliases(ctx(t), &kms.ListAliasesInput{KeyId: aws.String(id)})
	must(t, err)
	if diff := cmp.Diff(aliasesBefore.Aliases, la.Aliases, cmp.AllowUnexported(types.AliasListEntry{})); diff != "" {
		t.Errorf("ListAliases changed across restart (-before +after):\n%s", diff)
	}
	// The on-demand rotation quota counts the rotation made before the restart.
	for i := 2; i <= 25; i++ {
		_, err := c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
		must(t, err)
	}
	_, err = c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	wantType[*types.LimitExceededException](t, err)
	decryptOK(t, c, blob0, pt0, ec)
	decryptOK(t, c, blob1, pt1, ec)
	roundTrip(t, c, id, []byte("after restart"), ec)
	if md := describe(t, c, disabled); md.KeyState != types.KeyStateDisabled {
		t.Errorf("disabled key is %s after restart", md.KeyState)
	}
	md := describe(t, c, pending)
	if md.KeyState != types.KeyStatePendingDeletion || md.DeletionDate == nil || !md.DeletionDate.Equal(*sched.DeletionDate) {
		t.Errorf("pending key after restart: %s %v, want PendingDeletion %v", md.KeyState, md.DeletionDate, sched.DeletionDate)
	}
	describe(t, s2.client("us-west-2", creds.AccessKey, creds.Secret), westKey)
	keys, err := c.ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)
	if len(keys.Keys) != 3 {
		t.Errorf("ListKeys after restart: %d keys, want 3", len(keys.Keys))
	}
	stopClean(t, s2)
}

// seedFile writes a seed YAML file and returns its path.
func seedFile(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "seed.yaml")
	must(t, os.WriteFile(p, []byte(yaml), 0o600))
	return p
}

const (
	seedKeyID     = "0b5e5eed-1111-4222-8333-444455556666"
	seedAccessKey = "AKIAE2ESEEDEDKEY0001"
	seedAccount   = "123456789012"
)

func seedYAML(material []byte, secret string) string {
	return fmt.Sprintf(`keys:
  - id: %s
    region: us-east-1
    account: "%s"
    description: "seeded key"
    material: "%s"
    aliases: [alias/seeded-app, alias/seeded-other]
    tags: {team: e2e, tier: gold}
    rotation: true
  - id: 0b5e5eed-2222-4222-8333-444455556666
    region: eu-west-1
    account: "%s"
    description: "seeded in eu-west-1"
access_keys:
  - id: %s
    secret: %s
    account: "%s"
`, seedKeyID, seedAccount, base64.StdEncoding.EncodeToString(material), seedAccount, seedAccessKey, secret, seedAccount)
}

func TestRootKeyOutsideDataDir(t *testing.T) {
	t.Parallel()
	material := randomBytes(t, 32)
	secret := base64.RawURLEncoding.EncodeToString(randomBytes(t, 30))
	seed := seedFile(t, seedYAML(material, secret))
	dataDir := t.TempDir()
	rootKey := filepath.Join(t.TempDir(), "root.key")

	s := startEmbedded(t, dataDir, "--root-key-file", rootKey, "--seed", seed)
	c := s.client(devRegion, seedAccessKey, secret)
	pt := []byte("sealed at rest")
	blob := roundTrip(t, c, "alias/seeded-app", pt, nil)
	stopClean(t, s)

	if _, err := os.Stat(filepath.Join(dataDir, "root.key")); err == nil {
		t.Error("root.key written into the data dir although --root-key-file points elsewhere")
	}
	if fi, err := os.Stat(rootKey); err != nil {
		t.Fatalf("--root-key-file not created: %v", err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("root key file mode %v, want 0600", fi.Mode().Perm())
	}

	// Nothing secret is in the data dir in the clear.
	secrets := map[string][]byte{
		"raw material":    material,
		"base64 material": []byte(base64.StdEncoding.EncodeToString(material)),
		"hex material":    []byte(hex.EncodeToString(material)),
		"access secret":   []byte(secret),
		"plaintext":       pt,
	}
	rk, err := os.ReadFile(rootKey)
	must(t, err)
	secrets["root key file"] = rk
	found := false
	must(t, filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if d.Name() == "trent.db" {
			found = true
		}
		for name, sec := range secrets {
			if bytes.Contains(b, sec) {
				t.Errorf("%s found in the clear in %s", name, path)
			}
		}
		return nil
	}))
	if !found {
		t.Fatal("no trent.db in the data dir")
	}

	// A copy of the data dir with the right root key serves the key.
	good := copyDir(t, dataDir)
	s2 := startEmbedded(t, good, "--root-key-file", rootKey)
	decryptOK(t, s2.client(devRegion, seedAccessKey, secret), blob, pt, nil)
	stopClean(t, s2)

	// A copy without its root key is refused, and no new root key is minted
	// for it (a fresh key file would invite backing up the wrong key).
	absent := filepath.Join(t.TempDir(), "absent.key")
	if _, err := tryStartServer(t, "server", "--data-dir", copyDir(t, dataDir), "--addr", "127.0.0.1:0", "--root-key-file", absent); err == nil {
		t.Error("a server started on a copied data dir whose root key file is missing")
	}
	if _, err := os.Stat(absent); err == nil {
		t.Error("a new root key file was created for an existing data directory")
	}
	noKey := copyDir(t, dataDir) // no root.key inside, no --root-key-file
	if _, err := tryStartServer(t, "server", "--data-dir", noKey, "--addr", "127.0.0.1:0"); err == nil {
		t.Error("a server started on a copied data dir without root.key")
	}
	if _, err := os.Stat(filepath.Join(noKey, "root.key")); err == nil {
		t.Error("a new root.key was created in an existing data directory")
	}

	// A copy with a missing or different root key cannot serve it: either the
	// server refuses to start, or the key and credentials stay sealed.
	otherKey := filepath.Join(t.TempDir(), "other.key")
	must(t, os.WriteFile(otherKey, randomBytes(t, 32), 0o600))
	for name, rkFile := range map[string]string{
		"missing root key":   filepath.Join(t.TempDir(), "absent.key"),
		"different root key": otherKey,
	} {
		t.Run(name, func(t *testing.T) {
			stolen := copyDir(t, dataDir)
			s3, err := tryStartServer(t, "server", "--data-dir", stolen, "--addr", "127.0.0.1:0", "--root-key-file", rkFile)
			if err != nil {
				t.Logf("server refused the copied data dir (fine): %v", err)
				return
			}
			c := s3.client(devRegion, seedAccessKey, secret)
			if _, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob}); err == nil {
				t.Error("copied data dir with a wrong root key decrypted the ciphertext with the seeded credentials")
			}
			if _, err := os.Stat(filepath.Join(stolen, "credentials")); err == nil {
				admin := readCredentials(t, stolen)
				ac := s3.client(devRegion, admin.AccessKey, admin.Secret)
				if _, err := ac.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob}); err == nil {
					t.Error("copied data dir with a wrong root key decrypted the ciphertext")
				}
				if _, err := ac.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(seedKeyID)}); err == nil {
					t.Error("copied data dir with a wrong root key serves the seeded key")
				}
			}
		})
	}
}

// copyDir copies the regular files of src into a new temp dir.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	must(t, filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	}))
	return dst
}

func TestSeeding(t *testing.T) {
	t.Parallel()
	material := randomBytes(t, 32)
	secret := base64.RawURLEncoding.EncodeToString(randomBytes(t, 30))
	seed := seedFile(t, seedYAML(material, secret))

	// In-memory dev server with the seed.
	s := startDev(t, "--seed", seed)
	c := s.client(devRegion, seedAccessKey, secret)
	md := describe(t, c, seedKeyID)
	if aws.ToString(md.Arn) != keyARN(devRegion, seedAccount, seedKeyID) || aws.ToString(md.Description) != "seeded key" || md.KeyState != types.KeyStateEnabled {
		t.Errorf("seeded key: %s %q %s", aws.ToString(md.Arn), aws.ToString(md.Description), md.KeyState)
	}
	for _, a := range []string{"alias/seeded-app", "alias/seeded-other", aliasARN(devRegion, seedAccount, "alias/seeded-app")} {
		if got := aws.ToString(describe(t, c, a).KeyId); got != seedKeyID {
			t.Errorf("%s names %s", a, got)
		}
	}
	if diff := cmp.Diff(map[string]string{"team": "e2e", "tier": "gold"}, listTags(t, c, seedKeyID)); diff != "" {
		t.Errorf("seeded tags (-want +got):\n%s", diff)
	}
	if st := rotationStatus(t, c, seedKeyID); !st.KeyRotationEnabled {
		t.Error("seeded rotation: true not applied")
	}
	pt := []byte("seeded secret")
	blob := roundTrip(t, c, "alias/seeded-app", pt, map[string]string{"k": "v"})
	// The eu-west-1 key lives only there.
	describe(t, s.client("eu-west-1", seedAccessKey, secret), "0b5e5eed-2222-4222-8333-444455556666")
	_, err := c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("0b5e5eed-2222-4222-8333-444455556666")})
	wantType[*types.NotFoundException](t, err)
	// The dev account does not see the seed account's key.
	_, err = s.dev().DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(seedKeyID)})
	wantType[*types.NotFoundException](t, err)

	// Fixed material: a second server seeded with the same file decrypts the first one's ciphertext.
	s2 := startDev(t, "--seed", seed)
	decryptOK(t, s2.client(devRegion, seedAccessKey, secret), blob, pt, map[string]string{"k": "v"})

	// Seeding twice on a persistent data dir is idempotent: existing ids are left alone.
	dir := t.TempDir()
	s3 := startEmbedded(t, dir, "--seed", seed)
	c3 := s3.client(devRegion, seedAccessKey, secret)
	_, err = c3.UpdateKeyDescription(ctx(t), &kms.UpdateKeyDescriptionInput{KeyId: aws.String(seedKeyID), Description: aws.String("changed by user")})
	must(t, err)
	_, err = c3.UntagResource(ctx(t), &kms.UntagResourceInput{KeyId: aws.String(seedKeyID), TagKeys: []string{"tier"}})
	must(t, err)
	blob3 := roundTrip(t, c3, seedKeyID, pt, nil)
	stopClean(t, s3)
	s4 := startEmbedded(t, dir, "--seed", seed)
	c4 := s4.client(devRegion, seedAccessKey, secret)
	if got := aws.ToString(describe(t, c4, seedKeyID).Description); got != "changed by user" {
		t.Errorf("re-seeding changed the description to %q", got)
	}
	if diff := cmp.Diff(map[string]string{"team": "e2e"}, listTags(t, c4, seedKeyID)); diff != "" {
		t.Errorf("re-seeding changed tags (-want +got):\n%s", diff)
	}
	decryptOK(t, c4, blob3, pt, nil)
	decryptOK(t, c4, blob, pt, map[string]string{"k": "v"})
	keys, err := c4.ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)
	if len(keys.Keys) != 1 {
		t.Errorf("after seeding twice: %d keys in us-east-1, want 1", len(keys.Keys))
	}
	aliases, err := c4.ListAliases(ctx(t), &kms.ListAliasesInput{KeyId: aws.String(seedKeyID)})
	must(t, err)
	if len(aliases.Aliases) != 2 {
		t.Errorf("after seeding twice: %d aliases, want 2", len(aliases.Aliases))
	}
	stopClean(t, s4)

	// A changed seed file (other material) does not touch the existing key, and
	// seeded access keys persist without the seed.
	changed := seedFile(t, strings.Replace(seedYAML(randomBytes(t, 32), secret), "seeded key", "reseeded", 1))
	s5 := startEmbedded(t, dir, "--seed", changed)
	c5 := s5.client(devRegion, seedAccessKey, secret)
	decryptOK(t, c5, blob3, pt, nil)
	if got := aws.ToString(describe(t, c5, seedKeyID).Description); got != "changed by user" {
		t.Errorf("a changed seed file changed the description to %q", got)
	}
	stopClean(t, s5)
	s6 := startEmbedded(t, dir)
	decryptOK(t, s6.client(devRegion, seedAccessKey, secret), blob3, pt, nil)
	stopClean(t, s6)
}
