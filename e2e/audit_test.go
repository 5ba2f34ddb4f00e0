package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/trent-kms/trent/internal/audit/audittest"
)

// auditClient is an SDK client that never retries: one call, one request,
// one audit record.
func (s *server) auditClient(accessKey, secretKey string) *kms.Client {
	cfg := aws.Config{
		Region:      devRegion,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:  &http.Client{Timeout: 30 * time.Second},
	}
	return kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

// requestID returns the x-amzn-RequestId of a call's response (success or
// error), "" when no response arrived.
func requestID(md middleware.Metadata, err error) string {
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			return re.ServiceRequestID()
		}
		return ""
	}
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}

// auditLines returns every line of the audit segments of dataDir.
func auditLines(t *testing.T, dataDir string) [][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dataDir, "audit", "*.jsonl"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no audit segments in %s: %v", dataDir, err)
	}
	var out [][]byte
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(l) > 0 {
				out = append(out, l)
			}
		}
	}
	return out
}

type auditRecord struct {
	EventName string `json:"eventName"`
	EventType string `json:"eventType"`
	ErrorCode string `json:"errorCode"`
	RequestID string `json:"requestID"`
	EventID   string `json:"eventID"`
	Resources []struct {
		ARN string `json:"ARN"`
	} `json:"resources"`
}

// apiRecords parses the API call records (not the digests) of lines.
func apiRecords(t *testing.T, lines [][]byte) []auditRecord {
	t.Helper()
	var recs []auditRecord
	for _, l := range lines {
		var r auditRecord
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("audit line is not JSON: %v\n%s", err, l)
		}
		if r.EventType == "AwsApiCall" {
			recs = append(recs, r)
		}
	}
	return recs
}

// trent runs the trent binary and returns its exit code and output.
func trent(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(trentBin, args...)
	cmd.Env = serverEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("trent %v: %v", args, err)
	}
	return 0, string(out)
}

