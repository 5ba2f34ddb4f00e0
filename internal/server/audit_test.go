package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/audit/audittest"
)

// TestAuditOperatorAndSeal: operator requests are recorded (eventSource
// admin.trent.internal), refused ones too; a seal closes the log with a
// signed digest and the unseal continues its chain; /health reports it.
func TestAuditOperatorAndSeal(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	s, _ := start(t, cfg)
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	roundTrip(t, sdk(s.URL(), id, secret, nil), "")
	// IAM and STS through their front door: recorded with their sources,
	// never the new access key's secret.
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")}
	ic := awsiam.NewFromConfig(awsCfg, func(o *awsiam.Options) { o.BaseEndpoint = aws.String(s.URL()) })
	if _, err := ic.CreateUser(bg, &awsiam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	ak, err := ic.CreateAccessKey(bg, &awsiam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	sc := sts.NewFromConfig(awsCfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(s.URL()) })
	if _, err := sc.GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, nil, s.URL()+"/health"); code != http.StatusOK || !bytes.Contains([]byte(body), []byte(`"audit":"ok"`)) {
		t.Errorf("health = %d %s, want audit ok", code, body)
	}
	if _, err := opClient(s, id, "wrong-secret").Rotate(bg, false); err == nil {
		t.Fatal("Rotate with a wrong secret succeeded")
	}
	admin := opClient(s, id, secret)
	if _, err := admin.Rotate(bg, false); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Seal(bg); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Unseal(bg, ""); err != nil || st.Sealed { // the file seal unseals from its key file
		t.Fatalf("Unseal = %+v, %v", st, err)
	}
	roundTrip(t, sdk(s.URL(), id, secret, nil), "")
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(cfg.DataDir, AuditDir)
	if rep := verifyLog(t, dir); rep.Problem != nil || !rep.CleanStop || rep.Records == 0 || rep.Node == "" {
		t.Fatalf("Verify = %+v", rep)
	}
	var admins, others []string
	err = audit.Query(dir, audit.Filter{}, func(e *audit.Entry) error {
		audittest.MustValidate(t, e.Line)
		if bytes.Contains(e.Line, []byte(aws.ToString(ak.AccessKey.SecretAccessKey))) {
			t.Errorf("a record holds the new access key's secret: %s", e.Line)
		}
		var r struct{ EventSource, EventName, ErrorCode string }
		json.Unmarshal(e.Line, &r)
		if r.EventSource == audit.SourceAdmin {
			admins = append(admins, r.EventName+"/"+r.ErrorCode)
		} else if r.EventSource != audit.SourceKMS {
			others = append(others, r.EventSource+" "+r.EventName)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"iam.amazonaws.com CreateUser", "iam.amazonaws.com CreateAccessKey", "sts.amazonaws.com GetCallerIdentity"}; !slicesEqual(others, want) {
		t.Errorf("IAM/STS records = %v, want %v", others, want)
	}
	want := []string{"Rotate/InvalidSignatureException", "Rotate/", "Seal/"}
	if !slicesEqual(admins, want) {
		t.Errorf("admin records = %v, want %v", admins, want)
	}
	// The log was closed by the seal and reopened by the unseal: two
	// shutdown digests (seal, shutdown), two start digests.
	segs, _ := filepath.Glob(filepath.Join(dir, "*.00000000000000000001.jsonl"))
	if len(segs) != 1 {
		t.Fatalf("first segments: %v, want one, named after the node", segs)
	}
	data, _ := os.ReadFile(segs[0])
	if n := bytes.Count(data, []byte(`"reason":"start"`)); n != 2 {
		t.Errorf("%d start digests, want 2", n)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAuditRollbackReported: the newest records of a stopped server's log
// cut off (the shutdown digest with them), the log still verifies by
// itself; the next start finds it short of the head the server stored,
// logs an error and says so in its signed start digest, and verify then
// reports it (and keeps reporting it: it is in the log).
func TestAuditRollbackReported(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	dir := filepath.Join(cfg.DataDir, AuditDir)
	s, _ := start(t, cfg)
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	roundTrip(t, sdk(s.URL(), id, secret, nil), "")
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	last := segs[len(segs)-1]
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	cut := bytes.Join(lines[:len(lines)-4], nil) // three lines, and the empty one after the last newline
	if err := os.WriteFile(last, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep := verifyLog(t, dir); rep.Problem != nil {
		t.Fatalf("the cut log does not verify by itself (%v): not the case under test", rep.Problem)
	}

	s2, logs := start(t, cfg)
	if err := s2.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "does not reach the head the server stored") {
		t.Errorf("server log lacks the rollback:\n%s", logs)
	}
	rep := verifyLog(t, dir)
	if rep.Problem == nil || rep.Problem.Kind != audit.RolledBack {
		t.Fatalf("Verify after the restart = %+v, want %s", rep.Problem, audit.RolledBack)
	}
	// Reported once by the server; verify keeps finding it in the log.
	s3, logs3 := start(t, cfg)
	s3.Shutdown(bg)
	if strings.Contains(logs3.String(), "does not reach the head") {
		t.Errorf("the next start reports the rollback again:\n%s", logs3)
	}
	if rep := verifyLog(t, dir); rep.Problem == nil || rep.Problem.Kind != audit.RolledBack {
		t.Errorf("Verify after another restart = %+v", rep.Problem)
	}
}

// auditCalls starts a server with a data directory, makes calls with an SDK
// client of its first administrator, shuts it down and returns its KMS
// records (auditRecords).
func auditCalls(t *testing.T, calls func(c *awskms.Client)) map[string]map[string]any {
	t.Helper()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	s, _ := start(t, cfg)
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	calls(sdk(s.URL(), id, secret, nil))
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	return auditRecords(t, cfg.DataDir)
}

// auditRecords verifies the audit log of a stopped server's data directory
// and returns its KMS records (each valid against the schema) by
// eventName, the last of each name.
func auditRecords(t *testing.T, dataDir string) map[string]map[string]any {
	t.Helper()
	dir := filepath.Join(dataDir, AuditDir)
	if rep := verifyLog(t, dir); rep.Problem != nil || !rep.CleanStop {
		t.Fatalf("Verify = %+v", rep)
	}
	recs := map[string]map[string]any{}
	err := audit.Query(dir, audit.Filter{}, func(e *audit.Entry) error {
		audittest.MustValidate(t, e.Line)
		var m map[string]any
		if err := json.Unmarshal(e.Line, &m); err != nil {
			return err
		}
		if m["eventSource"] == audit.SourceKMS {
			recs[e.EventName] = m
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestAuditDecryptAlgorithm: a Decrypt record names the encryption
// algorithm in requestParameters even when the request did not, as AWS
// documents ("The CloudTrail log entry for a Decrypt operation always
// includes the encryptionAlgorithm in the requestParameters even if the
// encryption algorithm wasn't specified in the request"), and the key in
// resources, not in requestParameters.keyId, when the request named none.
func TestAuditDecryptAlgorithm(t *testing.T) {
	t.Parallel()
	var keyID string
	recs := auditCalls(t, func(c *awskms.Client) { keyID, _ = roundTrip(t, c, "") })
	dec := recs["Decrypt"]
	rp, _ := dec["requestParameters"].(map[string]any)
	if rp["encryptionAlgorithm"] != "SYMMETRIC_DEFAULT" || rp["keyId"] != nil || rp["encryptionContext"] == nil {
		t.Errorf("Decrypt requestParameters = %v, want encryptionAlgorithm SYMMETRIC_DEFAULT and the encryption context, no keyId", dec["requestParameters"])
	}
	if res, _ := dec["resources"].([]any); len(res) != 1 || !strings.HasSuffix(res[0].(map[string]any)["ARN"].(string), ":key/"+keyID) {
		t.Errorf("Decrypt resources = %v, want the key %s", dec["resources"], keyID)
	}
}

// TestAuditResponseKeyID: the records of EnableKey, DisableKey,
// EnableKeyRotation and UpdateAlias carry the ARN of the key they changed in
// responseElements.keyId, as AWS documents for its records since December
// 2022, although the operations return nothing.
func TestAuditResponseKeyID(t *testing.T) {
	t.Parallel()
	var arn, other string
	recs := auditCalls(t, func(c *awskms.Client) {
		arn, other = newKeyARN(t, c), newKeyARN(t, c)
		id := aws.String(arn)
		for _, err := range []error{
			second(c.CreateAlias(bg, &awskms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(other)})),
			second(c.UpdateAlias(bg, &awskms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: id})),
			second(c.DisableKey(bg, &awskms.DisableKeyInput{KeyId: id})),
			second(c.EnableKey(bg, &awskms.EnableKeyInput{KeyId: id})),
			second(c.EnableKeyRotation(bg, &awskms.EnableKeyRotationInput{KeyId: id})),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, name := range []string{"UpdateAlias", "DisableKey", "EnableKey", "EnableKeyRotation"} {
		if re, _ := recs[name]["responseElements"].(map[string]any); re["keyId"] != arn || len(re) != 1 {
			t.Errorf("%s responseElements = %v, want keyId %s", name, recs[name]["responseElements"], arn)
		}
	}
}

// second is the error of a call's (output, error).
func second[T any](_ T, err error) error { return err }

// TestAuditTLSCipherSuite: tlsDetails names a TLS 1.2 cipher suite as AWS
// KMS's CloudTrail records do, by its OpenSSL name
// ("ECDHE-RSA-AES256-GCM-SHA384" in AWS's ListKeyRotations example), not
// Go's (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256).
func TestAuditTLSCipherSuite(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	certPEM := selfSignedCert(t, cfg.DataDir)
	cfg.TLSCertFile = filepath.Join(cfg.DataDir, "tls.crt")
	cfg.TLSKeyFile = filepath.Join(cfg.DataDir, "tls.key")
	s, _ := start(t, cfg)
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}}}
	if _, err := sdk(s.URL(), id, secret, hc).ListKeys(bg, &awskms.ListKeysInput{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	td, _ := auditRecords(t, cfg.DataDir)["ListKeys"]["tlsDetails"].(map[string]any)
	if td["tlsVersion"] != "TLSv1.2" || td["cipherSuite"] != "ECDHE-ECDSA-AES128-GCM-SHA256" {
		t.Errorf("tlsDetails = %v, want TLSv1.2 and ECDHE-ECDSA-AES128-GCM-SHA256", td)
	}
}

// TestAuditAliasResources: the records of CreateAlias, UpdateAlias and
// DeleteAlias list the alias ARN and the key in resources, as AWS's
// CloudTrail records of them do.
func TestAuditAliasResources(t *testing.T) {
	t.Parallel()
	var arn, other string
	recs := auditCalls(t, func(c *awskms.Client) {
		arn, other = newKeyARN(t, c), newKeyARN(t, c)
		name := aws.String("alias/app")
		for _, err := range []error{
			second(c.CreateAlias(bg, &awskms.CreateAliasInput{AliasName: name, TargetKeyId: aws.String(other)})),
			second(c.UpdateAlias(bg, &awskms.UpdateAliasInput{AliasName: name, TargetKeyId: aws.String(arn)})),
			second(c.DeleteAlias(bg, &awskms.DeleteAliasInput{AliasName: name})),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	alias := strings.Replace(arn, ":key/", ":alias/", 1)
	alias = alias[:strings.LastIndexByte(alias, '/')] + "/app"
	for name, key := range map[string]string{"CreateAlias": other, "UpdateAlias": arn, "DeleteAlias": arn} {
		var got []string
		res, _ := recs[name]["resources"].([]any)
		for _, r := range res {
			got = append(got, r.(map[string]any)["ARN"].(string))
		}
		if want := []string{alias, key}; !slicesEqual(got, want) {
			t.Errorf("%s resources = %v, want %v", name, got, want)
		}
	}
}

// TestAuditGrantTokensNotRecorded: grant tokens are never recorded
// (docs/audit.md), not even in the message of a request refused for
// carrying too many of them.
func TestAuditGrantTokensNotRecorded(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	s, logs := start(t, cfg)
	id, secret, account := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	c := sdk(s.URL(), id, secret, nil)
	keyID, _ := roundTrip(t, c, "")
	g, err := c.CreateGrant(bg, &awskms.CreateGrantInput{KeyId: aws.String(keyID),
		GranteePrincipal: aws.String("arn:aws:iam::" + account + ":root"), Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationEncrypt}})
	if err != nil {
		t.Fatal(err)
	}
	token := aws.ToString(g.GrantToken)
	toks := make([]string, 11)
	for i := range toks {
		toks[i] = token
	}
	_, err = c.Encrypt(bg, &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("p"), GrantTokens: toks})
	if err == nil || !strings.Contains(err.Error(), "ValidationException") {
		t.Fatalf("Encrypt with 11 grant tokens: %v, want ValidationException", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("the error repeats the grant token: %v", err)
	}
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	err = audit.Query(filepath.Join(cfg.DataDir, AuditDir), audit.Filter{}, func(e *audit.Entry) error {
		if bytes.Contains(e.Line, []byte(token)) {
			t.Errorf("a record holds the grant token: %s", e.Line)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the server log holds the grant token")
	}
}

// newKeyARN creates a key with c and returns its ARN.
func newKeyARN(t *testing.T, c *awskms.Client) string {
	t.Helper()
	ck, err := c.CreateKey(bg, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(ck.KeyMetadata.Arn)
}

// An operator request answers with the request id of its audit record
// and its log line.
func TestAuditOperatorRequestID(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	s, logs := start(t, cfg)
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	rt := &lastResponse{}
	c := opClient(s, id, secret)
	c.HTTP = &http.Client{Transport: rt}
	if _, err := c.Rotate(bg, false); err != nil {
		t.Fatal(err)
	}
	reqID := rt.h.Get("X-Amzn-Requestid")
	wantLoggedID(t, logs, "server: operator request", reqID)
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := audit.Query(filepath.Join(cfg.DataDir, AuditDir), audit.Filter{}, func(e *audit.Entry) error {
		var r struct{ EventSource, EventName, RequestID string }
		json.Unmarshal(e.Line, &r)
		if r.EventSource == audit.SourceAdmin {
			got = append(got, r.EventName+" "+r.RequestID)
		}
		return nil
	})
	if err != nil || len(got) != 1 || reqID == "" || got[0] != "Rotate "+reqID {
		t.Errorf("admin records %v, %v; want one Rotate with the answer's id %q", got, err, reqID)
	}
}
