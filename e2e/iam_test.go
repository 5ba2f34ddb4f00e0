package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func (s *server) awsConfig(accessKey, secretKey, token string) aws.Config {
	return aws.Config{
		Region:      devRegion,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, token),
		Retryer:     func() aws.Retryer { return closedConnRetryer() },
		HTTPClient:  &http.Client{Timeout: 30 * time.Second},
	}
}

func (s *server) iam(accessKey, secretKey string) *awsiam.Client {
	return awsiam.NewFromConfig(s.awsConfig(accessKey, secretKey, ""), func(o *awsiam.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

func (s *server) sts(accessKey, secretKey, token string) *sts.Client {
	return sts.NewFromConfig(s.awsConfig(accessKey, secretKey, token), func(o *sts.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

func (s *server) kmsSession(accessKey, secretKey, token string) *kms.Client {
	return kms.NewFromConfig(s.awsConfig(accessKey, secretKey, token), func(o *kms.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

// startAdmin starts a server on a new data directory (not --dev) and
// returns it with the directory, its administrator's credentials and the
// administrator's IAM and KMS clients.
func startAdmin(t *testing.T) (s *server, dir string, admin adminCreds, root *awsiam.Client, rootKMS *kms.Client) {
	t.Helper()
	dir = t.TempDir()
	s = startEmbedded(t, dir)
	admin = readCredentials(t, dir)
	return s, dir, admin, s.iam(admin.AccessKey, admin.Secret), s.kmsSession(admin.AccessKey, admin.Secret, "")
}

// TestIdentitiesEndToEnd: the acceptance flow of the identities through the
// Go SDK against the binary (not --dev): a user and its access key, a role
// it assumes, session credentials, and a key made Inactive or deleted,
// refused on the very next request, across a restart too.
func TestIdentitiesEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startEmbedded(t, dir)
	admin := readCredentials(t, dir)
	root := s.iam(admin.AccessKey, admin.Secret)

	_, err := root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("app")})
	must(t, err)
	k, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("app")})
	must(t, err)
	appID, appSecret := aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
	if s.log.String() != "" && strings.Contains(s.log.String(), appSecret) {
		t.Error("the new secret was logged")
	}
	id, err := s.sts(appID, appSecret, "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	must(t, err)
	if aws.ToString(id.Arn) != "arn:aws:iam::"+admin.Account+":user/app" || !strings.HasPrefix(aws.ToString(id.UserId), "AIDA") {
		t.Errorf("GetCallerIdentity(app) = %s %s", aws.ToString(id.Arn), aws.ToString(id.UserId))
	}
	// No policy allows the new user anything in KMS.
	_, err = s.kmsSession(appID, appSecret, "").ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "AccessDeniedException")

	roleARN := "arn:aws:iam::" + admin.Account + ":role/deployer"
	_, err = root.CreateRole(ctx(t), &awsiam.CreateRoleInput{RoleName: aws.String("deployer"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + admin.Account + `:user/app"},"Action":"sts:AssumeRole"}]}`)})
	must(t, err)
	ar, err := s.sts(appID, appSecret, "").AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ci-run")})
	must(t, err)
	cr := ar.Credentials
	if !strings.HasPrefix(aws.ToString(cr.AccessKeyId), "ASIA") || time.Until(aws.ToTime(cr.Expiration)) < 59*time.Minute {
		t.Errorf("session credentials %s expire %v", aws.ToString(cr.AccessKeyId), cr.Expiration)
	}
	sess := s.sts(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken))
	sid, err := sess.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	must(t, err)
	if aws.ToString(sid.Arn) != "arn:aws:sts::"+admin.Account+":assumed-role/deployer/ci-run" {
		t.Errorf("session identity = %s", aws.ToString(sid.Arn))
	}
	// A session's KMS calls: authenticated (a token that verifies), then
	// refused: the role has no policy.
	_, err = s.kmsSession(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken)).ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "AccessDeniedException")
	_, err = s.kmsSession(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), "forged"+aws.ToString(cr.SessionToken)).ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "UnrecognizedClientException")

	// Inactive: refused on the very next request, on both front doors.
	_, err = root.UpdateAccessKey(ctx(t), &awsiam.UpdateAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(appID), Status: iamtypes.StatusTypeInactive})
	must(t, err)
	_, err = s.sts(appID, appSecret, "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantCodeIn(t, err, "InvalidClientTokenId")
	_, err = s.kmsSession(appID, appSecret, "").ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "UnrecognizedClientException")
	_, err = root.UpdateAccessKey(ctx(t), &awsiam.UpdateAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(appID), Status: iamtypes.StatusTypeActive})
	must(t, err)
	_, err = s.sts(appID, appSecret, "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	must(t, err)

	// A second key, deleted: refused at once; the first survives a restart.
	k2, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("app")})
	must(t, err)
	id2, secret2 := aws.ToString(k2.AccessKey.AccessKeyId), aws.ToString(k2.AccessKey.SecretAccessKey)
	_, err = s.sts(id2, secret2, "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	must(t, err)
	_, err = root.DeleteAccessKey(ctx(t), &awsiam.DeleteAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(id2)})
	must(t, err)
	_, err = s.sts(id2, secret2, "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantCodeIn(t, err, "InvalidClientTokenId")
	stopClean(t, s)

	s = startEmbedded(t, dir)
	_, err = s.sts(appID, appSecret, "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	must(t, err)
	_, err = s.sts(id2, secret2, "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantCodeIn(t, err, "InvalidClientTokenId")
	// The session token still verifies after the restart (self-contained).
	_, err = s.sts(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken)).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	must(t, err)
	if readCredentials(t, dir) != admin {
		t.Error("the credentials file changed across a restart")
	}
}

// TestDevNeverLeavesADoor: a --dev run on a data directory admits the
// development key and unknown keys; the next run without --dev refuses
// both, and nothing of them was stored.
func TestDevNeverLeavesADoor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startDev(t, "--data-dir", dir)
	newKey(t, s.dev(), "made in dev mode")
	_, err := s.client(devRegion, "AKIAUNKNOWNKEY000001", "anything").ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)
	stopClean(t, s)
	if _, err := os.Stat(filepath.Join(dir, "credentials")); err == nil {
		t.Error("--dev wrote a credentials file")
	}
	code, out := trent(t, "admin", "list-access-keys", "--data-dir", dir)
	if code != 0 || strings.Contains(out, devAccessKey) {
		t.Errorf("after --dev, stored access keys (exit %d):\n%s", code, out)
	}

	s = startEmbedded(t, dir)
	_, err = s.dev().ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "UnrecognizedClientException")
	_, err = s.client(devRegion, "AKIAUNKNOWNKEY000001", "anything").ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "UnrecognizedClientException")
	_, err = s.iam(devAccessKey, devSecretKey).ListUsers(ctx(t), &awsiam.ListUsersInput{})
	wantCodeIn(t, err, "InvalidClientTokenId")
	// The account's first administrator is created now, outside --dev, and
	// finds the key made in dev mode.
	admin := readCredentials(t, dir)
	keys, err := s.client(devRegion, admin.AccessKey, admin.Secret).ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)
	if len(keys.Keys) != 1 || admin.Account != devAccount {
		t.Errorf("after --dev: %d keys in account %s", len(keys.Keys), admin.Account)
	}
}

