package awsquery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/awstest"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/sigv4"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

const acct = "111122223333"

// recorder keeps audit events.
type recorder struct {
	mu     sync.Mutex
	events []*Event
	fail   atomic.Bool
}

func (r *recorder) Record(_ context.Context, e *Event) error {
	if r.fail.Load() {
		return errors.New("audit sink down")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) last() *Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[len(r.events)-1]
}

type env struct {
	t      *testing.T
	url    string
	svc    *iam.Service
	rootID string
	rootSK string
	frozen atomic.Int64 // the identity service's clock: Unix nanoseconds, 0 = the real clock
	audit  *recorder
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, audit: &recorder{}}
	ctx := context.Background()
	svc, err := iam.New(ctx, iam.Config{Store: memstore.New(), Now: e.now})
	if err != nil {
		t.Fatal(err)
	}
	_, first, err := svc.OpenAccount(ctx, acct, false, false)
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.rootID, e.rootSK = svc, first.AccessKeyID, first.Secret.Reveal()
	h := New(Config{Service: svc, IAM: &sigv4.Verifier{Creds: svc, Service: "iam"}, STS: &sigv4.Verifier{Creds: svc, Service: "sts"}, Auditor: e.audit})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// now is the identity service's clock: the real one unless a test froze it.
func (e *env) now() time.Time {
	if ns := e.frozen.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Now()
}

func (e *env) cfg(akid, secret, token string) aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, token),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
}

func (e *env) iam(akid, secret, token string) *awsiam.Client {
	return awsiam.NewFromConfig(e.cfg(akid, secret, token), func(o *awsiam.Options) { o.BaseEndpoint = aws.String(e.url) })
}

func (e *env) sts(akid, secret, token string) *sts.Client {
	return sts.NewFromConfig(e.cfg(akid, secret, token), func(o *sts.Options) { o.BaseEndpoint = aws.String(e.url) })
}

func (e *env) root() *awsiam.Client { return e.iam(e.rootID, e.rootSK, "") }

