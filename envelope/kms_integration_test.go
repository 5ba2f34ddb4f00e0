package envelope

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestKMSIntegration runs the KMS keyrings against a real KMS endpoint (a
// Trent server, or AWS KMS) when TRENT_TEST_ENDPOINT is set, for example
// TRENT_TEST_ENDPOINT=http://127.0.0.1:8080 with a dev-mode server. Region
// and credentials come from the usual AWS environment; without
// AWS_ACCESS_KEY_ID the Trent dev-mode credentials are used, and without a
// region us-east-1. It creates two keys and an alias.
func TestKMSIntegration(t *testing.T) {
	endpoint := os.Getenv("TRENT_TEST_ENDPOINT")
	if endpoint == "" {
		t.Skip("TRENT_TEST_ENDPOINT not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var opts []func(*config.LoadOptions) error
	if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		opts = append(opts, config.WithRegion("us-east-1"))
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
			"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	client := kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(endpoint) })

	newKey := func() string {
		t.Helper()
		out, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("envelope integration test")})
		if err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		return aws.ToString(out.KeyMetadata.Arn)
	}
	k1, k2, k3 := newKey(), newKey(), newKey()
	alias := "alias/envelope-it-" + time.Now().Format("20060102150405.000000000")[15:]
	if _, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(k2)}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}

	enc, err := NewKMSKeyring(client, k1, alias)
	if err != nil {
		t.Fatal(err)
	}
	ec := map[string]string{"purpose": "integration"}
	pt := pattern(10000)
	for _, s := range bothSuites {
		var buf bytes.Buffer
		w, err := Encrypt(ctx, &buf, enc, &EncryptOptions{Suite: s, EncryptionContext: ec, FrameSize: 1024})
		if err != nil {
			t.Fatalf("%v: Encrypt: %v", s, err)
		}
		w.Write(pt)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		msg := buf.Bytes()
		hd, err := ParseHeader(bytes.NewReader(msg), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(hd.EncryptedDataKeys) != 2 || string(hd.EncryptedDataKeys[0].ProviderInfo) != k1 || string(hd.EncryptedDataKeys[1].ProviderInfo) != k2 {
			t.Fatalf("%v: EDKs name %q and %q, want %s and %s", s, hd.EncryptedDataKeys[0].ProviderInfo, hd.EncryptedDataKeys[1].ProviderInfo, k1, k2)
		}
		for name, kr := range map[string]func() (*KMSKeyring, error){
			"key 1":     func() (*KMSKeyring, error) { return NewKMSKeyring(client, k1) },
			"key 2":     func() (*KMSKeyring, error) { return NewKMSKeyring(client, k2) },
			"alias":     func() (*KMSKeyring, error) { return NewKMSKeyring(client, alias) },
			"discovery": func() (*KMSKeyring, error) { return NewKMSDiscoveryKeyring(client, nil) },
		} {
			k, err := kr()
			if err != nil {
				t.Fatal(err)
			}
			got, err := decryptAll(k, msg, &DecryptOptions{EncryptionContext: ec})
			if err != nil || !bytes.Equal(got, pt) {
				t.Errorf("%v %s: %v", s, name, err)
			}
		}
		other, _ := NewKMSKeyring(client, k3)
		if _, err := decryptAll(other, msg, nil); !errors.Is(err, ErrNoDecryptableKey) {
			t.Errorf("%v: unrelated key: err = %v, want ErrNoDecryptableKey", s, err)
		}
	}
}