// TestDataDirectoryAccounts: a data directory remembers its account; another
// --account-id is refused unless added explicitly, and the credentials file
// is never overwritten.
func TestDataDirectoryAccounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startEmbedded(t, dir, "--account-id", "444455556666")
	stopClean(t, s)
	admin := readCredentials(t, dir)
	before, err := os.ReadFile(filepath.Join(dir, "credentials"))
	must(t, err)

	s, err = tryStartServer(t, "server", "--data-dir", dir, "--addr", "127.0.0.1:0", "--account-id", "777788889999")
	if err == nil {
		t.Fatal("a server started with another --account-id")
	}
	if !strings.Contains(s.log.String(), "--add-account") || !strings.Contains(s.log.String(), "444455556666") {
		t.Errorf("the refusal does not say what to do:\n%s", s.log)
	}
	s = startEmbedded(t, dir) // no --account-id: the directory's own
	if _, err := s.client(devRegion, admin.AccessKey, admin.Secret).ListKeys(ctx(t), &kms.ListKeysInput{}); err != nil {
		t.Fatal(err)
	}
	stopClean(t, s)

	s = startEmbedded(t, dir, "--account-id", "777788889999", "--add-account")
	stopClean(t, s)
	// The start-up summary points the shell at the added account's
	// administrator, not at the credentials file of the first account.
	if want := "export AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials-777788889999") + "\n"; !strings.Contains(s.log.String(), want) {
		t.Errorf("the summary of the added account lacks %q:\n%s", want, s.log)
	}
	after, err := os.ReadFile(filepath.Join(dir, "credentials"))
	must(t, err)
	if string(after) != string(before) {
		t.Error("adding an account overwrote the credentials file")
	}
	added, err := os.ReadFile(filepath.Join(dir, "credentials-777788889999"))
	if err != nil || !strings.Contains(string(added), "# account 777788889999") {
		t.Fatalf("the added account's credentials: %v\n%s", err, added)
	}
	code, out := trent(t, "admin", "list-accounts", "--data-dir", dir, "--json")
	var accounts struct{ Accounts []string }
	if code != 0 || json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &accounts) != nil || strings.Join(accounts.Accounts, ",") != "444455556666,777788889999" {
		t.Errorf("admin list-accounts = %d %s", code, out)
	}
}