func ok[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestIAMWithTheSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.root()
	u := ok(c.CreateUser(ctx, &awsiam.CreateUserInput{UserName: aws.String("alice"), Path: aws.String("/team/"),
		Tags: []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})).User
	if aws.ToString(u.Arn) != "arn:aws:iam::"+acct+":user/team/alice" || aws.ToString(u.UserName) != "alice" || u.CreateDate == nil ||
		len(u.Tags) != 1 || aws.ToString(u.Tags[0].Value) != "v" {
		t.Errorf("CreateUser = %+v", u)
	}
	if ev := e.audit.last(); ev.EventName != "CreateUser" || ev.EventSource != "iam.amazonaws.com" || ev.Principal == nil ||
		!ev.Principal.IsRoot() || ev.ReadOnly || ev.ErrorCode != "" || ev.Input.(*iam.CreateUserInput).UserName != "alice" {
		t.Errorf("audit event = %+v", ev)
	}
	_, err := c.CreateUser(ctx, &awsiam.CreateUserInput{UserName: aws.String("ALICE")})
	var exists *iamtypes.EntityAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("duplicate CreateUser: %v", err)
	}
	awstest.WantError(t, err, "EntityAlreadyExists", 409, "User with name ALICE already exists.")
	_, err = c.GetUser(ctx, &awsiam.GetUserInput{UserName: aws.String("nobody")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Fatalf("GetUser(nobody): %v", err)
	}
	awstest.WantError(t, err, "NoSuchEntity", 404, "The user with name nobody cannot be found.")
	if ev := e.audit.last(); ev.ErrorCode != "NoSuchEntity" || !ev.ReadOnly {
		t.Errorf("audit event of a failure = %+v", ev)
	}
	_, err = c.CreateUser(ctx, &awsiam.CreateUserInput{UserName: aws.String("bad name")})
	awstest.WantError(t, err, "ValidationError", 400, "Member must satisfy regular expression pattern")

	me := ok(c.GetUser(ctx, &awsiam.GetUserInput{})).User
	if aws.ToString(me.UserId) != acct || aws.ToString(me.Arn) != "arn:aws:iam::"+acct+":root" {
		t.Errorf("GetUser() = %+v", me)
	}
	ok(c.TagUser(ctx, &awsiam.TagUserInput{UserName: aws.String("alice"), Tags: []iamtypes.Tag{{Key: aws.String("x"), Value: aws.String("")}}}))
	users := ok(c.ListUsers(ctx, &awsiam.ListUsersInput{}))
	if len(users.Users) != 1 || users.IsTruncated {
		t.Errorf("ListUsers = %+v", users)
	}

	// Access keys.
	k := ok(c.CreateAccessKey(ctx, &awsiam.CreateAccessKeyInput{UserName: aws.String("alice")})).AccessKey
	if aws.ToString(k.UserName) != "alice" || k.Status != iamtypes.StatusTypeActive || len(aws.ToString(k.SecretAccessKey)) != 40 {
		t.Errorf("CreateAccessKey = %+v", k)
	}
	keys := ok(c.ListAccessKeys(ctx, &awsiam.ListAccessKeysInput{UserName: aws.String("alice")})).AccessKeyMetadata
	if len(keys) != 1 || aws.ToString(keys[0].AccessKeyId) != aws.ToString(k.AccessKeyId) {
		t.Errorf("ListAccessKeys = %+v", keys)
	}
	alice := e.iam(aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey), "")
	_, err = alice.ListUsers(ctx, &awsiam.ListUsersInput{})
	awstest.WantError(t, err, "AccessDenied", 403, "User: arn:aws:iam::"+acct+":user/team/alice is not authorized to perform: iam:ListUsers")

	// Inline policies: the document comes back URL-encoded, as from AWS.
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}`
	ok(c.PutUserPolicy(ctx, &awsiam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("list"), PolicyDocument: aws.String(doc)}))
	got := ok(c.GetUserPolicy(ctx, &awsiam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("list")}))
	if dec, err := url.QueryUnescape(aws.ToString(got.PolicyDocument)); err != nil || dec != doc || aws.ToString(got.PolicyDocument) == doc {
		t.Errorf("GetUserPolicy document = %q", aws.ToString(got.PolicyDocument))
	}
	if names := ok(c.ListUserPolicies(ctx, &awsiam.ListUserPoliciesInput{UserName: aws.String("alice")})).PolicyNames; len(names) != 1 || names[0] != "list" {
		t.Errorf("ListUserPolicies = %v", names)
	}
	ok(alice.ListUsers(ctx, &awsiam.ListUsersInput{})) // allowed at once
	_, err = c.PutUserPolicy(ctx, &awsiam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("bad"), PolicyDocument: aws.String(`{"Statement":`)})
	var mpd *iamtypes.MalformedPolicyDocumentException
	if !errors.As(err, &mpd) {
		t.Fatalf("malformed policy: %v", err)
	}
	ok(c.DeleteUserPolicy(ctx, &awsiam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("list")}))

	// Inactive, then deleted: refused on the next request.
	ok(c.UpdateAccessKey(ctx, &awsiam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: k.AccessKeyId, Status: iamtypes.StatusTypeInactive}))
	_, err = alice.GetUser(ctx, &awsiam.GetUserInput{})
	awstest.WantError(t, err, "InvalidClientTokenId", 403, "The security token included in the request is invalid")
	if ev := e.audit.last(); ev.Principal != nil || ev.ErrorCode != "InvalidClientTokenId" {
		t.Errorf("audit of a refused key = %+v", ev)
	}
	_, err = c.DeleteUser(ctx, &awsiam.DeleteUserInput{UserName: aws.String("alice")})
	var dc *iamtypes.DeleteConflictException
	if !errors.As(err, &dc) {
		t.Fatalf("DeleteUser with keys: %v", err)
	}
	ok(c.DeleteAccessKey(ctx, &awsiam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: k.AccessKeyId}))
	_, err = c.DeleteAccessKey(ctx, &awsiam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: k.AccessKeyId})
	awstest.WantError(t, err, "NoSuchEntity", 404, "The Access Key with id")
	ok(c.DeleteUser(ctx, &awsiam.DeleteUserInput{UserName: aws.String("alice")}))

	// Roles.
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`
	r := ok(c.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("app"), AssumeRolePolicyDocument: aws.String(trust),
		Description: aws.String("d"), MaxSessionDuration: aws.Int32(7200)})).Role
	if aws.ToString(r.Arn) != "arn:aws:iam::"+acct+":role/app" || aws.ToInt32(r.MaxSessionDuration) != 7200 {
		t.Errorf("CreateRole = %+v", r)
	}
	if dec, _ := url.QueryUnescape(aws.ToString(r.AssumeRolePolicyDocument)); dec != trust {
		t.Errorf("AssumeRolePolicyDocument = %q", aws.ToString(r.AssumeRolePolicyDocument))
	}
	ok(c.TagRole(ctx, &awsiam.TagRoleInput{RoleName: aws.String("app"), Tags: []iamtypes.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}))
	if got := ok(c.GetRole(ctx, &awsiam.GetRoleInput{RoleName: aws.String("APP")})).Role; len(got.Tags) != 1 || aws.ToString(got.Description) != "d" {
		t.Errorf("GetRole = %+v", got)
	}
	ok(c.PutRolePolicy(ctx, &awsiam.PutRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)}))
	if rp := ok(c.GetRolePolicy(ctx, &awsiam.GetRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("p")})); aws.ToString(rp.RoleName) != "app" {
		t.Errorf("GetRolePolicy = %+v", rp)
	}
	if roles := ok(c.ListRoles(ctx, &awsiam.ListRolesInput{})).Roles; len(roles) != 1 {
		t.Errorf("ListRoles = %+v", roles)
	}
	ok(c.DeleteRolePolicy(ctx, &awsiam.DeleteRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("p")}))
	ok(c.DeleteRole(ctx, &awsiam.DeleteRoleInput{RoleName: aws.String("app")}))
	_, err = c.GetRole(ctx, &awsiam.GetRoleInput{RoleName: aws.String("app")})
	awstest.WantError(t, err, "NoSuchEntity", 404, "The role with name app cannot be found.")
}

func TestSTSWithTheSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.root()
	id := ok(e.sts(e.rootID, e.rootSK, "").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}))
	if aws.ToString(id.Account) != acct || aws.ToString(id.Arn) != "arn:aws:iam::"+acct+":root" || aws.ToString(id.UserId) != acct {
		t.Errorf("GetCallerIdentity(root) = %+v", id)
	}
	ok(c.CreateUser(ctx, &awsiam.CreateUserInput{UserName: aws.String("dev")}))
	k := ok(c.CreateAccessKey(ctx, &awsiam.CreateAccessKeyInput{UserName: aws.String("dev")})).AccessKey
	roleARN := "arn:aws:iam::" + acct + ":role/deploy"
	ok(c.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("deploy"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/dev"},"Action":"sts:AssumeRole"}]}`)}))
	dev := e.sts(aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey), "")
	if id := ok(dev.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})); aws.ToString(id.Arn) != "arn:aws:iam::"+acct+":user/dev" {
		t.Errorf("GetCallerIdentity(dev) = %+v", id)
	}
	out := ok(dev.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ci"), DurationSeconds: aws.Int32(900)}))
	cr := out.Credentials
	if !strings.HasPrefix(aws.ToString(cr.AccessKeyId), "ASIA") || cr.Expiration == nil || time.Until(*cr.Expiration) > 900*time.Second {
		t.Errorf("AssumeRole credentials = %+v", cr)
	}
	if ev := e.audit.last(); ev.EventSource != "sts.amazonaws.com" || ev.EventName != "AssumeRole" {
		t.Errorf("audit event = %+v", ev)
	}
	sess := e.sts(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken))
	id = ok(sess.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}))
	if aws.ToString(id.Arn) != "arn:aws:sts::"+acct+":assumed-role/deploy/ci" || aws.ToString(id.UserId) != aws.ToString(out.AssumedRoleUser.AssumedRoleId) {
		t.Errorf("GetCallerIdentity(session) = %+v", id)
	}
	// A session token signed for another key, or changed: refused.
	bad := e.sts(aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey), aws.ToString(cr.SessionToken))
	_, err := bad.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	awstest.WantError(t, err, "InvalidClientTokenId", 403, "The security token included in the request is invalid")
	// Expired: ExpiredToken, valid until then (the identity service's clock
	// stopped a second before, then at the expiry it announced).
	e.frozen.Store(cr.Expiration.Add(-time.Second).UnixNano())
	ok(sess.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}))
	e.frozen.Store(cr.Expiration.UnixNano())
	_, err = sess.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	awstest.WantError(t, err, "ExpiredToken", 403, "The security token included in the request is expired")
	_, err = e.iam(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken)).ListUsers(ctx, &awsiam.ListUsersInput{})
	awstest.WantError(t, err, "ExpiredToken", 403, "expired")
	e.frozen.Store(0)

	// Denied by the trust policy.
	ok(c.CreateUser(ctx, &awsiam.CreateUserInput{UserName: aws.String("other")}))
	k2 := ok(c.CreateAccessKey(ctx, &awsiam.CreateAccessKeyInput{UserName: aws.String("other")})).AccessKey
	_, err = e.sts(aws.ToString(k2.AccessKeyId), aws.ToString(k2.SecretAccessKey), "").AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("x1")})
	awstest.WantError(t, err, "AccessDenied", 403, "User: arn:aws:iam::"+acct+":user/other is not authorized to perform: sts:AssumeRole on resource: "+roleARN)
	_, err = dev.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ci"), DurationSeconds: aws.Int32(3601)})
	awstest.WantError(t, err, "ValidationError", 400, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	_, err = dev.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ci"), Policy: aws.String("{}")})
	awstest.WantError(t, err, "ValidationError", 400, "session policies")
	var ptl *ststypes.PackedPolicyTooLargeException
	_, err = dev.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ci"),
		Tags: []ststypes.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 256))}, {Key: aws.String("k2"), Value: aws.String(strings.Repeat("v", 256))},
			{Key: aws.String("k3"), Value: aws.String(strings.Repeat("v", 256))}, {Key: aws.String("k4"), Value: aws.String(strings.Repeat("v", 256))},
			{Key: aws.String("k5"), Value: aws.String(strings.Repeat("v", 256))}, {Key: aws.String("k6"), Value: aws.String(strings.Repeat("v", 256))},
			{Key: aws.String("k7"), Value: aws.String(strings.Repeat("v", 256))}, {Key: aws.String("k8"), Value: aws.String(strings.Repeat("v", 256))}}})
	if !errors.As(err, &ptl) {
		t.Errorf("oversized session tags: %v", err)
	}
}

