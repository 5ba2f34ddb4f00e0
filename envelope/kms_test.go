package envelope

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// fakeKMS is a small in-memory KMS: each key is an AES-256-GCM key, and a
// ciphertext blob is the key ARN, a nonce and the sealed plaintext with the
// serialized encryption context as AAD.
type fakeKMS struct {
	mu       sync.Mutex
	keys     map[string][]byte
	aliases  map[string]string
	calls    map[string]int
	lieKeyID string
}

func newFakeKMS(arns ...string) *fakeKMS {
	f := &fakeKMS{keys: map[string][]byte{}, aliases: map[string]string{}, calls: map[string]int{}}
	for _, a := range arns {
		k := make([]byte, 32)
		rand.Read(k)
		f.keys[a] = k
	}
	return f
}

func (f *fakeKMS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeKMS) resolve(id string) (string, error) {
	if _, ok := f.keys[id]; ok {
		return id, nil
	}
	if a, ok := f.aliases[id]; ok {
		return a, nil
	}
	if i := strings.Index(id, ":alias/"); i >= 0 {
		if a, ok := f.aliases[id[i+1:]]; ok {
			return a, nil
		}
	}
	for a := range f.keys {
		if strings.HasSuffix(a, ":key/"+id) {
			return a, nil
		}
	}
	return "", errors.New("NotFoundException: key not found")
}

func (f *fakeKMS) seal(id string, pt []byte, ec map[string]string) (string, []byte, error) {
	arn, err := f.resolve(id)
	if err != nil {
		return "", nil, err
	}
	aead, _ := newGCM(f.keys[arn])
	aad, _ := serializeContext(ec)
	blob := binary.BigEndian.AppendUint16(nil, uint16(len(arn)))
	blob = append(blob, arn...)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	blob = append(blob, nonce...)
	return arn, aead.Seal(blob, nonce, pt, aad), nil
}

func (f *fakeKMS) GenerateDataKey(_ context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["GenerateDataKey"]++
	pt := make([]byte, aws.ToInt32(in.NumberOfBytes))
	rand.Read(pt)
	arn, blob, err := f.seal(aws.ToString(in.KeyId), pt, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return &kms.GenerateDataKeyOutput{KeyId: aws.String(arn), Plaintext: pt, CiphertextBlob: blob}, nil
}

func (f *fakeKMS) Encrypt(_ context.Context, in *kms.EncryptInput, _ ...func(*kms.Options)) (*kms.EncryptOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["Encrypt"]++
	arn, blob, err := f.seal(aws.ToString(in.KeyId), in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return &kms.EncryptOutput{KeyId: aws.String(arn), CiphertextBlob: blob}, nil
}

func (f *fakeKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["Decrypt"]++
	b := in.CiphertextBlob
	if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b))+12 {
		return nil, errors.New("InvalidCiphertextException")
	}
	arn := string(b[2 : 2+binary.BigEndian.Uint16(b)])
	b = b[2+len(arn):]
	key, ok := f.keys[arn]
	if !ok {
		return nil, errors.New("InvalidCiphertextException")
	}
	if in.KeyId != nil {
		want, err := f.resolve(*in.KeyId)
		if err != nil {
			return nil, err
		}
		if want != arn {
			return nil, errors.New("IncorrectKeyException")
		}
	}
	aead, _ := newGCM(key)
	aad, _ := serializeContext(in.EncryptionContext)
	pt, err := aead.Open(nil, b[:12], b[12:], aad)
	if err != nil {
		return nil, errors.New("InvalidCiphertextException")
	}
	if f.lieKeyID != "" {
		arn = f.lieKeyID
	}
	return &kms.DecryptOutput{KeyId: aws.String(arn), Plaintext: pt}, nil
}

const (
	arn1 = "arn:aws:kms:us-east-1:111122223333:key/11111111-1111-1111-1111-111111111111"
	arn2 = "arn:aws:kms:eu-west-1:111122223333:key/22222222-2222-2222-2222-222222222222"
	arn3 = "arn:aws-cn:kms:cn-north-1:444455556666:key/33333333-3333-3333-3333-333333333333"
)