var keyLineRE = regexp.MustCompile(`aws_access_key_id = (\S+)\naws_secret_access_key = (\S+)`)

// TestAdminCommand: break-glass root keys and revocation with the server
// stopped; a running server's directory is refused with a pointer to the
// IAM API.
func TestAdminCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startEmbedded(t, dir)
	admin := readCredentials(t, dir)
	code, out := trent(t, "admin", "create-access-key", "--data-dir", dir)
	if code == 0 || !strings.Contains(out, "in use by a running trent server") || !strings.Contains(out, "aws iam") {
		t.Errorf("admin on a running server's directory: %d %s", code, out)
	}
	stopClean(t, s)

	code, out = trent(t, "admin", "create-access-key", "--data-dir", dir)
	m := keyLineRE.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("admin create-access-key = %d %s", code, out)
	}
	glassID, glassSecret := m[1], m[2]
	code, out = trent(t, "admin", "deactivate-access-key", "--data-dir", dir, admin.AccessKey)
	if code != 0 {
		t.Fatalf("admin deactivate-access-key = %d %s", code, out)
	}
	code, out = trent(t, "admin", "list-access-keys", "--data-dir", dir)
	if code != 0 || !regexp.MustCompile(admin.AccessKey+`\s+\(root\)\s+Inactive\s+\S+\s+generated`).MatchString(out) ||
		!regexp.MustCompile(glassID+`\s+\(root\)\s+Active\s+\S+\s+admin`).MatchString(out) || strings.Contains(out, glassSecret) {
		t.Errorf("admin list-access-keys = %d\n%s", code, out)
	}

	s = startEmbedded(t, dir)
	_, err := s.client(devRegion, admin.AccessKey, admin.Secret).ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "UnrecognizedClientException")
	glass := s.iam(glassID, glassSecret)
	_, err = glass.UpdateAccessKey(ctx(t), &awsiam.UpdateAccessKeyInput{AccessKeyId: aws.String(admin.AccessKey), Status: iamtypes.StatusTypeActive})
	must(t, err)
	if _, err := s.client(devRegion, admin.AccessKey, admin.Secret).ListKeys(ctx(t), &kms.ListKeysInput{}); err != nil {
		t.Errorf("reactivated through the IAM API: %v", err)
	}
	stopClean(t, s)
	if code, out = trent(t, "admin", "delete-access-key", "--data-dir", dir, glassID); code != 0 {
		t.Errorf("admin delete-access-key = %d %s", code, out)
	}
	if code, out = trent(t, "admin", "delete-access-key", "--data-dir", dir, glassID); code == 0 || !strings.Contains(out, "cannot be found") {
		t.Errorf("deleting it again = %d %s", code, out)
	}
}

