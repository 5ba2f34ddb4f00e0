package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/xks"
)

// heldProxy is an External Key Store proxy (a second, in-memory Trent
// serving the XKS proxy API) behind a gate: while armed, the next call
// waits at the gate until the test releases it, so that a KMS request of
// the server under test is held inside its operation.
type heldProxy struct {
	url     string
	extKey  string // the external key, in the proxy's Trent
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newHeldProxy(t *testing.T) *heldProxy {
	t.Helper()
	back, _ := start(t, devConfig())
	ck, err := sdk(back.URL(), DevAccessKeyID, DevSecretKey, nil).CreateKey(bg, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(back.URL())
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &heldProxy{extKey: aws.ToString(ck.KeyMetadata.KeyId), entered: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.armed.CompareAndSwap(true, false) {
			close(p.entered)
			<-p.release
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// externalStore creates and connects an external key store of c over p.
func (p *heldProxy) externalStore(t *testing.T, c *awskms.Client) string {
	t.Helper()
	cs, err := c.CreateCustomKeyStore(bg, &awskms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("held"), CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore,
		XksProxyConnectivity: types.XksProxyConnectivityTypePublicEndpoint,
		XksProxyUriEndpoint:  aws.String(p.url), XksProxyUriPath: aws.String("/p" + xks.APIPath),
		XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{
			AccessKeyId: aws.String(DevAccessKeyID), RawSecretAccessKey: aws.String(xks.ProxySecret(DevSecretKey))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConnectCustomKeyStore(bg, &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: cs.CustomKeyStoreId}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(cs.CustomKeyStoreId)
}

// TestAuditInFlightAtClose: a request running its operation when the
// audit log is closed (an operator seals, or the server shuts down and its
// timeout expires) still gets its record: the log closes once the request
// has finished. Here a CreateKey of an external key store waits for its
// proxy while the log is closed.
func TestAuditInFlightAtClose(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"seal", "shutdown"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.DataDir = t.TempDir()
			// How long the proxy holds the request: for a seal, a moment;
			// for a shutdown, past its own wait for in-flight requests.
			hold := 300 * time.Millisecond
			if how == "shutdown" {
				cfg.ShutdownTimeout = time.Second
				hold = cfg.ShutdownTimeout * 3 / 2
			}
			s, _ := start(t, cfg)
			id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
			c := sdk(s.URL(), id, secret, nil)
			p := newHeldProxy(t)
			store := p.externalStore(t, c)

			p.armed.Store(true)
			created := make(chan *awskms.CreateKeyOutput, 1)
			go func() {
				out, err := c.CreateKey(bg, &awskms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore,
					CustomKeyStoreId: aws.String(store), XksKeyId: aws.String(p.extKey)})
				if err != nil {
					t.Logf("CreateKey: %v", err)
				}
				created <- out
			}()
			<-p.entered // CreateKey is in its operation, asking the proxy
			closed := make(chan error, 1)
			go func() {
				if how == "seal" {
					closed <- s.Seal()
				} else {
					closed <- s.Shutdown(bg)
				}
			}()
			time.Sleep(hold)
			select {
			case err := <-closed:
				if how == "seal" {
					t.Error("Seal returned while a request was in its operation")
				}
				closed <- err
			default:
			}
			close(p.release)
			if err := <-closed; err != nil && how == "seal" {
				t.Fatalf("Seal: %v", err)
			}
			out := <-created
			if how == "seal" && out == nil {
				t.Errorf("CreateKey in flight at the seal failed")
			}
			s.Shutdown(bg)

			// Whatever the client saw, the key the operation made has its
			// record, and the log verifies.
			var keyIDs []string
			err := audit.Query(filepath.Join(cfg.DataDir, AuditDir), audit.Filter{EventName: "CreateKey"}, func(e *audit.Entry) error {
				var r struct {
					ErrorCode        string `json:"errorCode"`
					ResponseElements struct {
						KeyMetadata struct{ KeyID string } `json:"keyMetadata"`
					} `json:"responseElements"`
				}
				json.Unmarshal(e.Line, &r)
				if r.ErrorCode != "" {
					t.Errorf("CreateKey record with error %s: %s", r.ErrorCode, e.Line)
				}
				keyIDs = append(keyIDs, r.ResponseElements.KeyMetadata.KeyID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(keyIDs) != 1 || keyIDs[0] == "" || out != nil && keyIDs[0] != aws.ToString(out.KeyMetadata.KeyId) {
				t.Errorf("CreateKey records of keys %q, want the one in flight (%+v)", keyIDs, out)
			}
			verifyClean(t, filepath.Join(cfg.DataDir, AuditDir))
		})
	}
}

// verifyClean verifies the one node's log in dir: no problem, clean stop.
func verifyClean(t *testing.T, dir string) {
	t.Helper()
	if rep := verifyLog(t, dir); rep.Problem != nil || !rep.CleanStop {
		t.Fatalf("Verify = %+v", rep)
	}
}

// verifyLog verifies the one node's log in dir with the public key beside it.
func verifyLog(t *testing.T, dir string) *audit.Report {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(dir, audit.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := audit.ParsePublicKeyPEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := audit.Nodes(dir)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("audit.Nodes = %q, %v", nodes, err)
	}
	rep, err := audit.Verify(dir, audit.VerifyOptions{PublicKey: pub, Node: nodes[0]})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestSealWaitsBounded: a request that outlasts the shutdown timeout does
// not hold a seal: the seal goes on after that bound, and the server log
// says how many requests were still running.
func TestSealWaitsBounded(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	cfg.ShutdownTimeout = 200 * time.Millisecond
	s, logs := start(t, cfg)
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	c := sdk(s.URL(), id, secret, nil)
	p := newHeldProxy(t)
	store := p.externalStore(t, c)
	p.armed.Store(true)
	created := make(chan error, 1)
	go func() {
		_, err := c.CreateKey(bg, &awskms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore,
			CustomKeyStoreId: aws.String(store), XksKeyId: aws.String(p.extKey)})
		created <- err
	}()
	<-p.entered
	sealed := make(chan error, 1)
	go func() { sealed <- s.Seal() }()
	select {
	case err := <-sealed:
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Seal waits for a request past the shutdown timeout")
	}
	close(p.release)
	if err := <-created; err == nil {
		t.Error("CreateKey succeeded after the seal closed the audit log")
	}
	if !strings.Contains(logs.String(), "requests still running when the audit log closed") || !strings.Contains(logs.String(), "requests=1") {
		t.Errorf("server log lacks the requests still running:\n%s", logs)
	}
}
