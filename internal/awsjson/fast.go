package awsjson

import (
	"bytes"
	"encoding/base64"
	"math"

	"github.com/trent-kms/trent/internal/kms"
)

// decodeFast decodes the inputs of the hot operations (Encrypt, Decrypt,
// GenerateDataKey, GenerateDataKeyWithoutPlaintext) without reflection, for
// the bodies the AWS SDKs send: one object of known members, each once,
// strings without escapes, blobs in padded standard base64, whole numbers.
// It reports false for anything else (in is then zero again) and
// decodeInput decodes with the full decoder, which also words the error;
// when it reports true, in holds what the full decoder would have yielded
// (FuzzDecodeFast compares them). b is trimmed, valid UTF-8, and starts
// with '{' (decodeInput checks).
func decodeFast(b []byte, in any) bool {
	s := scanner{b: b, i: 1}
	switch in := in.(type) {
	case *kms.EncryptInput:
		if s.crypto(cryptoMembers{"Plaintext", &in.KeyId, &in.EncryptionAlgorithm, &in.Plaintext,
			&in.EncryptionContext, &in.GrantTokens, &in.DryRun}) {
			return true
		}
		clear(in.Plaintext) // what it decoded before it gave up; the full decoder decodes again
		*in = kms.EncryptInput{}
	case *kms.DecryptInput:
		if s.crypto(cryptoMembers{"CiphertextBlob", &in.KeyId, &in.EncryptionAlgorithm, &in.CiphertextBlob,
			&in.EncryptionContext, &in.GrantTokens, &in.DryRun}) {
			return true
		}
		*in = kms.DecryptInput{}
	case *kms.GenerateDataKeyInput:
		if s.generateDataKey(in) {
			return true
		}
		*in = kms.GenerateDataKeyInput{}
	case *kms.GenerateDataKeyWithoutPlaintextInput:
		var g kms.GenerateDataKeyInput
		if s.generateDataKey(&g) {
			*in = kms.GenerateDataKeyWithoutPlaintextInput{KeyId: g.KeyId, DryRun: g.DryRun,
				EncryptionContext: g.EncryptionContext, GrantTokens: g.GrantTokens, KeySpec: g.KeySpec,
				NumberOfBytes: g.NumberOfBytes}
			return true
		}
	}
	return false
}

// cryptoMembers are the members of Encrypt's and Decrypt's inputs: the
// same but for the blob's name (Plaintext, CiphertextBlob).
type cryptoMembers struct {
	blobName   string
	keyID, alg *string
	blob       *[]byte
	ctx        *map[string]string
	tokens     *[]string
	dryRun     *bool
}

func (s *scanner) crypto(m cryptoMembers) bool {
	var seen uint
	for s.member() {
		switch string(s.name) {
		case "KeyId":
			s.str(&seen, 1, m.keyID)
		case m.blobName:
			s.blob(&seen, 2, m.blob)
		case "EncryptionContext":
			s.strMap(&seen, 4, m.ctx)
		case "EncryptionAlgorithm":
			s.str(&seen, 8, m.alg)
		case "GrantTokens":
			s.strList(&seen, 16, m.tokens)
		case "DryRun":
			s.boolean(&seen, 32, m.dryRun)
		default:
			return false
		}
	}
	return s.end()
}

// generateDataKey also serves GenerateDataKeyWithoutPlaintext, whose
// members are GenerateDataKey's but Recipient (which neither decodes).
func (s *scanner) generateDataKey(in *kms.GenerateDataKeyInput) bool {
	var seen uint
	for s.member() {
		switch string(s.name) {
		case "KeyId":
			s.str(&seen, 1, &in.KeyId)
		case "KeySpec":
			s.str(&seen, 2, &in.KeySpec)
		case "NumberOfBytes":
			s.int32(&seen, 4, &in.NumberOfBytes)
		case "EncryptionContext":
			s.strMap(&seen, 8, &in.EncryptionContext)
		case "GrantTokens":
			s.strList(&seen, 16, &in.GrantTokens)
		case "DryRun":
			s.boolean(&seen, 32, &in.DryRun)
		default:
			return false
		}
	}
	return s.end()
}

// scanner reads one JSON object member by member. It gives up (bad) at the
// first thing outside the simple forms it knows, valid JSON or not.
type scanner struct {
	b    []byte
	i    int    // the next byte to read
	n    int    // members read
	name []byte // the member being read
	bad  bool
}

