package envelope_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/trent-kms/trent/envelope"
)

// newKey returns a random AES-256 wrapping key. Real keys come from a secret
// store; never hard-code them.
func newKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func Example() {
	ctx := context.Background()
	kr, err := envelope.NewRawAESKeyring("example", "key-1", newKey())
	if err != nil {
		log.Fatal(err)
	}

	// Encrypt: stream the plaintext into the writer, then Close.
	var msg bytes.Buffer
	w, err := envelope.Encrypt(ctx, &msg, kr, &envelope.EncryptOptions{
		EncryptionContext: map[string]string{"purpose": "example"},
	})
	if err != nil {
		log.Fatal(err)
	}
	io.WriteString(w, "hello, envelope")
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	// Decrypt: the plaintext is trusted only once Read returns io.EOF.
	r, err := envelope.Decrypt(ctx, &msg, kr, &envelope.DecryptOptions{
		EncryptionContext: map[string]string{"purpose": "example"},
	})
	if err != nil {
		log.Fatal(err)
	}
	pt, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%v)\n", pt, r.Header().Suite)
	// Output: hello, envelope (ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384)
}

func ExampleEncrypt() {
	ctx := context.Background()
	kr, _ := envelope.NewRawAESKeyring("example", "key-1", newKey())
	w, err := envelope.Encrypt(ctx, os.Stdout, kr, &envelope.EncryptOptions{
		Suite:     envelope.SuiteAES256GCMHKDFSHA512CommitKey, // unsigned: faster
		FrameSize: 64 << 10,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	io.Copy(w, os.Stdin)
}

func ExampleDecrypt() {
	ctx := context.Background()
	kr, _ := envelope.NewRawAESKeyring("example", "key-1", newKey())
	var msg bytes.Buffer
	w, _ := envelope.Encrypt(ctx, &msg, kr, nil)
	io.WriteString(w, "attack at dawn")
	w.Close()

	// A message changed in transit is refused (here the signature).
	tampered := bytes.Clone(msg.Bytes())
	tampered[len(tampered)-1] ^= 1
	r, err := envelope.Decrypt(ctx, bytes.NewReader(tampered), kr, nil)
	if err == nil {
		_, err = io.ReadAll(r)
	}
	fmt.Println(errors.Is(err, envelope.ErrInvalidMessage))

	// The original decrypts.
	r, _ = envelope.Decrypt(ctx, &msg, kr, nil)
	pt, err := io.ReadAll(r)
	fmt.Printf("%s %v\n", pt, err)
	// Output:
	// true
	// attack at dawn <nil>
}

func ExampleNewMultiKeyring() {
	ctx := context.Background()
	primary, _ := envelope.NewRawAESKeyring("example", "primary", newKey())
	backup, _ := envelope.NewRawAESKeyring("example", "backup", newKey())

	var msg bytes.Buffer
	w, _ := envelope.Encrypt(ctx, &msg, envelope.NewMultiKeyring(primary, backup), nil)
	io.WriteString(w, "opened with the backup key")
	w.Close()

	r, err := envelope.Decrypt(ctx, &msg, backup, nil)
	if err != nil {
		log.Fatal(err)
	}
	pt, _ := io.ReadAll(r)
	fmt.Println(string(pt), len(r.Header().EncryptedDataKeys))
	// Output: opened with the backup key 2
}

func ExampleParseHeader() {
	ctx := context.Background()
	kr, _ := envelope.NewRawAESKeyring("example", "key-1", newKey())
	var msg bytes.Buffer
	w, _ := envelope.Encrypt(ctx, &msg, kr, &envelope.EncryptOptions{
		Suite:             envelope.SuiteAES256GCMHKDFSHA512CommitKey,
		EncryptionContext: map[string]string{"tenant": "42"},
	})
	w.Close()

	hd, err := envelope.ParseHeader(&msg, 0)
	if err != nil {
		log.Fatal(err)
	}
	e := hd.EncryptedDataKeys[0]
	fmt.Println(hd.Version, hd.Suite, hd.FrameLength, hd.EncryptionContext["tenant"], e.ProviderID)
	// Output: 2 ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY 4096 42 example
}

func ExampleNewCache() {
	ctx := context.Background()
	kr, _ := envelope.NewRawAESKeyring("example", "key-1", newKey())
	cache, err := envelope.NewCache(envelope.CacheLimits{MaxAge: 5 * time.Minute, MaxMessages: 1000, MaxBytes: 1 << 30})
	if err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		pt := []byte(fmt.Sprintf("small message %d", i))
		var msg bytes.Buffer
		// The cache is used only for messages with a known bound.
		w, _ := envelope.Encrypt(ctx, &msg, kr, &envelope.EncryptOptions{Cache: cache, MaxPlaintextLength: int64(len(pt))})
		w.Write(pt)
		w.Close()
		r, _ := envelope.Decrypt(ctx, &msg, kr, &envelope.DecryptOptions{Cache: cache})
		got, _ := io.ReadAll(r)
		fmt.Println(string(got))
	}
	// Output:
	// small message 0
	// small message 1
	// small message 2
}

// A KMS keyring works with AWS KMS or a Trent server through *kms.Client,
// configured as the AWS CLI is (AWS_ENDPOINT_URL, AWS_PROFILE, AWS_REGION...).
func ExampleNewKMSKeyring() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	client := kms.NewFromConfig(cfg)
	kr, err := envelope.NewKMSKeyring(client,
		"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"alias/backup-key", // also wraps the data key
	)
	if err != nil {
		log.Fatal(err)
	}
	w, err := envelope.Encrypt(ctx, os.Stdout, kr, nil)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(w, os.Stdin)
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
}

func ExampleNewKMSDiscoveryKeyring() {
	ctx := context.Background()
	cfg, _ := config.LoadDefaultConfig(ctx)
	kr, _ := envelope.NewKMSDiscoveryKeyring(kms.NewFromConfig(cfg), &envelope.DiscoveryFilter{
		Partition:  "aws",
		AccountIDs: []string{"111122223333"},
	})
	r, err := envelope.Decrypt(ctx, os.Stdin, kr, nil)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(os.Stdout, r)
}

func ExampleNewRawAESKeyring() {
	// The namespace and name identify the wrapping key in messages; an
	// official SDK's raw AES keyring with the same namespace, name and key
	// opens them.
	kr, err := envelope.NewRawAESKeyring("my-app", "wrapping-key-2026", newKey())
	if err != nil {
		log.Fatal(err)
	}
	var msg bytes.Buffer
	w, _ := envelope.Encrypt(context.Background(), &msg, kr, nil)
	w.Close()
	hd, _ := envelope.ParseHeader(&msg, 0)
	e := hd.EncryptedDataKeys[0]
	fmt.Printf("%s %q %d\n", e.ProviderID, e.ProviderInfo[:len("wrapping-key-2026")], len(e.Ciphertext))
	// Output: my-app "wrapping-key-2026" 48
}
