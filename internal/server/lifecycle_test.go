package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

var bg = context.Background()

// quiet is the logger of servers a test expects to fail.
var quiet = slog.New(slog.DiscardHandler)

func opClient(s *Server, id, secret string) *OperatorClient {
	c := &OperatorClient{Endpoint: s.URL()}
	if id != "" {
		c.Credentials = credentials.NewStaticCredentialsProvider(id, secret, "")
	}
	return c
}

type healthJSON struct {
	Status      string `json:"status"`
	Sealed      bool   `json:"sealed"`
	Initialized bool   `json:"initialized"`
}

func health(t *testing.T, s *Server) (int, healthJSON) {
	t.Helper()
	code, body := get(t, nil, s.URL()+"/health")
	var h healthJSON
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("GET /health body %q: %v", body, err)
	}
	return code, h
}

// wantSealedAPI checks that a KMS call is refused with the sealed error.
func wantSealedAPI(t *testing.T, c *awskms.Client) {
	t.Helper()
	_, err := c.ListKeys(bg, &awskms.ListKeysInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "KMSInternalException" || !strings.Contains(ae.ErrorMessage(), "sealed") {
		t.Fatalf("ListKeys while sealed err = %v, want KMSInternalException saying sealed", err)
	}
}

func wantOpError(t *testing.T, err error, status int, says string) {
	t.Helper()
	var oe *OperatorError
	if !errors.As(err, &oe) || oe.Status != status || !strings.Contains(oe.Message, says) {
		t.Fatalf("err = %v, want HTTP %d saying %q", err, status, says)
	}
}

// TestShamirLifecycle: init on an empty data directory, T shares unseal,
// T-1 do not, a corrupted share is named, seal needs an administrator,
// and a restart comes up sealed.
func TestShamirLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig()
	cfg.DataDir, cfg.Seal = dir, SealShamir
	s, _ := start(t, cfg)
	anon := opClient(s, "", "")

	code, h := health(t, s)
	if code != http.StatusServiceUnavailable || !h.Sealed || h.Initialized || h.Status != "uninitialized" {
		t.Errorf("health before init = %d %+v, want 503 sealed, uninitialised", code, h)
	}
	wantSealedAPI(t, sdk(s.URL(), DevAccessKeyID, DevSecretKey, nil))
	_, err := anon.Unseal(bg, "AAAA", false)
	wantOpError(t, err, http.StatusConflict, "not initialised")
	_, err = anon.Init(bg, 5, 1)
	wantOpError(t, err, http.StatusBadRequest, "threshold")

	in, err := anon.Init(bg, 5, 3)
	if err != nil {
		t.Fatalf("Init(5, 3) err = %v", err)
	}
	if len(in.Shares) != 5 || in.AccessKeyID == "" || in.SecretAccessKey == "" || in.AccountID != DevAccountID { // a new data directory without --account-id
		t.Fatalf("Init = %d shares, key %q, account %q", len(in.Shares), in.AccessKeyID, in.AccountID)
	}
	if _, err := anon.Init(bg, 5, 3); err == nil {
		t.Errorf("a second Init succeeded")
	}
	if fileExists(filepath.Join(dir, CredentialsFile)) {
		t.Errorf("the shamir server wrote the administrator's credentials to disk (they are shown once)")
	}
	if code, h := health(t, s); code != http.StatusOK || h.Sealed || h.Status != "ok" {
		t.Errorf("health after init = %d %+v, want 200 unsealed", code, h)
	}
	kc := sdk(s.URL(), in.AccessKeyID, in.SecretAccessKey, nil)
	keyID, blob := roundTrip(t, kc, "")

	// Seal needs an administrator's signature.
	resp, err := http.Post(s.URL()+"/trent/operator/seal", "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned seal = %v, %v, want 403", resp, err)
	}
	resp.Body.Close()
	_, err = opClient(s, in.AccessKeyID, "wrong-secret").Seal(bg)
	wantOpError(t, err, http.StatusForbidden, "signature")
	admin := opClient(s, in.AccessKeyID, in.SecretAccessKey)
	if st, err := admin.Seal(bg); err != nil || !st.Sealed {
		t.Fatalf("Seal() = %+v, %v, want sealed", st, err)
	}
	wantSealedAPI(t, kc)
	if code, h := health(t, s); code != http.StatusServiceUnavailable || !h.Sealed || !h.Initialized {
		t.Errorf("health after seal = %d %+v, want 503 sealed, initialised", code, h)
	}

	// T-1 shares do not unseal; a corrupted share is refused and named.
	for i, sh := range in.Shares[:2] {
		st, err := anon.Unseal(bg, sh, false)
		if err != nil || !st.Sealed || st.Progress != i+1 || st.Threshold != 3 {
			t.Fatalf("Unseal(share %d) = %+v, %v, want progress %d/3, sealed", i+1, st, err, i+1)
		}
	}
	wantSealedAPI(t, kc)
	bad := []byte(in.Shares[3])
	if bad[10] == 'A' { // one character changed, within the base64url alphabet
		bad[10] = 'B'
	} else {
		bad[10] = 'A'
	}
	_, err = anon.Unseal(bg, string(bad), false)
	wantOpError(t, err, http.StatusBadRequest, "corrupted")
	var oe *OperatorError
	if errors.As(err, &oe) && (oe.Unseal == nil || oe.Unseal.Progress != 2) {
		t.Errorf("refused share: state = %+v, want progress 2 kept", oe.Unseal)
	}
	if st, err := anon.Unseal(bg, in.Shares[4], false); err != nil || st.Sealed {
		t.Fatalf("Unseal(third good share) = %+v, %v, want unsealed", st, err)
	}
	dec, err := kc.Decrypt(bg, &awskms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"test": "server"}})
	if err != nil || string(dec.Plaintext) != "the quick brown fox" {
		t.Fatalf("Decrypt after unseal = %v, %v", dec, err)
	}

	// A restart comes up sealed; another T-subset unseals it.
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	s2, _ := start(t, cfg)
	if code, h := health(t, s2); code != http.StatusServiceUnavailable || !h.Sealed || !h.Initialized {
		t.Errorf("health after restart = %d %+v, want 503 sealed", code, h)
	}
	anon2 := opClient(s2, "", "")
	_, err = anon2.Unseal(bg, in.Shares[0][:20], false)
	wantOpError(t, err, http.StatusBadRequest, "not a Trent unseal share")
	for _, i := range []int{4, 1, 2} {
		if _, err := anon2.Unseal(bg, in.Shares[i], false); err != nil {
			t.Fatalf("Unseal(share %d) after restart err = %v", i+1, err)
		}
	}
	roundTrip(t, sdk(s2.URL(), in.AccessKeyID, in.SecretAccessKey, nil), keyID)
}

