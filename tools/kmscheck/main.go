// Command kmscheck checks an AWS-KMS-compatible endpoint against behaviours
// of AWS KMS that emulators are known to get wrong (the user complaints
// collected in docs/api-coverage.md, "Against the emulators"): asymmetric
// encryption that is not real, digests hashed twice, key policies stored
// but not enforced, grants and operations missing, error codes that differ,
// rotation that does not rotate. It drives the endpoint with the AWS SDK for
// Go v2 and checks every cryptographic answer with local code, never with
// the endpoint itself: Go's crypto (the public key from GetPublicKey, ECDH,
// RSA-OAEP, HMAC, ML-KEM), decred's secp256k1, circl's ML-DSA.
//
//	go run ./tools/kmscheck --endpoint http://127.0.0.1:8080
//
// The credentials and region follow the AWS conventions (AWS_ACCESS_KEY_ID,
// AWS_REGION, ...); without credentials it uses the development ones of
// `trent server --dev`. It creates keys (about 40) and schedules their
// deletion at the end, with the shortest waiting period (7 days). Every
// check prints PASS or FAIL with what it saw; the exit status is 1 when a
// check failed.
package main

//lint:file-ignore ST1005 the messages start with the AWS operation that failed (Encrypt, Sign...), as printed after FAIL

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/trent-kms/trent/internal/iam"
)

// check is one behaviour of AWS KMS: run returns nil when the endpoint
// behaves as AWS KMS does.
type check struct {
	name string
	run  func(ctx context.Context, c *kms.Client) error
}

var checks = []check{
	{"symmetric Encrypt/Decrypt with an encryption context; without it: InvalidCiphertextException", checkContext},
	{"Decrypt naming another key: IncorrectKeyException, AWS's message", checkIncorrectKey},
	{"a disabled key: DisabledException, \"<key ARN> is disabled.\"", checkDisabled},
	{"RSA Encrypt is RSAES-OAEP: a local OAEP ciphertext decrypts, KMS's is 256 bytes", checkRSAEncrypt},
	{"ECDSA Sign of a DIGEST verifies locally (not hashed again)", checkDigestSign},
	{"RSA-PSS Sign verifies locally with the digest-length salt", checkPSS},
	{"Verify of a changed signature: KMSInvalidSignatureException", checkBadSignature},
	{"Ed25519 Sign verifies locally", checkEd25519},
	{"GenerateMac/VerifyMac; a changed MAC: KMSInvalidMacException", checkMAC},
	{"DeriveSharedSecret equals a local ECDH", checkECDH},
	{"ML-KEM: a local Encapsulate against GetPublicKey's key matches Decapsulate", checkMLKEM},
	{"a key policy's explicit Deny is enforced: AccessDeniedException", checkPolicyDeny},
	{"grants: CreateGrant, ListGrants, RevokeGrant", checkGrants},
	{"RotateKeyOnDemand rotates; old ciphertexts still decrypt", checkRotation},
	{"GetKeyRotationStatus gives RotationPeriodInDays", checkRotationPeriod},
	{"GenerateDataKey honours NumberOfBytes and KeySpec", checkDataKeySize},
	{"GenerateDataKeyPair: the private key matches the public key", checkDataKeyPair},
	{"GetKeyPolicy without PolicyName returns the default policy", checkGetKeyPolicy},
	{"ScheduleKeyDeletion: 6 days is a ValidationException; 7 gives PendingDeletion and the key ARN", checkDeletionWindow},
	{"DryRun: DryRunOperationException, AWS's message", checkDryRun},
	{"a tag key starting with aws: is a TagException, AWS's message", checkAWSTag},
	{"ListAliases pages with Limit and Marker", checkAliasPages},
	{"ReEncrypt moves a ciphertext to another key", checkReEncrypt},
	{"ImportKeyMaterial with RSAES_OAEP_SHA_256: the key becomes usable", checkImport},
	{"GetKeyLastUsage reports the last Encrypt", checkLastUsage},
	{"ListKeyPolicies lists the default policy", checkListKeyPolicies},
	{"GetPublicKey of a symmetric key: UnsupportedOperationException", checkSymmetricPublicKey},
	{"EnableKeyRotation of an asymmetric key: UnsupportedOperationException", checkAsymmetricRotation},
	{"a key pending deletion: KMSInvalidStateException", checkPendingDeletion},
	{"an alias under alias/aws/: NotAuthorizedException", checkReservedAlias},
	{"GenerateRandom of 1025 bytes: ValidationException, AWS's message", checkRandomLimit},
	{"Sign of a DIGEST of the wrong length: ValidationException, AWS's message", checkDigestLength},
	{"HMAC with imported material equals a local HMAC-SHA-256", checkImportedHMAC},
	{"RSA PKCS #1 v1.5 Sign (RSA_3072, SHA-384) verifies locally", checkPKCS1Sign},
	{"ECDSA P-384 Sign verifies locally", checkP384Sign},
	{"secp256k1 Sign of a DIGEST verifies locally", checkSecp256k1Sign},
	{"RSAES_OAEP_SHA_1: a local OAEP-SHA-1 ciphertext decrypts", checkOAEPSHA1},
	{"ML-DSA-65 Sign verifies locally (FIPS 204)", checkMLDSA},
	{"multi-Region keys: ReplicateKey; a ciphertext of one Region decrypts in the other", checkMultiRegion},
	{"custom key stores: DescribeCustomKeyStores lists; an http:// XKS proxy is a ValidationException", checkCustomKeyStores},
}