// TestAuditEveryCall makes 1,000 mixed calls through the Go SDK (successes,
// failures, denials, bad signatures, and raw requests refused before
// dispatch): exactly one schema-valid record each, no plaintext, data key,
// random bytes or ciphertext anywhere in the audit files, and the log
// verifies.
func TestAuditEveryCall(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startDev(t, "--data-dir", dir)
	c := s.auditClient(devAccessKey, devSecretKey)
	bad := s.auditClient(devAccessKey, "not-the-secret-key")

	var (
		mu      sync.Mutex
		secrets [][]byte           // plaintexts, data keys, random bytes, ciphertexts
		ids     = map[string]int{} // request ids of responses
		calls   int
		errs    int
	)
	note := func(md middleware.Metadata, err error, secret ...[]byte) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if err != nil {
			errs++
		}
		if id := requestID(md, err); id != "" {
			ids[id]++
		}
		for _, b := range secret {
			if len(b) > 0 {
				secrets = append(secrets, bytes.Clone(b))
			}
		}
	}
	ck, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{})
	note(resultMD(ck), err)
	must(t, err)
	keyID := aws.ToString(ck.KeyMetadata.KeyId)
	otherAccountKey := keyARN(devRegion, "444455556666", keyID)

	const total = 1000
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var blob []byte
			for i := w; i < total-1; i += workers {
				pt := make([]byte, 48)
				rand.Read(pt)
				ec := map[string]string{"tenant": fmt.Sprint(i % 3)}
				switch i % 12 {
				case 0, 1, 2:
					out, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: pt, EncryptionContext: ec})
					if err == nil {
						blob = out.CiphertextBlob
						note(out.ResultMetadata, err, pt, out.CiphertextBlob)
						continue
					}
					note(middleware.Metadata{}, err, pt)
				case 3, 4:
					if blob == nil {
						out, err := c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
						note(resultMD(out), err, field(out, func(o *kms.GenerateDataKeyOutput) []byte { return o.Plaintext }), field(out, func(o *kms.GenerateDataKeyOutput) []byte { return o.CiphertextBlob }))
						continue
					}
					out, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"tenant": "wrong-or-right"}})
					note(resultMD(out), err, field(out, func(o *kms.DecryptOutput) []byte { return o.Plaintext }))
				case 5:
					out, err := c.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
					note(resultMD(out), err, field(out, func(o *kms.GenerateDataKeyOutput) []byte { return o.Plaintext }), field(out, func(o *kms.GenerateDataKeyOutput) []byte { return o.CiphertextBlob }))
				case 6:
					out, err := c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
					note(resultMD(out), err, field(out, func(o *kms.GenerateRandomOutput) []byte { return o.Plaintext }))
				case 7: // bad signature
					out, err := bad.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: pt})
					note(resultMD(out), err, pt)
				case 8: // denied: another account's key
					out, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(otherAccountKey), Plaintext: pt})
					note(resultMD(out), err, pt)
				case 9: // failing: not a ciphertext
					out, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: pt})
					note(resultMD(out), err, pt)
				case 10:
					out, err := c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("alias/missing")})
					note(resultMD(out), err)
				case 11: // refused before dispatch: unknown operation, wrong content type
					target := "TrentService.NoSuchOperation"
					ct := "application/x-amz-json-1.1"
					if i%24 == 11 {
						target, ct = "TrentService.Encrypt", "text/plain"
					}
					req, _ := http.NewRequest(http.MethodPost, s.URL, strings.NewReader("{}"))
					req.Header.Set("X-Amz-Target", target)
					req.Header.Set("Content-Type", ct)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						continue
					}
					resp.Body.Close()
					mu.Lock()
					calls++
					errs++
					ids[resp.Header.Get("X-Amzn-Requestid")]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if calls != total {
		t.Fatalf("made %d calls, want %d", calls, total)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	lines := auditLines(t, dir)
	recs := apiRecords(t, lines)
	if len(recs) != total {
		t.Errorf("%d API records for %d calls", len(recs), total)
	}
	nerr := 0
	for _, r := range recs {
		if r.ErrorCode != "" {
			nerr++
		}
		ids[r.RequestID] -= 1
	}
	for id, n := range ids {
		if n != 0 {
			t.Errorf("request %s: %+d records missing", id, n)
		}
	}
	if nerr != errs {
		t.Errorf("%d records with an errorCode, %d calls failed", nerr, errs)
	}
	for _, l := range lines {
		if err := audittest.Validate(l); err != nil {
			t.Fatalf("audit line does not match the schema: %v\n%s", err, l)
		}
	}

	if len(secrets) < 300 {
		t.Fatalf("only %d secrets collected", len(secrets))
	}
	noSecretsInAudit(t, dir, secrets)

	code, out := trent(t, "audit", "verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d records", total)) {
		t.Errorf("trent audit verify = %d\n%s", code, out)
	}
	code, out = trent(t, "audit", "query", "--data-dir", dir, "--errors")
	if code != 0 || strings.Count(out, "\n") != errs {
		t.Errorf("trent audit query --errors = %d, %d lines, want %d", code, strings.Count(out, "\n"), errs)
	}
	code, out = trent(t, "audit", "query", "--data-dir", dir, "--event", "GenerateRandom", "--output", "table")
	if code != 0 || !strings.HasPrefix(out, "TIME") || !strings.Contains(out, "GenerateRandom") {
		t.Errorf("trent audit query --output table = %d\n%s", code, out)
	}
	code, out = trent(t, "audit", "query", "--data-dir", dir, "--key", keyID, "--event", "Decrypt")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if code != 0 || !strings.Contains(l, `"eventName":"Decrypt"`) || !strings.Contains(l, keyID) {
			t.Fatalf("trent audit query --key --event = %d: %s", code, l)
		}
	}
}

