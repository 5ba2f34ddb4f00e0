package e2e

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
	"github.com/trent-kms/trent/internal/xks"
)

// The bound within which a change made on one node reaches every other
// node: the database notifies every node at commit (milliseconds; the
// tests log what they measure), a lost notification is caught by the 2 s
// poll, and a node that cannot confirm that it is current refuses requests
// after --max-staleness (10 s by default): the guaranteed bound, which the
// tests assert (a run of the whole e2e package on 2 cores with -race slows
// everything down by seconds at times).
const clusterBound = 10 * time.Second

// nodes is several trent servers on one database, each with its own data
// directory (node id, audit log) and the same root key file.
type nodes struct {
	url, rootKey string
	dirs         []string
	s            []*server
	creds        adminCreds
}

// startNodes starts n nodes on url (the first one alone, as an operator
// brings up the first node: it initialises the database and writes the
// administrator's credentials), with extra flags.
func startNodes(t *testing.T, url string, n int, extra ...string) *nodes {
	t.Helper()
	c := &nodes{url: url, rootKey: filepath.Join(t.TempDir(), "root.key")}
	for i := range n {
		c.add(t, fmt.Sprintf("node-%c", 'a'+i), extra...)
	}
	c.creds = readCredentials(t, c.dirs[0])
	return c
}

func (c *nodes) add(t *testing.T, id string, extra ...string) *server {
	t.Helper()
	dir := t.TempDir()
	s := startOnPostgres(t, c.url, append([]string{"--data-dir", dir, "--root-key-file", c.rootKey, "--node-id", id}, extra...)...)
	c.dirs, c.s = append(c.dirs, dir), append(c.s, s)
	return s
}

func (c *nodes) kms(i int) *kms.Client {
	return c.s[i].client(devRegion, c.creds.AccessKey, c.creds.Secret)
}

// clusterHealth is the cluster member of GET /health.
type clusterHealth struct {
	Status  string `json:"status"`
	Cluster struct {
		Node      string  `json:"node"`
		Leader    bool    `json:"leader"`
		Applied   uint64  `json:"applied_version"`
		Staleness float64 `json:"staleness_seconds"`
	} `json:"cluster"`
}

func health(t *testing.T, s *server) (int, clusterHealth) {
	t.Helper()
	code, body := httpGet(t, s.URL+"/health")
	var h clusterHealth
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("GET /health: %v: %s", err, body)
	}
	return code, h
}

// untilTrue polls cond every 5 ms until it holds and returns how long it
// took; it fails the test after d.
func untilTrue(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "non-API error: " + err.Error()
	}
	return ""
}