func main() {
	endpoint := flag.String("endpoint", os.Getenv("AWS_ENDPOINT_URL"), "KMS endpoint `URL`")
	flag.Parse()
	if *endpoint == "" {
		*endpoint = "http://127.0.0.1:8080"
	}
	c, err := client(*endpoint)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kmscheck:", err)
		os.Exit(2)
	}
	failed := 0
	for _, ch := range checks {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := ch.run(ctx, c)
		cancel()
		if err != nil {
			failed++
			fmt.Printf("FAIL  %s: %v\n", ch.name, err)
			continue
		}
		fmt.Printf("PASS  %s\n", ch.name)
	}
	scheduleDeletions()
	fmt.Printf("%d of %d checks passed against %s\n", len(checks)-failed, len(checks), *endpoint)
	if failed > 0 {
		os.Exit(1)
	}
}

// client is a KMS client of endpoint with the credentials and region of the
// AWS conventions; without credentials, the development ones of
// `trent server --dev`. It never asks the EC2 instance metadata service.
func client(endpoint string) (*kms.Client, error) {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if creds, err := cfg.Credentials.Retrieve(ctx); err != nil || !creds.HasKeys() {
		cfg.Credentials = credentials.NewStaticCredentialsProvider(iam.DevAccessKeyID, iam.DevSecretKey, "")
	}
	return kms.NewFromConfig(cfg, func(o *kms.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.RetryMaxAttempts = 1
	}), nil
}

// created are the ids of the keys the checks created: their deletion is
// scheduled at the end.
// created are the keys the checks created, with the client of their Region.
var created []createdKey

type createdKey struct {
	c  *kms.Client
	id string
}

// createKey is CreateKey, remembering the key.
func createKey(ctx context.Context, c *kms.Client, in *kms.CreateKeyInput) (*kms.CreateKeyOutput, error) {
	in.Description = aws.String("kmscheck")
	out, err := c.CreateKey(ctx, in)
	if err == nil {
		created = append(created, createdKey{c, aws.ToString(out.KeyMetadata.KeyId)})
	}
	return out, err
}

// scheduleDeletions schedules the deletion of the keys the checks created,
// with the shortest waiting period, and says how many it could.
func scheduleDeletions() {
	n := 0
	for _, k := range created {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := k.c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k.id), PendingWindowInDays: aws.Int32(7)})
		cancel()
		var invalid *types.KMSInvalidStateException
		if err == nil || errors.As(err, &invalid) { // already pending deletion
			n++
		}
	}
	fmt.Printf("deletion scheduled (7 days) for %d of the %d keys the checks created\n", n, len(created))
}

// newKey creates a key of spec and usage (symmetric encryption when both
// are empty) and returns its id.
func newKey(ctx context.Context, c *kms.Client, spec types.KeySpec, usage types.KeyUsageType) (string, error) {
	in := &kms.CreateKeyInput{}
	if spec != "" {
		in.KeySpec, in.KeyUsage = spec, usage
	}
	out, err := createKey(ctx, c, in)
	if err != nil {
		return "", fmt.Errorf("CreateKey %s: %w", spec, err)
	}
	return aws.ToString(out.KeyMetadata.KeyId), nil
}

// wantCode is nil when err is the AWS error code, else says what came.
func wantCode(op string, err error, code string) error { return wantError(op, err, code, "") }

// wantError is nil when err is the AWS error code with the message AWS
// KMS gives (any message when msg is empty), else says what came.
func wantError(op string, err error, code, msg string) error {
	if err == nil {
		return fmt.Errorf("%s succeeded, want %s", op, code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		return fmt.Errorf("%s: %v, want %s", op, err, code)
	}
	if msg != "" && ae.ErrorMessage() != msg {
		return fmt.Errorf("%s: %s %q, want AWS's message %q", op, code, ae.ErrorMessage(), msg)
	}
	return nil
}

// sealed creates a symmetric key and encrypts plaintext under it.
func sealed(ctx context.Context, c *kms.Client, plaintext string) (string, []byte, error) {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return "", nil, err
	}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte(plaintext)})
	if err != nil {
		return "", nil, fmt.Errorf("Encrypt: %w", err)
	}
	return id, enc.CiphertextBlob, nil
}

// keyAndPublic creates a key of spec and usage and returns its id and its
// public key (GetPublicKey's, parsed) as a P.
func keyAndPublic[P any](ctx context.Context, c *kms.Client, spec types.KeySpec, usage types.KeyUsageType) (string, P, error) {
	var zero P
	id, err := newKey(ctx, c, spec, usage)
	if err != nil {
		return "", zero, err
	}
	out, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &id})
	if err != nil {
		return "", zero, fmt.Errorf("GetPublicKey: %w", err)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return "", zero, fmt.Errorf("GetPublicKey: %w", err)
	}
	p, ok := pub.(P)
	if !ok {
		return "", zero, fmt.Errorf("GetPublicKey: a %T, want a %T", pub, zero)
	}
	return id, p, nil
}