// noSecretsInAudit fails t when any of secrets, raw or base64, is anywhere
// under the audit directory of dataDir.
func noSecretsInAudit(t *testing.T, dataDir string, secrets [][]byte) {
	t.Helper()
	var all []byte
	files, _ := filepath.Glob(filepath.Join(dataDir, "audit", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		must(t, err)
		all = append(all, b...)
	}
	for _, sec := range secrets {
		for _, form := range [][]byte{sec, []byte(base64.StdEncoding.EncodeToString(sec)), []byte(base64.RawStdEncoding.EncodeToString(sec))} {
			if bytes.Contains(all, form) {
				t.Fatalf("the audit files hold a secret (%d bytes, %q...)", len(sec), form[:min(len(form), 8)])
			}
		}
	}
}

// TestAuditNoCredentials: the calls that carry key material, import tokens
// or credentials are recorded (each record valid), and none of those
// values, raw or base64, is anywhere in the audit files: imported key
// material (wrapped and not) and its import token, a data key pair's
// private key, a new access key's secret, a role session's secret key and
// session token, an external key store proxy's secret.
func TestAuditNoCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startEmbedded(t, dir)
	admin := readCredentials(t, dir)
	c := s.kmsSession(admin.AccessKey, admin.Secret, "")
	var secrets [][]byte
	keep := func(b ...[]byte) { secrets = append(secrets, b...) }

	ck, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	must(t, err)
	p, err := c.GetParametersForImport(ctx(t), &kms.GetParametersForImportInput{KeyId: ck.KeyMetadata.KeyId,
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	must(t, err)
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	must(t, err)
	material := make([]byte, 32)
	rand.Read(material)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	must(t, err)
	_, err = c.ImportKeyMaterial(ctx(t), &kms.ImportKeyMaterialInput{KeyId: ck.KeyMetadata.KeyId, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
	must(t, err)
	keep(material, wrapped, p.ImportToken)

	pk, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	kp, err := c.GenerateDataKeyPair(ctx(t), &kms.GenerateDataKeyPairInput{KeyId: pk.KeyMetadata.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP256})
	must(t, err)
	keep(kp.PrivateKeyPlaintext, kp.PrivateKeyCiphertextBlob)

	const proxySecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="
	_, err = c.CreateCustomKeyStore(ctx(t), &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("audited"), CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore,
		XksProxyConnectivity: types.XksProxyConnectivityTypePublicEndpoint, XksProxyUriEndpoint: aws.String(s.URL),
		XksProxyUriPath: aws.String(xksPath), XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{
			AccessKeyId: aws.String("XKSPROXYACCESSKEY234567"), RawSecretAccessKey: aws.String(proxySecret)},
	})
	wantCode(t, err, "XksProxyIncorrectAuthenticationCredentialException") // recorded with its parameters all the same
	keep([]byte(proxySecret))

	root := s.iam(admin.AccessKey, admin.Secret)
	_, err = root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("app")})
	must(t, err)
	ak, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("app")})
	must(t, err)
	appID, appSecret := aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey)
	_, err = root.CreateRole(ctx(t), &awsiam.CreateRoleInput{RoleName: aws.String("deployer"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + admin.Account + `:user/app"},"Action":"sts:AssumeRole"}]}`)})
	must(t, err)
	ar, err := s.sts(appID, appSecret, "").AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + admin.Account + ":role/deployer"), RoleSessionName: aws.String("audited")})
	must(t, err)
	keep([]byte(appSecret), []byte(aws.ToString(ar.Credentials.SecretAccessKey)), []byte(aws.ToString(ar.Credentials.SessionToken)))
	must(t, s.stop())

	names := map[string]bool{}
	for _, l := range auditLines(t, dir) {
		audittest.MustValidate(t, l)
		var r struct{ EventName string }
		must(t, json.Unmarshal(l, &r))
		names[r.EventName] = true
	}
	for _, n := range []string{"GetParametersForImport", "ImportKeyMaterial", "GenerateDataKeyPair", "CreateCustomKeyStore", "CreateAccessKey", "AssumeRole"} {
		if !names[n] {
			t.Errorf("no %s record", n)
		}
	}
	noSecretsInAudit(t, dir, secrets)
}

func resultMD[T any](out *T) middleware.Metadata {
	if out == nil {
		return middleware.Metadata{}
	}
	switch o := any(out).(type) {
	case *kms.CreateKeyOutput:
		return o.ResultMetadata
	case *kms.EncryptOutput:
		return o.ResultMetadata
	case *kms.DecryptOutput:
		return o.ResultMetadata
	case *kms.GenerateDataKeyOutput:
		return o.ResultMetadata
	case *kms.GenerateRandomOutput:
		return o.ResultMetadata
	case *kms.DescribeKeyOutput:
		return o.ResultMetadata
	}
	return middleware.Metadata{}
}

func field[T any](out *T, f func(*T) []byte) []byte {
	if out == nil {
		return nil
	}
	return f(out)
}

