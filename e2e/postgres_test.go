package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

// startOnPostgres starts `trent server --storage postgres` on the database
// at url, with extra flags.
func startOnPostgres(t *testing.T, url string, extra ...string) *server {
	t.Helper()
	return startServer(t, append([]string{"server", "--storage", "postgres", "--postgres-url", url, "--addr", "127.0.0.1:0"}, extra...)...)
}

// rawTables returns every byte PostgreSQL holds for trent in url's
// database: keys and values of the records, and the change log.
func rawTables(t *testing.T, url string) (records int, dump []byte) {
	t.Helper()
	conn, err := pgx.Connect(ctx(t), url)
	must(t, err)
	defer conn.Close(ctx(t))
	rows, err := conn.Query(ctx(t), `SELECT key, value FROM trent_records`)
	must(t, err)
	for rows.Next() {
		var k, v []byte
		must(t, rows.Scan(&k, &v))
		dump = append(append(dump, k...), v...)
		records++
	}
	must(t, rows.Err())
	rows, err = conn.Query(ctx(t), `SELECT keys FROM trent_changes`)
	must(t, err)
	for rows.Next() {
		var keys [][]byte
		must(t, rows.Scan(&keys))
		for _, k := range keys {
			dump = append(dump, k...)
		}
	}
	must(t, rows.Err())
	return records, dump
}

// The real binary on PostgreSQL: keys created and used, the server
// restarted, everything decrypts; and the database never holds the key
// material of a key in the clear (a seeded key, whose material we know).
func TestPostgresRestartNoPlaintext(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	dir := t.TempDir()
	material := make([]byte, 32)
	rand.Read(material)
	const seededID = "22222222-3333-4444-5555-666666666666"
	seed := filepath.Join(dir, "seed.yaml")
	must(t, os.WriteFile(seed, []byte(fmt.Sprintf("keys:\n  - id: %s\n    material: %s\n    aliases: [alias/seeded]\n",
		seededID, base64.StdEncoding.EncodeToString(material))), 0o600))
	data := filepath.Join(dir, "data")

	s1 := startOnPostgres(t, url, "--data-dir", data, "--seed", seed)
	creds := readCredentials(t, data)
	c := s1.client(devRegion, creds.AccessKey, creds.Secret)
	pt := []byte("attack at dawn")
	blobs := map[string][]byte{}
	for _, id := range []string{"alias/seeded", "", "", ""} {
		if id == "" {
			out, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{Description: aws.String("on postgres")})
			must(t, err)
			id = aws.ToString(out.KeyMetadata.KeyId)
		}
		enc, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: pt})
		must(t, err)
		blobs[id] = enc.CiphertextBlob
	}
	_, err := c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/pg"), TargetKeyId: aws.String(seededID)})
	must(t, err)
	stopClean(t, s1)

	s2 := startOnPostgres(t, url, "--data-dir", data, "--seed", seed)
	c = s2.client(devRegion, creds.AccessKey, creds.Secret)
	for id, blob := range blobs {
		dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob})
		if err != nil || !bytes.Equal(dec.Plaintext, pt) {
			t.Errorf("Decrypt(blob of %s) after restart = %q, %v", id, dec.Plaintext, err)
		}
	}
	lk, err := c.ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)
	if len(lk.Keys) != 4 {
		t.Errorf("ListKeys after restart = %d keys, want 4", len(lk.Keys))
	}
	dk, err := c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("alias/pg")})
	if err != nil || aws.ToString(dk.KeyMetadata.KeyId) != seededID {
		t.Errorf("DescribeKey(alias/pg) after restart = %v, %v", dk, err)
	}
	stopClean(t, s2)

	records, dump := rawTables(t, url)
	if records == 0 || !bytes.Contains(dump, []byte(seededID)) {
		t.Fatalf("the database holds %d records, none for key %s: the search below would prove nothing", records, seededID)
	}
	for name, form := range map[string][]byte{
		"raw":       material,
		"base64":    []byte(base64.StdEncoding.EncodeToString(material)),
		"base64url": []byte(base64.RawURLEncoding.EncodeToString(material)),
		"hex":       []byte(hex.EncodeToString(material)),
		"HEX":       []byte(strings.ToUpper(hex.EncodeToString(material))),
		"prefix":    material[:12], // any 12-byte window would be a leak too
	} {
		if bytes.Contains(dump, form) {
			t.Errorf("the database holds the seeded key material (%s)", name)
		}
	}
	if bytes.Contains(dump, pt) {
		t.Error("the database holds a plaintext")
	}
	if bytes.Contains(dump, []byte(creds.Secret)) {
		t.Error("the database holds the administrator's secret access key in the clear")
	}
}

// loadResult is what one client saw during TestPostgresDownUnderLoad.
type loadResult struct {
	created  []string          // key ids whose CreateKey succeeded
	aliases  map[string]string // alias -> key id, acknowledged
	failures map[string]int    // error code -> count
	encErrs  []error
	slowest  time.Duration
}

