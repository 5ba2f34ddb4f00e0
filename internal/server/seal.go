package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/awsjson"
	"github.com/trent-kms/trent/internal/awsquery"
	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/shamir"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/sigv4"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/xks"
)

// Seal kinds (--seal).
const (
	SealFile   = "file"
	SealShamir = "shamir"
	SealPKCS11 = "pkcs11"
	SealKMS    = "kms"
)

// SealKinds lists the seal kinds in the order the help text gives them.
var SealKinds = []string{SealFile, SealShamir, SealPKCS11, SealKMS}

// services is what runs while the server is unsealed: built from the
// unsealed store by activate, dropped and wiped by deactivate.
type services struct {
	iam      *iam.Service
	kms      *kms.Service
	audit    *audit.Log         // nil with --audit=false
	shared   *audit.SharedUsage // last key uses of every node (shared store with an audit log), else nil
	cluster  *clusterRun        // following the other nodes (shared store), else nil
	verifier *sigv4.Verifier
	api      http.Handler
	cancel   context.CancelFunc // stops the background jobs
	done     chan struct{}

	// The API requests running on these services (serveKMS): deactivate
	// closes the audit log only once they have finished, so that none
	// records into a closed log (see enter and drain).
	inflight atomic.Int64
	closing  atomic.Bool   // set by drain: enter refuses from then on
	drained  chan struct{} // closed by the last request to leave once closing
	drainEnd sync.Once

	// The audit log's stored head (audit.Head): where it is kept (nil: a
	// log without files), the last stored, and the keeper's end.
	headStore storage.Store
	headNode  string
	lastHead  audit.Head
	headDone  chan struct{}

	adminKeyID string // the default account's administrator (start-up summary)
}

// activate builds the services over the unsealed barrier, publishes them
// and starts the background jobs (key rotation, the barrier's rewrap if a
// data-key rotation is unfinished). Callers hold sealMu (or are New).
// writeCreds: see openServices. A first administrator created before a
// later step failed is returned with the error (it is in storage).
func (s *Server) activate(ctx context.Context, writeCreds bool) (*iam.NewKey, error) {
	from, err := s.clusterVersion(ctx)
	if err != nil {
		return nil, err
	}
	svc, admin, err := openServices(ctx, s.state, &s.cfg, s.log, writeCreds)
	if err != nil {
		return admin, err
	}
	verifier := func(service string) *sigv4.Verifier {
		v := &sigv4.Verifier{Creds: svc.iam, Service: service}
		if s.cfg.Dev {
			acct := s.cfg.AccountID
			v.InsecureAcceptUnknown = func(accessKeyID string) (iam.Principal, bool) {
				a := acct
				if arn.IsAccountID(accessKeyID) {
					a = accessKeyID
				}
				return iam.RootPrincipal(a, accessKeyID), true
			}
		}
		return v
	}
	svc.verifier = verifier("kms")
	if s.cfg.Dev {
		s.log.Warn("server: DEVELOPMENT MODE: INSECURE, FOR TESTS ONLY: unknown access keys are admitted WITHOUT a signature check as their account's root user",
			"dev_access_key_id", DevAccessKeyID, "account", s.cfg.AccountID)
	}
	// A cluster node that cannot confirm that it is current refuses the
	// calls, audited (see clusterRun.fresh).
	refuse := func() *kmserr.Error {
		if svc.cluster != nil && !svc.cluster.fresh(s.log) {
			return errStale
		}
		return nil
	}
	kmsAPI := awsjson.New(awsjson.Config{
		Service:       svc.kms,
		Authenticator: svc.verifier,
		Auditor:       svc.recorder(),
		Logger:        s.log,
		Observe:       s.metrics.observe,
		Refuse:        refuse,
	})
	queryAPI := awsquery.New(awsquery.Config{
		Service: svc.iam,
		IAM:     verifier("iam"),
		STS:     verifier("sts"),
		Auditor: svc.queryAuditor(),
		Logger:  s.log,
		Observe: func(op, code string, d time.Duration) {
			s.metrics.observe(awsjson.Outcome{Operation: op, Code: code, Duration: d})
		},
		Refuse: refuse,
	})
	svc.api = frontDoors(kmsAPI, queryAPI, s.xksAPI(svc))
	bgCtx, cancel := context.WithCancel(s.bgCtx)
	svc.cancel, svc.done, svc.drained = cancel, make(chan struct{}), make(chan struct{})
	if s.state.watcher != nil {
		if err := s.startCluster(bgCtx, svc, from); err != nil {
			cancel()
			svc.kms.Wipe()
			svc.closeAudit(s.log)
			return admin, err
		}
	} else {
		b := s.state.barrier
		go func() {
			defer close(svc.done)
			if st, err := b.Status(bgCtx); err == nil && len(st.DataKeys) > 1 {
				go s.rewrap(bgCtx)
			}
			svc.kms.Run(bgCtx)
		}()
	}
	if svc.headStore != nil {
		svc.headDone = make(chan struct{})
		go svc.keepAuditHead(bgCtx, s.log)
	}
	s.svc.Store(svc)
	s.log.Info("server: unsealed", "seal", s.cfg.Seal)
	return admin, nil
}

