package server

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/config"
)

// Settings is the table of the server's settings: each row is one flag of
// `trent server`, one TRENT_* environment variable, one key of the
// configuration file, one line of --help and one entry of
// docs/configuration.md and docs/trent.example.yaml. To add a setting, add
// its field to Config and a row here (see package internal/config), then
// run: go test ./internal/server -run TestSettingsDocs -update
var Settings = config.Table[Config]{
	// Server
	{Name: "dev", Group: "Server", Default: "false",
		Help: "development mode: in memory (unless --data-dir), well-known credentials, INSECURE",
		Doc: "The AWS documentation credentials (AKIAIOSFODNN7EXAMPLE) are the administrator of account 111122223333 " +
			"and unknown access keys are admitted WITHOUT a signature check. For tests only, never in production.",
		Value: func(c *Config) config.Value { return config.Bool(&c.Dev) }},
	{Name: "addr", Group: "Server", Default: "127.0.0.1:8080",
		Help:  "listen `HOST:PORT` (port 0 picks a free port)",
		Doc:   "Plain HTTP is refused on a non-loopback address unless tls-cert and tls-key are set or insecure-http is true.",
		Value: func(c *Config) config.Value { return config.String(&c.Addr) }},
	{Name: "data-dir", Group: "Server", Default: "./trent-data",
		Help: "data `directory` (with --dev: in memory unless given)",
		Doc: "Holds trent.db (the bbolt database, records sealed by the root key), root.key (the file seal's root key, " +
			"unless root-key-file) and credentials (the first administrator's access key, mode 0600).",
		Value: func(c *Config) config.Value { return config.String(&c.DataDir) }},
	{Name: "account-id", Group: "Server",
		Help: "account `ID` (12 digits) to run as (default: the data directory's, else " + DevAccountID + ")",
		Doc: "Its first administrator is created when the account is new; seed entries without an account belong to it. " +
			"A data directory remembers its accounts: another account is refused unless add-account is true.",
		Value: func(c *Config) config.Value { return config.String(&c.AccountID) }, Check: checkAccountID},
	{Name: "add-account", Group: "Server", Default: "false",
		Help:  "add account-id to a data directory that holds other accounts",
		Doc:   "Its first administrator's credentials go to <data-dir>/credentials-<account>; the credentials file is never overwritten.",
		Value: func(c *Config) config.Value { return config.Bool(&c.AddAccount) }},
	{Name: "region", Group: "Server", Default: "us-east-1",
		Help:  "default `region` of seed entries",
		Value: func(c *Config) config.Value { return config.String(&c.Region) }, Check: checkRegion},
	{Name: "seed", Group: "Server",
		Help: "YAML seed `file`: keys, users, roles, policies and access keys",
		Doc: "Applied at every start: keys are created if missing; users, roles, their listed policies and tags, and access keys " +
			"are made as listed; an access key an earlier seed file listed and this one does not is deactivated. See the README's seed example.",
		Value: func(c *Config) config.Value { return config.String(&c.SeedFile) }},
	{Name: "config", Group: "Server",
		Help:      "YAML configuration `file` (version v1, with the keys listed here)",
		Doc:       "The file's own path is read from the flag or the environment only.",
		Value:     func(c *Config) config.Value { return config.String(&c.ConfigFile) },
		NotInFile: true},

	// Storage
	{Name: "storage", Group: "Storage", Default: StorageBolt,
		Help: "storage `backend`: bolt (embedded, in --data-dir) or postgres (--postgres-url, several nodes)",
		Doc: "Several Trent nodes share one PostgreSQL database (and the same root key: the same root-key-file). " +
			"Records are sealed by the root key before they reach the database; key ids, alias names and account " +
			"ids are visible there, as they are in trent.db.",
		Value: func(c *Config) config.Value { return config.OneOf(&c.Storage, StorageBolt, StoragePostgres) }},
	{Name: "postgres-url", Group: "Storage", Secret: true,
		Help: "PostgreSQL `URL` of --storage postgres: postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full",
		Doc: "The schema is created (and migrated) at start. Keep the password out of the command line: " +
			"PGPASSWORD or a pgpass file (PGPASSFILE), or TRENT_POSTGRES_URL; a URL with a password given as a " +
			"flag is refused. pgx options work (pool_max_conns=N; default_query_exec_mode=exec behind PgBouncer).",
		Value: func(c *Config) config.Value { return config.String(&c.PostgresURL) }},

	{Name: "node-id", Group: "Storage",
		Help: "this node's `id` in its audit log and among the nodes of a database (default: kept in <data-dir>/node-id)",
		Doc: "1 to 64 of A-Z a-z 0-9 . _ -, not starting with . or -. Every audit record, digest and segment file name carries it, so that the " +
			"logs of several nodes can be gathered in one directory and verified each as its own chain. By default the " +
			"first start picks the host name and 8 random hex digits and keeps them in <data-dir>/node-id.",
		Value: func(c *Config) config.Value { return config.String(&c.NodeID) }},
	{Name: "max-staleness", Group: "Storage", Default: "10s",
		Help: "with postgres: refuse requests once this node cannot confirm for this `long` that it knows every other node's changes",
		Doc: "Changes (a key disabled, an access key revoked, ...) reach every node within milliseconds, and within 2 s when " +
			"a notification is lost; a node that cannot hear the database refuses requests (DependencyTimeoutException, " +
			"/health 503) once this long has passed since it last confirmed that it is current, so that it never serves " +
			"what another node revoked longer ago. At least 3s (the change feed polls every 2 s); a negative value serves from memory whatever happens. See docs/postgres.md.",
		Value: func(c *Config) config.Value { return config.Duration(&c.MaxStaleness) }},

	// Seal
	{Name: "root-key-file", Group: "Seal",
		Help:  "root key `file` of the file seal (default <data-dir>/root.key)",
		Doc:   "Keep it out of backups of the data directory: whoever holds both can read every record.",
		Value: func(c *Config) config.Value { return config.String(&c.RootKeyFile) }},
	{Name: "seal", Group: "Seal", Default: SealFile,
		Help: "seal `kind`: file, shamir, pkcs11 or kms",
		Doc: "file: a key file next to the data (development, the embedded default). shamir: the server starts " +
			"sealed; trent operator init gives N shares of which T unseal (trent operator unseal). pkcs11: the root " +
			"key is wrapped by an AES key inside an HSM (pkcs11-*). kms: auto-unseal through another KMS endpoint, " +
			"AWS KMS or another Trent (seal-kms-*). The kind is recorded at initialisation; trent operator " +
			"migrate-seal moves a data directory to another kind.",
		Value: func(c *Config) config.Value { return config.OneOf(&c.Seal, SealKinds...) }},
	{Name: "pkcs11-lib", Group: "Seal",
		Help:  "PKCS#11 module `file` of the HSM (pkcs11 seal)",
		Doc:   "For SoftHSM2 on Debian: /usr/lib/softhsm/libsofthsm2.so.",
		Value: func(c *Config) config.Value { return config.String(&c.PKCS11.Lib) }},
	{Name: "pkcs11-token", Group: "Seal",
		Help:  "`label` of the HSM token (pkcs11 seal)",
		Value: func(c *Config) config.Value { return config.String(&c.PKCS11.TokenLabel) }},
	{Name: "pkcs11-key", Group: "Seal", Default: "trent-seal",
		Help:  "`label` of the AES key in the token (pkcs11 seal; generated at initialisation if missing)",
		Value: func(c *Config) config.Value { return config.String(&c.PKCS11.KeyLabel) }},
	{Name: "pkcs11-pin-file", Group: "Seal",
		Help:  "`file` holding the token's user PIN (pkcs11 seal; else $TRENT_PKCS11_PIN)",
		Doc:   "The PIN is never taken from a flag or the configuration file.",
		Value: func(c *Config) config.Value { return config.String(&c.PKCS11.PINFile) }},
	{Name: "seal-kms-endpoint", Group: "Seal",
		Help:  "KMS endpoint `URL` of the kms seal (empty: AWS KMS of seal-kms-region)",
		Value: func(c *Config) config.Value { return config.String(&c.SealKMS.Endpoint) }},
	{Name: "seal-kms-region", Group: "Seal", Default: "us-east-1",
		Help:  "`region` of the kms seal's key",
		Value: func(c *Config) config.Value { return config.String(&c.SealKMS.Region) }},
	{Name: "seal-kms-key-id", Group: "Seal",
		Help:  "key `id`, ARN or alias of the kms seal",
		Value: func(c *Config) config.Value { return config.String(&c.SealKMS.KeyID) }},
	{Name: "seal-kms-credentials-file", Group: "Seal",
		Help: "shared-credentials `file` for the kms seal (default: the AWS SDK's chain)",
		Doc: "Its [default] profile (aws_access_key_id, aws_secret_access_key and, for temporary credentials, " +
			"aws_session_token) signs the calls to the KMS; another Trent's data-dir/credentials file has " +
			"that format. It is read when the server starts: temporary credentials must still be valid when the " +
			"seal is used (each unseal, a root key rotation). Without it: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, " +
			"the shared config, or the instance role.",
		Value: func(c *Config) config.Value { return config.String(&c.SealKMS.CredentialsFile) }},

	{Name: "rewrap-rate", Group: "Seal", Default: "0",
		Help: "after a data-key rotation, rewrap at most this many `records` a second (0: as fast as storage allows)",
		Doc: "The rewrap reads and rewrites every record in transactions of 128; on a large or busy database, a rate " +
			"leaves room to the requests. With several nodes the leading node rewraps, and another one takes over " +
			"where it stopped if it goes.",
		Value: func(c *Config) config.Value { return config.Int(&c.RewrapRate) }},

	// Custom key stores
	{Name: "cloudhsm-clusters", Group: "Custom key stores",
		Help: "CloudHSM key store `clusters`: CLUSTER-ID=MODULE:TOKEN-LABEL, comma-separated",
		Doc: "Each entry names a cluster id (AWS's pattern cluster-[2-7a-zA-Z]{11,16}) that CreateCustomKeyStore " +
			"(CustomKeyStoreType AWS_CLOUDHSM, CloudHsmClusterId) may name, and the PKCS#11 token that stands for the " +
			"cluster: the path of the vendor's module (up to the first colon) and the token's label. The key store's " +
			"KeyStorePassword is the token's user PIN. A token serves one cluster, and not the pkcs11 seal. " +
			"Example: cluster-abcdefghijk=/usr/lib/softhsm/libsofthsm2.so:kms-token. See docs/cloudhsm.md.",
		Value: func(c *Config) config.Value { return config.String(&c.CloudHSMClusters) },
		Check: checkCloudHSMClusters},

	{Name: "mlock", Group: "Memory", Default: MlockBestEffort,
		Help: "lock memory out of swap (mlockall): required, best-effort or off",
		Doc: "required: the server does not start unless memory is locked. best-effort: one warning with what to do when " +
			"it is not permitted. off: not tried. mlockall needs CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK " +
			"(docs/operations.md). Core dumps are disabled in every case.",
		Value: func(c *Config) config.Value { return config.OneOf(&c.Mlock, MlockRequired, MlockBestEffort, MlockOff) }},

	// TLS
	{Name: "tls-cert", Group: "TLS",
		Help:  "TLS certificate `file` (PEM); with --tls-key",
		Doc:   "TLS 1.2 or later. SIGHUP reloads the certificate and key.",
		Value: func(c *Config) config.Value { return config.String(&c.TLSCertFile) }},
	{Name: "tls-key", Group: "TLS",
		Help:  "TLS private key `file` (PEM); with --tls-cert",
		Value: func(c *Config) config.Value { return config.String(&c.TLSKeyFile) }},
	{Name: "insecure-http", Group: "TLS", Default: "false",
		Help:  "allow plain HTTP on a non-loopback address",
		Doc:   "Request signatures, plaintexts and data keys then cross the network unencrypted.",
		Value: func(c *Config) config.Value { return config.Bool(&c.InsecureHTTP) }},

	// Attestation
	{Name: "attestation-roots", Group: "Attestation",
		Help: "PEM `file` of root certificates trusted for Nitro Enclaves attestation documents, besides AWS's",
		Doc: "The Recipient parameter of Decrypt, GenerateDataKey, GenerateDataKeyPair, GenerateRandom and " +
			"DeriveSharedSecret carries an attestation document whose certificate chain must end at a trusted root: " +
			"the AWS Nitro Enclaves root (G1, built in) and the certificates of this file. Read at start.",
		Value: func(c *Config) config.Value { return config.String(&c.AttestationRootsFile) }},
	{Name: "attestation-roots-only", Group: "Attestation", Default: "false",
		Help:  "trust only the attestation-roots file, not the AWS Nitro Enclaves root",
		Doc:   "For test enclaves and private attestation PKIs; needs attestation-roots.",
		Value: func(c *Config) config.Value { return config.Bool(&c.AttestationRootsOnly) }},

	// Audit
	{Name: "audit", Group: "Audit", Default: "true",
		Help: "record every API call in the audit log (false only for measurements)",
		Doc: "CloudTrail-format JSON Lines under <data-dir>/audit, hash-chained, with digests signed by the audit " +
			"signing key; check them with trent audit verify. In dev mode without data-dir: in memory only.",
		Value: func(c *Config) config.Value { return config.Bool(&c.Audit) }},
	{Name: "audit-sync", Group: "Audit", Default: "batch",
		Help: "when an audit record must be on disk: `batch` or always",
		Doc: "batch: records are written every 10 ms and fsynced at least every 100 ms; a process crash loses at " +
			"most the last 10 ms of records, a machine crash the last 100 ms. always: a response leaves only after " +
			"its record is fsynced (group commit: concurrent requests share one fsync). See docs/audit.md.",
		Value: func(c *Config) config.Value { return config.OneOf(&c.AuditSync, "batch", "always") }},
	{Name: "audit-stdout", Group: "Audit", Default: "false",
		Help:  "also write every audit record to standard output (JSON Lines, for log shippers)",
		Value: func(c *Config) config.Value { return config.Bool(&c.AuditStdout) }},

	// Profiling
	{Name: "pprof-addr", Group: "Profiling",
		Help: "serve Go's runtime profiles (net/http/pprof) on this loopback `HOST:PORT`; off when empty",
		Doc: "A listener apart from the API, at /debug/pprof/ (e.g. go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10). " +
			"Loopback addresses only: profiles and goroutine dumps describe the process to whoever reads them. See docs/benchmarks.md.",
		Value: func(c *Config) config.Value { return config.String(&c.PprofAddr) }},

	// Logging
	{Name: "log-level", Group: "Logging", Default: "info",
		Help:  "log `level`: debug, info, warn or error",
		Value: func(c *Config) config.Value { return config.Level(&c.LogLevel) }},
	{Name: "log-format", Group: "Logging", Default: "text",
		Help:  "log `format`: text (key=value lines) or json (one object per line)",
		Doc:   "Logs go to standard error. They never hold key material, secrets or request bodies.",
		Value: func(c *Config) config.Value { return config.OneOf(&c.LogFormat, "text", "json") }},
}

// NewLogger returns the logger that c's log-level and log-format ask for,
// writing to w.
func NewLogger(w io.Writer, c *Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func checkRegion(s string) error {
	if !arn.IsRegion(s) {
		return fmt.Errorf("not an AWS region name (e.g. us-east-1)")
	}
	return nil
}

func checkAccountID(s string) error {
	if s != "" && !arn.IsAccountID(s) {
		return fmt.Errorf("not an account id (12 digits)")
	}
	return nil
}