// spki returns the algorithm identifier, its parameters (the EC curve, if
// any) and the key bits of a key's public key (GetPublicKey's
// SubjectPublicKeyInfo), for the algorithms Go's x509 does not parse
// (ML-KEM, ML-DSA, secp256k1).
func spki(ctx context.Context, c *kms.Client, id string) (asn1.ObjectIdentifier, asn1.RawValue, []byte, error) {
	out, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &id})
	if err != nil {
		return nil, asn1.RawValue{}, nil, fmt.Errorf("GetPublicKey: %w", err)
	}
	var info struct {
		Algorithm struct {
			Algorithm asn1.ObjectIdentifier
			Params    asn1.RawValue `asn1:"optional"`
		}
		Key asn1.BitString
	}
	if rest, err := asn1.Unmarshal(out.PublicKey, &info); err != nil || len(rest) > 0 {
		return nil, asn1.RawValue{}, nil, fmt.Errorf("GetPublicKey: not a SubjectPublicKeyInfo: %v", err)
	}
	return info.Algorithm.Algorithm, info.Algorithm.Params, info.Key.Bytes, nil
}

// signRaw signs the message "message" (MessageType RAW) with the key.
func signRaw(ctx context.Context, c *kms.Client, id string, alg types.SigningAlgorithmSpec) ([]byte, error) {
	out, err := c.Sign(ctx, &kms.SignInput{KeyId: &id, Message: []byte("message"), MessageType: types.MessageTypeRaw,
		SigningAlgorithm: alg})
	if err != nil {
		return nil, fmt.Errorf("Sign: %w", err)
	}
	return out.Signature, nil
}

func checkContext(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	ec := map[string]string{"purpose": "kmscheck"}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("secret"), EncryptionContext: ec})
	if err != nil {
		return fmt.Errorf("Encrypt: %w", err)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil {
		return fmt.Errorf("Decrypt: %w", err)
	}
	if string(dec.Plaintext) != "secret" {
		return fmt.Errorf("Decrypt returned %q", dec.Plaintext)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	return wantCode("Decrypt without the context", err, "InvalidCiphertextException")
}

func checkIncorrectKey(ctx context.Context, c *kms.Client) error {
	_, blob, err := sealed(ctx, c, "x")
	if err != nil {
		return err
	}
	other, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, KeyId: &other})
	return wantError("Decrypt with another KeyId", err, "IncorrectKeyException",
		"The key ID in the request does not identify a CMK that can perform this operation.")
}

func checkDisabled(ctx context.Context, c *kms.Client) error {
	out, err := createKey(ctx, c, &kms.CreateKeyInput{})
	if err != nil {
		return fmt.Errorf("CreateKey: %w", err)
	}
	id := out.KeyMetadata.KeyId
	if _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: id}); err != nil {
		return fmt.Errorf("DisableKey: %w", err)
	}
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	return wantError("Encrypt under a disabled key", err, "DisabledException", aws.ToString(out.KeyMetadata.Arn)+" is disabled.")
}

func checkRSAEncrypt(ctx context.Context, c *kms.Client) error {
	id, rpub, err := keyAndPublic[*rsa.PublicKey](ctx, c, types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt)
	if err != nil {
		return err
	}
	if err := decryptsLocalOAEP(ctx, c, id, rpub, sha256.New(), types.EncryptionAlgorithmSpecRsaesOaepSha256); err != nil {
		return err
	}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("secret"),
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
	if err != nil {
		return fmt.Errorf("Encrypt: %w", err)
	}
	if len(enc.CiphertextBlob) != 256 {
		return fmt.Errorf("Encrypt under RSA_2048: %d bytes of ciphertext, want 256 (one RSA block)", len(enc.CiphertextBlob))
	}
	return nil
}