// Three nodes on one database, as the README sets them up: a key created on
// one encrypts on the others; disabled on one, refused by the others
// within the bound; an access key revoked on one is refused by every node
// within the bound; GetKeyLastUsage sees the uses of every node; each
// node's audit log names it, and trent audit verify checks every chain.
func TestClusterThreeNodes(t *testing.T) {
	t.Parallel()
	c := startNodes(t, pgtest.URL(t), 3)
	a, b, cc := c.kms(0), c.kms(1), c.kms(2)

	out, err := a.CreateKey(ctx(t), &kms.CreateKeyInput{Description: aws.String("made on node a")})
	must(t, err)
	id := aws.ToString(out.KeyMetadata.KeyId)
	var blob []byte
	for i, cl := range []*kms.Client{b, cc} {
		d := untilTrue(t, clusterBound, fmt.Sprintf("node %d encrypts with node a's new key", i+1), func() bool {
			enc, err := cl.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("across nodes")})
			blob = nil
			if err == nil {
				blob = enc.CiphertextBlob
			}
			return err == nil
		})
		t.Logf("CreateKey on a: node %d encrypts after %v", i+1, d)
	}
	dec, err := a.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob})
	if err != nil || string(dec.Plaintext) != "across nodes" {
		t.Fatalf("Decrypt on a of node c's ciphertext = %v, %v", dec, err)
	}
	// A key used on node c only: GetKeyLastUsage on a must see that use.
	k2, err := a.CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	var useID string
	untilTrue(t, clusterBound, "node c encrypts with the second key", func() bool {
		enc, err := cc.Encrypt(ctx(t), &kms.EncryptInput{KeyId: k2.KeyMetadata.KeyId, Plaintext: []byte("x")})
		if err == nil {
			useID = requestID(enc.ResultMetadata, nil)
		}
		return err == nil
	})

	// DisableKey on a: b and c refuse within the bound.
	_, err = a.DisableKey(ctx(t), &kms.DisableKeyInput{KeyId: aws.String(id)})
	must(t, err)
	var wg sync.WaitGroup
	for i, cl := range []*kms.Client{b, cc} {
		wg.Go(func() {
			d := untilTrue(t, clusterBound, fmt.Sprintf("node %d refuses the disabled key", i+1), func() bool {
				_, err := cl.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
				return apiCode(err) == "DisabledException"
			})
			t.Logf("DisableKey on a: node %d refuses after %v", i+1, d)
		})
	}
	wg.Wait()

	// An access key made on b, used on every node, deactivated on c:
	// refused everywhere within the bound.
	ib := c.s[1].iam(c.creds.AccessKey, c.creds.Secret)
	_, err = ib.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("app")})
	must(t, err)
	ak, err := ib.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("app")})
	must(t, err)
	akid, secret := aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey)
	for i, s := range c.s {
		untilTrue(t, clusterBound, fmt.Sprintf("node %d accepts the new access key", i), func() bool {
			_, err := s.sts(akid, secret, "").GetCallerIdentity(ctx(t), nil)
			return err == nil
		})
	}
	_, err = c.s[2].iam(c.creds.AccessKey, c.creds.Secret).UpdateAccessKey(ctx(t), &awsiam.UpdateAccessKeyInput{
		UserName: aws.String("app"), AccessKeyId: aws.String(akid), Status: iamtypes.StatusTypeInactive})
	must(t, err)
	for i, s := range c.s {
		wg.Go(func() {
			d := untilTrue(t, clusterBound, fmt.Sprintf("node %d refuses the deactivated access key", i), func() bool {
				_, err := s.sts(akid, secret, "").GetCallerIdentity(ctx(t), nil)
				return apiCode(err) == "InvalidClientTokenId"
			})
			_, err := s.clientWith(devRegion, akid, secret, http.DefaultClient).ListKeys(ctx(t), &kms.ListKeysInput{})
			if code := apiCode(err); code != "UnrecognizedClientException" {
				t.Errorf("node %d: KMS call with the deactivated access key = %s, want UnrecognizedClientException", i, code)
			}
			t.Logf("UpdateAccessKey Inactive on c: node %d refuses after %v", i, d)
		})
	}
	wg.Wait()

	// Exactly one leader.
	leaders := 0
	for _, s := range c.s {
		if _, h := health(t, s); h.Cluster.Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d nodes lead the background jobs, want 1", leaders)
	}

	// GetKeyLastUsage on a sees node c's Encrypt (published within 10 s).
	d := untilTrue(t, 15*time.Second, "node a's GetKeyLastUsage sees node c's Encrypt", func() bool {
		lu, err := a.GetKeyLastUsage(ctx(t), &kms.GetKeyLastUsageInput{KeyId: k2.KeyMetadata.KeyId})
		return err == nil && lu.KeyLastUsage != nil && aws.ToString(lu.KeyLastUsage.KmsRequestId) == useID &&
			string(lu.KeyLastUsage.Operation) == "Encrypt"
	})
	t.Logf("node c's Encrypt seen by node a's GetKeyLastUsage after %v", d)

	// Each node's log names it; one verify checks all three chains.
	for _, s := range c.s {
		stopClean(t, s)
	}
	for i, dir := range c.dirs {
		node := fmt.Sprintf("node-%c", 'a'+i)
		names, _ := filepath.Glob(filepath.Join(dir, "audit", node+".*.jsonl"))
		if len(names) == 0 {
			t.Errorf("no audit segment named after %s in %s", node, dir)
		}
		for _, l := range auditLines(t, dir) {
			if !strings.Contains(string(l), `"trent":{"node":"`+node+`"`) {
				t.Fatalf("a line of %s's log does not name it: %.200s", node, l)
			}
		}
	}
	code, outv := trent(t, "audit", "verify", "--data-dir", c.dirs[0], "--data-dir", c.dirs[1], "--data-dir", c.dirs[2])
	if code != 0 || strings.Count(outv, "verifies:") != 3 {
		t.Errorf("trent audit verify over three nodes = %d\n%s", code, outv)
	}
	// The logs gathered in one directory (names do not collide) verify too.
	all := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(all, "audit"), 0o700))
	for _, dir := range c.dirs {
		names, _ := filepath.Glob(filepath.Join(dir, "audit", "*"))
		for _, n := range names {
			b, err := os.ReadFile(n)
			must(t, err)
			must(t, os.WriteFile(filepath.Join(all, "audit", filepath.Base(n)), b, 0o600))
		}
	}
	if code, out := trent(t, "audit", "verify", "--data-dir", all); code != 0 || strings.Count(out, "verifies:") != 3 {
		t.Errorf("trent audit verify of the gathered logs = %d\n%s", code, out)
	}
}

// rawVersions counts the records of the database by the data-key version
// that seals them (the barrier's header: format byte, version).
func rawVersions(t *testing.T, url string) map[uint32]int {
	t.Helper()
	conn, err := pgx.Connect(ctx(t), url)
	must(t, err)
	defer conn.Close(ctx(t))
	rows, err := conn.Query(ctx(t), `SELECT key, value FROM trent_records`)
	must(t, err)
	vs := map[uint32]int{}
	for rows.Next() {
		var k, v []byte
		must(t, rows.Scan(&k, &v))
		if strings.HasPrefix(string(k), "barrier/") || len(v) < 5 {
			continue
		}
		vs[binary.BigEndian.Uint32(v[1:5])]++
	}
	must(t, rows.Err())
	return vs
}

// operatorStatus is what GET /trent/operator/status says of the rewrap.
type operatorStatus struct {
	DataKeys []uint32 `json:"data_keys"`
	Rewrap   *struct {
		Running   bool  `json:"running"`
		Rewrapped int64 `json:"rewrapped"`
		Remaining int64 `json:"remaining"`
	} `json:"rewrap"`
}

func opStatus(t *testing.T, s *server) (operatorStatus, bool) {
	resp, err := http.Get(s.URL + "/trent/operator/status")
	if err != nil {
		return operatorStatus{}, false
	}
	defer resp.Body.Close()
	var st operatorStatus
	return st, json.NewDecoder(resp.Body).Decode(&st) == nil
}

