package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/cputime"
	"github.com/trent-kms/trent/internal/iam"
)

func init() {
	commands["bench"] = command{summary: "load-test a KMS endpoint (closed loop; ops/s, latency, server CPU)", run: runBench, usage: benchUsage,
		flags: func() *flag.FlagSet { return benchFlags(new(benchConfig)) }}
}

const benchUsage = `Usage: trent bench [--op OP] [--concurrency N] [--duration D] [--replay] [--json]

Drives a KMS endpoint (Trent, the bare stub of tools/kmsstub, or any
AWS-KMS-compatible server) in a closed loop: --concurrency clients, each
sending its next request as soon as the last one is answered, over
keep-alive connections, for --duration (each client sends one request at
least, however short the duration or busy the machine). It reports requests per second, the
latency percentiles p50/p90/p99/p99.9, errors, and the server's CPU time per
request (from process_cpu_seconds_total of the endpoint's /metrics, when it
has one, or with --server-pid from /proc, for a server on this machine
without them) next to the client's own.

Every answer is checked: decrypt must return what was encrypted; encrypt,
generate-data-key, re-encrypt, sign and generate-mac results are checked at
the end by decrypting (verifying) one sample per client. A wrong answer
makes the exit status 1.

Two client modes:
  default   the AWS SDK for Go v2: real SigV4 signing of every request.
  --replay  each client sends requests signed once before the run (and
            again every minute, within SigV4's 5-minute window) over a raw
            keep-alive connection: the client costs a few microseconds per
            request, so on a small machine the server, not the client, is
            measured. Its clients then run on one OS thread (--procs 1)
            unless --procs or GOMAXPROCS says otherwise: they only wait on
            sockets, and a second thread costs more CPU in wake-ups and
            work stealing than it saves (on 2 cores: 28 against 40 us of
            client CPU per request at 32 connections).

OP: encrypt, decrypt, generate-data-key, re-encrypt, describe-key,
create-key, sign, verify, generate-mac, or mixed (per client a fixed cycle of
40% decrypt, 30% encrypt, 20% generate-data-key, 10% describe-key).

The key is created before the run (with --key-policy as its policy), unless
--key names one. The endpoint and credentials follow the AWS conventions
(AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_PROFILE, ...); without
any credentials the development ones of 'trent server --dev' are used.

Flags:
`

// benchConfig is what the flags of trent bench say.
type benchConfig struct {
	endpoint, region, profile string
	op                        string
	concurrency               int
	duration, warmup          time.Duration
	size                      int
	spec                      string // key spec for sign, verify, generate-mac
	keyID                     string
	keyPolicy                 string // file
	context                   contextFlag
	replay                    bool
	procs                     int // GOMAXPROCS of the run; 0: see benchProcs
	serverPID                 int // read the server's CPU time from /proc; 0: from its /metrics
	json                      bool
}

// maxBenchDuration bounds a run (and keeps pre-signed requests valid).
const maxBenchDuration = 5 * time.Minute

var benchOps = []string{"encrypt", "decrypt", "generate-data-key", "re-encrypt", "describe-key",
	"create-key", "sign", "verify", "generate-mac", "mixed"}

