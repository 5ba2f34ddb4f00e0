package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/pgstore"
	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func pgConfig(t *testing.T, url string) Config {
	cfg := testConfig()
	cfg.Storage = StoragePostgres
	cfg.PostgresURL = url
	cfg.DataDir = t.TempDir()
	return cfg
}

func TestPostgresRestartKeepsKeys(t *testing.T) {
	t.Parallel()
	cfg := pgConfig(t, pgtest.URL(t))
	s1, logs := start(t, cfg)
	if strings.Contains(logs.String(), "password") || !strings.Contains(logs.String(), "storage=postgres") {
		t.Errorf("storage log lines:\n%s", logs)
	}
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	keyID, blob := roundTrip(t, sdk(s1.URL(), id, secret, nil), "")
	if err := s1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	s2, _ := start(t, cfg)
	c2 := sdk(s2.URL(), id, secret, nil)
	dec, err := c2.Decrypt(context.Background(), &awskms.DecryptInput{CiphertextBlob: blob,
		EncryptionContext: map[string]string{"test": "server"}})
	if err != nil || string(dec.Plaintext) != "the quick brown fox" {
		t.Fatalf("Decrypt after restart = %q, %v", dec.Plaintext, err)
	}
	roundTrip(t, c2, keyID)
	if err := s2.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Another node without the root key file: refused, no key minted.
	cfg.RootKeyFile = filepath.Join(t.TempDir(), "missing.key")
	if s3, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
		s3.Shutdown(context.Background())
		t.Fatal("New without the root key file over a database with data succeeded")
	} else if !strings.Contains(err.Error(), "not found") {
		t.Errorf("New without the root key file err = %v, want a not-found explanation", err)
	}
	if fileExists(cfg.RootKeyFile) {
		t.Error("a root key file was minted for a database sealed with another key")
	}
}

// --dev on PostgreSQL: the development credentials work, and are never
// written to the database, so a node started without --dev refuses them.
func TestPostgresDevCredentialsStayInMemory(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	cfg := devConfig()
	cfg.Storage, cfg.PostgresURL = StoragePostgres, url
	cfg.RootKeyFile = filepath.Join(t.TempDir(), "root.key")
	dev, _ := start(t, cfg)
	roundTrip(t, sdk(dev.URL(), DevAccessKeyID, DevSecretKey, nil), "")
	if err := dev.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM trent_records WHERE position($1::bytea in key) > 0`,
		[]byte(DevAccessKeyID)).Scan(&n); err != nil || n != 0 {
		t.Errorf("records naming the dev access key: %d (err %v), want none", n, err)
	}

	prod := pgConfig(t, url)
	prod.RootKeyFile = cfg.RootKeyFile
	s, _ := start(t, prod)
	_, err = sdk(s.URL(), DevAccessKeyID, DevSecretKey, nil).ListKeys(context.Background(), &awskms.ListKeysInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnrecognizedClientException" {
		t.Errorf("dev credentials on a node without --dev: err = %v, want UnrecognizedClientException", err)
	}
}

// The database goes down under a running server: /health says so, writes
// fail with DependencyTimeoutException (logged with the request's id),
// crypto on cached keys goes on; when the database is back, everything
// works again without a restart.
func TestPostgresDown(t *testing.T) {
	t.Parallel()
	in := pgtest.Start(t)
	cfg := devConfig()
	cfg.Storage, cfg.PostgresURL = StoragePostgres, in.URL(t)
	cfg.RootKeyFile = filepath.Join(t.TempDir(), "root.key")
	s, logs := start(t, cfg)
	c := sdk(s.URL(), DevAccessKeyID, DevSecretKey, nil)
	keyID, _ := roundTrip(t, c, "")
	if code, body := get(t, nil, s.URL()+"/health"); code != http.StatusOK {
		t.Fatalf("GET /health = %d %s", code, body)
	}

	in.Stop()
	code, body := get(t, nil, s.URL()+"/health")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"storage":"unavailable"`) {
		t.Errorf("GET /health with the database down = %d %s, want 503 storage unavailable", code, body)
	}
	start := time.Now()
	_, err := c.CreateKey(context.Background(), &awskms.CreateKeyInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "DependencyTimeoutException" {
		t.Errorf("CreateKey with the database down: err = %v, want DependencyTimeoutException", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("CreateKey with the database down took %v", d)
	}
	// The service's log line of the failure names the request's id, as
	// the answer does.
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.ServiceRequestID() == "" {
		t.Fatalf("CreateKey's error %v has no request id", err)
	}
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "kms: storage write failed") {
			line = l
		}
	}
	if !strings.Contains(line, "request_id="+re.ServiceRequestID()) {
		t.Errorf("the storage failure's log line %q does not name request_id=%s", line, re.ServiceRequestID())
	}
	roundTrip(t, c, keyID) // crypto never touches the database

	if err := in.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.CreateKey(context.Background(), &awskms.CreateKeyInput{Description: aws.String("after")})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CreateKey still fails 20s after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := get(t, nil, s.URL()+"/health"); code != http.StatusOK {
		t.Errorf("GET /health after the database came back = %d %s", code, body)
	}
}

// The unauthenticated /health and operator status of a node that cannot
// apply another node's change, or rewrap a record, say so without the
// failure's text, which names the record (region, account, key id); the
// server log has it.
func TestPostgresStatusHidesRecordErrors(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	cfg := pgConfig(t, url)
	s, logs := start(t, cfg)
	const path = "kms/key/us-east-1/210987654321/1234abcd-12ab-34cd-56ef-1234567890ab"
	db, err := pgstore.Open(bg, url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(bg, func(tx storage.Tx) error { return tx.Put(path, []byte("not sealed by the barrier")) }); err != nil {
		t.Fatal(err)
	}
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	if _, err := opClient(s, id, secret).Rotate(bg, false); err != nil {
		t.Fatal(err)
	}
	status := ""
	for strings.Count(status, `"error"`) < 2 { // the cluster's and the rewrap's
		time.Sleep(20 * time.Millisecond)
		_, status = get(t, nil, s.URL()+"/trent/operator/status")
	}
	_, health := get(t, nil, s.URL()+"/health")
	for _, body := range []string{status, health} {
		if !strings.Contains(body, `"error"`) || strings.Contains(body, "210987654321") || strings.Contains(body, "1234abcd") {
			t.Errorf("%s: want the errors without the record they name", body)
		}
	}
	for _, msg := range []string{"cannot apply another node's changes", "data-key rewrap stopped"} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("the log lacks %q", msg)
		}
	}
}