// member reads up to the next member's value and names it in s.name; false
// at the end of the object or when s is bad.
func (s *scanner) member() bool {
	if !s.elem('}', s.n) {
		return false
	}
	s.n++
	s.name = s.raw()
	s.colon()
	return !s.bad
}

// elem moves to the next element of an object or array that ends with
// close, n elements of which were read: false at its end (then read) or
// when s is bad.
func (s *scanner) elem(close byte, n int) bool {
	if s.bad {
		return false
	}
	s.space()
	if s.i >= len(s.b) {
		s.bad = true
		return false
	}
	if s.b[s.i] == close {
		s.i++
		return false
	}
	if n > 0 {
		if s.b[s.i] != ',' {
			s.bad = true
			return false
		}
		s.i++
		s.space()
	}
	return true
}

// end reports whether the object was read whole (the loop over member
// ended at its closing brace), with nothing after it.
func (s *scanner) end() bool {
	return !s.bad && s.i == len(s.b)
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// colon reads the ':' after a name, with the spaces around it.
func (s *scanner) colon() {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		s.bad = true
		return
	}
	s.i++
	s.space()
}

// raw reads a string without escapes and returns its bytes (s.b's).
func (s *scanner) raw() []byte {
	if s.bad || s.i >= len(s.b) || s.b[s.i] != '"' {
		s.bad = true
		return nil
	}
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i]
		case c == '\\' || c < 0x20:
			s.bad = true
			return nil
		}
	}
	s.bad = true
	return nil
}

// once marks the member bit seen; a repeated member is bad (the full
// decoder refuses it).
func (s *scanner) once(seen *uint, bit uint) bool {
	if *seen&bit != 0 {
		s.bad = true
		return false
	}
	*seen |= bit
	return true
}

func (s *scanner) str(seen *uint, bit uint, dst *string) {
	if s.once(seen, bit) {
		if v := s.raw(); !s.bad {
			*dst = string(v)
		}
	}
}

// blob decodes padded standard base64, as the full decoder does: what
// base64.StdEncoding decodes, without the line breaks it skips.
func (s *scanner) blob(seen *uint, bit uint, dst *[]byte) {
	if !s.once(seen, bit) {
		return
	}
	v := s.raw()
	if s.bad {
		return
	}
	b, err := base64.StdEncoding.AppendDecode(nil, v)
	if err != nil || len(v) != base64.StdEncoding.EncodedLen(len(b)) {
		s.bad = true
		return
	}
	if b == nil {
		b = []byte{}
	}
	*dst = b
}

func (s *scanner) boolean(seen *uint, bit uint, dst *bool) {
	if !s.once(seen, bit) {
		return
	}
	rest := s.b[s.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		*dst = true
		s.i += 4
	case len(rest) >= 5 && string(rest[:5]) == "false":
		*dst = false
		s.i += 5
	default:
		s.bad = true
	}
}

// int32 reads a whole number without sign, exponent or leading zero.
func (s *scanner) int32(seen *uint, bit uint, dst **int32) {
	if !s.once(seen, bit) {
		return
	}
	start, v := s.i, int64(0)
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' && s.i-start < 10 {
		v = v*10 + int64(s.b[s.i]-'0')
		s.i++
	}
	n := s.i - start
	if n == 0 || (n > 1 && s.b[start] == '0') || v > math.MaxInt32 ||
		(s.i < len(s.b) && (s.b[s.i] >= '0' && s.b[s.i] <= '9' || s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E')) {
		s.bad = true
		return
	}
	x := int32(v)
	*dst = &x
}

// strMap reads an object of strings, each name once.
func (s *scanner) strMap(seen *uint, bit uint, dst *map[string]string) {
	if !s.open(seen, bit, '{') {
		return
	}
	m := make(map[string]string)
	for n := 0; s.elem('}', n); n++ {
		k := s.raw()
		s.colon()
		v := s.raw()
		if s.bad {
			return
		}
		if _, dup := m[string(k)]; dup {
			s.bad = true
			return
		}
		m[string(k)] = string(v)
	}
	if !s.bad {
		*dst = m
	}
}