// kill -9 the leader while it rewraps the records under a new data key:
// another node takes the leadership over and finishes the rewrap; nothing
// is lost (every key, alias and ciphertext made before still works, every
// record ends under the new data key).
func TestClusterLeaderKilledDuringRewrap(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	// A paced rewrap (a few seconds for these records) leaves time to kill
	// the leader in its middle.
	c := startNodes(t, url, 2, "--rewrap-rate", "200")

	// Records to rewrap: keys and aliases made on both nodes.
	const keys = 300
	ids := make([]string, keys)
	blobs := make([][]byte, keys)
	var wg sync.WaitGroup
	for w := range 8 {
		cl := c.kms(w % 2)
		wg.Go(func() {
			for i := w; i < keys; i += 8 {
				out, err := cl.CreateKey(ctx(t), &kms.CreateKeyInput{})
				if err != nil {
					t.Errorf("CreateKey: %v", err)
					return
				}
				ids[i] = aws.ToString(out.KeyMetadata.KeyId)
				_, err = cl.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String(fmt.Sprintf("alias/k%d", i)), TargetKeyId: out.KeyMetadata.KeyId})
				if err != nil {
					t.Errorf("CreateAlias: %v", err)
					return
				}
				enc, err := cl.Encrypt(ctx(t), &kms.EncryptInput{KeyId: out.KeyMetadata.KeyId, Plaintext: []byte(ids[i])})
				if err != nil {
					t.Errorf("Encrypt: %v", err)
					return
				}
				blobs[i] = enc.CiphertextBlob
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	leader, other := -1, -1
	untilTrue(t, 5*time.Second, "a leader", func() bool {
		for i, s := range c.s {
			if _, h := health(t, s); h.Cluster.Leader {
				leader, other = i, 1-i
				return true
			}
		}
		return false
	})
	// Rotate on the other node: the leader learns of it from the database
	// and rewraps; it is killed as soon as it has moved some records but
	// not all.
	env := []string{"AWS_ENDPOINT_URL=" + c.s[other].URL, "AWS_ACCESS_KEY_ID=" + c.creds.AccessKey, "AWS_SECRET_ACCESS_KEY=" + c.creds.Secret}
	if out, errs, code := trentCmd(t, env, "", "operator", "rotate"); code != 0 {
		t.Fatalf("operator rotate = %d %q %q", code, out, errs)
	}
	caught := false
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, ok := opStatus(t, c.s[leader])
		if ok && st.Rewrap != nil && st.Rewrap.Rewrapped > 0 && st.Rewrap.Running {
			caught = true
			break
		}
		if ok && len(st.DataKeys) == 1 && st.Rewrap != nil && !st.Rewrap.Running {
			break // finished before we could catch it
		}
		time.Sleep(time.Millisecond)
	}
	c.s[leader].kill() // kill -9: no shutdown, its database session just ends
	vs := rawVersions(t, url)
	t.Logf("leader killed during the rewrap (caught mid-way: %v); records by data-key version: %v", caught, vs)
	if !caught || vs[1] == 0 || vs[2] == 0 {
		t.Fatalf("the leader was not killed in the middle of the rewrap (records by version %v): the test proves nothing", vs)
	}

	// The other node takes over and finishes.
	d := untilTrue(t, 20*time.Second, "the surviving node leads and finishes the rewrap", func() bool {
		_, h := health(t, c.s[other])
		st, ok := opStatus(t, c.s[other])
		return h.Cluster.Leader && ok && len(st.DataKeys) == 1
	})
	t.Logf("rewrap finished by the surviving node %v after the kill", d)
	if vs := rawVersions(t, url); len(vs) != 1 || vs[2] == 0 {
		t.Errorf("records by data-key version after the takeover: %v, want all under version 2", vs)
	}
	// Nothing lost: on the survivor and on a node started afresh.
	fresh := c.add(t, "node-z", "--rewrap-rate", "200")
	for _, cl := range []*kms.Client{c.kms(other), fresh.client(devRegion, c.creds.AccessKey, c.creds.Secret)} {
		lk, err := cl.ListAliases(ctx(t), &kms.ListAliasesInput{KeyId: aws.String(ids[0])})
		if err != nil || len(lk.Aliases) != 1 {
			t.Errorf("ListAliases(first key) = %v, %v", lk, err)
		}
		for i, blob := range blobs {
			dec, err := cl.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob})
			if err != nil || string(dec.Plaintext) != ids[i] {
				t.Fatalf("Decrypt of ciphertext %d after the takeover = %v, %v", i, dec, err)
			}
			if _, err := cl.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(fmt.Sprintf("alias/k%d", i))}); err != nil {
				t.Fatalf("alias/k%d after the takeover: %v", i, err)
			}
		}
	}
}