func checkDigestSign(ctx context.Context, c *kms.Client) error {
	id, epub, err := keyAndPublic[*ecdsa.PublicKey](ctx, c, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte("message"))
	out, err := c.Sign(ctx, &kms.SignInput{KeyId: &id, Message: digest[:], MessageType: types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		return fmt.Errorf("Sign: %w", err)
	}
	if !ecdsa.VerifyASN1(epub, digest[:], out.Signature) {
		return errors.New("the signature does not verify over the digest (hashed again?)")
	}
	return nil
}

func checkPSS(ctx context.Context, c *kms.Client) error {
	id, rpub, err := keyAndPublic[*rsa.PublicKey](ctx, c, types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)
	if err != nil {
		return err
	}
	sig, err := signRaw(ctx, c, id, types.SigningAlgorithmSpecRsassaPssSha256)
	if err != nil {
		return err
	}
	h := sha256.Sum256([]byte("message"))
	if rsa.VerifyPSS(rpub, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: sha256.Size}) == nil {
		return nil
	}
	if rsa.VerifyPSS(rpub, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil {
		return errors.New("the signature verifies only with another salt length than the digest's 32 bytes")
	}
	return errors.New("the signature does not verify")
}

func checkBadSignature(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	if err != nil {
		return err
	}
	alg := types.SigningAlgorithmSpecEcdsaSha256
	sig, err := signRaw(ctx, c, id, alg)
	if err != nil {
		return err
	}
	_, err = c.Verify(ctx, &kms.VerifyInput{KeyId: &id, Message: []byte("another message"), Signature: sig,
		SigningAlgorithm: alg})
	return wantCode("Verify of another message", err, "KMSInvalidSignatureException")
}

func checkEd25519(ctx context.Context, c *kms.Client) error {
	id, epub, err := keyAndPublic[ed25519.PublicKey](ctx, c, types.KeySpecEccNistEdwards25519, types.KeyUsageTypeSignVerify)
	if err != nil {
		return err
	}
	sig, err := signRaw(ctx, c, id, types.SigningAlgorithmSpecEd25519Sha512)
	if err != nil {
		return err
	}
	if !ed25519.Verify(epub, []byte("message"), sig) {
		return errors.New("the signature does not verify")
	}
	return nil
}

func checkMAC(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac)
	if err != nil {
		return err
	}
	alg := types.MacAlgorithmSpecHmacSha256
	out, err := c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: &id, Message: []byte("message"), MacAlgorithm: alg})
	if err != nil {
		return fmt.Errorf("GenerateMac: %w", err)
	}
	if len(out.Mac) != sha256.Size {
		return fmt.Errorf("GenerateMac: %d bytes, want 32", len(out.Mac))
	}
	v, err := c.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: &id, Message: []byte("message"), Mac: out.Mac, MacAlgorithm: alg})
	if err != nil || !v.MacValid {
		return fmt.Errorf("VerifyMac of its own MAC: %v", err)
	}
	bad := bytes.Clone(out.Mac)
	bad[0] ^= 1
	_, err = c.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: &id, Message: []byte("message"), Mac: bad, MacAlgorithm: alg})
	return wantCode("VerifyMac of a changed MAC", err, "KMSInvalidMacException")
}

func checkECDH(ctx context.Context, c *kms.Client) error {
	id, epub, err := keyAndPublic[*ecdsa.PublicKey](ctx, c, types.KeySpecEccNistP256, types.KeyUsageTypeKeyAgreement)
	if err != nil {
		return err
	}
	kmsPub, err := epub.ECDH()
	if err != nil {
		return err
	}
	mine, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(mine.PublicKey())
	if err != nil {
		return err
	}
	out, err := c.DeriveSharedSecret(ctx, &kms.DeriveSharedSecretInput{KeyId: &id, PublicKey: der,
		KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh})
	if err != nil {
		return fmt.Errorf("DeriveSharedSecret: %w", err)
	}
	want, err := mine.ECDH(kmsPub)
	if err != nil {
		return err
	}
	if !bytes.Equal(out.SharedSecret, want) {
		return errors.New("the shared secret differs from the local ECDH's (derived, not raw?)")
	}
	return nil
}

func checkMLKEM(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, types.KeySpecMlKem768, types.KeyUsageTypeEncapsulateDecapsulate)
	if err != nil {
		return err
	}
	_, _, key, err := spki(ctx, c, id)
	if err != nil {
		return err
	}
	ek, err := mlkem.NewEncapsulationKey768(key)
	if err != nil {
		return fmt.Errorf("GetPublicKey: %w", err)
	}
	secret, ct := ek.Encapsulate()
	dec, err := c.Decapsulate(ctx, &kms.DecapsulateInput{KeyId: &id, SharedSecretCiphertextBlob: ct,
		EncapsulationAlgorithm: types.EncapsulationAlgorithmSpecMlKem})
	if err != nil {
		return fmt.Errorf("Decapsulate: %w", err)
	}
	if !bytes.Equal(dec.SharedSecret, secret) {
		return errors.New("Decapsulate's shared secret differs from the local Encapsulate's")
	}
	return nil
}

func checkPolicyDeny(ctx context.Context, c *kms.Client) error {
	policy, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Sid": "all", "Effect": "Allow", "Principal": map[string]any{"AWS": "*"}, "Action": "kms:*", "Resource": "*"},
		map[string]any{"Sid": "no-encrypt", "Effect": "Deny", "Principal": map[string]any{"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*"},
	}})
	out, err := createKey(ctx, c, &kms.CreateKeyInput{Policy: aws.String(string(policy))})
	if err != nil {
		return fmt.Errorf("CreateKey with a policy: %w", err)
	}
	id := out.KeyMetadata.KeyId
	if _, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: id}); err != nil {
		return fmt.Errorf("DescribeKey (allowed): %w", err)
	}
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	return wantCode("Encrypt denied by the key policy", err, "AccessDeniedException")
}

