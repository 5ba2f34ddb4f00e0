package awsjson

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/trent-kms/trent/internal/kmserr"
)

// decodeInput decodes an AWS JSON 1.1 request body into in (a pointer to an
// operation's input struct). An empty body is {} (AWS accepts it for
// operations without required members); the body must otherwise be one JSON
// object. Decoding is strict, because policies read what it yields (an
// encryption context decides kms:EncryptionContext:* conditions and grant
// constraints): invalid UTF-8 (raw, or a lone surrogate escape), a member
// repeated in one object (also in a map such as EncryptionContext) and any
// other malformed JSON are refused, never normalised (a number in an
// encryption context is its JSON text, as AWS documents: contextNumbers). Member names match
// exactly, as AWS's protocol does: a wrongly cased name ("keyid") is an
// unknown member, and unknown members are ignored, so a required member
// spelled wrongly is reported missing by validation. Every failure is a
// SerializationException whose message names the problem but never echoes
// the body.
//
// It uses github.com/go-json-experiment/json (the maintained upstream of
// encoding/json/v2), whose defaults are exactly these rules; it is also
// faster than encoding/json and allocates less. The bodies of the hot
// operations skip it when they are in the simple forms the AWS SDKs send
// (decodeFast).
func decodeInput(body []byte, in any) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil
	}
	if !utf8.Valid(b) {
		return kmserr.ErrSerialization.With("The request body is not valid UTF-8.")
	}
	if b[0] != '{' {
		return kmserr.ErrSerialization.With("The request body must be a JSON object.")
	}
	if decodeFast(b, in) {
		return nil
	}
	return decodeFull(b, in)
}

// decodeFull is decodeInput's general path, after its checks.
func decodeFull(b []byte, in any) error {
	if err := json.Unmarshal(b, in, contextNumbers); err != nil {
		return serializationError(err)
	}
	return nil
}

// contextNumbers decodes a number, true or false in a string map (every
// one of KMS's inputs is an encryption context) as its JSON text, as AWS's
// encryption context rules say: "The key and value in an encryption context
// pair must be simple literal strings. If you use a different type, such as
// an integer or float, AWS KMS interprets it as a string." Anything else is
// decoded as before (an object or array is refused).
var contextNumbers = json.WithUnmarshalers(json.UnmarshalFromFunc(func(dec *jsontext.Decoder, m *map[string]string) error {
	if dec.PeekKind() != '{' {
		return errors.ErrUnsupported
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	if *m == nil {
		*m = make(map[string]string)
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String() // before the next read voids tok
		var v string
		switch dec.PeekKind() {
		case '0', 't', 'f':
			raw, err := dec.ReadValue()
			if err != nil {
				return err
			}
			v = string(raw)
		default:
			if err := json.UnmarshalDecode(dec, &v); err != nil {
				return err
			}
		}
		(*m)[name] = v
	}
	_, err := dec.ReadToken()
	return err
}))

func serializationError(err error) error {
	var (
		syn *jsontext.SyntacticError
		sem *json.SemanticError
		b64 base64.CorruptInputError
	)
	switch {
	case errors.As(err, &syn) && syn.Err == jsontext.ErrDuplicateName:
		return kmserr.ErrSerialization.With("The request repeats a JSON member name in one object.")
	case errors.As(err, &syn):
		return kmserr.ErrSerialization.With("Malformed JSON at offset %d.", syn.ByteOffset)
	case errors.As(err, &b64):
		return kmserr.ErrSerialization.With("A blob member is not valid standard base64 (error at byte %d).", int64(b64))
	case errors.As(err, &sem):
		return kmserr.ErrSerialization.With("Value at '%s' has the wrong type: expected %s, got JSON %s.",
			memberPath(sem.JSONPointer), jsonTypeName(sem.GoType), kindName(sem.JSONKind))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return kmserr.ErrSerialization.With("Malformed JSON request body.")
	default:
		return kmserr.ErrSerialization.With("Malformed JSON request body.")
	}
}

// memberPath turns a JSON pointer into a member path ("Tags.0.TagKey"),
// bounded and printable.
func memberPath(p jsontext.Pointer) string {
	s := strings.ReplaceAll(strings.TrimPrefix(string(p), "/"), "/", ".")
	if s == "" {
		s = "(root)"
	}
	return sanitize(s, 128)
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

// jsonTypeName turns a Go type into the word a client understands.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer" // a JSON number with a fraction or out of range is not one
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "base64 string"
		}
		return "array"
	}
	return "object"
}