// PostgreSQL stopped and restarted under load on two nodes: while it is
// down, writes fail cleanly on both (DependencyTimeoutException or
// KMSInternalException, nothing half-written) and, once the nodes cannot
// confirm for max-staleness that they are current, so do reads and crypto;
// when it is back both recover by themselves, and a change on one reaches
// the other again.
func TestClusterPostgresRestartUnderLoad(t *testing.T) {
	t.Parallel()
	in := pgtest.Start(t)
	c := startNodes(t, in.URL(t), 2, "--max-staleness", "3s")
	cl := []*kms.Client{c.kms(0), c.kms(1)}
	k0, err := cl[0].CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	encKey := aws.ToString(k0.KeyMetadata.KeyId)
	untilTrue(t, clusterBound, "node b knows the key", func() bool {
		_, err := cl[1].Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(encKey), Plaintext: []byte("x")})
		return err == nil
	})

	var (
		mu       sync.Mutex
		phase    = "up"
		created  = map[string]bool{}
		aliases  = map[string]string{}
		failures = map[string]int{}
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := cl[(w+i)%2]
				fail := func(op string, err error) {
					mu.Lock()
					failures[phase+" "+op+" "+apiCode(err)]++
					mu.Unlock()
				}
				out, err := n.CreateKey(ctx(t), &kms.CreateKeyInput{})
				if err != nil {
					fail("CreateKey", err)
				} else {
					id := aws.ToString(out.KeyMetadata.KeyId)
					mu.Lock()
					created[id] = true
					mu.Unlock()
					alias := fmt.Sprintf("alias/w%d-%d", w, i)
					if _, err := n.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(id)}); err != nil {
						fail("CreateAlias", err)
					} else {
						mu.Lock()
						aliases[alias] = id
						mu.Unlock()
					}
				}
				if _, err := n.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(encKey), Plaintext: []byte("x")}); err != nil {
					fail("Encrypt", err)
				}
			}
		})
	}
	setPhase := func(p string) { mu.Lock(); phase = p; mu.Unlock() }
	time.Sleep(time.Second)
	setPhase("down")
	in.Stop()
	// Past max-staleness, every node refuses even crypto (it could not
	// hear a revocation) and says so on /health.
	for i, s := range c.s {
		untilTrue(t, 10*time.Second, fmt.Sprintf("node %d refuses Encrypt with the database down", i), func() bool {
			_, err := cl[i].Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(encKey), Plaintext: []byte("x")})
			return apiCode(err) == "DependencyTimeoutException"
		})
		if code, h := health(t, s); code != http.StatusServiceUnavailable || h.Status != "error" && h.Status != "stale" {
			t.Errorf("node %d: GET /health with the database down = %d %+v, want 503", i, code, h)
		}
	}
	time.Sleep(time.Second)
	must(t, in.Restart())
	setPhase("back")
	for i := range c.s {
		untilTrue(t, 30*time.Second, fmt.Sprintf("node %d writes again", i), func() bool {
			_, err := cl[i].CreateKey(ctx(t), &kms.CreateKeyInput{Description: aws.String("probe")})
			return err == nil
		})
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	t.Logf("acknowledged: %d keys, %d aliases; failures: %v", len(created), len(aliases), failures)
	down := 0
	for k, n := range failures {
		p, rest, _ := strings.Cut(k, " ")
		_, code, _ := strings.Cut(rest, " ")
		if code != "DependencyTimeoutException" && code != "KMSInternalException" {
			t.Errorf("%d failures %q while the database was %s, want DependencyTimeoutException or KMSInternalException", n, rest, p)
		}
		if p == "down" {
			down += n
		}
	}
	if down == 0 {
		t.Error("nothing failed while the database was down: the test proves nothing")
	}
	// Changes flow again, both ways.
	for from := range 2 {
		var out *kms.CreateKeyOutput
		untilTrue(t, 10*time.Second, fmt.Sprintf("node %d creates a key", from), func() bool {
			var err error
			out, err = cl[from].CreateKey(ctx(t), &kms.CreateKeyInput{})
			return err == nil
		})
		untilTrue(t, clusterBound, fmt.Sprintf("node %d's key after the restart reaches the other node", from), func() bool {
			_, err := cl[1-from].Encrypt(ctx(t), &kms.EncryptInput{KeyId: out.KeyMetadata.KeyId, Plaintext: []byte("x")})
			return err == nil
		})
	}
	// Nothing acknowledged is lost and nothing half-written is visible, on
	// either node.
	for i := range c.s {
		for id := range created {
			if _, err := cl[i].DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(id)}); err != nil {
				t.Errorf("node %d: acknowledged key %s: %v", i, id, err)
			}
		}
		for a, id := range aliases {
			dk, err := cl[i].DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(a)})
			if err != nil || aws.ToString(dk.KeyMetadata.KeyId) != id {
				t.Errorf("node %d: acknowledged %s -> %s: %v, %v", i, a, id, dk, err)
			}
		}
		var marker *string
		for {
			la, err := cl[i].ListAliases(ctx(t), &kms.ListAliasesInput{Marker: marker})
			must(t, err)
			for _, al := range la.Aliases {
				if al.TargetKeyId == nil {
					continue
				}
				if _, err := cl[i].Encrypt(ctx(t), &kms.EncryptInput{KeyId: al.TargetKeyId, Plaintext: []byte("x")}); err != nil {
					t.Errorf("node %d: alias %s -> %s: %v", i, aws.ToString(al.AliasName), aws.ToString(al.TargetKeyId), err)
				}
			}
			if !la.Truncated {
				break
			}
			marker = la.NextMarker
		}
	}
}

