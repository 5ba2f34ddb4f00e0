package awsquery

import (
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trent-kms/trent/internal/kmserr"
)

// Limits of a request's parameters.
const (
	maxParams     = 1000 // parameters in one request
	maxListLen    = 100  // members of one list parameter
	maxKeyLen     = 256  // bytes of a decoded parameter name
	listSeparator = ".member."
)

// errMalformed is HTTP 404, the status AWS's Common Errors page gives
// MalformedQueryString for every Query API (IAM's and STS's included).
var errMalformed = &kmserr.Error{Code: "MalformedQueryString", Status: http.StatusNotFound}

// Values are the decoded parameters of a request: name -> value.
type Values map[string]string

// ParseForm decodes an application/x-www-form-urlencoded body strictly:
// '+' is a space, every '%' starts a valid escape, names and values are
// valid UTF-8 once decoded, no name is empty or repeated, and there are at
// most maxParams of them. Empty segments ("a=1&&b=2") are skipped, and a
// segment without '=' is a name with an empty value, as in HTML forms.
// Errors are MalformedQueryString *kmserr.Error values.
func ParseForm(body []byte) (Values, error) {
	vals := make(Values)
	for rest := body; len(rest) > 0; {
		var seg []byte
		if i := indexByte(rest, '&'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			seg, rest = rest, nil
		}
		if len(seg) == 0 {
			continue
		}
		rawKey, rawVal := seg, []byte(nil)
		if i := indexByte(seg, '='); i >= 0 {
			rawKey, rawVal = seg[:i], seg[i+1:]
		}
		key, ok := unescape(rawKey)
		if !ok || key == "" || len(key) > maxKeyLen {
			return nil, errMalformed.With("The request has a malformed or empty parameter name.")
		}
		val, ok := unescape(rawVal)
		if !ok {
			return nil, errMalformed.With("The value of parameter %s is not validly encoded.", sanitize(key))
		}
		if _, dup := vals[key]; dup {
			return nil, errMalformed.With("Parameter %s appears more than once.", sanitize(key))
		}
		if len(vals) == maxParams {
			return nil, errMalformed.With("The request has more than %d parameters.", maxParams)
		}
		vals[key] = val
	}
	return vals, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// unescape decodes one form-encoded name or value; ok is false for an
// invalid escape or invalid UTF-8.
func unescape(b []byte) (string, bool) {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case '+':
			c = ' '
		case '%':
			if i+2 >= len(b) {
				return "", false
			}
			hi, ok1 := unhex(b[i+1])
			lo, ok2 := unhex(b[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			c = hi<<4 | lo
			i += 2
		}
		sb.WriteByte(c)
	}
	s := sb.String()
	return s, utf8.ValidString(s)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Encode returns vals form-encoded, names sorted (the inverse of
// ParseForm, for tests and the fuzz target).
func (vals Values) Encode() string {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escape(k))
		b.WriteByte('=')
		b.WriteString(escape(vals[k]))
	}
	return b.String()
}

func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// sanitize bounds a parameter name or value for an error message and keeps
// printable ASCII only.
func sanitize(s string) string {
	s = kmserr.Clip(s, 128)
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// errParam is a parameter that does not fit the operation.
var errParam = &kmserr.Error{Code: "ValidationError", Status: http.StatusBadRequest}

// decoder fills an operation's input struct from Values, by field name (or
// the name in the field's `query` tag; its option "required" makes a missing
// parameter a ValidationError, for the required members of list elements): a string field is one parameter, *int32 a
// decimal number, []string and []struct lists of Name.member.N(.Field).
// Every parameter must be consumed: an unknown or misplaced one is an error
// (an ignored parameter could silently widen what a request does).
type decoder struct {
	vals Values
	used map[string]bool
}

// Decode fills in (a pointer to an input struct) from vals, ignoring the
// names in skip (Action, Version).
func Decode(vals Values, in any, skip ...string) error {
	d := decoder{vals: vals, used: make(map[string]bool, len(vals))}
	for _, s := range skip {
		d.used[s] = true
	}
	if err := d.fields("", reflect.ValueOf(in).Elem()); err != nil {
		return err
	}
	var unused []string
	for k := range vals {
		if !d.used[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		slices.Sort(unused)
		return errParam.With("Parameter %s is not valid for this operation.", sanitize(unused[0]))
	}
	return nil
}

func (d *decoder) fields(prefix string, v reflect.Value) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opt, _ := strings.Cut(f.Tag.Get("query"), ",")
		if name == "" {
			name = f.Name
		}
		if opt == "required" {
			if _, ok := d.vals[prefix+name]; !ok {
				return errParam.With("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", memberPath(prefix+name))
			}
		}
		if err := d.value(prefix+name, v.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

// memberPath names a parameter as AWS's validation messages name members:
// "Tags.member.2.Value" is 'tags.2.member.value'.
func memberPath(key string) string {
	parts := strings.Split(key, ".")
	for i := 0; i < len(parts); i++ {
		if parts[i] == "member" && i+1 < len(parts) {
			parts[i], parts[i+1] = parts[i+1], parts[i]
			i++
			continue
		}
		if p := parts[i]; p != "" {
			parts[i] = strings.ToLower(p[:1]) + p[1:]
		}
	}
	return sanitize(strings.Join(parts, "."))
}

var (
	typeString    = reflect.TypeFor[string]()
	typeInt32Ptr  = reflect.TypeFor[*int32]()
	typeStringSli = reflect.TypeFor[[]string]()
)

func (d *decoder) value(key string, v reflect.Value) error {
	switch {
	case v.Type() == typeString:
		if s, ok := d.take(key); ok {
			v.SetString(s)
		}
	case v.Type() == typeInt32Ptr:
		s, ok := d.take(key)
		if !ok {
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || s == "" || s[0] == '+' {
			return errParam.With("Value '%s' for parameter %s is not a valid integer.", sanitize(s), sanitize(key))
		}
		n32 := int32(n)
		v.Set(reflect.ValueOf(&n32))
	case v.Kind() == reflect.Slice && (v.Type() == typeStringSli || v.Type().Elem().Kind() == reflect.Struct):
		return d.list(key, v)
	default:
		panic("awsquery: unsupported input field type " + v.Type().String())
	}
	return nil
}

// list decodes Name.member.1, Name.member.2, ... (members must be numbered
// from 1 without gaps: a stray member is left unused and reported). An
// empty list may be sent as "Name=" (as the AWS SDKs do).
func (d *decoder) list(key string, v reflect.Value) error {
	if s, ok := d.take(key); ok {
		if s != "" {
			return errParam.With("Parameter %s must be a list (%s.member.N).", sanitize(key), sanitize(key))
		}
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return nil
	}
	elem := v.Type().Elem()
	out := reflect.MakeSlice(v.Type(), 0, 0)
	for n := 1; ; n++ {
		p := key + listSeparator + strconv.Itoa(n)
		if elem.Kind() == reflect.String {
			s, ok := d.take(p)
			if !ok {
				break
			}
			out = reflect.Append(out, reflect.ValueOf(s))
		} else {
			if !d.hasPrefix(p + ".") {
				break
			}
			e := reflect.New(elem).Elem()
			if err := d.fields(p+".", e); err != nil {
				return err
			}
			out = reflect.Append(out, e)
		}
		if n > maxListLen {
			return errParam.With("Parameter %s has more than %d members.", sanitize(key), maxListLen)
		}
	}
	if out.Len() > 0 {
		v.Set(out)
	}
	return nil
}

func (d *decoder) take(key string) (string, bool) {
	s, ok := d.vals[key]
	if ok {
		d.used[key] = true
	}
	return s, ok
}

func (d *decoder) hasPrefix(p string) bool {
	for k := range d.vals {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}
