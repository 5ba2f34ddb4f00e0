// Command esdk-go cross-checks trent's envelope package with the official
// AWS Encryption SDK for Go (github.com/aws/aws-encryption-sdk/releases/go/
// encryption-sdk, Dafny-generated, with the Material Providers Library):
//
//   - the Go SDK decrypts every golden message of envelope/testdata/golden
//     (made by the SDK for JavaScript) and refuses the version 1 ones under
//     REQUIRE_ENCRYPT_REQUIRE_DECRYPT;
//   - messages of envelope (both committing suites, several sizes, 1000-byte
//     frames) decrypt with the Go SDK, and the Go SDK's decrypt with envelope.
//
// It is a separate module (replace of trent to ../..) so that trent's go.mod
// does not depend on the SDK, which pulls in many modules and takes minutes
// to compile. CI runs it through interop.TestOfficialGoEncryptionSDK; by hand,
// from this directory:
//
//	go run .
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	mpl "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	esdk "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygenerated"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
	"github.com/trent-kms/trent/envelope"
)

const dir = "../../envelope/testdata/golden"

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	ctx := context.Background()
	var man struct {
		Keyring struct {
			Keys []struct{ KeyNamespace, KeyName, Hex string }
		}
		Messages []struct {
			File                       string
			PlaintextSHA256            string
			Keys                       []string
			RequiresAllowNonCommitting bool
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	must(err)
	must(json.Unmarshal(b, &man))
	matprov, err := mpl.NewClient(mpltypes.MaterialProvidersConfig{})
	must(err)
	keyrings := map[string]mpltypes.IKeyring{}
	var key1 []byte
	for _, k := range man.Keyring.Keys {
		key, _ := hex.DecodeString(k.Hex)
		if key1 == nil {
			key1 = key
		}
		kr, err := matprov.CreateRawAesKeyring(ctx, mpltypes.CreateRawAesKeyringInput{KeyName: k.KeyName, KeyNamespace: k.KeyNamespace, WrappingKey: key, WrappingAlg: mpltypes.AesWrappingAlgAlgAes256GcmIv12Tag16})
		must(err)
		keyrings[k.KeyName] = kr
	}
	strict := mpltypes.ESDKCommitmentPolicyRequireEncryptRequireDecrypt
	allow := mpltypes.ESDKCommitmentPolicyRequireEncryptAllowDecrypt
	cStrict, err := esdk.NewClient(esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &strict})
	must(err)
	cAllow, err := esdk.NewClient(esdktypes.AwsEncryptionSdkConfig{CommitmentPolicy: &allow})
	must(err)
	ok, bad := 0, 0
	for _, m := range man.Messages {
		msg, err := os.ReadFile(filepath.Join(dir, m.File))
		must(err)
		c := cStrict
		if m.RequiresAllowNonCommitting {
			c = cAllow
			if _, err := cStrict.Decrypt(ctx, esdktypes.DecryptInput{Ciphertext: msg, Keyring: keyrings[m.Keys[len(m.Keys)-1]]}); err == nil {
				fmt.Println("FAIL strict client decrypted", m.File)
				bad++
			}
		}
		out, err := c.Decrypt(ctx, esdktypes.DecryptInput{Ciphertext: msg, Keyring: keyrings[m.Keys[len(m.Keys)-1]]})
		if err != nil {
			fmt.Println("FAIL golden", m.File, err)
			bad++
			continue
		}
		sum := sha256.Sum256(out.Plaintext)
		if hex.EncodeToString(sum[:]) != m.PlaintextSHA256 {
			fmt.Println("FAIL golden digest", m.File)
			bad++
			continue
		}
		ok++
	}
	fmt.Printf("golden: %d ok, %d failed\n", ok, bad)

	// envelope -> Go ESDK and Go ESDK -> envelope.
	ekr, err := envelope.NewRawAESKeyring("trent-golden", "golden-key-1", key1)
	must(err)
	ec := map[string]string{"purpose": "esdk-go", "tenant": "ünïcødé"}
	n := 0
	for _, s := range []envelope.Suite{envelope.SuiteAES256GCMHKDFSHA512CommitKey, envelope.SuiteAES256GCMHKDFSHA512CommitKeyECDSAP384} {
		for _, size := range []int{0, 1, 4096, 4097, 100000} {
			pt := make([]byte, size)
			rand.Read(pt)
			var buf bytes.Buffer
			w, err := envelope.Encrypt(ctx, &buf, ekr, &envelope.EncryptOptions{Suite: s, EncryptionContext: ec, FrameSize: 1000})
			must(err)
			w.Write(pt)
			must(w.Close())
			out, err := cStrict.Decrypt(ctx, esdktypes.DecryptInput{Ciphertext: buf.Bytes(), Keyring: keyrings["golden-key-1"], EncryptionContext: ec})
			if err != nil || !bytes.Equal(out.Plaintext, pt) {
				fmt.Println("FAIL envelope->esdk-go", s, size, err)
				bad++
			} else {
				n++
			}
			id := mpltypes.ESDKAlgorithmSuiteIdAlgAes256GcmHkdfSha512CommitKey
			if s.Signed() {
				id = mpltypes.ESDKAlgorithmSuiteIdAlgAes256GcmHkdfSha512CommitKeyEcdsaP384
			}
			fl := int64(1000)
			enc, err := cStrict.Encrypt(ctx, esdktypes.EncryptInput{Plaintext: pt, AlgorithmSuiteId: &id, EncryptionContext: ec, FrameLength: &fl, Keyring: keyrings["golden-key-1"]})
			must(err)
			r, err := envelope.Decrypt(ctx, bytes.NewReader(enc.Ciphertext), ekr, &envelope.DecryptOptions{EncryptionContext: ec})
			var got []byte
			if err == nil {
				got, err = io.ReadAll(r)
			}
			if err != nil || !bytes.Equal(got, pt) {
				fmt.Println("FAIL esdk-go->envelope", s, size, err)
				bad++
			} else {
				n++
			}
		}
	}
	fmt.Printf("cross: %d ok; total failures %d\n", n, bad)
	if bad > 0 {
		os.Exit(1)
	}
}