func TestKMSKeyring(t *testing.T) {
	f := newFakeKMS(arn1, arn2, arn3)
	f.aliases["alias/second"] = arn2
	ctx := context.Background()
	enc, err := NewKMSKeyring(f, arn1, "alias/second")
	if err != nil {
		t.Fatal(err)
	}
	ec := map[string]string{"purpose": "kms"}
	for _, s := range bothSuites {
		msg := mustEncrypt(t, enc, []byte("data"), &EncryptOptions{Suite: s, EncryptionContext: ec})
		hd, err := ParseHeader(bytes.NewReader(msg), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(hd.EncryptedDataKeys) != 2 || hd.EncryptedDataKeys[0].ProviderID != "aws-kms" ||
			string(hd.EncryptedDataKeys[0].ProviderInfo) != arn1 || string(hd.EncryptedDataKeys[1].ProviderInfo) != arn2 {
			t.Fatalf("EDKs = %+v", hd.EncryptedDataKeys)
		}
		for _, tc := range []struct {
			name   string
			kr     func() (*KMSKeyring, error)
			wantOK bool
		}{
			{"first key ARN", func() (*KMSKeyring, error) { return NewKMSKeyring(f, arn1) }, true},
			{"second key ARN", func() (*KMSKeyring, error) { return NewKMSKeyring(f, arn2) }, true},
			{"key ID", func() (*KMSKeyring, error) { return NewKMSKeyring(f, "22222222-2222-2222-2222-222222222222") }, true},
			{"alias", func() (*KMSKeyring, error) { return NewKMSKeyring(f, "alias/second") }, true},
			{"other key", func() (*KMSKeyring, error) { return NewKMSKeyring(f, arn3) }, false},
			{"discovery", func() (*KMSKeyring, error) { return NewKMSDiscoveryKeyring(f, nil) }, true},
			{"discovery account", func() (*KMSKeyring, error) {
				return NewKMSDiscoveryKeyring(f, &DiscoveryFilter{Partition: "aws", AccountIDs: []string{"111122223333"}})
			}, true},
			{"discovery other account", func() (*KMSKeyring, error) {
				return NewKMSDiscoveryKeyring(f, &DiscoveryFilter{Partition: "aws", AccountIDs: []string{"444455556666"}})
			}, false},
			{"discovery other partition", func() (*KMSKeyring, error) {
				return NewKMSDiscoveryKeyring(f, &DiscoveryFilter{Partition: "aws-cn", AccountIDs: []string{"111122223333"}})
			}, false},
		} {
			kr, err := tc.kr()
			if err != nil {
				t.Fatal(err)
			}
			before := f.count("Decrypt")
			got, err := decryptAll(kr, msg, &DecryptOptions{EncryptionContext: ec})
			if tc.wantOK && (err != nil || string(got) != "data") {
				t.Errorf("%v %s: got %q, %v", s, tc.name, got, err)
			}
			if !tc.wantOK {
				if !errors.Is(err, ErrNoDecryptableKey) {
					t.Errorf("%v %s: err = %v, want ErrNoDecryptableKey", s, tc.name, err)
				}
				if n := f.count("Decrypt") - before; n != 0 {
					t.Errorf("%v %s: %d Decrypt calls for keys outside the allow-list", s, tc.name, n)
				}
			}
		}
	}
	if f.count("GenerateDataKey") != 2 || f.count("Encrypt") != 2 {
		t.Errorf("calls = %v, want one GenerateDataKey and one Encrypt per message", f.calls)
	}

	disc, _ := NewKMSDiscoveryKeyring(f, nil)
	if _, err := Encrypt(ctx, &bytes.Buffer{}, disc, nil); err == nil {
		t.Error("discovery keyring encrypted")
	}
	msg := mustEncrypt(t, enc, []byte("data"), nil)
	f.lieKeyID = arn3
	if _, err := decryptAll(disc, msg, nil); !errors.Is(err, ErrNoDecryptableKey) {
		t.Errorf("KMS answering for another key: err = %v, want ErrNoDecryptableKey", err)
	}
	f.lieKeyID = ""
	if _, err := NewKMSKeyring(f); err == nil {
		t.Error("NewKMSKeyring without keys succeeded")
	}
	bad, _ := NewKMSKeyring(f, "arn:aws:kms:us-east-1:111122223333:key/missing")
	if _, err := Encrypt(ctx, &bytes.Buffer{}, bad, nil); err == nil {
		t.Error("Encrypt with a missing key succeeded")
	}
}

func TestParseKeyARN(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{arn1, true},
		{"arn:aws:kms:us-east-1:111122223333:alias/x", false},
		{"arn:aws:s3:us-east-1:111122223333:key/x", false},
		{"11111111-1111-1111-1111-111111111111", false},
		{"arn:aws:kms:us-east-1::key/x", false},
		{"arn:aws:kms:us-east-1:1:key/", false},
	} {
		if _, err := parseKeyARN(tc.in); (err == nil) != tc.ok {
			t.Errorf("parseKeyARN(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestCache(t *testing.T) {
	f := newFakeKMS(arn1)
	kr, _ := NewKMSKeyring(f, arn1)
	now := time.Unix(1e9, 0)
	newCache := func(l CacheLimits) *Cache {
		c, err := NewCache(l)
		if err != nil {
			t.Fatal(err)
		}
		c.now = func() time.Time { return now }
		return c
	}
	encryptN := func(c *Cache, n int, size int64, s Suite) [][]byte {
		var msgs [][]byte
		for range n {
			msgs = append(msgs, mustEncrypt(t, kr, pattern(int(size)), &EncryptOptions{Suite: s, Cache: c, MaxPlaintextLength: size}))
		}
		return msgs
	}
	gen := func() int { return f.count("GenerateDataKey") }

	c := newCache(CacheLimits{MaxAge: time.Minute, MaxMessages: 3})
	g := gen()
	msgs := encryptN(c, 5, 10, DefaultSuite)
	if d := gen() - g; d != 2 {
		t.Errorf("MaxMessages 3, 5 messages: %d GenerateDataKey calls, want 2", d)
	}
	ids := map[string]bool{}
	for _, m := range msgs {
		hd, _ := ParseHeader(bytes.NewReader(m), 0)
		ids[string(hd.MessageID)] = true
		if got, err := decryptAll(kr, m, nil); err != nil || !bytes.Equal(got, pattern(10)) {
			t.Errorf("message from cached materials: %v", err)
		}
	}
	if len(ids) != 5 {
		t.Errorf("%d distinct message IDs for 5 messages", len(ids))
	}

	c = newCache(CacheLimits{MaxAge: time.Minute, MaxBytes: 25})
	g = gen()
	encryptN(c, 4, 10, SuiteAES256GCMHKDFSHA512CommitKey)
	if d := gen() - g; d != 2 {
		t.Errorf("MaxBytes 25, 4 messages of 10: %d GenerateDataKey calls, want 2", d)
	}
	g = gen()
	encryptN(c, 2, 30, SuiteAES256GCMHKDFSHA512CommitKey)
	if d := gen() - g; d != 2 {
		t.Errorf("messages larger than MaxBytes: %d calls, want 2 (not cached)", d)
	}

	c = newCache(CacheLimits{MaxAge: time.Minute})
	g = gen()
	encryptN(c, 2, 10, DefaultSuite)
	now = now.Add(61 * time.Second)
	encryptN(c, 2, 10, DefaultSuite)
	if d := gen() - g; d != 2 {
		t.Errorf("MaxAge: %d calls, want 2", d)
	}
	// Other context, other entry; no MaxPlaintextLength, no caching.
	g = gen()
	mustEncrypt(t, kr, nil, &EncryptOptions{Cache: c, MaxPlaintextLength: 1, EncryptionContext: map[string]string{"x": "y"}})
	mustEncrypt(t, kr, nil, &EncryptOptions{Cache: c})
	mustEncrypt(t, kr, nil, &EncryptOptions{Cache: c})
	if d := gen() - g; d != 3 {
		t.Errorf("uncacheable messages: %d calls, want 3", d)
	}

	// Decryption.
	c = newCache(CacheLimits{MaxAge: time.Minute})
	msg := mustEncrypt(t, kr, []byte("x"), nil)
	d0 := f.count("Decrypt")
	for range 3 {
		if _, err := decryptAll(kr, msg, &DecryptOptions{Cache: c}); err != nil {
			t.Fatal(err)
		}
	}
	if d := f.count("Decrypt") - d0; d != 1 {
		t.Errorf("3 decryptions with cache: %d Decrypt calls, want 1", d)
	}
	now = now.Add(2 * time.Minute)
	decryptAll(kr, msg, &DecryptOptions{Cache: c})
	if d := f.count("Decrypt") - d0; d != 2 {
		t.Errorf("after MaxAge: %d Decrypt calls, want 2", d)
	}
	// A tampered message is still refused with a cached data key.
	bad := bytes.Clone(msg)
	bad[len(bad)-120] ^= 1
	if _, err := decryptAll(kr, bad, &DecryptOptions{Cache: c}); err == nil {
		t.Error("tampered message accepted with cached key")
	}
	if _, err := NewCache(CacheLimits{}); err == nil {
		t.Error("NewCache without MaxAge succeeded")
	}
	c.Purge()
}

func TestCacheCapacity(t *testing.T) {
	kr := mustRawAES(t, "k")
	c, _ := NewCache(CacheLimits{MaxAge: time.Hour, Capacity: 2})
	for i := range 5 {
		mustEncrypt(t, kr, nil, &EncryptOptions{Cache: c, MaxPlaintextLength: 1, EncryptionContext: map[string]string{"i": string(rune('a' + i))}})
	}
	if len(c.enc) != 2 {
		t.Errorf("%d entries, capacity 2", len(c.enc))
	}
}

// extraEDK appends an encrypted data key to those its keyring makes.
type extraEDK struct {
	Keyring
	edk EncryptedDataKey
}

func (x *extraEDK) OnEncrypt(ctx context.Context, m *EncryptionMaterials) error {
	if err := x.Keyring.OnEncrypt(ctx, m); err != nil {
		return err
	}
	m.EncryptedDataKeys = append(m.EncryptedDataKeys, x.edk)
	return nil
}

// TestKMSKeyringMalformedProviderInfo checks the specification's rule for
// both KMS keyrings: an "aws-kms" encrypted data key whose provider info is
// not a KMS key ARN makes OnDecrypt fail, before any KMS call, even when
// another data key could be opened.
func TestKMSKeyringMalformedProviderInfo(t *testing.T) {
	f := newFakeKMS(arn1)
	enc, err := NewKMSKeyring(f, arn1)
	if err != nil {
		t.Fatal(err)
	}
	strict, _ := NewKMSKeyring(f, arn1)
	disc, _ := NewKMSDiscoveryKeyring(f, nil)
	for _, info := range []string{"not-an-arn", "arn:aws:kms:us-east-1:111122223333:alias/x", "arn:aws:kms:us-east-1:111122223333:key/"} {
		msg := mustEncrypt(t, &extraEDK{enc, EncryptedDataKey{ProviderID: kmsProviderID, ProviderInfo: []byte(info), Ciphertext: []byte{1}}}, []byte("data"), nil)
		for name, kr := range map[string]*KMSKeyring{"strict": strict, "discovery": disc} {
			before := f.count("Decrypt")
			got, err := decryptAll(kr, msg, nil)
			if !errors.Is(err, ErrInvalidMessage) || len(got) != 0 {
				t.Errorf("%s, provider info %q: got %q, err = %v, want ErrInvalidMessage", name, info, got, err)
			}
			if n := f.count("Decrypt") - before; n != 0 {
				t.Errorf("%s, provider info %q: %d KMS Decrypt calls", name, info, n)
			}
		}
	}
}

// TestDiscoveryFilterNeedsBoth checks that a discovery filter missing its
// partition or accounts is refused, as in the official SDKs, rather than
// read as "any": a filter built from an empty account list must not open
// every account's keys.
func TestDiscoveryFilterNeedsBoth(t *testing.T) {
	f := newFakeKMS(arn1)
	for _, df := range []*DiscoveryFilter{
		{Partition: "aws"},
		{Partition: "aws", AccountIDs: []string{}},
		{Partition: "aws", AccountIDs: []string{""}},
		{AccountIDs: []string{"111122223333"}},
		{},
	} {
		if _, err := NewKMSDiscoveryKeyring(f, df); err == nil {
			t.Errorf("NewKMSDiscoveryKeyring accepted the filter %+v", *df)
		}
	}
}
