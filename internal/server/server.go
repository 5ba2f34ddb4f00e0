// Package server runs Trent's HTTP server: it opens storage and the root of
// trust, builds the IAM store, the KMS service and the request pipeline
// (internal/awsjson), and serves them with TLS, timeouts, health and metrics
// endpoints and graceful shutdown.
//
// Lifecycle: New opens everything (and seeds), Start binds the listener and
// serves, Shutdown stops accepting, lets in-flight requests finish, stops the
// background jobs and closes storage. Run does all three for the command
// line.
//
// Endpoints:
//
//	POST /         the AWS KMS JSON 1.1 API (X-Amz-Target: TrentService.<Op>), and
//	               the AWS IAM and STS Query APIs (form-encoded Action=...)
//	GET  /health   200 {"status":"ok","sealed":false,"initialized":true,"storage":"ok","audit":"ok"}; 503 when
//	               sealed, not initialised ("status":"sealed" or "uninitialized"), when storage fails or when
//	               the audit log cannot be written ("audit":"error: ...")
//	GET  /trent/operator/status, POST /trent/operator/{init,unseal,seal,rotate}, GET /trent/operator/backup:
//	               the seal lifecycle (operator.go)
//	GET  /metrics  Prometheus metrics
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/awsquery"
	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/config"
	"github.com/trent-kms/trent/internal/http1"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/shamir"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/xks"
)

// Development credentials: the example access key of the AWS documentation
// (held in memory by a --dev server only), and the account of a new data
// directory when none is configured.
const (
	DevAccessKeyID = iam.DevAccessKeyID
	DevSecretKey   = iam.DevSecretKey
	DevAccountID   = iam.FallbackAccountID
)

// Config is the server's configuration. Start from Default().
type Config struct {
	// Dev runs the development server: in memory (unless DataDir is set),
	// the documentation credentials, and unknown access keys admitted
	// without a signature check. Never for production.
	Dev bool
	// Addr is the listen address, HOST:PORT. A port of 0 picks a free one.
	Addr string
	// DataDir holds trent.db, root.key and credentials. Empty in dev mode
	// means in memory.
	DataDir string
	// RootKeyFile is the file seal's key; <DataDir>/root.key when empty.
	RootKeyFile string
	// Storage is "bolt" (the embedded database in DataDir) or "postgres"
	// (PostgresURL, shared by several nodes).
	Storage string
	// PostgresURL is the database of Storage "postgres".
	PostgresURL string
	// NodeID names this node in its audit log (records, digests, file
	// names) and in what it publishes to the other nodes; derived from the
	// host name and a random suffix kept in <DataDir>/node-id when empty.
	NodeID string
	// RewrapRate paces the rewrap of records after a data-key rotation (records
	// a second; 0: as fast as storage allows).
	RewrapRate int
	// MaxStaleness (Storage "postgres") is how long a node may go without
	// confirming that it holds every change the other nodes committed
	// before it refuses requests; negative: never refuse.
	MaxStaleness time.Duration
	// Seal is the seal kind: file (default), shamir, pkcs11 or kms.
	Seal string
	// PKCS11 configures the pkcs11 seal, SealKMS the kms seal.
	PKCS11  PKCS11Config
	SealKMS KMSSealConfig
	// CloudHSMClusters names the tokens of CloudHSM key stores
	// (ParseCloudHSMClusters).
	CloudHSMClusters string
	// AutoUnsealRetry is how often a sealed pkcs11 or kms server retries
	// its auto-unseal (the HSM or KMS was unreachable or refused).
	AutoUnsealRetry time.Duration
	// SealHook, when set, wraps the pkcs11 and kms seal keyrings: tests count
	// the calls that reach the HSM or the KMS with it. Not a setting.
	SealHook func(keyring.Keyring) keyring.Keyring
	// SeedFile, when set, is a YAML seed file (internal/config) applied at
	// every start (idempotent).
	SeedFile string
	// TLSCertFile and TLSKeyFile switch on TLS (1.2 or later). Both or neither.
	TLSCertFile, TLSKeyFile string
	// InsecureHTTP allows plain HTTP on a non-loopback address.
	InsecureHTTP bool
	// AttestationRootsFile names a PEM file of root certificates trusted
	// for the attestation documents of Recipient parameters besides the
	// AWS Nitro Enclaves root, or instead of it with AttestationRootsOnly.
	AttestationRootsFile string
	AttestationRootsOnly bool
	// AccountID is the account the server runs as ("" for the data
	// directory's own, else 111122223333): its first administrator is
	// created when it is new, and seed entries without an account belong
	// to it. An account the data directory does not hold is refused unless
	// AddAccount.
	AccountID  string
	AddAccount bool
	// Region is the default region of seed entries.
	Region string
	// Partition of ARNs ("aws").
	Partition string

	// HTTP limits: ReadHeaderTimeout bounds the request line and headers,
	// ReadTimeout the whole request (headers and body), WriteTimeout the
	// time from the end of the headers to the end of the response.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// ShutdownTimeout bounds how long Shutdown waits for in-flight
	// requests, and then how long the audit log waits for the requests
	// still running before it closes (at a seal too: see deactivate).
	ShutdownTimeout time.Duration
	// Mlock is MlockRequired, MlockBestEffort or MlockOff: whether New
	// locks the process's memory out of swap (mlockall, Linux) and whether a
	// failure stops it. Core dumps are disabled in every case.
	Mlock string

	// Audit switches the audit log on (off only for measurements).
	// AuditSync is "batch" or "always" (audit.SyncMode); AuditStdout copies
	// every record to standard output.
	Audit       bool
	AuditSync   string
	AuditStdout bool

	// PprofAddr, when set, serves net/http/pprof on that loopback address.
	PprofAddr string

	// ConfigFile is the configuration file the settings were read from
	// (cmd/trent reads it; the server only reports it).
	ConfigFile string
	// LogLevel and LogFormat ("text" or "json") shape the logger of
	// NewLogger.
	LogLevel  slog.Level
	LogFormat string
}