// TestSeedDeactivatesRemovedKeys: an access key the seed file no longer
// lists is deactivated at the next start (and logged); keys it lists, of
// users and of the root user, work.
func TestSeedDeactivatesRemovedKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seed := func(keys string) string {
		return seedFile(t, `
users:
  - name: app
    policies:
      sts: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "sts:*", Resource: "*"}]}
access_keys:
`+keys)
	}
	both := seed(`  - id: AKIASEEDAPP000000001
    secret: app-secret-1
    user: app
  - id: AKIASEEDROOT00000001
    secret: root-secret-1
`)
	s := startEmbedded(t, dir, "--seed", both)
	id, err := s.sts("AKIASEEDAPP000000001", "app-secret-1", "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	must(t, err)
	if !strings.HasSuffix(aws.ToString(id.Arn), ":user/app") {
		t.Errorf("seeded user key = %s", aws.ToString(id.Arn))
	}
	_, err = s.client(devRegion, "AKIASEEDROOT00000001", "root-secret-1").ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)
	stopClean(t, s)

	s = startEmbedded(t, dir, "--seed", seed(`  - id: AKIASEEDAPP000000001
    secret: app-secret-1
    user: app
`))
	_, err = s.client(devRegion, "AKIASEEDROOT00000001", "root-secret-1").ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "UnrecognizedClientException")
	if !strings.Contains(s.log.String(), "AKIASEEDROOT00000001") || !strings.Contains(s.log.String(), "deactivated") {
		t.Errorf("the deactivation was not logged:\n%s", s.log)
	}
	_, err = s.sts("AKIASEEDAPP000000001", "app-secret-1", "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	must(t, err)
}

