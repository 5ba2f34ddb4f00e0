package policy

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// node is a decoded JSON value that keeps the order of object members and
// lets the parser refuse duplicated member names (encoding/json keeps the last
// one silently, a parser differential an attacker could use).
type node struct {
	kind nodeKind
	s    string // string value, or the literal text of a number or boolean
	at   int    // a string's literal is doc[at:end], quotes included
	end  int
	arr  []node
	obj  []member
}

type member struct {
	key string
	val node
}

type nodeKind uint8

const (
	jsonNull nodeKind = iota
	jsonString
	jsonNumber
	jsonBool
	jsonArray
	jsonObject
)

func (k nodeKind) String() string {
	return [...]string{"null", "string", "number", "boolean", "array", "object"}[k]
}

var errDuplicate = errors.New("duplicate member")

type dupError struct{ key string }

func (e *dupError) Error() string { return "duplicate member " + e.key }
func (e *dupError) Unwrap() error { return errDuplicate }

// decodeJSON decodes one JSON document and refuses trailing data, invalid
// UTF-8 (encoding/json would replace it with U+FFFD) and duplicated member
// names. Syntax is checked by encoding/json first; the walk below then only
// splits the valid text (strings without escapes are not copied).
func decodeJSON(doc string) (node, error) {
	if !utf8.ValidString(doc) {
		return node{}, errors.New("invalid UTF-8")
	}
	if !json.Valid([]byte(doc)) {
		return node{}, errors.New("invalid JSON")
	}
	d := decoder{s: doc}
	return d.value()
}

type decoder struct {
	s string
	i int
	// work counts the member names compared or looked up while checking
	// for duplicates (tests check that it grows linearly).
	work int
}

// scanMembers is the number of members an object may have before the
// duplicate check switches from comparing with each earlier name to a set.
const scanMembers = 8

func (d *decoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// value reads the value at d.i; the document is valid JSON.
func (d *decoder) value() (node, error) {
	d.space()
	switch c := d.s[d.i]; {
	case c == '{':
		d.i++
		n := node{kind: jsonObject}
		var names map[string]struct{} // once n has scanMembers members
		for {
			d.space()
			if d.s[d.i] == '}' {
				d.i++
				return n, nil
			}
			if d.s[d.i] == ',' {
				d.i++
				d.space()
			}
			k, err := d.str()
			if err != nil {
				return node{}, err
			}
			if err := d.unique(&n, &names, k); err != nil {
				return node{}, err
			}
			d.space()
			d.i++ // ':'
			v, err := d.value()
			if err != nil {
				return node{}, err
			}
			n.obj = append(n.obj, member{k, v})
		}
	case c == '[':
		d.i++
		n := node{kind: jsonArray}
		for {
			d.space()
			if d.s[d.i] == ']' {
				d.i++
				return n, nil
			}
			if d.s[d.i] == ',' {
				d.i++
			}
			v, err := d.value()
			if err != nil {
				return node{}, err
			}
			n.arr = append(n.arr, v)
		}
	case c == '"':
		at := d.i
		s, err := d.str()
		return node{kind: jsonString, s: s, at: at, end: d.i}, err
	case c == 't':
		d.i += 4
		return node{kind: jsonBool, s: "true"}, nil
	case c == 'f':
		d.i += 5
		return node{kind: jsonBool, s: "false"}, nil
	case c == 'n':
		d.i += 4
		return node{kind: jsonNull}, nil
	default: // a number
		j := d.i
		for d.i < len(d.s) && strings.IndexByte("+-.0123456789eE", d.s[d.i]) >= 0 {
			d.i++
		}
		return node{kind: jsonNumber, s: d.s[j:d.i]}, nil
	}
}

// unique returns an error if object n has a member named k already. It
// compares k with each earlier name while n is small, then keeps the names
// in a set, so that checking an object of n members costs O(n), not O(n²).
func (d *decoder) unique(n *node, names *map[string]struct{}, k string) error {
	if *names != nil {
		d.work++
		if _, dup := (*names)[k]; dup {
			return &dupError{k}
		}
		(*names)[k] = struct{}{}
		return nil
	}
	for _, m := range n.obj {
		d.work++
		if m.key == k {
			return &dupError{k}
		}
	}
	if len(n.obj) >= scanMembers {
		*names = make(map[string]struct{}, 2*len(n.obj))
		for _, m := range n.obj {
			(*names)[m.key] = struct{}{}
		}
		(*names)[k] = struct{}{}
		d.work += len(n.obj)
	}
	return nil
}

// str reads the string literal at d.i.
func (d *decoder) str() (string, error) {
	j := d.i + 1
	esc := false
	for k := j; ; k++ {
		switch d.s[k] {
		case '\\':
			esc = true
			k++
		case '"':
			d.i = k + 1
			if !esc {
				return d.s[j:k], nil
			}
			var out string
			err := json.Unmarshal([]byte(d.s[j-1:k+1]), &out)
			return out, err
		}
	}
}

// strings returns the strings of a node that is a string or a non-empty array
// of strings; ok is false for any other shape.
func (n *node) strings() (out []string, ok bool) {
	switch n.kind {
	case jsonString:
		return []string{n.s}, true
	case jsonArray:
		if len(n.arr) == 0 {
			return nil, false
		}
		out = make([]string, 0, len(n.arr))
		for i := range n.arr {
			if n.arr[i].kind != jsonString {
				return nil, false
			}
			out = append(out, n.arr[i].s)
		}
		return out, true
	}
	return nil, false
}

// scalars is strings for condition values: numbers and booleans count, as
// their JSON text ("Bool": {"k": true} is the same as "true").
func (n *node) scalars() (out []string, ok bool) {
	switch n.kind {
	case jsonString, jsonNumber, jsonBool:
		return []string{n.s}, true
	case jsonArray:
		if len(n.arr) == 0 {
			return nil, false
		}
		out = make([]string, 0, len(n.arr))
		for i := range n.arr {
			switch n.arr[i].kind {
			case jsonString, jsonNumber, jsonBool:
				out = append(out, n.arr[i].s)
			default:
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}