// Default returns the defaults: those of the Settings table, and the HTTP
// limits, which are not settings.
func Default() Config {
	c := Config{
		Partition:         "aws",
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ShutdownTimeout:   30 * time.Second,
		AutoUnsealRetry:   10 * time.Second,
	}
	Settings.Defaults(&c)
	return c
}

// Validate reports every problem of c.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("server: empty listen address"))
	} else if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("server: listen address %q: want HOST:PORT", c.Addr))
	}
	if c.AttestationRootsOnly && c.AttestationRootsFile == "" {
		errs = append(errs, errors.New("server: attestation-roots-only needs attestation-roots"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("server: --tls-cert and --tls-key go together"))
	}
	if c.AccountID != "" && !arn.IsAccountID(c.AccountID) {
		errs = append(errs, fmt.Errorf("server: account id %q is not 12 digits", c.AccountID))
	}
	if !arn.IsRegion(c.Region) {
		errs = append(errs, fmt.Errorf("server: region %q is not an AWS region name (e.g. us-east-1)", c.Region))
	}
	if !slices.Contains(SealKinds, c.Seal) {
		errs = append(errs, fmt.Errorf("server: unknown seal %q: want one of %s", c.Seal, strings.Join(SealKinds, ", ")))
	} else if c.Dev && c.Seal != SealFile {
		errs = append(errs, fmt.Errorf("server: --dev uses the file seal, not %s", c.Seal))
	}
	errs = append(errs, c.PKCS11.validate(c.Seal == SealPKCS11)...)
	errs = append(errs, c.SealKMS.validate(c.Seal == SealKMS)...)
	errs = append(errs, c.validateClusters()...)
	if c.AutoUnsealRetry <= 0 {
		errs = append(errs, errors.New("server: auto-unseal retry interval must be positive"))
	}
	if !c.Dev && c.DataDir == "" {
		errs = append(errs, errors.New("server: --data-dir is required outside --dev"))
	}
	errs = append(errs, c.validateStorage()...)
	if c.PprofAddr != "" && !IsLoopback(c.PprofAddr) {
		errs = append(errs, fmt.Errorf("server: --pprof-addr %s: profiles are served on a loopback address only (127.0.0.1:PORT)", c.PprofAddr))
	}
	if c.TLSCertFile == "" && !c.InsecureHTTP && c.Addr != "" && !IsLoopback(c.Addr) {
		errs = append(errs, fmt.Errorf("server: refusing plain HTTP on non-loopback address %s: use --tls-cert/--tls-key, or --insecure-http", c.Addr))
	}
	return errors.Join(errs...)
}

// IsLoopback reports whether the host of addr (HOST:PORT) is a loopback
// address: 127.0.0.0/8, ::1 or localhost. An empty host (all interfaces) is not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is a configured Trent server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	state   *state
	metrics *metrics
	http    *http.Server
	front   *http1.Server // serves http: the AWS APIs' requests off net/http

	bgCtx context.Context // of the background jobs (not canceled by New's ctx)

	sealMu   sync.Mutex               // serialises init, unseal, seal and rotation
	svc      atomic.Pointer[services] // nil while sealed
	autoStop context.CancelFunc       // stops the auto-unseal retries
	autoDone chan struct{}

	cert   atomic.Pointer[tls.Certificate] // current TLS certificate (ReloadTLS)
	memory string                          // what lockMemory did, for the summary

	mu        sync.Mutex
	ln        net.Listener
	pprof     *http.Server // --pprof-addr, nil when off
	pprofAddr net.Addr
	serveErr  chan error
	closed    bool
}

