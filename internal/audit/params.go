package audit

import (
	"cmp"
	"strconv"

	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kms"
)

// appendParams writes requestParameters: the inputs of the hot operations
// by hand (appendParamsFast), the others by reflection (appendMembers).
func appendParams(dst []byte, v any) []byte {
	if b, ok := appendParamsFast(dst, v); ok {
		return b
	}
	return appendMembers(dst, withDefaults(v))
}

// withDefaults is the input v with what CloudTrail records even when the
// request left it out: a Decrypt's encryptionAlgorithm ("The CloudTrail log
// entry for a Decrypt operation always includes the encryptionAlgorithm in
// the requestParameters even if the encryption algorithm wasn't specified in
// the request", AWS KMS developer guide). appendParamsFast does the same.
func withDefaults(v any) any {
	if in, ok := v.(*kms.DecryptInput); ok && in.EncryptionAlgorithm == "" {
		c := *in
		c.EncryptionAlgorithm = keys.AlgSymmetricDefault
		return &c
	}
	return v
}

// appendParamsFast writes the inputs of Encrypt, Decrypt, GenerateDataKey
// and GenerateDataKeyWithoutPlaintext byte for byte as appendMembers does
// with withDefaults (FuzzParamsFast compares them): their members in
// declaration order, zero ones left out, blobs and grant tokens never. It reports false for other
// values, and for members it does not write (a Recipient, DryRunModifiers).
func appendParamsFast(dst []byte, v any) ([]byte, bool) {
	o := members{b: dst, start: len(dst)}
	switch in := v.(type) {
	case *kms.EncryptInput:
		o.str("keyId", in.KeyId)
		o.boolean("dryRun", in.DryRun)
		o.str("encryptionAlgorithm", in.EncryptionAlgorithm)
		o.strMap("encryptionContext", in.EncryptionContext)
	case *kms.DecryptInput:
		if in.DryRunModifiers != nil || in.Recipient != nil {
			return dst, false
		}
		o.boolean("dryRun", in.DryRun)
		o.str("encryptionAlgorithm", cmp.Or(in.EncryptionAlgorithm, keys.AlgSymmetricDefault))
		o.strMap("encryptionContext", in.EncryptionContext)
		o.str("keyId", in.KeyId)
	case *kms.GenerateDataKeyInput:
		if in.Recipient != nil {
			return dst, false
		}
		o.dataKey(in.KeyId, in.DryRun, in.EncryptionContext, in.KeySpec, in.NumberOfBytes)
	case *kms.GenerateDataKeyWithoutPlaintextInput:
		o.dataKey(in.KeyId, in.DryRun, in.EncryptionContext, in.KeySpec, in.NumberOfBytes)
	default:
		return dst, false
	}
	return o.end(), true
}

// members appends an object's members from b[start:]; an object with
// none is null.
type members struct {
	b     []byte
	start int
}

func (o *members) name(name string) {
	if len(o.b) == o.start {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.b = append(append(append(o.b, '"'), name...), `":`...)
}

func (o *members) end() []byte {
	if len(o.b) == o.start {
		return append(o.b, "null"...)
	}
	return append(o.b, '}')
}

func (o *members) str(name, v string) {
	if v != "" {
		o.name(name)
		o.b = appendString(o.b, v)
	}
}

func (o *members) boolean(name string, v bool) {
	if v {
		o.name(name)
		o.b = append(o.b, "true"...)
	}
}

func (o *members) strMap(name string, m map[string]string) {
	if m != nil {
		o.name(name)
		o.b = appendStringMap(o.b, m)
	}
}

func (o *members) int32(name string, v *int32) {
	if v != nil {
		o.name(name)
		o.b = strconv.AppendInt(o.b, int64(*v), 10)
	}
}

// dataKey writes the members GenerateDataKey and
// GenerateDataKeyWithoutPlaintext share, in their order.
func (o *members) dataKey(keyID string, dryRun bool, ctx map[string]string, keySpec string, n *int32) {
	o.str("keyId", keyID)
	o.boolean("dryRun", dryRun)
	o.strMap("encryptionContext", ctx)
	o.str("keySpec", keySpec)
	o.int32("numberOfBytes", n)
}