// TestAuditCrash kills the server (SIGKILL) under load with
// --audit-sync=always: after a restart every call that got a response has
// its record, and the log verifies (a line torn by the crash is reported
// before the restart and repaired by it).
func TestAuditCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startDev(t, "--data-dir", dir, "--audit-sync", "always")
	c := s.auditClient(devAccessKey, devSecretKey)
	ck, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				out, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("x")})
				id := requestID(resultMD(out), err)
				if id == "" {
					return // no response: the server is gone
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	// Kill once the load is well under way (a loaded machine may need a
	// while for the first answers).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
	}
	s.kill()
	close(stop)
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d calls answered before the kill", len(acked))
	}
	// Before the restart: the log verifies up to the crash (a torn last line
	// is the unacknowledged tail, not tampering).
	code, out := trent(t, "audit", "verify", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("verify after the crash = %d\n%s", code, out)
	}
	t.Logf("after the crash: %s", out)

	s2 := startDev(t, "--data-dir", dir, "--audit-sync", "always")
	if err := s2.stop(); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range apiRecords(t, auditLines(t, dir)) {
		have[r.RequestID] = true
	}
	missing := 0
	for _, id := range acked {
		if !have[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d answered calls have no audit record after the crash", missing, len(acked))
	}
	code, out = trent(t, "audit", "verify", "--data-dir", dir)
	if code != 0 || strings.Contains(out, "incomplete line") {
		t.Errorf("verify after the restart = %d\n%s", code, out)
	}
	t.Logf("%d calls answered before SIGKILL, all recorded; %s", len(acked), strings.SplitN(out, "\n", 2)[0])
}

// TestGetKeyLastUsage: the last successful cryptographic use, from the
// audit log, kept across a restart.
func TestGetKeyLastUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startDev(t, "--data-dir", dir)
	c := s.auditClient(devAccessKey, devSecretKey)
	ck, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	id := ck.KeyMetadata.KeyId
	lu, err := c.GetKeyLastUsage(ctx(t), &kms.GetKeyLastUsageInput{KeyId: id})
	must(t, err)
	if lu.KeyLastUsage == nil || lu.KeyLastUsage.Operation != "" || aws.ToString(lu.KeyId) != aws.ToString(id) ||
		lu.TrackingStartDate.Before(ck.KeyMetadata.CreationDate.Add(-time.Second)) {
		t.Errorf("unused key: %+v %+v", lu, lu.KeyLastUsage)
	}
	enc, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: id, Plaintext: []byte("p")})
	must(t, err)
	_, err = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String("alias/none"), Plaintext: []byte("p")})
	wantCode(t, err, "NotFoundException")
	dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	must(t, err)
	_, err = c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"a": "b"}})
	wantCode(t, err, "InvalidCiphertextException") // failures do not count
	decID, _ := awsmiddleware.GetRequestIDMetadata(dec.ResultMetadata)
	check := func(c *kms.Client) {
		t.Helper()
		lu, err := c.GetKeyLastUsage(ctx(t), &kms.GetKeyLastUsageInput{KeyId: ck.KeyMetadata.Arn})
		must(t, err)
		u := lu.KeyLastUsage
		if u == nil || u.Operation != types.KeyLastUsageTrackingOperationDecrypt || aws.ToString(u.KmsRequestId) != decID ||
			aws.ToString(u.CloudTrailEventId) == "" || u.Timestamp == nil || time.Since(*u.Timestamp) > time.Minute {
			t.Errorf("GetKeyLastUsage = %+v, want the Decrypt %s", u, decID)
		}
	}
	check(c)
	_, err = c.GetKeyLastUsage(ctx(t), &kms.GetKeyLastUsageInput{KeyId: aws.String("alias/x")})
	wantCode(t, err, "NotFoundException")
	must(t, s.stop())
	s2 := startDev(t, "--data-dir", dir)
	check(s2.auditClient(devAccessKey, devSecretKey))
}

