// Command kmsload drives a KMS endpoint (Trent or any AWS-KMS-compatible
// server) with the real AWS SDK for Go v2 and reports throughput, latency
// percentiles and, for Trent, the server's own CPU time per request (read from
// process_cpu_seconds_total on its /metrics endpoint before and after the run).
//
//	go run ./tools/kmsload -endpoint http://127.0.0.1:8080 -op Encrypt -c 32 -d 10s
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:8080", "KMS endpoint URL")
	region := flag.String("region", "us-east-1", "region")
	accessKey := flag.String("access-key", "AKIAIOSFODNN7EXAMPLE", "access key id")
	secretKey := flag.String("secret-key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "secret access key")
	op := flag.String("op", "Encrypt", "operation: Encrypt, Decrypt, GenerateDataKey, CreateKey, Sign, Verify")
	spec := flag.String("spec", "ECC_NIST_P256", "key spec of the signing key (Sign, Verify)")
	conc := flag.Int("c", 32, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "duration (bounded: at most 5m)")
	size := flag.Int("size", 256, "plaintext bytes for Encrypt")
	keyID := flag.String("key-id", "", "use this key (e.g. one whose policy or grant allows the caller) instead of creating one")
	ecFlag := flag.String("context", "", "encryption context of Encrypt, Decrypt and GenerateDataKey: k=v[,k=v...]")
	flag.Parse()
	ec := map[string]string{}
	for kv := range strings.SplitSeq(*ecFlag, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			ec[k] = v
		}
	}
	if *dur > 5*time.Minute {
		*dur = 5 * time.Minute
	}
	if err := run(*endpoint, *region, *accessKey, *secretKey, *op, *spec, *conc, *dur, *size, *keyID, ec); err != nil {
		fmt.Fprintln(os.Stderr, "kmsload: error:", err)
		os.Exit(1)
	}
}

func run(endpoint, region, ak, sk, op, spec string, conc int, dur time.Duration, size int, existing string, ec map[string]string) error {
	ctx := context.Background()
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2}}
	client := kms.New(kms.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:   httpClient,
	})
	keyID := aws.String(existing)
	if existing == "" {
		key, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("kmsload")})
		if err != nil {
			return fmt.Errorf("create key: %w", err)
		}
		keyID = key.KeyMetadata.KeyId
	}
	plaintext := make([]byte, size)
	enc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: plaintext, EncryptionContext: ec})
	if err != nil {
		return fmt.Errorf("encrypt: %w", err)
	}
	var signer *kms.CreateKeyOutput
	var sigAlg types.SigningAlgorithmSpec
	var sig []byte
	if op == "Sign" || op == "Verify" {
		if signer, err = client.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpec(spec), KeyUsage: types.KeyUsageTypeSignVerify}); err != nil {
			return fmt.Errorf("create %s key: %w", spec, err)
		}
		algs := signer.KeyMetadata.SigningAlgorithms
		sigAlg = algs[len(algs)-1] // RSA: RSASSA_PSS_SHA_512... pick the last the key lists
		if slices.Contains(algs, types.SigningAlgorithmSpecRsassaPssSha256) {
			sigAlg = types.SigningAlgorithmSpecRsassaPssSha256
		}
		if sigAlg == types.SigningAlgorithmSpecEd25519PhSha512 {
			sigAlg = types.SigningAlgorithmSpecEd25519Sha512
		}
		out, err := client.Sign(ctx, &kms.SignInput{KeyId: signer.KeyMetadata.KeyId, Message: plaintext, SigningAlgorithm: sigAlg})
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		sig = out.Signature
		fmt.Printf("signing key %s, %s\n", spec, sigAlg)
	}
	call := map[string]func() error{
		"Sign": func() error {
			_, err := client.Sign(ctx, &kms.SignInput{KeyId: signer.KeyMetadata.KeyId, Message: plaintext, SigningAlgorithm: sigAlg})
			return err
		},
		"Verify": func() error {
			_, err := client.Verify(ctx, &kms.VerifyInput{KeyId: signer.KeyMetadata.KeyId, Message: plaintext, Signature: sig, SigningAlgorithm: sigAlg})
			return err
		},
		"Encrypt": func() error {
			_, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: plaintext, EncryptionContext: ec})
			return err
		},
		"Decrypt": func() error {
			_, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
			return err
		},
		"CreateKey": func() error { // a durable write: storage on the hot path
			_, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("kmsload")})
			return err
		},
		"GenerateDataKey": func() error {
			_, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: keyID, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
			return err
		},
	}[op]
	if call == nil {
		return fmt.Errorf("unknown op %q", op)
	}
	// Warm up connections.
	for range conc {
		if err := call(); err != nil {
			return err
		}
	}
	cpu0, cpuErr := serverCPU(endpoint)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
		firstErr  error
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(dur)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			var fails int
			var ferr error
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := call(); err != nil {
					fails++
					if ferr == nil {
						ferr = err
					}
					continue
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			failures += fails
			if firstErr == nil {
				firstErr = ferr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, cpuErr2 := serverCPU(endpoint)
	slices.Sort(latencies)
	n := len(latencies)
	if n == 0 {
		return fmt.Errorf("no successful requests: %v", firstErr)
	}
	pct := func(p float64) time.Duration { return latencies[min(n-1, int(float64(n)*p))] }
	fmt.Printf("op=%s concurrency=%d duration=%s plaintext=%dB\n", op, conc, elapsed.Round(time.Millisecond), size)
	fmt.Printf("requests=%d failures=%d rps=%.0f\n", n, failures, float64(n)/elapsed.Seconds())
	fmt.Printf("latency p50=%s p90=%s p99=%s max=%s\n", pct(0.50), pct(0.90), pct(0.99), latencies[n-1])
	if cpuErr == nil && cpuErr2 == nil {
		fmt.Printf("server_cpu=%.2fs server_cpu_per_request=%.1fus\n", cpu1-cpu0, (cpu1-cpu0)/float64(n+failures)*1e6)
	} else {
		fmt.Printf("server_cpu=unknown (%v)\n", errors.Join(cpuErr, cpuErr2))
	}
	if failures > 0 {
		fmt.Printf("first failure: %v\n", firstErr)
	}
	return nil
}

// serverCPU reads process_cpu_seconds_total from the server's /metrics.
func serverCPU(endpoint string) (float64, error) {
	resp, err := http.Get(strings.TrimSuffix(endpoint, "/") + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("process_cpu_seconds_total not found in /metrics")
}