// deactivate drops the services, waits for the requests running on them
// (up to Config.ShutdownTimeout), stops the background jobs, wipes the key
// material the services held and closes the audit log, then seals the
// barrier. Callers hold sealMu.
func (s *Server) deactivate() {
	if svc := s.svc.Swap(nil); svc != nil {
		if n := svc.drain(s.cfg.ShutdownTimeout); n > 0 {
			s.log.Error("server: requests still running when the audit log closed: their records may be missing (their changes are in storage if they committed before the seal)",
				"requests", n, "waited", s.cfg.ShutdownTimeout)
		}
		svc.cancel()
		<-svc.done
		if svc.headDone != nil {
			<-svc.headDone
		}
		svc.kms.Wipe()
		svc.closeAudit(s.log)
	}
	s.state.barrier.Seal()
}

// enter admits a request to the services, or refuses it (false) once drain
// has begun. Every admitted request calls leave when it is done. Two
// atomic operations, no lock: every API request passes here.
func (svc *services) enter() bool {
	svc.inflight.Add(1)
	if svc.closing.Load() {
		svc.leave()
		return false
	}
	return true
}

func (svc *services) leave() {
	if svc.inflight.Add(-1) == 0 && svc.closing.Load() {
		svc.drainEnd.Do(func() { close(svc.drained) })
	}
}

// drain refuses new requests and waits, at most limit (no bound when limit <=
// 0), for the admitted ones to leave. It returns how many still run.
// (enter adds before it loads closing and drain stores closing before it
// loads the count: either drain sees a request, or the request sees
// closing and refuses itself.)
func (svc *services) drain(limit time.Duration) int64 {
	svc.closing.Store(true)
	if svc.inflight.Load() == 0 {
		return 0
	}
	var timeout <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-svc.drained:
		return 0
	case <-timeout:
		return svc.inflight.Load()
	}
}

// rewrap runs the barrier's background rewrap, logging the outcome.
func (s *Server) rewrap(ctx context.Context) {
	err := s.state.barrier.Rewrap(ctx)
	switch {
	case err == nil:
		p := s.state.barrier.Progress()
		s.log.Info("server: data-key rewrap finished", "data_key", p.Target, "rewrapped", p.Rewrapped)
	case errors.Is(err, barrier.ErrRewrapRunning), errors.Is(err, context.Canceled), errors.Is(err, barrier.ErrSealed):
	default:
		s.log.Error("server: data-key rewrap stopped", "err", err)
	}
}

var refuseSealed = refuse(kmserr.ErrSealed)

// refuse answers every request with e in the request's protocol: the KMS
// API's JSON, or the Query protocol's XML of IAM and STS.
func refuse(e *kmserr.Error) http.Handler {
	kms, query := awsjson.Refuse(e), awsquery.Refuse(e.Message)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if awsquery.IsQueryRequest(r) {
			query.ServeHTTP(w, r)
			return
		}
		kms.ServeHTTP(w, r)
	})
}