// TestAuditFailsClosed: when the audit log cannot be written (here: the
// file size limit of the process), KMS calls fail with
// KMSInternalException and /health says why.
func TestAuditFailsClosed(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	dir := t.TempDir()
	// ulimit -f counts 1024-byte blocks in bash; Go ignores SIGXFSZ, so a
	// write past the limit fails with EFBIG.
	args := []string{"server", "--dev", "--addr", "127.0.0.1:0", "--data-dir", dir}
	cmd := exec.Command("bash", append([]string{"-c", `ulimit -f 512 && exec "$0" "$@"`, trentBin}, args...)...)
	cmd.Env = serverEnv()
	s, err := tryStartCmd(t, cmd, args)
	if err != nil {
		t.Fatalf("start trent under ulimit -f: %v\n%s", err, s.log)
	}
	c := s.auditClient(devAccessKey, devSecretKey)
	ck, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	if _, err := c.GetKeyLastUsage(ctx(t), &kms.GetKeyLastUsageInput{KeyId: ck.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for i := 0; i < 2000 && lastErr == nil; i++ {
		_, lastErr = c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("p")})
	}
	internal := func(err error) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "KMSInternalException" {
			t.Fatalf("err = %v, want KMSInternalException", err)
		}
	}
	internal(lastErr)
	_, err = c.GenerateRandom(ctx(t), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(8)})
	internal(err) // every later call fails too, also those that write nothing
	// ... and none runs: a change whose record cannot be written must not
	// take effect (KMS and IAM alike).
	const desc = "changed while the audit log could not be written"
	_, err = c.UpdateKeyDescription(ctx(t), &kms.UpdateKeyDescriptionInput{KeyId: ck.KeyMetadata.KeyId, Description: aws.String(desc)})
	internal(err)
	_, err = s.iam(devAccessKey, devSecretKey).CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("unaudited")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceFailure" {
		t.Errorf("CreateUser with a failed audit log: %v, want ServiceFailure", err)
	}
	resp, err := http.Get(s.URL + "/health")
	must(t, err)
	var body struct{ Status, Audit string }
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body.Audit, "file too large") {
		t.Errorf("GET /health = %d %+v, want 503 naming the audit failure", resp.StatusCode, body)
	}
	if !strings.Contains(s.log.String(), "audit log cannot be written") {
		t.Errorf("the server log does not say why")
	}
	must(t, s.stop())
	s2 := startDev(t, "--data-dir", dir)
	dk, err := s2.auditClient(devAccessKey, devSecretKey).DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: ck.KeyMetadata.KeyId})
	must(t, err)
	if aws.ToString(dk.KeyMetadata.Description) == desc {
		t.Error("UpdateKeyDescription failed for its audit record, yet changed the key")
	}
	if _, err := s2.iam(devAccessKey, devSecretKey).GetUser(ctx(t), &awsiam.GetUserInput{UserName: aws.String("unaudited")}); err == nil {
		t.Error("CreateUser failed for its audit record, yet created the user")
	}
	if code, out := trent(t, "audit", "verify", "--data-dir", dir); code != 0 {
		t.Errorf("trent audit verify after the failure and a restart = %d\n%s", code, out)
	}
}

// TestAuditRollback: the newest segments of a stopped server's log
// deleted, what is left verifies by itself; the next start notices that the
// log no longer reaches the head it stored, and `trent audit verify` then
// exits 1 with "rolled back".
func TestAuditRollback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startDev(t, "--data-dir", dir)
	c := s.auditClient(devAccessKey, devSecretKey)
	_, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	must(t, s.stop())
	s = startDev(t, "--data-dir", dir)
	_, err = s.auditClient(devAccessKey, devSecretKey).CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	must(t, s.stop())

	// Cut the log back to the end of the first run: its shutdown digest.
	segs, _ := filepath.Glob(filepath.Join(dir, "audit", "*.jsonl"))
	last := segs[len(segs)-1]
	data, err := os.ReadFile(last)
	must(t, err)
	end := bytes.Index(data, []byte(`"reason":"shutdown"`))
	end += bytes.IndexByte(data[end:], '\n') + 1
	must(t, os.WriteFile(last, data[:end], 0o600))
	if code, out := trent(t, "audit", "verify", "--data-dir", dir); code != 0 {
		t.Fatalf("verify of the cut log = %d (the case under test is a log that verifies by itself)\n%s", code, out)
	}

	s = startDev(t, "--data-dir", dir)
	must(t, s.stop())
	code, out := trent(t, "audit", "verify", "--data-dir", dir)
	if code != 1 || !strings.Contains(out, "rolled back") {
		t.Errorf("verify after the restart = %d, want 1 and rolled back\n%s", code, out)
	}
}