func checkGrants(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	key, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
	if err != nil {
		return fmt.Errorf("DescribeKey: %w", err)
	}
	arn := aws.ToString(key.KeyMetadata.Arn)
	account := ""
	if parts := bytes.Split([]byte(arn), []byte(":")); len(parts) > 4 {
		account = string(parts[4])
	}
	g, err := c.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &id, GranteePrincipal: aws.String("arn:aws:iam::" + account + ":root"),
		Operations: []types.GrantOperation{types.GrantOperationEncrypt, types.GrantOperationDecrypt}})
	if err != nil {
		return fmt.Errorf("CreateGrant: %w", err)
	}
	list, err := c.ListGrants(ctx, &kms.ListGrantsInput{KeyId: &id})
	if err != nil {
		return fmt.Errorf("ListGrants: %w", err)
	}
	if len(list.Grants) != 1 || aws.ToString(list.Grants[0].GrantId) != aws.ToString(g.GrantId) {
		return fmt.Errorf("ListGrants: %d grants, want the one created", len(list.Grants))
	}
	if _, err := c.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: &id, GrantId: g.GrantId}); err != nil {
		return fmt.Errorf("RevokeGrant: %w", err)
	}
	if list, err = c.ListGrants(ctx, &kms.ListGrantsInput{KeyId: &id}); err != nil || len(list.Grants) != 0 {
		return fmt.Errorf("ListGrants after RevokeGrant: %v, want none", err)
	}
	return nil
}

func checkRotation(ctx context.Context, c *kms.Client) error {
	id, old, err := sealed(ctx, c, "before")
	if err != nil {
		return err
	}
	if _, err := c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id}); err != nil {
		return fmt.Errorf("RotateKeyOnDemand: %w", err)
	}
	for { // AWS rotates asynchronously
		rot, err := c.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: &id})
		if err != nil {
			return fmt.Errorf("ListKeyRotations: %w", err)
		}
		if len(rot.Rotations) == 1 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ListKeyRotations: %d rotations, want 1", len(rot.Rotations))
		case <-time.After(100 * time.Millisecond):
		}
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: old})
	if err != nil || string(dec.Plaintext) != "before" {
		return fmt.Errorf("Decrypt of a ciphertext from before the rotation: %v", err)
	}
	cur, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("after")})
	if err != nil {
		return fmt.Errorf("Encrypt after the rotation: %w", err)
	}
	if dec, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: cur.CiphertextBlob}); err != nil || string(dec.Plaintext) != "after" {
		return fmt.Errorf("Decrypt after the rotation: %v", err)
	}
	return nil
}

func checkRotationPeriod(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	if _, err := c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: aws.Int32(90)}); err != nil {
		return fmt.Errorf("EnableKeyRotation: %w", err)
	}
	st, err := c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if err != nil {
		return fmt.Errorf("GetKeyRotationStatus: %w", err)
	}
	if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 90 || st.NextRotationDate == nil {
		return fmt.Errorf("GetKeyRotationStatus: enabled %v, period %v, next %v; want true, 90 and a date",
			st.KeyRotationEnabled, aws.ToInt32(st.RotationPeriodInDays), st.NextRotationDate)
	}
	return nil
}

func checkDataKeySize(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	a, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &id, NumberOfBytes: aws.Int32(16)})
	if err != nil {
		return fmt.Errorf("GenerateDataKey NumberOfBytes 16: %w", err)
	}
	b, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &id, KeySpec: types.DataKeySpecAes128})
	if err != nil {
		return fmt.Errorf("GenerateDataKey AES_128: %w", err)
	}
	if len(a.Plaintext) != 16 || len(b.Plaintext) != 16 {
		return fmt.Errorf("data keys of %d and %d bytes, want 16", len(a.Plaintext), len(b.Plaintext))
	}
	return nil
}

func checkDataKeyPair(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	out, err := c.GenerateDataKeyPair(ctx, &kms.GenerateDataKeyPairInput{KeyId: &id, KeyPairSpec: types.DataKeyPairSpecEccNistP256})
	if err != nil {
		return fmt.Errorf("GenerateDataKeyPair: %w", err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(out.PrivateKeyPlaintext)
	if err != nil {
		return fmt.Errorf("the private key is not PKCS #8: %w", err)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return fmt.Errorf("the public key is not a SubjectPublicKeyInfo: %w", err)
	}
	ep, ok := priv.(*ecdsa.PrivateKey)
	if !ok || !ep.PublicKey.Equal(pub) {
		return errors.New("the private key does not match the public key")
	}
	return nil
}

func checkGetKeyPolicy(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	out, err := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &id})
	if err != nil {
		return fmt.Errorf("GetKeyPolicy: %w", err)
	}
	if !json.Valid([]byte(aws.ToString(out.Policy))) || aws.ToString(out.PolicyName) != "default" {
		return fmt.Errorf("GetKeyPolicy: policy name %q, want default and a JSON policy", aws.ToString(out.PolicyName))
	}
	return nil
}

func checkDeletionWindow(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	_, err = c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(6)})
	if err := wantCode("ScheduleKeyDeletion of 6 days", err, "ValidationException"); err != nil {
		return err
	}
	out, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
	if err != nil {
		return fmt.Errorf("ScheduleKeyDeletion of 7 days: %w", err)
	}
	if out.KeyState != types.KeyStatePendingDeletion || out.DeletionDate == nil || !bytes.HasPrefix([]byte(aws.ToString(out.KeyId)), []byte("arn:")) {
		return fmt.Errorf("ScheduleKeyDeletion: state %q, date %v, key %q; want PendingDeletion, a date and the key ARN",
			out.KeyState, out.DeletionDate, aws.ToString(out.KeyId))
	}
	return nil
}

