package awsjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"

	"github.com/trent-kms/trent/internal/kmserr"
)

// decodeInput decodes an AWS JSON 1.1 request body into in (a pointer to an
// operation's input struct). An empty body is {} (AWS accepts it for
// operations without required members); the body must otherwise be one JSON
// object. Unknown members are ignored, as AWS does. Every failure is a
// SerializationException whose message names the problem but never echoes the
// body.
func decodeInput(body []byte, in any) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil
	}
	if b[0] != '{' {
		return kmserr.ErrSerialization.With("The request body must be a JSON object.")
	}
	if err := json.Unmarshal(b, in); err != nil {
		return serializationError(err)
	}
	return nil
}

func serializationError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		b64 base64.CorruptInputError
	)
	switch {
	case errors.As(err, &syn):
		return kmserr.ErrSerialization.With("Malformed JSON at offset %d.", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(root)"
		}
		return kmserr.ErrSerialization.With("Value at '%s' has the wrong type: expected %s, got JSON %s.",
			sanitize(field, 128), jsonTypeName(typ.Type.String()), typ.Value)
	case errors.As(err, &b64):
		return kmserr.ErrSerialization.With("A blob member is not valid standard base64 (error at byte %d).", int64(b64))
	default:
		// io.ErrUnexpectedEOF for a truncated object and similar.
		return kmserr.ErrSerialization.With("Malformed JSON request body.")
	}
}

// jsonTypeName turns a Go type into the word a client understands.
func jsonTypeName(goType string) string {
	for len(goType) > 0 && goType[0] == '*' {
		goType = goType[1:]
	}
	switch goType {
	case "string":
		return "string"
	case "kms.Timestamp":
		return "number"
	case "bool":
		return "boolean"
	case "[]uint8":
		return "base64 string"
	case "int", "int32", "int64", "uint", "uint32", "uint64", "float64", "float32":
		return "number"
	}
	if len(goType) > 2 && goType[:2] == "[]" {
		return "array"
	}
	return "object"
}