// TestTagsAndTrustEndToEnd: ListUserTags / ListRoleTags, UntagUser /
// UntagRole (keys without regard to case; aws:TagKeys in policies),
// ListRolePolicies and UpdateAssumeRolePolicy (checked and bound like
// CreateRole's trust policy) through the Go SDK against the binary.
func TestTagsAndTrustEndToEnd(t *testing.T) {
	t.Parallel()
	s, _, admin, root, _ := startAdmin(t)
	acct := admin.Account
	tags := func(ts ...string) []iamtypes.Tag {
		var out []iamtypes.Tag
		for i := 0; i < len(ts); i += 2 {
			out = append(out, iamtypes.Tag{Key: aws.String(ts[i]), Value: aws.String(ts[i+1])})
		}
		return out
	}
	keysOf := func(ts []iamtypes.Tag) (keys []string) {
		for _, tg := range ts {
			keys = append(keys, aws.ToString(tg.Key))
		}
		return keys
	}

	// Users: listed by key, removed without regard to case.
	_, err := root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("app"), Tags: tags("team", "a", "env", "prod", "protected", "yes")})
	must(t, err)
	ut, err := root.ListUserTags(ctx(t), &awsiam.ListUserTagsInput{UserName: aws.String("app"), MaxItems: aws.Int32(2)})
	must(t, err)
	if got := keysOf(ut.Tags); !slices.Equal(got, []string{"env", "protected"}) || !ut.IsTruncated {
		t.Errorf("ListUserTags page 1 = %q truncated %v, want [env protected] truncated", got, ut.IsTruncated)
	}
	ut, err = root.ListUserTags(ctx(t), &awsiam.ListUserTagsInput{UserName: aws.String("app"), Marker: ut.Marker})
	must(t, err)
	if got := keysOf(ut.Tags); !slices.Equal(got, []string{"team"}) || ut.IsTruncated {
		t.Errorf("ListUserTags page 2 = %q truncated %v, want [team]", got, ut.IsTruncated)
	}
	_, err = root.UntagUser(ctx(t), &awsiam.UntagUserInput{UserName: aws.String("app"), TagKeys: []string{"TEAM", "absent"}})
	must(t, err)
	ut, err = root.ListUserTags(ctx(t), &awsiam.ListUserTagsInput{UserName: aws.String("app")})
	must(t, err)
	if got := keysOf(ut.Tags); !slices.Equal(got, []string{"env", "protected"}) {
		t.Errorf("after UntagUser TEAM: %q, want [env protected]", got)
	}
	_, err = root.UntagUser(ctx(t), &awsiam.UntagUserInput{UserName: aws.String("nobody"), TagKeys: []string{"env"}})
	wantCodeIn(t, err, "NoSuchEntity")
	_, err = root.UntagUser(ctx(t), &awsiam.UntagUserInput{UserName: aws.String("app"), TagKeys: []string{""}})
	wantCodeIn(t, err, "ValidationError")

	// aws:TagKeys of an UntagUser: a user allowed to untag, but not the
	// "protected" key.
	_, err = root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("ops")})
	must(t, err)
	_, err = root.PutUserPolicy(ctx(t), &awsiam.PutUserPolicyInput{UserName: aws.String("ops"), PolicyName: aws.String("untag"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:UntagUser","Resource":"*"},
			{"Effect":"Deny","Action":"iam:UntagUser","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"protected"}}}]}`)})
	must(t, err)
	ak, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("ops")})
	must(t, err)
	ops := s.iam(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey))
	_, err = ops.UntagUser(ctx(t), &awsiam.UntagUserInput{UserName: aws.String("app"), TagKeys: []string{"protected"}})
	wantCodeIn(t, err, "AccessDenied")
	_, err = ops.UntagUser(ctx(t), &awsiam.UntagUserInput{UserName: aws.String("app"), TagKeys: []string{"env"}})
	must(t, err)

	// Roles: tags, inline policies listed, and a trust policy replaced.
	appARN := "arn:aws:iam::" + acct + ":user/app"
	trust := func(principal string) *string {
		return aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole"}]}`)
	}
	_, err = root.CreateRole(ctx(t), &awsiam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: trust(appARN), Tags: tags("a", "1", "b", "2")})
	must(t, err)
	_, err = root.UntagRole(ctx(t), &awsiam.UntagRoleInput{RoleName: aws.String("r"), TagKeys: []string{"a"}})
	must(t, err)
	rt, err := root.ListRoleTags(ctx(t), &awsiam.ListRoleTagsInput{RoleName: aws.String("r")})
	must(t, err)
	if got := keysOf(rt.Tags); !slices.Equal(got, []string{"b"}) {
		t.Errorf("ListRoleTags after UntagRole a = %q, want [b]", got)
	}
	for _, p := range []string{"p2", "p1"} {
		_, err = root.PutRolePolicy(ctx(t), &awsiam.PutRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String(p),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`)})
		must(t, err)
	}
	rp, err := root.ListRolePolicies(ctx(t), &awsiam.ListRolePoliciesInput{RoleName: aws.String("r")})
	must(t, err)
	if !slices.Equal(rp.PolicyNames, []string{"p1", "p2"}) {
		t.Errorf("ListRolePolicies = %q, want [p1 p2]", rp.PolicyNames)
	}

	opsARN := "arn:aws:iam::" + acct + ":user/ops"
	_, err = root.UpdateAssumeRolePolicy(ctx(t), &awsiam.UpdateAssumeRolePolicyInput{RoleName: aws.String("r"), PolicyDocument: trust("arn:aws:iam::" + acct + ":user/ghost")})
	wantCodeIn(t, err, "MalformedPolicyDocument")
	_, err = root.UpdateAssumeRolePolicy(ctx(t), &awsiam.UpdateAssumeRolePolicyInput{RoleName: aws.String("r"), PolicyDocument: trust(opsARN)})
	must(t, err)
	role, err := root.GetRole(ctx(t), &awsiam.GetRoleInput{RoleName: aws.String("r")})
	must(t, err)
	if doc, _ := url.QueryUnescape(aws.ToString(role.Role.AssumeRolePolicyDocument)); !strings.Contains(doc, opsARN) {
		t.Errorf("GetRole trust policy after UpdateAssumeRolePolicy = %s", doc)
	}
	assume := func(id, secret string) error {
		_, err := s.sts(id, secret, "").AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/r"), RoleSessionName: aws.String("s1")})
		return err
	}
	must(t, assume(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey)))
	appKey, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("app")})
	must(t, err)
	wantCodeIn(t, assume(aws.ToString(appKey.AccessKey.AccessKeyId), aws.ToString(appKey.AccessKey.SecretAccessKey)), "AccessDenied")
}