// trent admin works on the database the nodes share, while they run (the
// break-glass of a cluster): a key it creates is accepted, a key it
// deactivates refused, by every node within the bound. trent operator
// status shows a node's cluster state. A backup of the
// cluster restores into an empty database (and only into an empty one),
// where a new node decrypts what the cluster encrypted.
func TestClusterAdminAndRestore(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	c := startNodes(t, url, 2)
	pgArgs := []string{"--storage", "postgres", "--postgres-url", url, "--root-key-file", c.rootKey}

	code, out := trent(t, append([]string{"admin", "create-access-key"}, pgArgs...)...)
	m := keyLineRE.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("admin create-access-key on the cluster's database = %d %s", code, out)
	}
	glassID, glassSecret := m[1], m[2]
	for i, s := range c.s {
		d := untilTrue(t, clusterBound, fmt.Sprintf("node %d accepts the key trent admin created", i), func() bool {
			_, err := s.client(devRegion, glassID, glassSecret).ListKeys(ctx(t), &kms.ListKeysInput{})
			return err == nil
		})
		t.Logf("trent admin create-access-key: node %d accepts it after %v", i, d)
	}
	if code, out := trent(t, append([]string{"admin", "deactivate-access-key"}, append(pgArgs, glassID)...)...); code != 0 {
		t.Fatalf("admin deactivate-access-key = %d %s", code, out)
	}
	for i, s := range c.s {
		untilTrue(t, clusterBound, fmt.Sprintf("node %d refuses the key trent admin deactivated", i), func() bool {
			_, err := s.client(devRegion, glassID, glassSecret).ListKeys(ctx(t), &kms.ListKeysInput{})
			return apiCode(err) == "UnrecognizedClientException"
		})
	}

	// Backup from one node, restore into an empty database.
	k, err := c.kms(1).CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	enc, err := c.kms(1).Encrypt(ctx(t), &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("restored")})
	must(t, err)
	bfile := filepath.Join(t.TempDir(), "cluster.backup")
	env := []string{"AWS_ENDPOINT_URL=" + c.s[0].URL, "AWS_ACCESS_KEY_ID=" + c.creds.AccessKey, "AWS_SECRET_ACCESS_KEY=" + c.creds.Secret}
	untilTrue(t, clusterBound, "node a knows node b's key", func() bool {
		_, err := c.kms(0).DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: k.KeyMetadata.KeyId})
		return err == nil
	})
	// docs/postgres.md: trent operator status carries what /health's
	// "cluster" member does.
	if out, errs, code := trentCmd(t, env, "", "operator", "status"); code != 0 || !strings.Contains(out, "cluster: node node-a (") {
		t.Errorf("trent operator status on a node = %d %q %q, want its cluster state (node node-a)", code, out, errs)
	}
	if _, errs, code := trentCmd(t, env, "", "backup", "-o", bfile); code != 0 {
		t.Fatalf("trent backup = %d %s", code, errs)
	}
	if _, errs, code := trentCmd(t, nil, "", "restore", "--storage", "postgres", "--postgres-url", url, bfile); code != 1 || !strings.Contains(errs, "not empty") {
		t.Errorf("restore into the cluster's own database = %d %q, want a refusal (not empty)", code, errs)
	}
	url2 := pgtest.URL(t)
	if _, errs, code := trentCmd(t, []string{"TRENT_POSTGRES_URL=" + url2}, "", "restore", "--storage", "postgres", bfile); code != 0 || !strings.Contains(errs, "restored") {
		t.Fatalf("restore into an empty database = %d %q", code, errs)
	}
	s := startOnPostgres(t, url2, "--data-dir", t.TempDir(), "--root-key-file", c.rootKey)
	dec, err := s.client(devRegion, c.creds.AccessKey, c.creds.Secret).Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "restored" {
		t.Errorf("Decrypt on a node of the restored database = %v, %v", dec, err)
	}
}