func benchFlags(c *benchConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("trent bench", flag.ContinueOnError)
	fs.StringVar(&c.endpoint, "endpoint", "", "KMS endpoint `URL` (default: $AWS_ENDPOINT_URL, else http://127.0.0.1:8080)")
	fs.StringVar(&c.region, "region", "", "signing `region` (default: AWS_REGION, else us-east-1)")
	fs.StringVar(&c.profile, "profile", "", "shared config `profile` for the credentials")
	fs.StringVar(&c.op, "op", "encrypt", "`operation`: "+strings.Join(benchOps, ", "))
	fs.IntVar(&c.concurrency, "concurrency", 32, "concurrent clients (`N` connections)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured `time` (at most 5m)")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured `time` before the run")
	fs.IntVar(&c.size, "size", 256, "plaintext or message `bytes` (1..4096)")
	fs.StringVar(&c.spec, "spec", "", "key `spec` for sign, verify (default ECC_NIST_P256) and generate-mac (default HMAC_256)")
	fs.StringVar(&c.keyID, "key", "", "use this key `ID` (or ARN, alias) instead of creating one")
	fs.StringVar(&c.keyPolicy, "key-policy", "", "key policy `file` (JSON) of the key created for the run")
	c.context = contextFlag{}
	fs.Var(c.context, "context", "encryption context `k=v` pair of encrypt, decrypt, generate-data-key, re-encrypt (repeatable)")
	fs.BoolVar(&c.replay, "replay", false, "replay pre-signed requests over raw connections (a light client)")
	fs.IntVar(&c.procs, "procs", 0, "OS threads running the client's Go code (GOMAXPROCS) `N` (default: 1 with --replay, else GOMAXPROCS)")
	fs.IntVar(&c.serverPID, "server-pid", 0, "read the server's CPU time from /proc/`PID`/stat instead of its /metrics (a server on this machine without them)")
	fs.BoolVar(&c.json, "json", false, "print the result as one JSON object")
	return fs
}