// raw sends a form body signed for service (or unsigned when service is
// "") and returns the status and body.
func (e *env) raw(t *testing.T, method, body, service string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ContentType+"; charset=utf-8")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if service != "" {
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: e.rootID, SecretAccessKey: e.rootSK},
			req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type = %q", ct)
	}
	if resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Error("no x-amzn-RequestId")
	}
	return resp.StatusCode, string(b)
}

type errDoc struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func TestWire(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, method, body, service string
		status                      int
		code, msg, ns               string
	}{
		{"GET without an Action", "GET", "", "", 405, "InvalidAction", "Only GET (with an Action in the URL) and POST", svcIAM.Namespace},
		{"PUT", "PUT", "Action=ListUsers&Version=2010-05-08", "iam", 405, "InvalidAction", "Only GET (with an Action in the URL) and POST", svcIAM.Namespace},
		{"missing action", "POST", "Version=2010-05-08", "iam", 400, "MissingAction", "missing an action", svcIAM.Namespace},
		{"unknown action", "POST", "Action=CreateGroup&Version=2010-05-08", "iam", 400, "InvalidAction", "Could not find operation CreateGroup for version 2010-05-08", svcIAM.Namespace},
		{"no version", "POST", "Action=GetCallerIdentity", "sts", 400, "InvalidAction", "Could not find operation GetCallerIdentity for version NO_VERSION_SPECIFIED", svcIAM.Namespace},
		{"wrong version", "POST", "Action=GetCallerIdentity&Version=2010-05-08", "sts", 400, "InvalidAction", "for version 2010-05-08", svcIAM.Namespace},
		{"bad escape", "POST", "Action=GetUser&Version=2010-05-08&UserName=%zz", "iam", 404, "MalformedQueryString", "UserName", svcIAM.Namespace},
		{"invalid UTF-8", "POST", "Action=GetUser&Version=2010-05-08&UserName=%ff", "iam", 404, "MalformedQueryString", "", svcIAM.Namespace},
		{"duplicate", "POST", "Action=GetUser&Version=2010-05-08&UserName=a&UserName=b", "iam", 404, "MalformedQueryString", "Parameter UserName appears more than once.", svcIAM.Namespace},
		{"unknown parameter", "POST", "Action=GetUser&Version=2010-05-08&Username=a", "iam", 400, "ValidationError", "Parameter Username is not valid for this operation.", svcIAM.Namespace},
		{"list gap", "POST", "Action=TagUser&Version=2010-05-08&UserName=a&Tags.member.1.Key=k&Tags.member.1.Value=v&Tags.member.3.Key=j", "iam", 400, "ValidationError", "Tags.member.3.Key", svcIAM.Namespace},
		{"bad integer", "POST", "Action=ListUsers&Version=2010-05-08&MaxItems=1e3", "iam", 400, "ValidationError", "is not a valid integer", svcIAM.Namespace},
		{"unsigned", "POST", "Action=ListUsers&Version=2010-05-08", "", 403, "MissingAuthenticationToken", "", svcIAM.Namespace},
		{"scope of another service", "POST", "Action=ListUsers&Version=2010-05-08", "sts", 403, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'iam'.", svcIAM.Namespace},
		{"kms scope for sts", "POST", "Action=GetCallerIdentity&Version=2011-06-15", "kms", 403, "SignatureDoesNotMatch", "'sts'", svcSTS.Namespace},
		{"not found", "POST", "Action=GetUser&Version=2010-05-08&UserName=nobody", "iam", 404, "NoSuchEntity", "The user with name nobody cannot be found.", svcIAM.Namespace},
	} {
		// MalformedQueryString is HTTP 404, as AWS's Common Errors page
		// documents it for every Query API.
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.raw(t, tc.method, tc.body, tc.service, nil)
			var d errDoc
			if err := xml.Unmarshal([]byte(body), &d); err != nil {
				t.Fatalf("not an ErrorResponse: %v\n%s", err, body)
			}
			if status != tc.status || d.Code != tc.code || !strings.Contains(d.Message, tc.msg) || d.Type != "Sender" || d.RequestID == "" || d.Xmlns != tc.ns {
				t.Errorf("got %d %+v, want %d %s %q", status, d, tc.status, tc.code, tc.msg)
			}
		})
	}

	// A success: the envelope AWS sends.
	status, body := e.raw(t, "POST", "Action=GetCallerIdentity&Version=2011-06-15", "sts", nil)
	if status != 200 || !strings.Contains(body, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>`) ||
		!strings.Contains(body, "<Account>"+acct+"</Account>") || !strings.Contains(body, "</GetCallerIdentityResult><ResponseMetadata><RequestId>") {
		t.Errorf("GetCallerIdentity: %d\n%s", status, body)
	}
	// An action without output has no Result element.
	e.raw(t, "POST", "Action=CreateUser&Version=2010-05-08&UserName=tmp", "iam", nil)
	status, body = e.raw(t, "POST", "Action=DeleteUser&Version=2010-05-08&UserName=tmp", "iam", nil)
	if status != 200 || strings.Contains(body, "DeleteUserResult") || !strings.Contains(body, "<DeleteUserResponse") {
		t.Errorf("DeleteUser: %d\n%s", status, body)
	}
	// An empty list as the SDKs send it ("Tags=").
	status, body = e.raw(t, "POST", "Action=CreateUser&Version=2010-05-08&UserName=t2&Tags=", "iam", nil)
	if status != 200 {
		t.Errorf("CreateUser with Tags=: %d\n%s", status, body)
	}
	// A failing audit fails the request.
	e.audit.fail.Store(true)
	status, body = e.raw(t, "POST", "Action=GetCallerIdentity&Version=2011-06-15", "sts", nil)
	e.audit.fail.Store(false)
	if status != 500 || !strings.Contains(body, "<Type>Receiver</Type>") || !strings.Contains(body, "<Code>ServiceFailure</Code>") {
		t.Errorf("with a failing audit: %d\n%s", status, body)
	}
	// Too large.
	status, _ = e.raw(t, "POST", "Action=GetUser&Version=2010-05-08&UserName="+strings.Repeat("a", maxBody), "", nil)
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", status)
	}
}

func TestIsQueryRequest(t *testing.T) {
	for _, tc := range []struct {
		method, url, ct, target string
		want                    bool
	}{
		{"POST", "/", "application/x-www-form-urlencoded", "", true},
		{"POST", "/", "application/x-www-form-urlencoded; charset=utf-8", "", true},
		{"POST", "/", "APPLICATION/X-WWW-FORM-URLENCODED", "", true},
		{"POST", "/", "application/x-www-form-urlencoded", "TrentService.Encrypt", false},
		{"POST", "/", "application/x-amz-json-1.1", "", false},
		{"POST", "/", "", "", false},
		{"GET", "/?Action=ListUsers&Version=2010-05-08", "", "", true},
		{"GET", "/?Version=2010-05-08&Action=ListUsers", "", "", true},
		{"GET", "/?Version=2010-05-08", "", "", false},
		{"GET", "/", "", "", false},
		{"GET", "/?Action=ListUsers", "", "TrentService.ListKeys", false},
	} {
		r := httptest.NewRequest(tc.method, tc.url, nil)
		if tc.ct != "" {
			r.Header.Set("Content-Type", tc.ct)
		}
		if tc.target != "" {
			r.Header.Set("X-Amz-Target", tc.target)
		}
		if got := IsQueryRequest(r); got != tc.want {
			t.Errorf("IsQueryRequest(%s %s, %q, %q) = %v", tc.method, tc.url, tc.ct, tc.target, got)
		}
	}
}

func TestOperationsTable(t *testing.T) {
	for action, op := range operations {
		if action != op.Name || (op.Service != svcIAM && op.Service != svcSTS) || op.decode == nil || op.call == nil {
			t.Errorf("row %s = %+v", action, op)
		}
	}
	if n := len(Operations()); n != 29 {
		t.Errorf("%d operations, want 29", n)
	}
}

func TestDecode(t *testing.T) {
	vals, err := ParseForm([]byte("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&RoleSessionName=a+b" +
		"&DurationSeconds=900&Tags.member.1.Key=k1&Tags.member.1.Value=v1&Tags.member.2.Key=k2&Tags.member.2.Value=" +
		"&TransitiveTagKeys.member.1=k1&PolicyArns.member.1.arn=arn%3Ax"))
	if err != nil {
		t.Fatal(err)
	}
	var in iam.AssumeRoleInput
	if err := Decode(vals, &in, "Action", "Version"); err != nil {
		t.Fatal(err)
	}
	if in.RoleArn != "arn:aws:iam::1:role/r" || in.RoleSessionName != "a b" || aws.ToInt32(in.DurationSeconds) != 900 ||
		len(in.Tags) != 2 || in.Tags[1] != (iam.Tag{Key: "k2"}) || len(in.TransitiveTagKeys) != 1 || len(in.PolicyArns) != 1 || in.PolicyArns[0].Arn != "arn:x" {
		t.Errorf("Decode = %+v", in)
	}
	for _, bad := range []string{
		"DurationSeconds=+900", "DurationSeconds=99999999999", "DurationSeconds=", "Tags=x",
		"Tags.member.0.Key=k", "Tags.member.1.Nope=k", "Tags.member.01.Key=k",
	} {
		vals, err := ParseForm([]byte(bad))
		if err != nil {
			t.Fatalf("ParseForm(%q): %v", bad, err)
		}
		if err := Decode(vals, new(iam.AssumeRoleInput)); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

// FuzzDecodeQuery: no body makes the form parser or any operation's decoder
// panic; every failure is a client error; what parses re-encodes to the
// same values.
func FuzzDecodeQuery(f *testing.F) {
	for _, s := range []string{
		"Action=CreateUser&Version=2010-05-08&UserName=alice&Path=%2Fteam%2F&Tags.member.1.Key=k&Tags.member.1.Value=v",
		"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fapp&RoleSessionName=s1&DurationSeconds=900",
		"Action=PutUserPolicy&UserName=u&PolicyName=p&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%7D",
		"Action=ListUsers&MaxItems=10&Marker=abc",
		"a=1&&b=2&c", "%zz=1", "a=%ff", "a=1&a=2", "Tags=&Tags.member.1.Key=x", "=x", "+=+",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		vals, err := ParseForm(body)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("ParseForm error %v is not MalformedQueryString", err)
			}
			return
		}
		again, err := ParseForm([]byte(vals.Encode()))
		if err != nil || len(again) != len(vals) {
			t.Fatalf("re-encoded form does not parse back: %v", err)
		}
		for k, v := range vals {
			if again[k] != v {
				t.Fatalf("re-encoded %q = %q, want %q", k, again[k], v)
			}
		}
		for _, op := range operations {
			if _, err := op.decode(vals); err != nil && !errors.Is(err, errParam) {
				t.Fatalf("%s: decode error %v is not a ValidationError", op.Name, err)
			}
		}
	})
}

func BenchmarkParseForm(b *testing.B) {
	body := []byte("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fapp&RoleSessionName=s1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseForm(body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTagValueRequired: a tag without its Value (the SDKs never send one;
// a hand-made request may) is a ValidationError naming the member as AWS
// does, not a tag with an empty value: the model requires Tag's Key and
// Value.
func TestTagValueRequired(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{
		"Action=CreateUser&Version=2010-05-08&UserName=u1&Tags.member.1.Key=a&Tags.member.1.Value=x&Tags.member.2.Key=k",
		"Action=TagUser&Version=2010-05-08&UserName=u1&Tags.member.1.Key=a&Tags.member.1.Value=x&Tags.member.2.Key=k",
		"Action=CreateRole&Version=2010-05-08&RoleName=r&AssumeRolePolicyDocument=x&Tags.member.1.Key=a&Tags.member.1.Value=x&Tags.member.2.Key=k",
		"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fr&RoleSessionName=s1&Tags.member.1.Key=a&Tags.member.1.Value=x&Tags.member.2.Key=k",
	} {
		service := "iam"
		if strings.Contains(body, "2011-06-15") {
			service = "sts"
		}
		status, out := e.raw(t, "POST", body, service, nil)
		var d errDoc
		if err := xml.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("%s: not an ErrorResponse: %v\n%s", body, err, out)
		}
		const want = "1 validation error detected: Value null at 'tags.2.member.value' failed to satisfy constraint: Member must not be null"
		if status != 400 || d.Code != "ValidationError" || d.Message != want {
			t.Errorf("%s: %d %s %q, want 400 ValidationError %q", body, status, d.Code, d.Message, want)
		}
	}
	// An empty value is a value.
	if status, out := e.raw(t, "POST", "Action=CreateUser&Version=2010-05-08&UserName=u2&Tags.member.1.Key=k&Tags.member.1.Value=", "iam", nil); status != 200 {
		t.Errorf("CreateUser with an empty tag value: %d\n%s", status, out)
	}
}