func checkDryRun(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x"), DryRun: aws.Bool(true)})
	return wantError("Encrypt with DryRun", err, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
}

func checkAWSTag(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	_, err = c.TagResource(ctx, &kms.TagResourceInput{KeyId: &id, Tags: []types.Tag{{TagKey: aws.String("aws:owner"), TagValue: aws.String("x")}}})
	return wantError("TagResource with aws:owner", err, "TagException", "Tags beginning with aws: are reserved")
}

func checkAliasPages(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	for i := range 2 {
		name := fmt.Sprintf("alias/kmscheck-%d-%d", time.Now().UnixNano(), i)
		if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: &name, TargetKeyId: &id}); err != nil {
			return fmt.Errorf("CreateAlias: %w", err)
		}
	}
	first, err := c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: &id, Limit: aws.Int32(1)})
	if err != nil {
		return fmt.Errorf("ListAliases: %w", err)
	}
	if len(first.Aliases) != 1 || !first.Truncated || first.NextMarker == nil {
		return fmt.Errorf("ListAliases Limit 1: %d aliases, truncated %v; want 1 and a marker", len(first.Aliases), first.Truncated)
	}
	next, err := c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: &id, Limit: aws.Int32(1), Marker: first.NextMarker})
	if err != nil {
		return fmt.Errorf("ListAliases with the marker: %w", err)
	}
	if len(next.Aliases) != 1 || aws.ToString(next.Aliases[0].AliasName) == aws.ToString(first.Aliases[0].AliasName) {
		return errors.New("ListAliases with the marker: not the second alias")
	}
	return nil
}

func checkReEncrypt(ctx context.Context, c *kms.Client) error {
	a, blob, err := sealed(ctx, c, "moved")
	if err != nil {
		return err
	}
	b, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: &b, SourceKeyId: &a})
	if err != nil {
		return fmt.Errorf("ReEncrypt: %w", err)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, KeyId: &a})
	if err := wantCode("Decrypt of the new ciphertext naming the old key", err, "IncorrectKeyException"); err != nil {
		return err
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, KeyId: &b})
	if err != nil || string(dec.Plaintext) != "moved" {
		return fmt.Errorf("Decrypt of the new ciphertext: %v", err)
	}
	return nil
}

// imported creates a key of origin EXTERNAL (symmetric when spec is
// empty) and imports material into it, wrapped locally with RSAES-OAEP-SHA-256
// under the wrapping key of GetParametersForImport; it returns the key's id.
func imported(ctx context.Context, c *kms.Client, spec types.KeySpec, usage types.KeyUsageType, material []byte) (string, error) {
	out, err := createKey(ctx, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal, KeySpec: spec, KeyUsage: usage})
	if err != nil {
		return "", fmt.Errorf("CreateKey EXTERNAL %s: %w", spec, err)
	}
	id := out.KeyMetadata.KeyId
	if out.KeyMetadata.KeyState != types.KeyStatePendingImport {
		return "", fmt.Errorf("CreateKey EXTERNAL: state %s, want PendingImport", out.KeyMetadata.KeyState)
	}
	p, err := c.GetParametersForImport(ctx, &kms.GetParametersForImportInput{KeyId: id,
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	if err != nil {
		return "", fmt.Errorf("GetParametersForImport: %w", err)
	}
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	if err != nil {
		return "", fmt.Errorf("GetParametersForImport: the wrapping key: %w", err)
	}
	rpub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return "", fmt.Errorf("GetParametersForImport: a %T wrapping key", pub)
	}
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, rpub, material, nil)
	if err != nil {
		return "", err
	}
	if _, err := c.ImportKeyMaterial(ctx, &kms.ImportKeyMaterialInput{KeyId: id, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}); err != nil {
		return "", fmt.Errorf("ImportKeyMaterial: %w", err)
	}
	return aws.ToString(id), nil
}

func checkImport(ctx context.Context, c *kms.Client) error {
	material := make([]byte, 32)
	rand.Read(material)
	id, err := imported(ctx, c, "", "", material)
	if err != nil {
		return err
	}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("imported")})
	if err != nil {
		return fmt.Errorf("Encrypt under the imported material: %w", err)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "imported" {
		return fmt.Errorf("Decrypt under the imported material: %v", err)
	}
	return nil
}