func runBench(args []string) int {
	var c benchConfig
	fs := benchFlags(&c)
	fs.Usage = func() { fmt.Fprint(fs.Output(), benchUsage); printFlags(fs.Output(), fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		errorf("bench: unexpected argument %q", fs.Arg(0))
		return 2
	}
	if err := c.check(); err != nil {
		errorf("bench: %v", err)
		hintf("run 'trent bench -h' for the flags")
		return 2
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(c.procs))
	res, err := bench(context.Background(), &c)
	if err != nil {
		fail(fmt.Errorf("bench: %w", err))
		return 1
	}
	if c.json {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Println(string(b))
	} else {
		res.print(os.Stdout)
	}
	if res.Wrong > 0 || res.Requests == 0 {
		return 1
	}
	return 0
}

func (c *benchConfig) check() error {
	if !slices.Contains(benchOps, c.op) {
		return fmt.Errorf("unknown --op %q: want one of %s", c.op, strings.Join(benchOps, ", "))
	}
	if c.concurrency < 1 || c.concurrency > 4096 {
		return fmt.Errorf("--concurrency %d: want 1..4096", c.concurrency)
	}
	if c.duration <= 0 || c.duration > maxBenchDuration {
		return fmt.Errorf("--duration %v: want more than 0 and at most %v", c.duration, maxBenchDuration)
	}
	if c.warmup < 0 || c.warmup > time.Minute {
		return fmt.Errorf("--warmup %v: want 0 to 1m", c.warmup)
	}
	if c.size < 1 || c.size > 4096 {
		return fmt.Errorf("--size %d: want 1..4096 (the KMS plaintext limit)", c.size)
	}
	if c.procs < 0 || c.procs > 1024 {
		return fmt.Errorf("--procs %d: want 1..1024", c.procs)
	}
	if c.serverPID < 0 {
		return fmt.Errorf("--server-pid %d: want a process id", c.serverPID)
	}
	if c.procs == 0 {
		c.procs = benchProcs(c.replay, os.Getenv("GOMAXPROCS") != "")
	}
	if c.spec == "" {
		switch c.op {
		case "sign", "verify":
			c.spec = string(types.KeySpecEccNistP256)
		case "generate-mac":
			c.spec = string(types.KeySpecHmac256)
		}
	}
	if c.endpoint == "" {
		c.endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	if c.endpoint == "" {
		c.endpoint = "http://127.0.0.1:8080"
	}
	c.endpoint = strings.TrimSuffix(c.endpoint, "/")
	return nil
}

// benchProcs is the client's GOMAXPROCS when --procs is not given: one
// thread for the replay clients (unless the environment sets GOMAXPROCS),
// the runtime's choice for the SDK's, which sign and parse on the client.
func benchProcs(replay, envSet bool) int {
	if replay && !envSet {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// benchResult is the outcome of a run (the --json output).
type benchResult struct {
	Op          string  `json:"op"`
	Mode        string  `json:"mode"` // sdk or replay
	Endpoint    string  `json:"endpoint"`
	Concurrency int     `json:"concurrency"`
	Procs       int     `json:"procs"` // the client's GOMAXPROCS
	Size        int     `json:"size"`
	Seconds     float64 `json:"seconds"`
	Requests    int     `json:"requests"` // answered successfully
	Errors      int     `json:"errors"`   // failed (error answers, transport errors)
	Wrong       int     `json:"wrong"`    // answered, but with a wrong result
	OpsPerSec   float64 `json:"opsPerSec"`
	LatencyMs   struct {
		P50  float64 `json:"p50"`
		P90  float64 `json:"p90"`
		P99  float64 `json:"p99"`
		P999 float64 `json:"p99.9"`
		Max  float64 `json:"max"`
	} `json:"latencyMs"`
	// ServerCPUSeconds is the server's CPU time during the run, from its
	// /metrics (-1 when the endpoint has none); per request it counts
	// every request sent, failed ones too.
	ServerCPUSeconds   float64 `json:"serverCpuSeconds"`
	ServerCPUPerReqUs  float64 `json:"serverCpuPerRequestUs"`
	ClientCPUPerReqUs  float64 `json:"clientCpuPerRequestUs"`
	Checked            int     `json:"checked"` // answers whose result was verified
	FirstError         string  `json:"firstError,omitempty"`
	FirstWrong         string  `json:"firstWrong,omitempty"`
	ServerCPUUnknownAt string  `json:"serverCpuUnknown,omitempty"`
}

func (r *benchResult) print(w io.Writer) {
	fmt.Fprintf(w, "op=%s mode=%s concurrency=%d procs=%d duration=%.1fs size=%dB endpoint=%s\n",
		r.Op, r.Mode, r.Concurrency, r.Procs, r.Seconds, r.Size, r.Endpoint)
	fmt.Fprintf(w, "requests=%d errors=%d wrong=%d ops/s=%.0f\n", r.Requests, r.Errors, r.Wrong, r.OpsPerSec)
	l := r.LatencyMs
	fmt.Fprintf(w, "latency p50=%.3fms p90=%.3fms p99=%.3fms p99.9=%.3fms max=%.3fms\n", l.P50, l.P90, l.P99, l.P999, l.Max)
	if r.ServerCPUSeconds >= 0 {
		fmt.Fprintf(w, "server_cpu=%.2fs server_cpu_per_request=%.1fus client_cpu_per_request=%.1fus\n",
			r.ServerCPUSeconds, r.ServerCPUPerReqUs, r.ClientCPUPerReqUs)
	} else {
		fmt.Fprintf(w, "server_cpu=unknown (%s) client_cpu_per_request=%.1fus\n", r.ServerCPUUnknownAt, r.ClientCPUPerReqUs)
	}
	fmt.Fprintf(w, "checked=%d\n", r.Checked)
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
	if r.FirstWrong != "" {
		fmt.Fprintf(w, "first wrong result: %s\n", r.FirstWrong)
	}
}

// benchFixture is what the run works on: the client, the keys and the
// reference values every answer is checked against.
type benchFixture struct {
	cfg       *benchConfig
	client    *kms.Client
	creds     aws.Credentials
	region    string
	keyID     string // the symmetric (or signing, MAC) key's id or ARN, as given
	keyARN    string
	plaintext []byte
	blob      []byte                     // plaintext encrypted under keyID
	sigAlg    types.SigningAlgorithmSpec // sign, verify
	signature []byte                     // of plaintext (verify)
	macAlg    types.MacAlgorithmSpec     // generate-mac
}

// worker is one client's state: its latencies and what it keeps for the
// final check.
type worker struct {
	lat      []time.Duration
	errors   int
	wrong    int
	firstErr error
	firstBad error
	checked  int      // answers checked as they came
	samples  []sample // results to verify at the end
}

// sample is a result checked after the run: ciphertext that must decrypt to
// plaintext, a signature or MAC that must verify.
type sample struct {
	op        string
	blob      []byte
	plaintext []byte
}

func (w *worker) fail(err error) {
	w.errors++
	if w.firstErr == nil {
		w.firstErr = err
	}
}

func (w *worker) bad(err error) {
	w.wrong++
	if w.firstBad == nil {
		w.firstBad = err
	}
}

// keep replaces the worker's sample of op.
func (w *worker) keep(s sample) {
	for i := range w.samples {
		if w.samples[i].op == s.op {
			w.samples[i] = s
			return
		}
	}
	w.samples = append(w.samples, s)
}

// mixCycle is the per-client cycle of --op mixed.
var mixCycle = []string{"decrypt", "encrypt", "decrypt", "generate-data-key", "encrypt",
	"decrypt", "describe-key", "encrypt", "decrypt", "generate-data-key"}

// opsOf returns the operations one client cycles through.
func opsOf(op string) []string {
	if op == "mixed" {
		return mixCycle
	}
	return []string{op}
}

func bench(ctx context.Context, c *benchConfig) (*benchResult, error) {
	f, err := newBenchFixture(ctx, c)
	if err != nil {
		return nil, err
	}
	var run func(ctx context.Context, w *worker, i int, until time.Time, record bool)
	if c.replay {
		rp, err := newReplayer(f)
		if err != nil {
			return nil, err
		}
		run = rp.run
	} else {
		run = f.runSDK
	}
	workers := make([]*worker, c.concurrency)
	for i := range workers {
		workers[i] = &worker{lat: make([]time.Duration, 0, 4096)}
	}
	phase := func(d time.Duration, record bool) time.Duration {
		start := time.Now()
		until := start.Add(d)
		var wg sync.WaitGroup
		for i, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(ctx, w, i, until, record)
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	if c.warmup > 0 {
		phase(c.warmup, false)
		for _, w := range workers {
			*w = worker{lat: w.lat[:0]}
		}
	}
	cpu0, cpuErr0 := c.serverCPU()
	self0 := cputime.Process()
	elapsed := phase(c.duration, true)
	self1 := cputime.Process()
	cpu1, cpuErr1 := c.serverCPU()

	res := &benchResult{Op: c.op, Mode: "sdk", Endpoint: c.endpoint, Concurrency: c.concurrency, Procs: c.procs,
		Size: c.size, Seconds: elapsed.Seconds()}
	if c.replay {
		res.Mode = "replay"
	}
	var lat []time.Duration
	for _, w := range workers {
		lat = append(lat, w.lat...)
		res.Errors += w.errors
		res.Wrong += w.wrong
		res.Checked += w.checked
		if res.FirstError == "" && w.firstErr != nil {
			res.FirstError = w.firstErr.Error()
		}
		if res.FirstWrong == "" && w.firstBad != nil {
			res.FirstWrong = w.firstBad.Error()
		}
	}
	res.Requests = len(lat)
	res.OpsPerSec = float64(res.Requests) / elapsed.Seconds()
	if n := len(lat); n > 0 {
		slices.Sort(lat)
		pct := func(p float64) float64 { return ms(lat[min(n-1, int(float64(n)*p))]) }
		res.LatencyMs.P50, res.LatencyMs.P90, res.LatencyMs.P99, res.LatencyMs.P999 = pct(0.50), pct(0.90), pct(0.99), pct(0.999)
		res.LatencyMs.Max = ms(lat[n-1])
	}
	sent := float64(res.Requests + res.Errors + res.Wrong)
	if cpuErr := errors.Join(cpuErr0, cpuErr1); cpuErr != nil {
		res.ServerCPUSeconds = -1
		res.ServerCPUUnknownAt = cpuErr.Error()
	} else {
		res.ServerCPUSeconds = cpu1 - cpu0
		if sent > 0 {
			res.ServerCPUPerReqUs = res.ServerCPUSeconds / sent * 1e6
		}
	}
	if sent > 0 {
		res.ClientCPUPerReqUs = (self1 - self0).Seconds() / sent * 1e6
	}
	// The final check: every sample must decrypt (verify) to what was sent.
	for _, w := range workers {
		for _, s := range w.samples {
			if err := f.verifySample(ctx, s); err != nil {
				res.Wrong++
				if res.FirstWrong == "" {
					res.FirstWrong = err.Error()
				}
				continue
			}
			res.Checked++
		}
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// serverCPU reads the server's CPU time in seconds: the process's with
// --server-pid, else process_cpu_seconds_total from the endpoint's /metrics.
func (c *benchConfig) serverCPU() (float64, error) {
	if c.serverPID != 0 {
		d, err := cputime.OfPID(c.serverPID)
		return d.Seconds(), err
	}
	resp, err := http.Get(c.endpoint + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("no process_cpu_seconds_total on " + c.endpoint + "/metrics")
}

// devCredentials are those of 'trent server --dev' (the AWS documentation's
// example key), used when the environment has none.
var devCredentials = aws.Credentials{AccessKeyID: iam.DevAccessKeyID,
	SecretAccessKey: iam.DevSecretKey, Source: "trent bench (development credentials)"}

func newBenchFixture(ctx context.Context, c *benchConfig) (*benchFixture, error) {
	// Never ask the EC2 instance metadata service: a load test talks to its
	// endpoint and nothing else.
	opts := []func(*config.LoadOptions) error{config.WithEC2IMDSClientEnableState(imds.ClientDisabled)}
	if c.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.profile))
	}
	if c.region != "" {
		opts = append(opts, config.WithRegion(c.region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	f := &benchFixture{cfg: c, region: awsCfg.Region}
	if f.creds, err = awsCfg.Credentials.Retrieve(ctx); err != nil || !f.creds.HasKeys() {
		if c.profile != "" {
			return nil, fmt.Errorf("credentials of profile %s: %w", c.profile, err)
		}
		f.creds = devCredentials
		awsCfg.Credentials = aws.NewCredentialsCache(staticCreds(devCredentials))
	}
	// One connection per client, kept alive; no retries (a failure counts).
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns: c.concurrency * 2, MaxIdleConnsPerHost: c.concurrency * 2, IdleConnTimeout: time.Minute,
	}}
	f.client = kms.NewFromConfig(awsCfg, func(o *kms.Options) {
		o.BaseEndpoint = aws.String(c.endpoint)
		o.HTTPClient = hc
		o.Retryer = aws.NopRetryer{}
	})
	f.plaintext = make([]byte, c.size)
	rand.Read(f.plaintext)
	if err := f.setup(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// ec is the encryption context of the run (nil when none).
func (f *benchFixture) ec() map[string]string {
	if len(f.cfg.context) == 0 {
		return nil
	}
	return f.cfg.context
}

type staticCreds aws.Credentials

func (s staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials(s), nil
}

// setup creates (or describes) the key the run uses and the reference
// values: a ciphertext for decrypt, a signature for verify.
func (f *benchFixture) setup(ctx context.Context) error {
	c := f.cfg
	if c.op == "create-key" {
		return nil
	}
	if c.keyID != "" {
		f.keyID = c.keyID
		d, err := f.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &c.keyID})
		switch {
		case err == nil:
			f.keyARN = aws.ToString(d.KeyMetadata.Arn)
			if err := f.pickAlgorithms(d.KeyMetadata); err != nil {
				return err
			}
		case c.op == "sign" || c.op == "verify" || c.op == "generate-mac":
			return fmt.Errorf("describe key %s (for its algorithms): %w", c.keyID, err)
		default:
			// A caller allowed only to encrypt and decrypt (a grant): the
			// key's ARN comes from the Encrypt below.
		}
	} else {
		in := &kms.CreateKeyInput{Description: aws.String("trent bench")}
		switch c.op {
		case "sign", "verify":
			in.KeySpec, in.KeyUsage = types.KeySpec(c.spec), types.KeyUsageTypeSignVerify
		case "generate-mac":
			in.KeySpec, in.KeyUsage = types.KeySpec(c.spec), types.KeyUsageTypeGenerateVerifyMac
		}
		if c.keyPolicy != "" {
			p, err := os.ReadFile(c.keyPolicy)
			if err != nil {
				return err
			}
			in.Policy = aws.String(string(p))
		}
		k, err := f.client.CreateKey(ctx, in)
		if err != nil {
			return fmt.Errorf("create key: %w", err)
		}
		f.keyID, f.keyARN = aws.ToString(k.KeyMetadata.KeyId), aws.ToString(k.KeyMetadata.Arn)
		if err := f.pickAlgorithms(k.KeyMetadata); err != nil {
			return err
		}
	}
	switch c.op {
	case "sign", "verify":
		out, err := f.client.Sign(ctx, &kms.SignInput{KeyId: &f.keyID, Message: f.plaintext, SigningAlgorithm: f.sigAlg})
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		f.signature = out.Signature
	case "generate-mac":
	default:
		out, err := f.client.Encrypt(ctx, &kms.EncryptInput{KeyId: &f.keyID, Plaintext: f.plaintext, EncryptionContext: f.ec()})
		if err != nil {
			return fmt.Errorf("encrypt: %w", err)
		}
		f.blob = out.CiphertextBlob
		if f.keyARN == "" {
			f.keyARN = aws.ToString(out.KeyId)
		}
	}
	return nil
}

// pickAlgorithms chooses the signing or MAC algorithm of the key: the
// first it lists (RSA: PSS with SHA-256; Ed25519: the pure one).
func (f *benchFixture) pickAlgorithms(md *types.KeyMetadata) error {
	switch f.cfg.op {
	case "sign", "verify":
		algs := md.SigningAlgorithms
		if len(algs) == 0 {
			return fmt.Errorf("key %s does not sign", f.keyARN)
		}
		f.sigAlg = algs[0]
		for _, a := range []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecRsassaPssSha256, types.SigningAlgorithmSpecEd25519Sha512} {
			if slices.Contains(algs, a) {
				f.sigAlg = a
			}
		}
	case "generate-mac":
		if len(md.MacAlgorithms) == 0 {
			return fmt.Errorf("key %s makes no MAC", f.keyARN)
		}
		f.macAlg = md.MacAlgorithms[0]
	}
	return nil
}

// runSDK is one client of the SDK mode: it calls until `until`, once at
// least.
func (f *benchFixture) runSDK(ctx context.Context, w *worker, i int, until time.Time, record bool) {
	ops := opsOf(f.cfg.op)
	for n := i; ; n++ {
		t := time.Now()
		if n > i && !t.Before(until) {
			return
		}
		op := ops[n%len(ops)]
		err := f.callSDK(ctx, w, op)
		d := time.Since(t)
		var wrong *wrongResult
		switch {
		case errors.As(err, &wrong):
			w.bad(err)
		case err != nil:
			w.fail(err)
		case record:
			w.lat = append(w.lat, d)
			w.checked++
		}
	}
}

// wrongResult is an answer that is not what the request should get.
type wrongResult struct{ msg string }

func (e *wrongResult) Error() string { return e.msg }

func wrongf(format string, args ...any) error { return &wrongResult{fmt.Sprintf(format, args...)} }

func (f *benchFixture) callSDK(ctx context.Context, w *worker, op string) error {
	c := f.client
	switch op {
	case "encrypt":
		out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &f.keyID, Plaintext: f.plaintext, EncryptionContext: f.ec()})
		if err != nil {
			return err
		}
		if aws.ToString(out.KeyId) != f.keyARN || len(out.CiphertextBlob) == 0 {
			return wrongf("encrypt: key %q, %d-byte blob", aws.ToString(out.KeyId), len(out.CiphertextBlob))
		}
		w.keep(sample{op: op, blob: out.CiphertextBlob, plaintext: f.plaintext})
	case "decrypt":
		out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: f.blob, EncryptionContext: f.ec()})
		if err != nil {
			return err
		}
		if string(out.Plaintext) != string(f.plaintext) {
			return wrongf("decrypt returned %d bytes that are not the plaintext", len(out.Plaintext))
		}
	case "generate-data-key":
		out, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &f.keyID, KeySpec: types.DataKeySpecAes256, EncryptionContext: f.ec()})
		if err != nil {
			return err
		}
		if len(out.Plaintext) != 32 || len(out.CiphertextBlob) == 0 {
			return wrongf("generate-data-key: %d-byte data key", len(out.Plaintext))
		}
		w.keep(sample{op: op, blob: out.CiphertextBlob, plaintext: out.Plaintext})
	case "re-encrypt":
		out, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: f.blob, DestinationKeyId: &f.keyID,
			SourceEncryptionContext: f.ec(), DestinationEncryptionContext: f.ec()})
		if err != nil {
			return err
		}
		w.keep(sample{op: op, blob: out.CiphertextBlob, plaintext: f.plaintext})
	case "describe-key":
		out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &f.keyID})
		if err != nil {
			return err
		}
		if aws.ToString(out.KeyMetadata.Arn) != f.keyARN {
			return wrongf("describe-key: ARN %q, want %q", aws.ToString(out.KeyMetadata.Arn), f.keyARN)
		}
	case "create-key":
		out, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("trent bench")})
		if err != nil {
			return err
		}
		if aws.ToString(out.KeyMetadata.KeyId) == "" {
			return wrongf("create-key: no key id")
		}
	case "sign":
		out, err := c.Sign(ctx, &kms.SignInput{KeyId: &f.keyID, Message: f.plaintext, SigningAlgorithm: f.sigAlg})
		if err != nil {
			return err
		}
		w.keep(sample{op: op, blob: out.Signature})
	case "verify":
		out, err := c.Verify(ctx, &kms.VerifyInput{KeyId: &f.keyID, Message: f.plaintext, Signature: f.signature, SigningAlgorithm: f.sigAlg})
		if err != nil {
			return err
		}
		if !out.SignatureValid {
			return wrongf("verify: a valid signature reported invalid")
		}
	case "generate-mac":
		out, err := c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: &f.keyID, Message: f.plaintext, MacAlgorithm: f.macAlg})
		if err != nil {
			return err
		}
		w.keep(sample{op: op, blob: out.Mac})
	}
	return nil
}