// strList reads an array of strings.
func (s *scanner) strList(seen *uint, bit uint, dst *[]string) {
	if !s.open(seen, bit, '[') {
		return
	}
	l := []string{}
	for n := 0; s.elem(']', n); n++ {
		v := s.raw()
		if s.bad {
			return
		}
		l = append(l, string(v))
	}
	if !s.bad {
		*dst = l
	}
}

// open marks the member bit seen and reads the bracket that opens its
// value.
func (s *scanner) open(seen *uint, bit uint, bracket byte) bool {
	if !s.once(seen, bit) {
		return false
	}
	if s.i >= len(s.b) || s.b[s.i] != bracket {
		s.bad = true
		return false
	}
	s.i++
	return true
}

// encodeFast writes the JSON of the hot operations' outputs to buf, byte
// for byte what encoding/json writes (FuzzEncodeFast compares them), without
// reflection. It reports false, having written nothing, for other outputs
// and for strings that encoding/json would escape (never seen: ARNs,
// algorithm names, key material ids), which encodeOutput then hands to
// encoding/json. It appends in place, in buf's own memory (which holds
// plaintexts, and which encodeOutput's caller clears).
func encodeFast(buf *bytes.Buffer, out any) bool {
	var o jsonObject
	switch out := out.(type) {
	case *kms.EncryptOutput:
		o.start(buf, len(out.CiphertextBlob))
		o.blob("CiphertextBlob", out.CiphertextBlob)
		o.str("EncryptionAlgorithm", out.EncryptionAlgorithm)
		o.str("KeyId", out.KeyId)
	case *kms.DecryptOutput:
		if out.CiphertextForRecipient != nil {
			return false // a Recipient's answer: encoding/json writes it
		}
		o.start(buf, len(out.Plaintext))
		o.str("EncryptionAlgorithm", out.EncryptionAlgorithm)
		o.str("KeyId", out.KeyId)
		o.strOmitEmpty("KeyMaterialId", out.KeyMaterialId)
		o.blob("Plaintext", out.Plaintext)
	case *kms.GenerateDataKeyOutput:
		if out.CiphertextForRecipient != nil {
			return false
		}
		o.start(buf, len(out.CiphertextBlob)+len(out.Plaintext))
		o.dataKey(out.CiphertextBlob, out.KeyId, out.KeyMaterialId)
		o.blob("Plaintext", out.Plaintext)
	case *kms.GenerateDataKeyWithoutPlaintextOutput:
		o.start(buf, len(out.CiphertextBlob))
		o.dataKey(out.CiphertextBlob, out.KeyId, out.KeyMaterialId)
	default:
		return false
	}
	if !o.ok {
		clear(o.b) // what it appended (a plaintext's base64, perhaps) is not buf's
		return false
	}
	buf.Write(append(o.b, '}'))
	return true
}

// jsonObject appends an object's members; ok turns false at a string it
// would have to escape.
type jsonObject struct {
	b  []byte
	ok bool
}

// start makes room in buf for the object, whose blobs hold n bytes, and
// opens it.
func (o *jsonObject) start(buf *bytes.Buffer, n int) {
	buf.Grow(base64.StdEncoding.EncodedLen(n) + 512)
	o.b, o.ok = append(buf.AvailableBuffer(), '{'), true
}

func (o *jsonObject) name(name string) {
	if len(o.b) > 1 {
		o.b = append(o.b, ',')
	}
	o.b = append(append(append(o.b, '"'), name...), `":`...)
}

func (o *jsonObject) str(name, v string) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			o.ok = false
			return
		}
	}
	o.name(name)
	o.b = append(append(append(o.b, '"'), v...), '"')
}

// dataKey writes the members GenerateDataKey's and
// GenerateDataKeyWithoutPlaintext's outputs share, in their order.
func (o *jsonObject) dataKey(ciphertext []byte, keyID, materialID string) {
	o.blob("CiphertextBlob", ciphertext)
	o.str("KeyId", keyID)
	o.strOmitEmpty("KeyMaterialId", materialID)
}

func (o *jsonObject) strOmitEmpty(name, v string) {
	if v != "" {
		o.str(name, v)
	}
}

// blob writes standard base64, or null for a nil slice, as encoding/json
// does.
func (o *jsonObject) blob(name string, v []byte) {
	o.name(name)
	if v == nil {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = append(o.b, '"')
	o.b = base64.StdEncoding.AppendEncode(o.b, v)
	o.b = append(o.b, '"')
}