// state is what New opens and Shutdown closes.
type state struct {
	barrier *barrier.Barrier
	store   storage.Store   // the barrier over the raw store
	watcher storage.Watcher // the raw store's change feed (PostgreSQL), nil otherwise
	elector storage.Elector // the raw store's leases (PostgreSQL), nil otherwise
	closers []io.Closer     // closed in reverse order after the store
	pending *shamir.Keyring // the shamir seal waiting for shares (guarded by Server.sealMu)
}

// New opens storage and the root of trust, builds the services and applies
// the seed file. The returned server is not serving yet: call Start.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: logger, metrics: newMetrics()}
	var tlsConfig *tls.Config
	if cfg.TLSCertFile != "" {
		if err := s.ReloadTLS(); err != nil {
			return nil, err
		}
		tlsConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return s.cert.Load(), nil
			},
		}
	}
	if cfg.DataDir != "" {
		if err := absPaths(&cfg); err != nil {
			return nil, err
		}
		s.cfg = cfg
	}
	if cfg.SeedFile != "" {
		// Checked now, applied when the services open (at once, or at unseal).
		acct := cfg.AccountID
		if acct == "" { // resolved when the services open; a placeholder for the check
			acct = DevAccountID
		}
		seed, err := config.LoadSeed(cfg.SeedFile, cfg.Region, acct)
		if err != nil {
			return nil, fmt.Errorf("server: seed: %w", err)
		}
		seed.Wipe()
	}
	// Everything above only read and checked; from here on files are written.
	var err error
	if s.memory, err = lockMemory(cfg.Mlock, logger); err != nil {
		return nil, err
	}
	if err := resolveNodeID(&cfg); err != nil {
		return nil, err
	}
	s.cfg.NodeID = cfg.NodeID
	st, err := open(ctx, &cfg, logger)
	if err != nil {
		return nil, err
	}
	s.state = st
	st.barrier.SetRewrapRate(cfg.RewrapRate)
	s.metrics.observeSeal(s)

	s.bgCtx = context.WithoutCancel(ctx)
	if !st.barrier.Sealed() {
		if _, err := s.activate(ctx, true); err != nil {
			st.close(logger)
			return nil, err
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.Handle("GET /metrics", s.metrics.handler())
	s.operatorRoutes(mux)
	mux.HandleFunc("/", s.serveKMS)

	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if tlsConfig != nil {
		s.http.TLSConfig = tlsConfig
	} else if !IsLoopback(cfg.Addr) {
		logger.Warn("server: serving plain HTTP on a non-loopback address (--insecure-http): request signatures, plaintexts and data keys cross the network unencrypted", "addr", cfg.Addr)
	}
	s.front = http1.New(s.http)
	if st.barrier.Sealed() {
		s.sealMu.Lock()
		s.startAutoUnseal()
		s.sealMu.Unlock()
	}
	return s, nil
}

// frontDoors sends Query-protocol requests (the IAM and STS APIs: a
// form-encoded body or a GET naming an Action, no X-Amz-Target) to query, requests for the External
// Key Store proxy API (a path ending in .../kms/xks/v1/...) to xksAPI, and
// every other request to kms (the KMS JSON API, which answers anything it
// does not understand in its own protocol). A KMS request costs one header
// lookup and one path check more.
func frontDoors(kms, query, xksAPI http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if awsquery.IsQueryRequest(r) {
			query.ServeHTTP(w, r)
			return
		}
		if xks.IsProxyPath(r.URL.Path) {
			xksAPI.ServeHTTP(w, r)
			return
		}
		kms.ServeHTTP(w, r)
	})
}

// ReloadTLS reads the TLS certificate and key files again; new connections
// use them, established ones keep theirs. On error the current certificate
// stays. Run calls it on SIGHUP. A certificate outside its validity period
// is served (a renewal is on its way, or the clock is wrong) with a
// warning: clients that verify it refuse to connect.
func (s *Server) ReloadTLS() error {
	if s.cfg.TLSCertFile == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("server: load TLS certificate: %w", err)
	}
	if now := time.Now(); cert.Leaf != nil && (now.Before(cert.Leaf.NotBefore) || now.After(cert.Leaf.NotAfter)) {
		s.log.Warn("server: the TLS certificate is not valid now: clients that verify it refuse to connect",
			"cert", s.cfg.TLSCertFile, "not_before", cert.Leaf.NotBefore, "not_after", cert.Leaf.NotAfter)
	}
	s.cert.Store(&cert)
	return nil
}