// verifySample checks a result kept by a client: a ciphertext must decrypt
// to its plaintext under the run's key, a signature or MAC must verify.
func (f *benchFixture) verifySample(ctx context.Context, s sample) error {
	c := f.client
	switch s.op {
	case "sign":
		out, err := c.Verify(ctx, &kms.VerifyInput{KeyId: &f.keyID, Message: f.plaintext, Signature: s.blob, SigningAlgorithm: f.sigAlg})
		if err != nil {
			return fmt.Errorf("check sign: %w", err)
		}
		if !out.SignatureValid {
			return wrongf("check sign: a signature of the run does not verify")
		}
	case "generate-mac":
		out, err := c.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: &f.keyID, Message: f.plaintext, Mac: s.blob, MacAlgorithm: f.macAlg})
		if err != nil {
			return fmt.Errorf("check generate-mac: %w", err)
		}
		if !out.MacValid {
			return wrongf("check generate-mac: a MAC of the run does not verify")
		}
	default:
		out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: s.blob, EncryptionContext: f.ec()})
		if err != nil {
			return fmt.Errorf("check %s: decrypt: %w", s.op, err)
		}
		if aws.ToString(out.KeyId) != f.keyARN || string(out.Plaintext) != string(s.plaintext) {
			return wrongf("check %s: the ciphertext does not decrypt to what was encrypted", s.op)
		}
	}
	return nil
}