// Two nodes change one IAM user at the same moment (inline policies put on
// both, tags added on both): every change stays, on both nodes. Each update
// is made to the record as the database holds it, and PostgreSQL's
// serializable transactions redo the loser of two at once.
func TestClusterConcurrentIAMWrites(t *testing.T) {
	t.Parallel()
	c := startNodes(t, pgtest.URL(t), 2)
	clients := []*awsiam.Client{c.s[0].iam(c.creds.AccessKey, c.creds.Secret), c.s[1].iam(c.creds.AccessKey, c.creds.Secret)}
	_, err := clients[0].CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("bob")})
	must(t, err)
	untilTrue(t, clusterBound, "node b knows bob", func() bool {
		_, err := clients[1].GetUser(ctx(t), &awsiam.GetUserInput{UserName: aws.String("bob")})
		return err == nil
	})
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		cl := clients[i%2]
		wg.Go(func() {
			_, err := cl.PutUserPolicy(ctx(t), &awsiam.PutUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String(fmt.Sprintf("p%d", i)),
				PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`)})
			if err != nil {
				t.Errorf("PutUserPolicy p%d on node %d: %v", i, i%2, err)
			}
		})
		wg.Go(func() {
			_, err := cl.TagUser(ctx(t), &awsiam.TagUserInput{UserName: aws.String("bob"), Tags: []iamtypes.Tag{{Key: aws.String(fmt.Sprintf("t%d", i)), Value: aws.String("v")}}})
			if err != nil {
				t.Errorf("TagUser t%d on node %d: %v", i, i%2, err)
			}
		})
	}
	wg.Wait()
	for i, cl := range clients {
		var pols, tags int
		for start := time.Now(); time.Since(start) < clusterBound; time.Sleep(5 * time.Millisecond) {
			p, err := cl.ListUserPolicies(ctx(t), &awsiam.ListUserPoliciesInput{UserName: aws.String("bob")})
			must(t, err)
			u, err := cl.GetUser(ctx(t), &awsiam.GetUserInput{UserName: aws.String("bob")})
			must(t, err)
			if pols, tags = len(p.PolicyNames), len(u.User.Tags); pols == n && tags == n {
				break
			}
		}
		if pols != n || tags != n {
			t.Errorf("node %d: bob has %d policies and %d tags, want %d of each (a write was lost)", i, pols, tags, n)
		}
	}
}

// DeleteUser on one node and CreateAccessKey for that user on another, at
// the same moment, many times: each pair ends with the user and its key, or
// with neither (DeleteConflict or NoSuchEntity for the loser), never with a
// key of a missing user, which no node could load: both nodes keep
// following each other's changes.
func TestClusterDeleteUserAgainstNewKey(t *testing.T) {
	t.Parallel()
	c := startNodes(t, pgtest.URL(t), 2)
	a, b := c.s[0].iam(c.creds.AccessKey, c.creds.Secret), c.s[1].iam(c.creds.AccessKey, c.creds.Secret)
	const n = 12
	for i := range n {
		_, err := a.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String(fmt.Sprintf("u%d", i))})
		must(t, err)
	}
	untilTrue(t, clusterBound, "node b knows the users", func() bool {
		_, err := b.GetUser(ctx(t), &awsiam.GetUserInput{UserName: aws.String(fmt.Sprintf("u%d", n-1))})
		return err == nil
	})
	var wg sync.WaitGroup
	for i := range n {
		name := aws.String(fmt.Sprintf("u%d", i))
		wg.Go(func() {
			if _, err := a.DeleteUser(ctx(t), &awsiam.DeleteUserInput{UserName: name}); err != nil && apiCode(err) != "DeleteConflict" {
				t.Errorf("DeleteUser %s on a: %v", *name, err)
			}
		})
		wg.Go(func() {
			if _, err := b.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: name}); err != nil && apiCode(err) != "NoSuchEntity" {
				t.Errorf("CreateAccessKey %s on b: %v", *name, err)
			}
		})
	}
	wg.Wait()
	// Both nodes still follow: a user made on each reaches the other.
	for i, pair := range [][2]*awsiam.Client{{a, b}, {b, a}} {
		name := aws.String(fmt.Sprintf("after-%d", i))
		_, err := pair[0].CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: name})
		must(t, err)
		untilTrue(t, clusterBound, fmt.Sprintf("the other node knows %s", *name), func() bool {
			_, err := pair[1].GetUser(ctx(t), &awsiam.GetUserInput{UserName: name})
			return err == nil
		})
	}
	// And agree on each user: gone with no key, or there with its key.
	for i := range n {
		name := aws.String(fmt.Sprintf("u%d", i))
		for _, cl := range []*awsiam.Client{a, b} {
			_, uerr := cl.GetUser(ctx(t), &awsiam.GetUserInput{UserName: name})
			keys, kerr := cl.ListAccessKeys(ctx(t), &awsiam.ListAccessKeysInput{UserName: name})
			switch {
			case uerr == nil && (kerr != nil || len(keys.AccessKeyMetadata) != 1):
				t.Errorf("%s exists without its one key: %v, %v", *name, keys, kerr)
			case uerr != nil && apiCode(uerr) != "NoSuchEntity":
				t.Errorf("GetUser %s: %v", *name, uerr)
			}
		}
	}
}

// connectedXKS makes a key on node a, and an external key store whose
// proxy is node a (the Trent XKS proxy at endpoint, node a's URL or a
// relay to it), connected: the key is the store's external key.
func (c *nodes) connectedXKS(t *testing.T, endpoint string) (ext *types.KeyMetadata, storeID *string) {
	t.Helper()
	a := c.kms(0)
	ext = newKey(t, a, "external key")
	cks, err := a.CreateCustomKeyStore(ctx(t), &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("cluster-xks"), CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore,
		XksProxyConnectivity: types.XksProxyConnectivityTypePublicEndpoint, XksProxyUriEndpoint: aws.String(endpoint),
		XksProxyUriPath: aws.String(xks.APIPath), XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{
			AccessKeyId: aws.String(c.creds.AccessKey), RawSecretAccessKey: aws.String(xks.ProxySecret(c.creds.Secret))},
	})
	must(t, err)
	_, err = a.ConnectCustomKeyStore(ctx(t), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: cks.CustomKeyStoreId})
	must(t, err)
	return ext, cks.CustomKeyStoreId
}

// TestClusterExternalKeyStore: a custom key store changed on one node
// reaches the other's cryptographic operations within the bound (each node
// keeps the stores its keys use in memory). The store's proxy is node a.
func TestClusterExternalKeyStore(t *testing.T) {
	t.Parallel()
	c := startNodes(t, pgtest.URL(t), 2)
	a, b := c.kms(0), c.kms(1)
	ext, cks := c.connectedXKS(t, c.s[0].URL)
	k, err := a.CreateKey(ctx(t), &kms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore,
		CustomKeyStoreId: cks, XksKeyId: ext.KeyId})
	must(t, err)
	encryptOnB := func() error {
		_, err := b.Encrypt(ctx(t), &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
		return err
	}
	d := untilTrue(t, clusterBound, "node b encrypts under the key", func() bool { return encryptOnB() == nil })
	t.Logf("node b used the new key after %v", d)

	_, err = a.DisconnectCustomKeyStore(ctx(t), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: cks})
	must(t, err)
	d = untilTrue(t, clusterBound, "node b sees the store disconnected", func() bool {
		return apiCode(encryptOnB()) == "KMSInvalidStateException"
	})
	t.Logf("node b refused after %v", d)
	_, err = a.ConnectCustomKeyStore(ctx(t), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: cks})
	must(t, err)
	untilTrue(t, clusterBound, "node b sees the store connected again", func() bool { return encryptOnB() == nil })
}

// TestClusterGrantNameAcrossNodes: CreateGrant with a Name is idempotent
// (AWS: "if the grant already exists, the original GrantId is returned
// without creating a new grant") also when the retry reaches another node
// before the first grant has: each pair of identical requests sent to two
// nodes at the same moment gives one grant, and both answer its GrantId.
func TestClusterGrantNameAcrossNodes(t *testing.T) {
	t.Parallel()
	c := startNodes(t, pgtest.URL(t), 2)
	a, b := c.kms(0), c.kms(1)
	k, err := a.CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	untilTrue(t, clusterBound, "node b knows the key", func() bool {
		_, err := b.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: k.KeyMetadata.KeyId})
		return err == nil
	})
	const n = 8
	for i := range n {
		in := &kms.CreateGrantInput{KeyId: k.KeyMetadata.KeyId, Name: aws.String(fmt.Sprintf("retried-%d", i)),
			GranteePrincipal: aws.String("arn:aws:iam::111122223333:role/app"), Operations: []types.GrantOperation{types.GrantOperationDecrypt}}
		var ids [2]string
		var wg sync.WaitGroup
		for j, cl := range []*kms.Client{a, b} {
			wg.Go(func() {
				out, err := cl.CreateGrant(ctx(t), in)
				if err != nil {
					t.Errorf("CreateGrant %s on node %d: %v", *in.Name, j, err)
					return
				}
				ids[j] = aws.ToString(out.GrantId)
			})
		}
		wg.Wait()
		if ids[0] != ids[1] {
			t.Errorf("CreateGrant %s on both nodes made two grants: %s and %s", *in.Name, ids[0], ids[1])
		}
	}
	// Both nodes end with n grants.
	for i, cl := range []*kms.Client{a, b} {
		var got int
		untilTrue(t, clusterBound, fmt.Sprintf("node %d lists %d grants", i, n), func() bool {
			out, err := cl.ListGrants(ctx(t), &kms.ListGrantsInput{KeyId: k.KeyMetadata.KeyId})
			if err == nil {
				got = len(out.Grants)
			}
			return got == n || got > n
		})
		if got != n {
			t.Errorf("node %d lists %d grants, want %d", i, got, n)
		}
	}
}

// TestClusterDeleteAliasMovedElsewhere: DeleteAlias needs kms:DeleteAlias
// on the key the alias points to. An alias moved on node a to a key the
// caller may not touch is not deleted on node b, also when node b has not
// heard of the move yet: its transaction finds the alias changed, and node
// b reads it again and decides again (AccessDeniedException).
func TestClusterDeleteAliasMovedElsewhere(t *testing.T) {
	t.Parallel()
	c := startNodes(t, pgtest.URL(t), 2)
	a, b := c.kms(0), c.kms(1)
	x, y := newKey(t, a, "x"), newKey(t, a, "y")
	root := c.s[0].iam(c.creds.AccessKey, c.creds.Secret)
	_, err := root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("ops")})
	must(t, err)
	_, err = root.PutUserPolicy(ctx(t), &awsiam.PutUserPolicyInput{UserName: aws.String("ops"), PolicyName: aws.String("x-aliases"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DeleteAlias",
			"Resource":["arn:aws:kms:` + devRegion + `:` + c.creds.Account + `:alias/*","` + aws.ToString(x.Arn) + `"]}]}`)})
	must(t, err)
	ak, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("ops")})
	must(t, err)
	ops := c.s[1].client(devRegion, aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey))
	untilTrue(t, clusterBound, "node b knows ops", func() bool {
		_, err := ops.DeleteAlias(ctx(t), &kms.DeleteAliasInput{AliasName: aws.String("alias/none")})
		return apiCode(err) == "NotFoundException"
	})
	const n = 5
	for i := range n {
		name := aws.String(fmt.Sprintf("alias/moving-%d", i))
		_, err := a.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: name, TargetKeyId: x.KeyId})
		must(t, err)
		untilTrue(t, clusterBound, "node b knows the alias", func() bool {
			out, err := b.ListAliases(ctx(t), &kms.ListAliasesInput{KeyId: x.KeyId})
			return err == nil && len(out.Aliases) == 1 && aws.ToString(out.Aliases[0].AliasName) == *name
		})
		_, err = a.UpdateAlias(ctx(t), &kms.UpdateAliasInput{AliasName: name, TargetKeyId: y.KeyId})
		must(t, err)
		_, err = ops.DeleteAlias(ctx(t), &kms.DeleteAliasInput{AliasName: name})
		if code := apiCode(err); code != "AccessDeniedException" {
			t.Errorf("DeleteAlias %s on node b right after node a moved it to a key ops may not touch = %v, want AccessDeniedException", *name, err)
		}
	}
	out, err := a.ListAliases(ctx(t), &kms.ListAliasesInput{KeyId: y.KeyId})
	must(t, err)
	if len(out.Aliases) != n {
		t.Errorf("key y has %d aliases, want %d", len(out.Aliases), n)
	}
}

