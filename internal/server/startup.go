package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Values of Config.Mlock.
const (
	MlockRequired   = "required"
	MlockBestEffort = "best-effort"
	MlockOff        = "off"
)

// HintError is an error with one line on what to do about it; cmd/trent
// prints it as "trent: hint: ..." (it looks for a Hint method).
type HintError struct {
	Err    error
	Advice string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }
func (e *HintError) Hint() string  { return e.Advice }

// absPaths makes the paths of c absolute, so that logs and the summary name
// the files for real whatever the working directory.
func absPaths(c *Config) error {
	for _, p := range []*string{&c.DataDir, &c.RootKeyFile, &c.SeedFile, &c.TLSCertFile, &c.TLSKeyFile, &c.AttestationRootsFile, &c.ConfigFile} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("server: %s: %w", *p, err)
		}
		*p = abs
	}
	return nil
}

// clientURL is the endpoint a client on this machine uses: the bound URL,
// with an unspecified host (0.0.0.0, ::) replaced by one that answers.
func (s *Server) clientURL() string {
	u := s.URL()
	a, ok := s.Addr().(*net.TCPAddr)
	if !ok || !a.IP.IsUnspecified() {
		return u
	}
	host := "127.0.0.1"
	if s.cfg.TLSCertFile != "" {
		if h, err := os.Hostname(); err == nil {
			host = h // the certificate more likely names the host than 127.0.0.1
		}
	}
	scheme, _, _ := strings.Cut(u, "://")
	return scheme + "://" + net.JoinHostPort(host, fmt.Sprint(a.Port))
}

// summary is what the start-up summary reports.
type summary struct {
	endpoint, dataDir, rootKeyFile   string
	account, adminKeyID, credentials string
	memory, seal, state, next        string
}

func (s *Server) summary(ctx context.Context) summary {
	c := &s.cfg
	sum := summary{endpoint: s.clientURL(), dataDir: c.DataDir, account: c.AccountID, memory: s.memory, seal: c.Seal}
	if c.DataDir != "" && c.Seal == SealFile {
		sum.rootKeyFile = c.rootKeyPath()
	}
	if svc := s.svc.Load(); svc != nil {
		sum.state = "unsealed"
		sum.adminKeyID = svc.adminKeyID
		sum.credentials = credentialsOf(c.DataDir, sum.account, sum.adminKeyID)
		return sum
	}
	sum.state = "sealed"
	st, err := s.state.barrier.Status(ctx)
	switch {
	case err != nil:
	case !st.Initialized:
		sum.state = "not initialised"
		sum.next = "trent operator init --shares 5 --threshold 3   # prints the unseal shares and the administrator's keys, once"
	case c.Seal == SealShamir:
		sum.next = "trent operator unseal SHARE                     # once per share, up to the threshold"
	default:
		sum.next = "# the " + c.Seal + " seal's auto-unseal is retrying (see the log); trent operator status shows progress"
	}
	return sum
}

// credentialsOf is the file of dataDir that holds the administrator key
// keyID of account: credentials-<account> for an account added to a data
// directory that had one (the credentials file is then another account's),
// else credentials; "" when neither holds it.
func credentialsOf(dataDir, account, keyID string) string {
	if dataDir == "" || keyID == "" {
		return ""
	}
	for _, name := range []string{CredentialsFile + "-" + account, CredentialsFile} {
		p := filepath.Join(dataDir, name)
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "aws_access_key_id = "+keyID+"\n") {
			return p
		}
	}
	return ""
}

// printSummary writes what an operator needs after the start, once: where
// the data and the root key are, the account and its administrator, memory
// locking, and the commands that point the AWS CLI and SDKs at the server.
func (s *Server) printSummary(ctx context.Context, w io.Writer) {
	sum := s.summary(ctx)
	var b strings.Builder
	if sum.dataDir == "" {
		b.WriteString("trent: data: in memory, lost at exit (--dev without --data-dir)\n")
	} else {
		fmt.Fprintf(&b, "trent: data directory: %s\n", sum.dataDir)
	}
	if sum.rootKeyFile != "" {
		fmt.Fprintf(&b, "trent: root key (file seal): %s: back it up apart from the data directory; without it the data cannot be read\n", sum.rootKeyFile)
	} else if sum.dataDir != "" {
		fmt.Fprintf(&b, "trent: seal: %s\n", sum.seal)
	}
	if sum.adminKeyID != "" {
		fmt.Fprintf(&b, "trent: account %s, administrator access key %s", sum.account, sum.adminKeyID)
		if sum.credentials != "" {
			fmt.Fprintf(&b, " (secret in %s)", sum.credentials)
		}
		b.WriteString("\n")
	} else {
		fmt.Fprintf(&b, "trent: account %s; the server is %s\n", sum.account, sum.state)
	}
	fmt.Fprintf(&b, "trent: memory: %s\n", sum.memory)
	if s.cfg.ConfigFile != "" {
		fmt.Fprintf(&b, "trent: configuration file: %s\n", s.cfg.ConfigFile)
	}
	b.WriteString("\nTo use this server from a shell (AWS CLI, SDKs, trent encrypt), paste:\n\n")
	b.WriteString("  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY\n")
	fmt.Fprintf(&b, "  export AWS_ENDPOINT_URL=%s\n", sum.endpoint)
	switch {
	case s.cfg.Dev:
		fmt.Fprintf(&b, "  export AWS_ACCESS_KEY_ID=%s\n  export AWS_SECRET_ACCESS_KEY=%s\n", DevAccessKeyID, DevSecretKey)
	case sum.credentials != "":
		fmt.Fprintf(&b, "  export AWS_SHARED_CREDENTIALS_FILE=%s\n", sum.credentials)
	case sum.adminKeyID != "":
		fmt.Fprintf(&b, "  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=...   # the secret shown once at init\n", sum.adminKeyID)
	}
	fmt.Fprintf(&b, "  export AWS_DEFAULT_REGION=%s\n", s.cfg.Region)
	if sum.next != "" {
		fmt.Fprintf(&b, "\nThe server is %s; next:\n\n  %s\n\n", sum.state, sum.next)
	} else {
		// The flag too: AWS CLIs before 2.13 (1.29 for v1), Debian 12's
		// among them, ignore AWS_ENDPOINT_URL and would call AWS itself.
		fmt.Fprintf(&b, "\nthen, for example (--endpoint-url for AWS CLIs before 2.13, which ignore AWS_ENDPOINT_URL):\n\n  aws kms create-key --description first --endpoint-url %s\n\n", sum.endpoint)
	}
	io.WriteString(w, b.String())
}

// logSummary is printSummary as one log record (--log-format json).
func (s *Server) logSummary(ctx context.Context) {
	sum := s.summary(ctx)
	s.log.Info("server: ready", "endpoint", sum.endpoint, "state", sum.state, "seal", sum.seal, "data_dir", sum.dataDir,
		"root_key_file", sum.rootKeyFile, "account", sum.account, "access_key_id", sum.adminKeyID,
		"credentials_file", sum.credentials, "memory", sum.memory, "config_file", s.cfg.ConfigFile,
		"region", s.cfg.Region, "next", sum.next)
}