func checkImportedHMAC(ctx context.Context, c *kms.Client) error {
	material := make([]byte, 32)
	rand.Read(material)
	id, err := imported(ctx, c, types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac, material)
	if err != nil {
		return err
	}
	out, err := c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: &id, Message: []byte("message"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	if err != nil {
		return fmt.Errorf("GenerateMac: %w", err)
	}
	m := hmac.New(sha256.New, material)
	m.Write([]byte("message"))
	if !hmac.Equal(out.Mac, m.Sum(nil)) {
		return errors.New("the MAC differs from a local HMAC-SHA-256 under the imported material")
	}
	return nil
}

func checkPKCS1Sign(ctx context.Context, c *kms.Client) error {
	id, rpub, err := keyAndPublic[*rsa.PublicKey](ctx, c, types.KeySpecRsa3072, types.KeyUsageTypeSignVerify)
	if err != nil {
		return err
	}
	sig, err := signRaw(ctx, c, id, types.SigningAlgorithmSpecRsassaPkcs1V15Sha384)
	if err != nil {
		return err
	}
	h := sha512.Sum384([]byte("message"))
	return rsa.VerifyPKCS1v15(rpub, crypto.SHA384, h[:], sig)
}

func checkP384Sign(ctx context.Context, c *kms.Client) error {
	id, epub, err := keyAndPublic[*ecdsa.PublicKey](ctx, c, types.KeySpecEccNistP384, types.KeyUsageTypeSignVerify)
	if err != nil {
		return err
	}
	sig, err := signRaw(ctx, c, id, types.SigningAlgorithmSpecEcdsaSha384)
	if err != nil {
		return err
	}
	h := sha512.Sum384([]byte("message"))
	if epub.Curve.Params().Name != "P-384" || !ecdsa.VerifyASN1(epub, h[:], sig) {
		return fmt.Errorf("the signature does not verify on %s", epub.Curve.Params().Name)
	}
	return nil
}

func checkSecp256k1Sign(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, types.KeySpecEccSecgP256k1, types.KeyUsageTypeSignVerify)
	if err != nil {
		return err
	}
	// Go's x509 knows no secp256k1: the SubjectPublicKeyInfo is read by hand.
	_, params, key, err := spki(ctx, c, id)
	if err != nil {
		return err
	}
	var curve asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(params.FullBytes, &curve); err != nil || !curve.Equal(asn1.ObjectIdentifier{1, 3, 132, 0, 10}) {
		return fmt.Errorf("GetPublicKey: curve %v, want secp256k1 (1.3.132.0.10)", curve)
	}
	pub, err := secp256k1.ParsePubKey(key)
	if err != nil {
		return fmt.Errorf("GetPublicKey: %w", err)
	}
	h := sha256.Sum256([]byte("message"))
	out, err := c.Sign(ctx, &kms.SignInput{KeyId: &id, Message: h[:], MessageType: types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		return fmt.Errorf("Sign: %w", err)
	}
	sig, err := secpecdsa.ParseDERSignature(out.Signature)
	if err != nil {
		return fmt.Errorf("the signature is not DER: %w", err)
	}
	if !sig.Verify(h[:], pub) {
		return errors.New("the signature does not verify")
	}
	return nil
}

func checkOAEPSHA1(ctx context.Context, c *kms.Client) error {
	id, rpub, err := keyAndPublic[*rsa.PublicKey](ctx, c, types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt)
	if err != nil {
		return err
	}
	return decryptsLocalOAEP(ctx, c, id, rpub, sha1.New(), types.EncryptionAlgorithmSpecRsaesOaepSha1)
}

// decryptsLocalOAEP is nil when Decrypt opens a ciphertext made locally
// with RSAES-OAEP (hash h) under the key's public key.
func decryptsLocalOAEP(ctx context.Context, c *kms.Client, id string, pub *rsa.PublicKey, h hash.Hash, alg types.EncryptionAlgorithmSpec) error {
	local, err := rsa.EncryptOAEP(h, rand.Reader, pub, []byte("secret"), nil)
	if err != nil {
		return err
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: &id, CiphertextBlob: local, EncryptionAlgorithm: alg})
	if err != nil {
		return fmt.Errorf("Decrypt of a local %s ciphertext: %w", alg, err)
	}
	if string(dec.Plaintext) != "secret" {
		return fmt.Errorf("Decrypt returned %q", dec.Plaintext)
	}
	return nil
}

func checkLastUsage(ctx context.Context, c *kms.Client) error {
	id, _, err := sealed(ctx, c, "x")
	if err != nil {
		return err
	}
	out, err := c.GetKeyLastUsage(ctx, &kms.GetKeyLastUsageInput{KeyId: &id})
	if err != nil {
		return fmt.Errorf("GetKeyLastUsage: %w", err)
	}
	if out.KeyLastUsage == nil || out.KeyLastUsage.Operation != "Encrypt" {
		return fmt.Errorf("GetKeyLastUsage: %+v, want the Encrypt", out.KeyLastUsage)
	}
	return nil
}

func checkListKeyPolicies(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	out, err := c.ListKeyPolicies(ctx, &kms.ListKeyPoliciesInput{KeyId: &id})
	if err != nil {
		return fmt.Errorf("ListKeyPolicies: %w", err)
	}
	if len(out.PolicyNames) != 1 || out.PolicyNames[0] != "default" {
		return fmt.Errorf("ListKeyPolicies: %q, want [default]", out.PolicyNames)
	}
	return nil
}

func checkSymmetricPublicKey(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	_, err = c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &id})
	return wantCode("GetPublicKey of a symmetric key", err, "UnsupportedOperationException")
}

func checkAsymmetricRotation(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	if err != nil {
		return err
	}
	_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id})
	return wantCode("EnableKeyRotation of an ECC_NIST_P256 key", err, "UnsupportedOperationException")
}