func TestStatusAndRotate(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	s, _ := start(t, cfg)
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	c := sdk(s.URL(), id, secret, nil)
	keyID, blob := roundTrip(t, c, "")
	admin := opClient(s, id, secret)
	st, err := admin.Status(bg)
	if err != nil || st.Sealed || !st.Initialized || st.Seal != SealFile || st.DataKey != 1 {
		t.Fatalf("Status() = %+v, %v", st, err)
	}
	if _, err := opClient(s, "", "").Rotate(bg, false); err == nil {
		t.Errorf("Rotate without a signature succeeded")
	}
	if st, err = admin.Rotate(bg, true); err != nil || st.DataKey != 2 {
		t.Fatalf("Rotate(root) = %+v, %v, want data key 2", st, err)
	}
	waitRewrap(t, admin, 2)
	dec, err := c.Decrypt(bg, &awskms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"test": "server"}})
	if err != nil || string(dec.Plaintext) != "the quick brown fox" {
		t.Fatalf("Decrypt after rotation = %v, %v", dec, err)
	}
	roundTrip(t, c, keyID)
}

// waitRewrap waits for the background rewrap to reach version v with
// nothing left on older versions.
func waitRewrap(t *testing.T, c *OperatorClient, v uint32) StatusBody {
	t.Helper()
	for range 500 {
		st, err := c.Status(bg)
		if err != nil {
			t.Fatal(err)
		}
		if st.Rewrap != nil && st.Rewrap.Error != "" {
			t.Fatalf("rewrap error: %s", st.Rewrap.Error)
		}
		if st.Rewrap != nil && !st.Rewrap.Running && st.Rewrap.Target == v && len(st.DataKeys) == 1 {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("rewrap to data key %d did not finish", v)
	return StatusBody{}
}

func TestOperatorNotForThisSeal(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	s, _ := start(t, cfg)
	_, err := opClient(s, "", "").Init(bg, 3, 2)
	wantOpError(t, err, http.StatusBadRequest, "init is for --seal shamir")
	_, err = opClient(s, "", "").Unseal(bg, "x", false)
	if err != nil { // unsealed already: the state is returned
		t.Errorf("Unseal on an unsealed server err = %v", err)
	}
	// The file seal: sealed by an operator, an empty unseal reloads its key.
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	if _, err := opClient(s, id, secret).Seal(bg); err != nil {
		t.Fatal(err)
	}
	wantSealedAPI(t, sdk(s.URL(), id, secret, nil))
	_, err = opClient(s, "", "").Unseal(bg, "a-share", false)
	wantOpError(t, err, http.StatusBadRequest, "takes no shares")
	if st, err := opClient(s, "", "").Unseal(bg, "", false); err != nil || st.Sealed {
		t.Fatalf("Unseal(file seal) = %+v, %v, want unsealed", st, err)
	}
	roundTrip(t, sdk(s.URL(), id, secret, nil), "")
}

func TestSealMetrics(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir, cfg.Seal = t.TempDir(), SealShamir
	s, _ := start(t, cfg)
	// The requests a sealed server refuses are counted as every API request.
	for range 3 {
		_, err := sdk(s.URL(), DevAccessKeyID, DevSecretKey, nil).ListKeys(bg, &awskms.ListKeysInput{})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "KMSInternalException" {
			t.Fatalf("ListKeys while sealed: %v", err)
		}
	}
	_, body := get(t, nil, s.URL()+"/metrics")
	for _, want := range []string{"trent_sealed 1", "trent_barrier_data_key_version 0",
		`trent_requests_total{operation="ListKeys",outcome="KMSInternalException"} 3`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics while sealed lack %q", want)
		}
	}
	if _, err := opClient(s, "", "").Init(bg, 2, 2); err != nil {
		t.Fatal(err)
	}
	_, body = get(t, nil, s.URL()+"/metrics")
	for _, want := range []string{"trent_sealed 0", "trent_barrier_data_key_version 1", "trent_barrier_rewrap_remaining 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics after init lack %q", want)
		}
	}
}

