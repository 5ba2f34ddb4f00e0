package envelope

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// kmsProviderID is the provider ID of data keys wrapped by AWS KMS.
const kmsProviderID = "aws-kms"

// KMSClient is the part of the AWS KMS API the KMS keyrings use. *kms.Client
// from github.com/aws/aws-sdk-go-v2/service/kms implements it, pointed at AWS
// KMS or at a Trent server.
type KMSClient interface {
	GenerateDataKey(ctx context.Context, params *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Encrypt(ctx context.Context, params *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, params *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var _ KMSClient = (*kms.Client)(nil)

// KMSKeyring wraps data keys with AWS KMS keys. Encrypted data keys have
// provider ID "aws-kms" and the key ARN as provider info, as in the official
// SDKs.
type KMSKeyring struct {
	client KMSClient
	keyIDs []string // empty for discovery
	filter *DiscoveryFilter
	// GrantTokens are passed to every KMS call. Set them before the
	// keyring is first used.
	GrantTokens []string
}

var _ Keyring = (*KMSKeyring)(nil)

// DiscoveryFilter restricts the keys a discovery keyring uses to those of a
// partition and accounts. Both are required, as in the official SDKs: an
// empty field would otherwise restrict nothing.
type DiscoveryFilter struct {
	Partition  string   // such as "aws"
	AccountIDs []string // 12-digit account IDs
}

// NewKMSKeyring returns a keyring using the KMS keys keyIDs (key ARNs, key
// IDs, alias names or alias ARNs; at least one). On encryption the first key
// generates the data key (GenerateDataKey) and each further key encrypts it
// (Encrypt), so any one of them can open the message. On decryption the
// keyring is an allow-list: it calls Decrypt only for data keys wrapped under
// one of keyIDs, naming that key in the request, and checks that KMS used it.
func NewKMSKeyring(client KMSClient, keyIDs ...string) (*KMSKeyring, error) {
	if client == nil {
		return nil, errors.New("envelope: KMS keyring needs a client")
	}
	if len(keyIDs) == 0 {
		return nil, errors.New("envelope: KMS keyring needs at least one key ID")
	}
	for _, id := range keyIDs {
		if id == "" {
			return nil, errors.New("envelope: empty KMS key ID")
		}
	}
	return &KMSKeyring{client: client, keyIDs: slices.Clone(keyIDs)}, nil
}

// NewKMSDiscoveryKeyring returns a decrypt-only keyring that asks KMS to
// unwrap any "aws-kms" data key whose key ARN passes filter (nil: any key the
// caller's credentials may use). A filter needs a partition and at least
// one account ID.
func NewKMSDiscoveryKeyring(client KMSClient, filter *DiscoveryFilter) (*KMSKeyring, error) {
	if client == nil {
		return nil, errors.New("envelope: KMS keyring needs a client")
	}
	if filter != nil {
		if filter.Partition == "" || len(filter.AccountIDs) == 0 || slices.Contains(filter.AccountIDs, "") {
			return nil, errors.New("envelope: a discovery filter needs a partition and account IDs")
		}
		f := *filter
		f.AccountIDs = slices.Clone(f.AccountIDs)
		filter = &f
	}
	return &KMSKeyring{client: client, filter: filter}, nil
}

// OnEncrypt implements [Keyring].
func (k *KMSKeyring) OnEncrypt(ctx context.Context, m *EncryptionMaterials) error {
	if len(k.keyIDs) == 0 {
		return errors.New("envelope: a KMS discovery keyring cannot encrypt")
	}
	p := suiteParams(m.Suite)
	if p == nil {
		return fmt.Errorf("envelope: unknown suite %v", m.Suite)
	}
	ec := m.EncryptionContext
	if len(ec) == 0 {
		ec = nil
	}
	ids := k.keyIDs
	if m.DataKey == nil {
		out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
			KeyId:             aws.String(ids[0]),
			NumberOfBytes:     aws.Int32(int32(p.keyLen)),
			EncryptionContext: ec,
			GrantTokens:       k.GrantTokens,
		})
		if err != nil {
			return fmt.Errorf("envelope: kms GenerateDataKey %s: %w", ids[0], err)
		}
		if len(out.Plaintext) != p.keyLen {
			return fmt.Errorf("envelope: kms GenerateDataKey %s returned a data key of %d bytes, want %d", ids[0], len(out.Plaintext), p.keyLen)
		}
		arn := aws.ToString(out.KeyId)
		if _, err := parseKeyARN(arn); err != nil {
			return fmt.Errorf("envelope: kms GenerateDataKey %s: %w", ids[0], err)
		}
		m.DataKey = out.Plaintext
		m.EncryptedDataKeys = append(m.EncryptedDataKeys, EncryptedDataKey{ProviderID: kmsProviderID, ProviderInfo: []byte(arn), Ciphertext: out.CiphertextBlob})
		ids = ids[1:]
	}
	for _, id := range ids {
		out, err := k.client.Encrypt(ctx, &kms.EncryptInput{
			KeyId:             aws.String(id),
			Plaintext:         m.DataKey,
			EncryptionContext: ec,
			GrantTokens:       k.GrantTokens,
		})
		if err != nil {
			return fmt.Errorf("envelope: kms Encrypt %s: %w", id, err)
		}
		arn := aws.ToString(out.KeyId)
		if _, err := parseKeyARN(arn); err != nil {
			return fmt.Errorf("envelope: kms Encrypt %s: %w", id, err)
		}
		m.EncryptedDataKeys = append(m.EncryptedDataKeys, EncryptedDataKey{ProviderID: kmsProviderID, ProviderInfo: []byte(arn), Ciphertext: out.CiphertextBlob})
	}
	return nil
}

// OnDecrypt implements [Keyring].
func (k *KMSKeyring) OnDecrypt(ctx context.Context, m *DecryptionMaterials, edks []EncryptedDataKey) error {
	if m.DataKey != nil {
		return errors.New("envelope: decryption materials already hold a data key")
	}
	p := suiteParams(m.Suite)
	if p == nil {
		return fmt.Errorf("envelope: unknown suite %v", m.Suite)
	}
	ec := m.EncryptionContext
	if len(ec) == 0 {
		ec = nil
	}
	// As the specification's KMS keyrings, fail on any KMS data key whose
	// provider info is not a key ARN, before calling KMS.
	for _, e := range edks {
		if e.ProviderID == kmsProviderID {
			if _, err := parseKeyARN(string(e.ProviderInfo)); err != nil {
				return fmt.Errorf("%w: encrypted data key of provider %s: %w", ErrInvalidMessage, kmsProviderID, err)
			}
		}
	}
	var errs []error
	for _, e := range edks {
		if e.ProviderID != kmsProviderID {
			continue
		}
		arn := string(e.ProviderInfo)
		parsed, _ := parseKeyARN(arn)
		var try []string
		if len(k.keyIDs) == 0 {
			if !k.filter.allows(parsed) {
				continue
			}
			try = []string{arn}
		} else {
			for _, id := range k.keyIDs {
				if keyMatches(id, arn) {
					try = append(try, id)
				}
			}
		}
		for _, id := range try {
			out, err := k.client.Decrypt(ctx, &kms.DecryptInput{
				KeyId:             aws.String(id),
				CiphertextBlob:    e.Ciphertext,
				EncryptionContext: ec,
				GrantTokens:       k.GrantTokens,
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("kms Decrypt %s: %w", id, err))
				continue
			}
			if aws.ToString(out.KeyId) != arn {
				errs = append(errs, fmt.Errorf("kms Decrypt %s: response names key %q, want %q", id, aws.ToString(out.KeyId), arn))
				continue
			}
			if len(out.Plaintext) != p.keyLen {
				errs = append(errs, fmt.Errorf("kms Decrypt %s: data key of %d bytes, want %d", id, len(out.Plaintext), p.keyLen))
				continue
			}
			m.DataKey = out.Plaintext
			return nil
		}
	}
	if len(errs) == 0 {
		var arns []string
		for _, e := range edks {
			if e.ProviderID == kmsProviderID {
				arns = append(arns, string(e.ProviderInfo))
			}
		}
		if len(arns) == 0 {
			return fmt.Errorf("%w: the message has no KMS-wrapped data key", ErrNoDecryptableKey)
		}
		return fmt.Errorf("%w: no data key wrapped under an allowed KMS key (the message's keys: %s)", ErrNoDecryptableKey, strings.Join(arns, ", "))
	}
	return fmt.Errorf("%w: %w", ErrNoDecryptableKey, errors.Join(errs...))
}

// keyARN is a parsed KMS key ARN arn:partition:kms:region:account:key/id.
type keyARN struct {
	partition, region, account, id string
}

func parseKeyARN(s string) (keyARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "kms" || parts[3] == "" || parts[4] == "" {
		return keyARN{}, fmt.Errorf("envelope: %q is not a KMS key ARN", s)
	}
	id, ok := strings.CutPrefix(parts[5], "key/")
	if !ok || id == "" {
		return keyARN{}, fmt.Errorf("envelope: %q is not a KMS key ARN", s)
	}
	return keyARN{partition: parts[1], region: parts[3], account: parts[4], id: id}, nil
}

// keyMatches reports whether the configured key identifier id may denote the
// key ARN arn. Key ARNs must be equal and key IDs must match the ARN's key ID;
// aliases cannot be resolved locally, so they may match any key (KMS then
// refuses a ciphertext of another key, and the response key ARN is checked).
func keyMatches(id, arn string) bool {
	switch {
	case strings.HasPrefix(id, "alias/"):
		return true
	case strings.HasPrefix(id, "arn:"):
		if _, err := parseKeyARN(id); err == nil {
			return id == arn
		}
		return strings.Contains(id, ":alias/")
	default:
		return strings.HasSuffix(arn, ":key/"+id)
	}
}

func (f *DiscoveryFilter) allows(a keyARN) bool {
	if f == nil {
		return true
	}
	return f.Partition == a.partition && slices.Contains(f.AccountIDs, a.account)
}