// Start binds the listener and serves in the background. It returns once
// the server answers requests.
func (s *Server) Start() error {
	s.mu.Lock()
	if s.closed || s.ln != nil {
		s.mu.Unlock()
		return errors.New("server: already started or shut down")
	}
	ln, err := listen(s.cfg.Addr)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.serve(ln)
	s.mu.Unlock()
	return s.startPprof()
}

// listen binds addr, with an error that says what to do when it is taken.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, &HintError{Err: fmt.Errorf("server: listen on %s: address already in use", addr),
			Advice: "another process (another trent?) listens there: stop it, or pick another --addr (port 0 picks a free one)"}
	}
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err // "listen tcp" says nothing the message does not
		}
		return nil, &HintError{Err: fmt.Errorf("server: listen on %s: %w", addr, err),
			Advice: "--addr takes HOST:PORT with a local address, e.g. 127.0.0.1:8080"}
	}
	return ln, nil
}

// serve serves on ln in the background. s.mu is held.
func (s *Server) serve(ln net.Listener) {
	s.ln = ln
	s.serveErr = make(chan error, 1)
	go func() {
		err := s.front.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr <- err
	}()
}

// Addr returns the bound address (with the real port), or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL returns http://ADDR or https://ADDR of the bound listener.
func (s *Server) URL() string {
	a := s.Addr()
	if a == nil {
		return ""
	}
	scheme := "http"
	if s.cfg.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + a.String()
}

// Err returns a channel that receives the error of the serving loop when it
// stops (nil after Shutdown).
func (s *Server) Err() <-chan error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serveErr
}

// Shutdown stops accepting connections, waits for in-flight requests (up to
// ctx or Config.ShutdownTimeout, whichever comes first), closes the
// connections of those still running, waits up to Config.ShutdownTimeout
// more for their handlers to finish and record (the audit log closes after
// them), stops the background jobs and closes storage. It is safe to call
// more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.ln != nil
	pp := s.pprof
	s.mu.Unlock()
	if pp != nil {
		pp.Close()
	}

	var errs []error
	if started {
		if s.cfg.ShutdownTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
			defer cancel()
		}
		if err := s.front.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("server: shutdown: %w", err))
			s.front.Close()
		}
	}
	s.sealMu.Lock()
	autoDone := s.stopAutoUnseal()
	s.sealMu.Unlock()
	<-autoDone
	s.sealMu.Lock()
	s.deactivate()
	s.sealMu.Unlock()
	if err := s.state.close(s.log); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Run is the command line's server. It checks every setting and binds the
// listener before anything is written to disk (a bad or busy --addr leaves
// no new data directory behind), then New and serve; it prints
// "trent: listening on URL" and the start-up summary to stderr (with
// --log-format json the summary is one log record instead), serves until
// ctx is done (SIGTERM, SIGINT), then shuts down. SIGHUP reloads the TLS
// certificate.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, stderr io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ln, err := listen(cfg.Addr)
	if err != nil {
		return err
	}
	s, err := New(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		return err
	}
	s.mu.Lock()
	s.serve(ln)
	s.mu.Unlock()
	if err := s.startPprof(); err != nil {
		return errors.Join(err, s.Shutdown(context.Background()))
	}
	fmt.Fprintf(stderr, "trent: listening on %s\n", s.URL())
	if cfg.LogFormat == "json" {
		s.logSummary(ctx)
	} else {
		s.printSummary(ctx, stderr)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var serveErr error
wait:
	for {
		select {
		case <-ctx.Done():
			logger.Info("server: shutting down")
			break wait
		case serveErr = <-s.Err():
			break wait
		case <-hup:
			if cfg.TLSCertFile == "" {
				logger.Info("server: SIGHUP: nothing to reload")
			} else if err := s.ReloadTLS(); err != nil {
				logger.Error("server: SIGHUP: TLS certificate not reloaded, keeping the current one", "err", err)
			} else {
				logger.Info("server: SIGHUP: TLS certificate reloaded", "cert", cfg.TLSCertFile)
			}
		}
	}
	err = s.Shutdown(context.Background())
	return errors.Join(serveErr, err)
}

func (s *state) close(logger *slog.Logger) error {
	var errs []error
	if s.store != nil {
		if err := s.store.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
			errs = append(errs, fmt.Errorf("server: close storage: %w", err))
		}
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i].Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
			errs = append(errs, fmt.Errorf("server: close: %w", err))
		}
	}
	if len(errs) == 0 {
		logger.Info("server: storage closed")
	}
	return errors.Join(errs...)
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