func checkPendingDeletion(ctx context.Context, c *kms.Client) error {
	id, blob, err := sealed(ctx, c, "x")
	if err != nil {
		return err
	}
	if _, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)}); err != nil {
		return fmt.Errorf("ScheduleKeyDeletion: %w", err)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
	return wantCode("Decrypt under a key pending deletion", err, "KMSInvalidStateException")
}

func checkReservedAlias(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, "", "")
	if err != nil {
		return err
	}
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/kmscheck"), TargetKeyId: &id})
	return wantCode("CreateAlias alias/aws/kmscheck", err, "NotAuthorizedException")
}

func checkRandomLimit(ctx context.Context, c *kms.Client) error {
	out, err := c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1024)})
	if err != nil || len(out.Plaintext) != 1024 {
		return fmt.Errorf("GenerateRandom of 1024 bytes: %v", err)
	}
	_, err = c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1025)})
	return wantError("GenerateRandom of 1025 bytes", err, "ValidationException",
		"1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024")
}

func checkDigestLength(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	if err != nil {
		return err
	}
	_, err = c.Sign(ctx, &kms.SignInput{KeyId: &id, Message: make([]byte, 31), MessageType: types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	return wantError("Sign of a 31-byte SHA-256 digest", err, "ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256.")
}

func checkMLDSA(ctx context.Context, c *kms.Client) error {
	id, err := newKey(ctx, c, types.KeySpecMlDsa65, types.KeyUsageTypeSignVerify)
	if err != nil {
		return err
	}
	oid, _, key, err := spki(ctx, c, id)
	if err != nil {
		return err
	}
	if !oid.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}) {
		return fmt.Errorf("GetPublicKey: algorithm %v, want id-ml-dsa-65 (2.16.840.1.101.3.4.3.18)", oid)
	}
	var pub mldsa65.PublicKey
	if err := pub.UnmarshalBinary(key); err != nil {
		return fmt.Errorf("GetPublicKey: %w", err)
	}
	sig, err := signRaw(ctx, c, id, types.SigningAlgorithmSpecMlDsaShake256)
	if err != nil {
		return err
	}
	if !mldsa65.Verify(&pub, []byte("message"), nil, sig) {
		return errors.New("the signature does not verify (FIPS 204, empty context)")
	}
	return nil
}

// checkMultiRegion replicates a multi-Region key into another Region (of
// the partition) and decrypts there what the primary encrypted.
func checkMultiRegion(ctx context.Context, c *kms.Client) error {
	other := "eu-west-1"
	if c.Options().Region == other {
		other = "us-east-1"
	}
	oc := kms.New(c.Options(), func(o *kms.Options) { o.Region = other })
	out, err := createKey(ctx, c, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("CreateKey with MultiRegion: %w", err)
	}
	id := aws.ToString(out.KeyMetadata.KeyId)
	if !strings.HasPrefix(id, "mrk-") || !aws.ToBool(out.KeyMetadata.MultiRegion) {
		return fmt.Errorf("CreateKey with MultiRegion: key id %s, MultiRegion %v; want mrk-... and true", id, aws.ToBool(out.KeyMetadata.MultiRegion))
	}
	if _, err := c.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: &other}); err != nil {
		return fmt.Errorf("ReplicateKey: %w", err)
	}
	created = append([]createdKey{{oc, id}}, created...) // the replica's deletion first
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("across Regions")})
	if err != nil {
		return fmt.Errorf("Encrypt: %w", err)
	}
	for { // AWS's replica is Creating for a few seconds
		dec, err := oc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		var creating *types.KMSInvalidStateException
		switch {
		case err == nil && string(dec.Plaintext) == "across Regions":
			return nil
		case err == nil:
			return fmt.Errorf("Decrypt in %s: another plaintext", other)
		case !errors.As(err, &creating):
			return fmt.Errorf("Decrypt in %s: %w", other, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Decrypt in %s: %w", other, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkCustomKeyStores: the custom key store operations exist, and
// CreateCustomKeyStore checks XksProxyUriEndpoint against the model's
// pattern (^https://[a-zA-Z0-9.-]+$) before anything else, so nothing is
// created.
func checkCustomKeyStores(ctx context.Context, c *kms.Client) error {
	if _, err := c.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{}); err != nil {
		return fmt.Errorf("DescribeCustomKeyStores: %w", err)
	}
	_, err := c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("kmscheck-http-proxy"), CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore,
		XksProxyConnectivity: types.XksProxyConnectivityTypePublicEndpoint, XksProxyUriEndpoint: aws.String("http://example.com"),
		XksProxyUriPath: aws.String("/kms/xks/v1"), XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{
			AccessKeyId: aws.String("KMSCHECKACCESSKEYID2"), RawSecretAccessKey: aws.String(strings.Repeat("A", 44))},
	})
	if err := wantCode("CreateCustomKeyStore with an http:// proxy", err, "ValidationException"); err != nil {
		return err
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && !strings.Contains(ae.ErrorMessage(), "'xksProxyUriEndpoint'") {
		return fmt.Errorf("CreateCustomKeyStore with an http:// proxy: %q does not name xksProxyUriEndpoint", ae.ErrorMessage())
	}
	return nil
}