// TestClusterKeyStoreDeletedDuringCreateKey: a CreateKey in an external key
// store asks the store's proxy for the external key's metadata before it
// writes the key. A store disconnected and deleted on another node while
// the proxy answers gets no key: CustomKeyStoreNotFoundException, as if
// the deletion had come first. (The proxy is node a behind a relay that
// holds the metadata request until the store is gone.)
func TestClusterKeyStoreDeletedDuringCreateKey(t *testing.T) {
	t.Parallel()
	c := startNodes(t, pgtest.URL(t), 2)
	a, b := c.kms(0), c.kms(1)
	target, err := url.Parse(c.s[0].URL)
	must(t, err)
	var hold atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	proxy := httputil.NewSingleHostReverseProxy(target)
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/metadata") && hold.CompareAndSwap(true, false) {
			entered <- struct{}{}
			<-release
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(relay.Close)
	ext, cks := c.connectedXKS(t, relay.URL)
	hold.Store(true)
	created := make(chan error, 1)
	go func() {
		_, err := b.CreateKey(ctx(t), &kms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore, CustomKeyStoreId: cks, XksKeyId: ext.KeyId})
		created <- err
	}()
	<-entered
	_, err = a.DisconnectCustomKeyStore(ctx(t), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: cks})
	must(t, err)
	_, err = a.DeleteCustomKeyStore(ctx(t), &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: cks})
	must(t, err)
	close(release)
	if err := <-created; apiCode(err) != "CustomKeyStoreNotFoundException" {
		t.Errorf("CreateKey on node b in a store node a deleted meanwhile = %v, want CustomKeyStoreNotFoundException", err)
	}
}

