package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const healthUsage = `Usage: trent health [--endpoint URL] [--insecure-skip-verify]

Asks a server's GET /health and exits 0 when it answers 200 (storage up,
unsealed, audit log writable), 1 otherwise, printing the answer. Made for container and service
health checks: the endpoint defaults to $AWS_ENDPOINT_URL, else to the
server settings in the environment (TRENT_ADDR, with https when TRENT_TLS_CERT
is set; an all-interfaces address is asked on 127.0.0.1). The server's
certificate is checked against $AWS_CA_BUNDLE when set, as the AWS CLI does.

Flags:
`

func init() {
	commands["health"] = command{summary: "check a server's /health (for health checks)", run: runHealth,
		usage: healthUsage, flags: func() *flag.FlagSet { return healthFlags(new(healthOpts)) }}
}

type healthOpts struct {
	endpoint string
	insecure bool
	timeout  time.Duration
}

func healthFlags(o *healthOpts) *flag.FlagSet {
	fs := flag.NewFlagSet("trent health", flag.ContinueOnError)
	fs.StringVar(&o.endpoint, "endpoint", "", "server `URL` (default: $AWS_ENDPOINT_URL, else from $TRENT_ADDR)")
	fs.BoolVar(&o.insecure, "insecure-skip-verify", false, "do not verify the TLS certificate (a local health check of a server whose certificate names another host)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "give up after `duration`")
	return fs
}

func runHealth(args []string) int {
	var o healthOpts
	pos, code, ok := parseFlags("health", healthFlags(&o), healthUsage, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		errorf("health: unexpected argument %q", pos[0])
		hintf("give the server with --endpoint URL")
		return 2
	}
	url := healthEndpoint(o.endpoint)
	client, err := httpClient(o.timeout, o.insecure)
	if err != nil {
		errorf("health: %v", err)
		return 2
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, strings.TrimSuffix(url, "/")+"/health", nil)
	if err != nil {
		errorf("health: %v", err)
		return 2
	}
	resp, err := client.Do(req)
	if err != nil {
		errorf("health: %v", err)
		if cert := (*tls.CertificateVerificationError)(nil); errors.As(err, &cert) {
			hintf("%s", untrustedHint)
		} else {
			hintf("is the server running at %s?", url)
		}
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Printf("%s\n", strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		errorf("health: %s answered %s", url, resp.Status)
		return 1
	}
	return 0
}

// untrustedHint is the hint of a client command whose server's certificate
// does not verify.
const untrustedHint = "the server's TLS certificate is not trusted: give its CA certificate in AWS_CA_BUNDLE (a PEM file), as to the AWS CLI"

// httpClient is the HTTP client of the commands that call a server
// directly (health, operator, backup): as the AWS CLI and SDKs, it trusts the
// CA certificates of $AWS_CA_BUNDLE instead of the system's.
func httpClient(timeout time.Duration, insecure bool) (*http.Client, error) {
	tc := &tls.Config{InsecureSkipVerify: insecure}
	if f := os.Getenv("AWS_CA_BUNDLE"); f != "" && !insecure {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("AWS_CA_BUNDLE: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("AWS_CA_BUNDLE: no PEM certificate in %s", f)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}

// healthEndpoint is the URL to ask: the flag, $AWS_ENDPOINT_URL, or the
// server's own TRENT_ADDR (loopback for an all-interfaces address).
func healthEndpoint(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv("AWS_ENDPOINT_URL"); v != "" {
		return v
	}
	addr := os.Getenv("TRENT_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		addr = net.JoinHostPort(host, port)
	}
	scheme := "http"
	if os.Getenv("TRENT_TLS_CERT") != "" {
		scheme = "https"
	}
	return scheme + "://" + addr
}