// initSealed initialises the Shamir server s with 3 shares, 2 to unseal, seals
// it and returns the shares.
func initSealed(t *testing.T, s *Server) []string {
	t.Helper()
	in, err := opClient(s, "", "").Init(bg, 3, 2)
	if err != nil {
		t.Fatalf("Init(3, 2) err = %v", err)
	}
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	return in.Shares
}

// unsealWith submits shares to s, which must then be unsealed.
func unsealWith(t *testing.T, s *Server, shares ...string) {
	t.Helper()
	var st UnsealStatus
	for _, sh := range shares {
		var err error
		if st, err = s.Unseal(bg, sh); err != nil {
			t.Fatalf("Unseal(genuine share) err = %v", err)
		}
	}
	if st.Sealed {
		t.Fatalf("after %d shares: %+v, want unsealed", len(shares), st)
	}
}

// TestShamirFailedUnsealKeepsNoKey: when the T-th share is accepted but the
// unseal then fails (here its request is cancelled before the barrier opens),
// the server stays sealed and forgets the unseal key the shares rebuilt: a
// later request without shares (a junk "share") must not finish the unseal,
// and T genuine shares still do.
func TestShamirFailedUnsealKeepsNoKey(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir, cfg.Seal = t.TempDir(), SealShamir
	s, _ := start(t, cfg)
	shares := initSealed(t, s)
	if st, err := s.Unseal(bg, shares[0]); err != nil || !st.Sealed {
		t.Fatalf("Unseal(share 1) = %+v, %v, want sealed", st, err)
	}
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	if _, err := s.Unseal(cancelled, shares[1]); err == nil || !s.state.barrier.Sealed() {
		t.Fatalf("Unseal(share 2) with a cancelled request err = %v, want an error, sealed", err)
	}
	st, err := s.Unseal(bg, "junk")
	if err == nil || !st.Sealed {
		t.Fatalf("Unseal(junk) after a failed unseal = %+v, %v, want refused, sealed", st, err)
	}
	unsealWith(t, s, shares[1:]...)
}