// TestClusterGrantTokenOnAnotherNode: AWS's remedy for a grant that has not
// reached every part of the service yet is its grant token: a request that
// carries it is allowed by the grant at once. A grant made on node a is so
// used on node b right away, before node b has heard of it.
func TestClusterGrantTokenOnAnotherNode(t *testing.T) {
	t.Parallel()
	c := startNodes(t, pgtest.URL(t), 2)
	a := c.kms(0)
	root := c.s[0].iam(c.creds.AccessKey, c.creds.Secret)
	u, err := root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("app")})
	must(t, err)
	ak, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("app")})
	must(t, err)
	app := c.s[1].client(devRegion, aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey))
	for i := range 3 {
		k := newKey(t, a, fmt.Sprintf("granted %d", i))
		untilTrue(t, clusterBound, "node b knows app and the key", func() bool {
			_, err := app.Encrypt(ctx(t), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
			return apiCode(err) == "AccessDeniedException"
		})
		g, err := a.CreateGrant(ctx(t), &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: u.User.Arn,
			Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
		must(t, err)
		_, err = app.Encrypt(ctx(t), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x"), GrantTokens: []string{aws.ToString(g.GrantToken)}})
		if err != nil {
			t.Errorf("Encrypt on node b with the token of node a's new grant: %v", err)
		}
		// RetireGrant by its token, on node b, right after node a made it.
		g, err = a.CreateGrant(ctx(t), &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: u.User.Arn,
			Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
		must(t, err)
		if _, err := c.kms(1).RetireGrant(ctx(t), &kms.RetireGrantInput{GrantToken: g.GrantToken}); err != nil {
			t.Errorf("RetireGrant on node b by the token of node a's new grant: %v", err)
		}
	}
}

// TestClusterImportOnAnotherNode: the import token of GetParametersForImport
// made on node a imports on node b right away, before node b has heard of
// the new parameters (a load balancer sends the two calls anywhere).
func TestClusterImportOnAnotherNode(t *testing.T) {
	t.Parallel()
	c := startNodes(t, pgtest.URL(t), 2)
	a, b := c.kms(0), c.kms(1)
	for i := range 3 {
		k, err := a.CreateKey(ctx(t), &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
		must(t, err)
		untilTrue(t, clusterBound, "node b knows the key", func() bool {
			_, err := b.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: k.KeyMetadata.KeyId})
			return err == nil
		})
		material := make([]byte, 32)
		material[0] = byte(i + 1)
		if err := importVia(t, a, b, aws.ToString(k.KeyMetadata.KeyId), material, kms.ImportKeyMaterialInput{}); err != nil {
			t.Errorf("ImportKeyMaterial on node b with node a's new import token: %v", err)
		}
	}
}

// A node that refuses calls because it cannot confirm that it is current
// (its database down past --max-staleness) records each refusal in its
// audit log with the error code it answered, as CloudTrail records failed
// calls: the KMS API's, the IAM and STS Query APIs', and the XKS proxy
// API's.
func TestClusterStaleRefusalsAudited(t *testing.T) {
	t.Parallel()
	in := pgtest.Start(t)
	// always: each record is in the file before its answer leaves.
	c := startNodes(t, in.URL(t), 1, "--max-staleness", "3s", "--audit-sync", "always")
	s := c.s[0]
	kc := s.auditClient(c.creds.AccessKey, c.creds.Secret)
	k, err := kc.CreateKey(ctx(t), &kms.CreateKeyInput{})
	must(t, err)
	hc := &http.Client{Timeout: 30 * time.Second}
	xksKey, _, xksAK, xksSecret := xksSetup(t, s, c.creds, hc, "xks-proxy")
	in.Stop()
	t.Cleanup(func() { in.Restart() }) // so that the node stops cleanly
	var encErr error
	untilTrue(t, 30*time.Second, "the node refuses Encrypt with the database down", func() bool {
		_, encErr = kc.Encrypt(ctx(t), &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
		return apiCode(encErr) == "DependencyTimeoutException"
	})
	if code, h := health(t, s); code != http.StatusServiceUnavailable || h.Status != "stale" {
		t.Fatalf("GET /health = %d %+v, want 503 stale: the refusal is not the staleness one", code, h)
	}
	_, iamErr := s.iam(c.creds.AccessKey, c.creds.Secret).ListUsers(ctx(t), &awsiam.ListUsersInput{})
	if apiCode(iamErr) != "ServiceUnavailable" {
		t.Fatalf("ListUsers on the stale node: %v, want ServiceUnavailable", iamErr)
	}

	_, xksErr := newXKSClient(t, s, xksAK, xksSecret, hc).KeyMetadata(ctx(t), xksKey, xksMetadata("DescribeKey"))
	wantXKS(t, xksErr, xks.ErrDependencyTimeout)
	xksRecorded := false

	want := map[string][2]string{ // request id: event name, error code
		requestID(middleware.Metadata{}, encErr): {"Encrypt", "DependencyTimeoutException"},
		requestID(middleware.Metadata{}, iamErr): {"ListUsers", "ServiceUnavailable"},
	}
	for _, l := range auditLines(t, c.dirs[0]) {
		var r struct {
			auditRecord
			UserIdentity struct {
				AccessKeyID string `json:"accessKeyId"`
			} `json:"userIdentity"`
		}
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("audit line is not JSON: %v\n%s", err, l)
		}
		if r.EventName == "XksGetKeyMetadata" && r.ErrorCode == "DependencyTimeoutException" && r.UserIdentity.AccessKeyID == xksAK {
			xksRecorded = true
		}
		w, ok := want[r.RequestID]
		if !ok {
			continue
		}
		delete(want, r.RequestID)
		if r.EventName != w[0] || r.ErrorCode != w[1] || r.UserIdentity.AccessKeyID != c.creds.AccessKey {
			t.Errorf("record of the refused %s: %s %s by %q, want %s by %s", w[0], r.EventName, r.ErrorCode,
				r.UserIdentity.AccessKeyID, w[1], c.creds.AccessKey)
		}
	}
	for id, w := range want {
		t.Errorf("no audit record of the refused %s (request %s)", w[0], id)
	}
	if !xksRecorded {
		t.Errorf("no audit record of the refused XKS proxy call (XksGetKeyMetadata, DependencyTimeoutException, access key %s)", xksAK)
	}
}
