// Package audittest checks audit log lines against the JSON Schema of
// Trent's CloudTrail records (cloudtrail-record.schema.json, next to this
// file). Tests only.
package audittest

import (
	"bytes"
	_ "embed"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is the JSON Schema of one audit line: a CloudTrail record
// (eventVersion 1.11) or a signed digest, each with the chain member.
//
//go:embed cloudtrail-record.schema.json
var Schema []byte

var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("cloudtrail-record.schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("cloudtrail-record.schema.json")
})

// Validate reports whether line (one JSON object) is valid against Schema.
func Validate(line []byte) error {
	s, err := compiled()
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// MustValidate fails t when line is not valid.
func MustValidate(t testing.TB, line []byte) {
	t.Helper()
	if err := Validate(line); err != nil {
		t.Errorf("audit line does not match the schema: %v\n%s", err, line)
	}
}