// serveKMS serves the KMS API while unsealed and refuses it while sealed
// (unaudited: the audit log's key is sealed too). A node that cannot
// confirm that it follows the others (see clusterRun.fresh) refuses the
// KMS, IAM and STS APIs in their front doors and the proxy API in xksAPI
// (audited: their Refuse hooks, xksAudited.refusal).
func (s *Server) serveKMS(w http.ResponseWriter, r *http.Request) {
	svc := s.svc.Load()
	switch {
	case svc == nil && xks.IsProxyPath(r.URL.Path):
		xks.WriteError(w, errXKSUnavailable)
		s.metrics.refused(r, "")
	case svc == nil:
		refuseSealed.ServeHTTP(w, r)
		s.metrics.refused(r, kmserr.ErrSealed.Code)
	case !svc.enter(): // sealing or shutting down: as if already sealed
		if xks.IsProxyPath(r.URL.Path) {
			xks.WriteError(w, errXKSUnavailable)
		} else {
			refuseSealed.ServeHTTP(w, r)
		}
		s.metrics.refused(r, kmserr.ErrSealed.Code)
	default:
		defer svc.leave()
		svc.api.ServeHTTP(w, r)
	}
}

// Seal wipes the keys and stops serving the KMS API until unsealed.
func (s *Server) Seal() error {
	s.sealMu.Lock()
	defer s.sealMu.Unlock()
	s.stopAutoUnseal()
	if s.state.barrier.Sealed() {
		return nil
	}
	if err := s.sealLocked(); err != nil {
		return err
	}
	s.log.Warn("server: sealed by an operator")
	return nil
}

// sealLocked deactivates and seals; with the shamir seal, the server then
// waits for shares again. Callers hold sealMu.
func (s *Server) sealLocked() error {
	s.deactivate()
	if s.cfg.Seal != SealShamir {
		return nil
	}
	st, err := s.state.barrier.Status(context.Background())
	if err != nil {
		return err
	}
	s.state.pending, err = shamir.New(st.SealParams)
	return err
}

// errWrongSeal is returned by operator calls that do not apply to the seal kind.
var errWrongSeal = errors.New("server: not available with this seal kind")

// errNotStarted is returned by InitShamir, with the shares, when the
// barrier was initialised but the services did not start.
var errNotStarted = errors.New("server: initialised, but the services did not start")

// InitShamir initialises an uninitialised shamir-sealed server: n shares,
// threshold t. It returns the shares and the first administrator's access
// key, both shown once, and leaves the server unsealed. Once the barrier is
// initialised the shares are the only way in, so they are returned even
// when the services then fail to start (errNotStarted, with the
// administrator if it was created): the server is then sealed, waiting for
// t shares once the cause is fixed.
func (s *Server) InitShamir(ctx context.Context, n, t int) ([]string, *iam.NewKey, error) {
	s.sealMu.Lock()
	defer s.sealMu.Unlock()
	if s.cfg.Seal != SealShamir {
		return nil, nil, fmt.Errorf("%w: init is for --seal shamir (this server uses %s, which initialises itself)", errWrongSeal, s.cfg.Seal)
	}
	kr, shares, params, err := shamir.Init(n, t)
	if err != nil {
		return nil, nil, err
	}
	if err := s.state.barrier.Initialize(ctx, kr, SealShamir, params, nil); err != nil {
		kr.Close()
		return nil, nil, err
	}
	admin, err := s.activate(ctx, false)
	if err != nil {
		s.log.Error("server: initialised with the shamir seal, but the services did not start; sealed: fix the cause, then unseal with the shares returned", "err", err)
		return shares, admin, errors.Join(fmt.Errorf("%w: %w", errNotStarted, err), s.sealLocked())
	}
	s.log.Warn("server: initialised with the shamir seal; shares and administrator credentials were returned to the caller once", "shares", n, "threshold", t)
	return shares, admin, nil
}

// UnsealStatus is the seal state the operator endpoints report.
type UnsealStatus struct {
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	Seal        string `json:"seal"`
	Progress    int    `json:"progress,omitempty"`
	Threshold   int    `json:"threshold,omitempty"`
	Shares      int    `json:"shares,omitempty"`
}