// TestShamirUnsealAfterFailedActivation: when T shares open the barrier but
// the services then fail to start (here the seed file is missing), the
// server stays sealed and waits for shares again: once the cause is gone,
// T shares unseal it without a restart.
func TestShamirUnsealAfterFailedActivation(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir, cfg.Seal, cfg.SeedFile = t.TempDir(), SealShamir, writeSeed(t)
	s, _ := start(t, cfg)
	shares := initSealed(t, s)
	aside := cfg.SeedFile + ".aside"
	if err := os.Rename(cfg.SeedFile, aside); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unseal(bg, shares[0]); err != nil {
		t.Fatalf("Unseal(share 1) err = %v", err)
	}
	if _, err := s.Unseal(bg, shares[1]); err == nil || !s.state.barrier.Sealed() {
		t.Fatalf("Unseal(share 2) without the seed file err = %v, want an error, sealed", err)
	}
	if err := os.Rename(aside, cfg.SeedFile); err != nil {
		t.Fatal(err)
	}
	unsealWith(t, s, shares[:2]...)
}

// TestShamirInitFailedActivation: once init has initialised the barrier the
// shares are its only key, so when the services then fail to start they are
// still handed out, with the failure, and the server waits sealed for them:
// once the cause is gone, T of them unseal it. The first administrator
// comes with them when it was created before the failure (here the seed
// file is missing), or is written to the data directory by the unseal that
// creates it (here the audit log's directory cannot be made).
func TestShamirInitFailedActivation(t *testing.T) {
	t.Parallel()
	useKMS := func(t *testing.T, s *Server, id, secret string) {
		t.Helper()
		if _, err := sdk(s.URL(), id, secret, nil).CreateKey(bg, &awskms.CreateKeyInput{}); err != nil {
			t.Fatalf("CreateKey as the first administrator: %v", err)
		}
	}
	// failedInit runs init while the cause is in place, checks what it
	// answers and that the server is sealed, removes the cause, unseals.
	failedInit := func(t *testing.T, cfg Config, cause, cure func()) (*Server, InitBody) {
		t.Helper()
		s, _ := start(t, cfg)
		cause()
		in, err := opClient(s, "", "").Init(bg, 3, 2)
		if err != nil || len(in.Shares) != 3 || in.Error == "" {
			t.Fatalf("Init(3, 2) with the services failing = %d shares, error %q, err %v; want the 3 shares and the failure", len(in.Shares), in.Error, err)
		}
		if st, err := s.Status(bg); err != nil || !st.Initialized || !st.Sealed || st.Threshold != 2 {
			t.Fatalf("status after the failed init = %+v, %v; want initialised, sealed, waiting for 2 shares", st, err)
		}
		cure()
		unsealWith(t, s, in.Shares[1:]...)
		return s, in
	}
	t.Run("seed file missing", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig()
		cfg.DataDir, cfg.Seal, cfg.SeedFile = t.TempDir(), SealShamir, writeSeed(t)
		aside := cfg.SeedFile + ".aside"
		move := func(from, to string) func() {
			return func() {
				if err := os.Rename(from, to); err != nil {
					t.Fatal(err)
				}
			}
		}
		s, in := failedInit(t, cfg, move(cfg.SeedFile, aside), move(aside, cfg.SeedFile))
		if in.AccessKeyID == "" {
			t.Fatal("init created the administrator before the failure but did not return it")
		}
		useKMS(t, s, in.AccessKeyID, in.SecretAccessKey)
	})
	t.Run("audit directory blocked", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig()
		cfg.DataDir, cfg.Seal = t.TempDir(), SealShamir
		blocker := filepath.Join(cfg.DataDir, AuditDir)
		s, in := failedInit(t, cfg, func() {
			if err := os.RemoveAll(blocker); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(blocker, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, func() {
			if err := os.Remove(blocker); err != nil {
				t.Fatal(err)
			}
		})
		if in.AccessKeyID != "" {
			t.Fatalf("init returned an administrator %s although the services failed before creating one", in.AccessKeyID)
		}
		id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
		useKMS(t, s, id, secret)
	})
}

// TestShamirResetAlone: {"reset":true} without a share (trent operator
// unseal --reset) discards the shares submitted so far and answers the
// seal state, not a refusal of an empty share.
func TestShamirResetAlone(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir, cfg.Seal = t.TempDir(), SealShamir
	s, _ := start(t, cfg)
	anon := opClient(s, "", "")
	shares := initSealed(t, s)
	if st, err := anon.Unseal(bg, shares[0], false); err != nil || st.Progress != 1 {
		t.Fatalf("Unseal(share 1) = %+v, %v, want progress 1", st, err)
	}
	st, err := anon.Unseal(bg, "", true)
	if err != nil || !st.Sealed || st.Progress != 0 || st.Threshold != 2 {
		t.Fatalf("Unseal(reset) = %+v, %v, want sealed, progress 0 of 2", st, err)
	}
}