// PostgreSQL stops under load: writes fail cleanly (an AWS error, quickly),
// crypto goes on, nothing half-written is left, and everything recovers by
// itself when the database comes back.
func TestPostgresDownUnderLoad(t *testing.T) {
	t.Parallel()
	in := pgtest.Start(t)
	url := in.URL(t)
	rootKey := filepath.Join(t.TempDir(), "root.key")
	s := startOnPostgres(t, url, "--dev", "--root-key-file", rootKey)
	c := s.dev()
	k0, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	encKey := k0.KeyMetadata.KeyId

	var (
		mu      sync.Mutex
		phase   = "up"
		results []*loadResult
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	const workers = 4
	for w := range workers {
		r := &loadResult{aliases: map[string]string{}, failures: map[string]int{}}
		results = append(results, r)
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				out, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{Description: aws.String(fmt.Sprintf("load %d/%d", w, i))})
				if d := time.Since(start); d > r.slowest {
					r.slowest = d
				}
				if err == nil {
					id := aws.ToString(out.KeyMetadata.KeyId)
					r.created = append(r.created, id)
					alias := fmt.Sprintf("alias/load-%d-%d", w, i)
					_, err = c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(id)})
					if err == nil {
						r.aliases[alias] = id
					}
				}
				if err != nil {
					var ae smithy.APIError
					code := fmt.Sprintf("non-API error: %v", err)
					if errors.As(err, &ae) {
						code = ae.ErrorCode()
					}
					mu.Lock()
					r.failures[phase+" "+code]++
					mu.Unlock()
				}
				if _, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: encKey, Plaintext: []byte("x")}); err != nil {
					r.encErrs = append(r.encErrs, err)
				}
			}
		})
	}
	setPhase := func(p string) { mu.Lock(); phase = p; mu.Unlock() }

	time.Sleep(time.Second)
	setPhase("down")
	in.Stop()
	time.Sleep(3 * time.Second)
	code, body := httpGet(t, s.URL+"/health")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"storage":"unavailable"`) || !strings.Contains(body, `"initialized":true`) {
		t.Errorf("GET /health with the database down = %d %s, want 503 storage unavailable (and still initialized)", code, body)
	}
	// /health needs no authentication: it must not name the database.
	if strings.Contains(body, "user=") || strings.Contains(body, "127.0.0.1:") {
		t.Errorf("GET /health with the database down names the database: %s", body)
	}
	must(t, in.Restart())
	setPhase("back")
	// Recovery by itself: a write succeeds again without restarting trent.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{Description: aws.String("probe")})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CreateKey still fails 30s after PostgreSQL came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if code, body := httpGet(t, s.URL+"/health"); code != http.StatusOK {
		t.Errorf("GET /health after recovery = %d %s", code, body)
	}

	created, aliases, failures := []string{}, map[string]string{}, map[string]int{}
	for _, r := range results {
		created = append(created, r.created...)
		for a, id := range r.aliases {
			aliases[a] = id
		}
		for code, n := range r.failures {
			failures[code] += n
		}
		for _, err := range r.encErrs {
			t.Errorf("Encrypt failed (crypto must not need the database): %v", err)
		}
		if r.slowest > 15*time.Second {
			t.Errorf("a CreateKey took %v with the database down, want a bounded failure", r.slowest)
		}
	}
	t.Logf("acknowledged: %d keys, %d aliases; failures: %v", len(created), len(aliases), failures)
	downFailures := 0
	for code, n := range failures {
		p, c, _ := strings.Cut(code, " ")
		if c != "DependencyTimeoutException" && c != "KMSInternalException" {
			t.Errorf("%d failures %q while the database was %s, want DependencyTimeoutException or KMSInternalException", n, c, p)
		}
		if p == "down" {
			downFailures += n
		}
	}
	if downFailures == 0 {
		t.Errorf("no write failed while the database was down: the test did not test anything")
	}

	// Nothing acknowledged is lost, nothing half-written exists: check on
	// the running server, then on a new one that loads it all from the
	// database.
	verify := func(c *kms.Client, which string) {
		for _, id := range created {
			if _, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")}); err != nil {
				t.Errorf("%s: Encrypt with acknowledged key %s: %v", which, id, err)
			}
		}
		for a, id := range aliases {
			dk, err := c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(a)})
			if err != nil || aws.ToString(dk.KeyMetadata.KeyId) != id {
				t.Errorf("%s: acknowledged %s -> %s: DescribeKey = %v, %v", which, a, id, dk, err)
			}
		}
		// Every key and alias there is complete (a commit whose
		// acknowledgement was lost may have landed: then all of it did).
		var marker *string
		for {
			lk, err := c.ListKeys(ctx(t), &kms.ListKeysInput{Marker: marker})
			must(t, err)
			for _, k := range lk.Keys {
				if _, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")}); err != nil {
					t.Errorf("%s: Encrypt with listed key %s: %v", which, aws.ToString(k.KeyId), err)
				}
			}
			if !lk.Truncated {
				break
			}
			marker = lk.NextMarker
		}
		marker = nil
		for {
			la, err := c.ListAliases(ctx(t), &kms.ListAliasesInput{Marker: marker})
			must(t, err)
			for _, a := range la.Aliases {
				if a.TargetKeyId == nil {
					continue // AWS's predefined aliases have no key
				}
				if _, err := c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: a.TargetKeyId}); err != nil {
					t.Errorf("%s: alias %s targets %s: %v", which, aws.ToString(a.AliasName), aws.ToString(a.TargetKeyId), err)
				}
			}
			if !la.Truncated {
				break
			}
			marker = la.NextMarker
		}
	}
	verify(c, "running server")
	stopClean(t, s)
	s2 := startOnPostgres(t, url, "--dev", "--root-key-file", rootKey)
	verify(s2.dev(), "restarted server")
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