// Unseal submits one share (shamir) or retries the auto-unseal (other
// kinds, share empty).
func (s *Server) Unseal(ctx context.Context, share string) (UnsealStatus, error) {
	s.sealMu.Lock()
	defer s.sealMu.Unlock()
	if !s.state.barrier.Sealed() {
		return s.statusLocked(ctx)
	}
	if s.cfg.Seal == SealShamir {
		if s.state.pending == nil {
			st, _ := s.statusLocked(ctx)
			return st, fmt.Errorf("%w: run trent operator init first", barrier.ErrNotInitialized)
		}
		p, err := s.state.pending.Submit(share)
		if err != nil {
			st, _ := s.statusLocked(ctx)
			return st, err
		}
		if p.Unsealed {
			kr := s.state.pending
			if err := s.state.barrier.Unseal(ctx, kr); err != nil {
				// Every share passed its own check: the stored root key or
				// split parameters are damaged.
				s.state.pending.Reset()
				st, _ := s.statusLocked(ctx)
				return st, fmt.Errorf("server: the shares were accepted but do not open the stored root key: %w", err)
			}
			s.state.pending = nil
			// The first administrator is created here only when init's
			// activation failed before creating it: nobody would receive
			// its credentials but through the data directory.
			if _, err := s.activate(ctx, true); err != nil {
				return UnsealStatus{}, errors.Join(err, s.sealLocked())
			}
		}
		return s.statusLocked(ctx)
	}
	if share != "" {
		return UnsealStatus{}, fmt.Errorf("%w: the %s seal takes no shares (send none to retry the auto-unseal)", errWrongSeal, s.cfg.Seal)
	}
	if err := s.autoUnsealLocked(ctx); err != nil {
		st, _ := s.statusLocked(ctx)
		return st, err
	}
	return s.statusLocked(ctx)
}

// Status reports the seal state.
func (s *Server) Status(ctx context.Context) (UnsealStatus, error) {
	s.sealMu.Lock()
	defer s.sealMu.Unlock()
	return s.statusLocked(ctx)
}

func (s *Server) statusLocked(ctx context.Context) (UnsealStatus, error) {
	bst, err := s.state.barrier.Status(ctx)
	if err != nil {
		return UnsealStatus{}, err
	}
	st := UnsealStatus{Initialized: bst.Initialized, Sealed: s.svc.Load() == nil, Seal: s.cfg.Seal}
	if s.state.pending != nil {
		p := s.state.pending.Progress()
		st.Progress, st.Threshold, st.Shares = p.Submitted, p.Threshold, p.Shares
	}
	return st, nil
}

// autoUnsealLocked builds the seal keyring of an auto-unseal kind (file,
// pkcs11, kms) and unseals with it.
func (s *Server) autoUnsealLocked(ctx context.Context) error {
	var kr keyring.Keyring
	var err error
	if s.cfg.Seal == SealFile {
		kr, _, err = openFileSeal(&s.cfg, true)
	} else {
		kr, err = newAutoSeal(ctx, &s.cfg, false)
	}
	if err != nil {
		return err
	}
	if err := s.state.barrier.Unseal(ctx, kr); err != nil {
		kr.Close()
		return err
	}
	_, err = s.activate(ctx, true)
	if err != nil {
		s.deactivate()
	}
	return err
}

// startAutoUnseal retries the auto-unseal of a sealed pkcs11 or kms server
// (its HSM or KMS was unreachable at start) every AutoUnsealRetry.
func (s *Server) startAutoUnseal() {
	if s.cfg.Seal != SealPKCS11 && s.cfg.Seal != SealKMS {
		return
	}
	if st, err := s.state.barrier.Status(context.Background()); err != nil || !st.Initialized {
		return
	}
	ctx, cancel := context.WithCancel(s.bgCtx)
	s.autoStop, s.autoDone = cancel, make(chan struct{})
	go func() {
		defer close(s.autoDone)
		t := time.NewTicker(s.cfg.AutoUnsealRetry)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s.sealMu.Lock()
			if ctx.Err() != nil {
				s.sealMu.Unlock()
				return
			}
			var err error
			if s.state.barrier.Sealed() {
				err = s.autoUnsealLocked(ctx)
			}
			s.sealMu.Unlock()
			if err == nil {
				return
			}
			s.log.Warn("server: auto-unseal failed, retrying", "seal", s.cfg.Seal, "err", err, "every", s.cfg.AutoUnsealRetry)
		}
	}()
}

// stopAutoUnseal stops the retries and returns a channel closed when the
// loop has ended. Callers hold sealMu (the loop checks ctx after taking it).
func (s *Server) stopAutoUnseal() <-chan struct{} {
	done := s.autoDone
	if s.autoStop != nil {
		s.autoStop()
		s.autoStop, s.autoDone = nil, nil
	}
	if done == nil {
		done = make(chan struct{})
		close(done)
	}
	return done
}
