package policy

import (
	"encoding/base64"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// opKind is the family of a condition operator.
type opKind uint8

const (
	opString opKind = iota
	opNumeric
	opDate
	opBool
	opBinary
	opIP
	opARN
	opNull
)

// cmpKind is the comparison of an operator.
type cmpKind uint8

const (
	cmpEq cmpKind = iota
	cmpLike
	cmpLT
	cmpLE
	cmpGT
	cmpGE
)

type opInfo struct {
	kind   opKind
	cmp    cmpKind
	negate bool
	fold   bool
}

// operators is the table of condition operators (without the ForAnyValue: /
// ForAllValues: qualifiers and the IfExists suffix, which apply to all but
// Null).
var operators = map[string]opInfo{
	"stringequals":              {opString, cmpEq, false, false},
	"stringnotequals":           {opString, cmpEq, true, false},
	"stringequalsignorecase":    {opString, cmpEq, false, true},
	"stringnotequalsignorecase": {opString, cmpEq, true, true},
	"stringlike":                {opString, cmpLike, false, false},
	"stringnotlike":             {opString, cmpLike, true, false},
	"numericequals":             {opNumeric, cmpEq, false, false},
	"numericnotequals":          {opNumeric, cmpEq, true, false},
	"numericlessthan":           {opNumeric, cmpLT, false, false},
	"numericlessthanequals":     {opNumeric, cmpLE, false, false},
	"numericgreaterthan":        {opNumeric, cmpGT, false, false},
	"numericgreaterthanequals":  {opNumeric, cmpGE, false, false},
	"dateequals":                {opDate, cmpEq, false, false},
	"datenotequals":             {opDate, cmpEq, true, false},
	"datelessthan":              {opDate, cmpLT, false, false},
	"datelessthanequals":        {opDate, cmpLE, false, false},
	"dategreaterthan":           {opDate, cmpGT, false, false},
	"dategreaterthanequals":     {opDate, cmpGE, false, false},
	"bool":                      {opBool, cmpEq, false, false},
	"binaryequals":              {opBinary, cmpEq, false, false},
	"ipaddress":                 {opIP, cmpEq, false, false},
	"notipaddress":              {opIP, cmpEq, true, false},
	"arnequals":                 {opARN, cmpLike, false, false},
	"arnlike":                   {opARN, cmpLike, false, false},
	"arnnotequals":              {opARN, cmpLike, true, false},
	"arnnotlike":                {opARN, cmpLike, true, false},
	"null":                      {opNull, cmpEq, false, false},
}

// setKind is the set qualifier of an operator.
type setKind uint8

const (
	setNone setKind = iota
	setAnyValue
	setAllValues
)

// condition is one compiled (operator, key, values) triple of a Condition
// element. The statement's conditions are ANDed; the values of one condition
// are ORed (NORed for a negated operator).
type condition struct {
	op       opInfo
	set      setKind
	ifExists bool
	key      keyRef

	strs  []pattern // opString (with variables and, for Like, wildcards), opARN uses arns
	exact []string  // opString Equals without variables: plain strings (fast path)
	arns  []arnPattern
	nums  []float64
	times []time.Time
	bools []bool // opBool, and opNull's single value
	bins  [][]byte
	nets  []netip.Prefix
}

func parseConditions(kind Kind, n *node, vars bool) ([]condition, error) {
	if n.kind != jsonObject {
		return nil, errorf("Policy contains a statement whose Condition is not a JSON object.")
	}
	var out []condition
	for i := range n.obj {
		opm := &n.obj[i]
		op, set, ifExists, ok := parseOperator(opm.key)
		if !ok {
			return nil, errorf("Policy contains a statement with an invalid Condition operator: %s", clip(opm.key))
		}
		if opm.val.kind != jsonObject || len(opm.val.obj) == 0 {
			return nil, errorf("Policy contains a statement whose Condition operator %s does not map condition keys to values.", clip(opm.key))
		}
		for j := range opm.val.obj {
			km := &opm.val.obj[j]
			if km.key == "" {
				return nil, errorf("Policy contains a statement with an empty condition key.")
			}
			vals, ok := km.val.scalars()
			if !ok {
				return nil, errorf("Policy contains a statement whose condition %s %s has no value, or a value that is not a string, number, boolean or array of them.", clip(opm.key), clip(km.key))
			}
			c := condition{op: op, set: set, ifExists: ifExists, key: lookupKey(km.key)}
			if kind == KeyPolicy && set == setAllValues && c.key.src == srcEncryptionContext {
				return nil, errorf("OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified encryption context or with an unspecified encryption context. To fix, remove ForAllValues.")
			}
			if err := c.compileValues(opm.key, vals, vars); err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// parseOperator splits "ForAnyValue:StringLikeIfExists" into its parts.
// Operator names match case-insensitively.
func parseOperator(s string) (op opInfo, set setKind, ifExists, ok bool) {
	name := strings.ToLower(s)
	if rest, found := strings.CutPrefix(name, "foranyvalue:"); found {
		name, set = rest, setAnyValue
	} else if rest, found := strings.CutPrefix(name, "forallvalues:"); found {
		name, set = rest, setAllValues
	}
	if rest, found := strings.CutSuffix(name, "ifexists"); found && rest != "null" {
		name, ifExists = rest, true
	}
	op, ok = operators[name]
	return op, set, ifExists, ok
}

func (c *condition) compileValues(opName string, vals []string, vars bool) error {
	bad := func(v string, what string) error {
		return errorf("Policy contains a statement whose condition %s has an invalid value %q: %s.", clip(opName), clip(v), what)
	}
	for _, v := range vals {
		switch c.op.kind {
		case opString:
			p := compilePattern(v, c.op.cmp == cmpLike, vars)
			if s, ok := p.literal(); ok && c.op.cmp == cmpEq && !p.vars {
				c.exact = append(c.exact, s)
				continue
			}
			c.strs = append(c.strs, p)
		case opARN:
			p, ok := compileARN(v, vars, true)
			if !ok {
				return bad(v, "want an ARN or \"*\"")
			}
			c.arns = append(c.arns, p)
		case opNumeric:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return bad(v, "want a number")
			}
			c.nums = append(c.nums, f)
		case opDate:
			t, ok := parseDate(v)
			if !ok {
				return bad(v, "want an ISO 8601 date or epoch seconds")
			}
			c.times = append(c.times, t)
		case opBool, opNull:
			b, ok := parseBool(v)
			if !ok {
				return bad(v, "want true or false")
			}
			c.bools = append(c.bools, b)
		case opBinary:
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return bad(v, "want base64")
			}
			c.bins = append(c.bins, b)
		case opIP:
			p, ok := parseIPRange(v)
			if !ok {
				return bad(v, "want an IP address or CIDR range")
			}
			c.nets = append(c.nets, p)
		}
	}
	if c.op.kind == opNull && len(c.bools) != 1 {
		return errorf("Policy contains a statement whose Null condition on %s has more than one value.", clip(c.key.name))
	}
	return nil
}

func parseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

func parseIPRange(s string) (netip.Prefix, bool) {
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// dateLayouts are the W3C profile of ISO 8601 that AWS documents for Date
// operators, most precise first.
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04Z07:00",
	"2006-01-02",
	"2006-01",
	"2006",
	"2006-01-02T15:04:05.999999999", // without a zone: UTC
	"2006-01-02T15:04:05",
}

// parseDate parses an ISO 8601 date or epoch seconds (digits, optionally with
// a fraction).
func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if isEpoch(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Abs(f) > 1e12 {
			return time.Time{}, false
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func isEpoch(s string) bool {
	s = strings.TrimPrefix(s, "-")
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0:
			dot = true
		default:
			return false
		}
	}
	// Four digits alone is a year ("2006"), not epoch second 2006.
	return digits > 0 && !(len(s) == 4 && !dot)
}

// eval evaluates the condition against the request (AWS's semantics):
//   - a missing key: false, except true with IfExists, a negated operator
//     without qualifier, or ForAllValues;
//   - no qualifier: a positive operator holds when some request value matches
//     some policy value, a negated one when no request value matches any;
//   - ForAnyValue: some request value satisfies the operator (for a negated
//     operator: matches none of the policy values);
//   - ForAllValues: every request value satisfies it;
//   - with either qualifier, an empty string is an empty set of values:
//     ForAllValues holds, ForAnyValue does not.
func (c *condition) eval(ev *evalCtx) bool {
	vs, present := ev.lookup(&c.key)
	if c.op.kind == opNull {
		return present != c.bools[0] // "true": the key is absent
	}
	if !present {
		switch {
		case c.ifExists:
			return true
		case c.set == setAllValues:
			return true
		case c.set == setAnyValue:
			return false
		}
		return c.op.negate
	}
	if c.set != setNone && vs.mode == vsOne && vs.one == "" {
		// AWS: a key whose value is an empty data set (an empty string)
		// makes ForAllValues true and ForAnyValue false.
		return c.set == setAllValues
	}
	exists := c.set == setAnyValue || c.set == setNone && !c.op.negate
	switch vs.mode {
	case vsOne:
		return c.test(ev, vs.one)
	case vsList:
		for _, r := range vs.list {
			if c.test(ev, r) == exists {
				return exists
			}
		}
		return !exists
	case vsMapKeys:
		for r := range vs.m {
			if c.test(ev, r) == exists {
				return exists
			}
		}
		return !exists
	case vsMapFold:
		for k, r := range vs.m {
			if strings.EqualFold(k, vs.suffix) && c.test(ev, r) == exists {
				return exists
			}
		}
		return !exists
	}
	return c.testTyped(ev, &vs)
}

// test reports whether one request value satisfies the operator: matches one
// of the policy values, or for a negated operator none of them.
func (c *condition) test(ev *evalCtx, r string) bool {
	return c.matchAny(ev, r) != c.op.negate
}

func (c *condition) matchAny(ev *evalCtx, r string) bool {
	switch c.op.kind {
	case opString:
		for _, s := range c.exact {
			if s == r || c.op.fold && strings.EqualFold(s, r) {
				return true
			}
		}
		for i := range c.strs {
			if c.strs[i].match(ev, r, c.op.fold) {
				return true
			}
		}
	case opARN:
		for i := range c.arns {
			if c.arns[i].match(ev, r) {
				return true
			}
		}
	case opNumeric:
		// A request value that is not a finite number matches nothing,
		// as a policy's own values must be finite: NaN would compare equal
		// to every number, Inf beyond every bound.
		f, err := strconv.ParseFloat(r, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
		for _, n := range c.nums {
			if compare(c.op.cmp, cmp3(f, n)) {
				return true
			}
		}
	case opDate:
		t, ok := parseDate(r)
		if !ok {
			return false
		}
		return c.matchTime(t)
	case opBool:
		b, ok := parseBool(r)
		if !ok {
			return false
		}
		for _, v := range c.bools {
			if v == b {
				return true
			}
		}
	case opBinary:
		for _, b := range c.bins {
			if string(b) == r {
				return true
			}
		}
	case opIP:
		a, err := netip.ParseAddr(r)
		if err != nil {
			return false
		}
		return c.matchIP(a)
	}
	return false
}

// testTyped handles the request values that are not strings: aws:CurrentTime,
// aws:EpochTime and aws:SourceIp compared by their own operators, or as text by
// the others.
func (c *condition) testTyped(ev *evalCtx, vs *valueSet) bool {
	switch vs.mode {
	case vsTime, vsEpoch:
		switch c.op.kind {
		case opDate:
			return c.matchTime(vs.t) != c.op.negate
		case opNumeric:
			f := float64(vs.t.Unix())
			for _, n := range c.nums {
				if compare(c.op.cmp, cmp3(f, n)) {
					return !c.op.negate
				}
			}
			return c.op.negate
		}
		if vs.mode == vsEpoch {
			return c.test(ev, strconv.FormatInt(vs.t.Unix(), 10))
		}
		return c.test(ev, vs.t.UTC().Format(time.RFC3339))
	case vsIP:
		if c.op.kind == opIP {
			return c.matchIP(vs.ip) != c.op.negate
		}
		return c.test(ev, vs.ip.String())
	}
	return false
}

func (c *condition) matchTime(t time.Time) bool {
	for _, v := range c.times {
		if compare(c.op.cmp, t.Compare(v)) {
			return true
		}
	}
	return false
}

func (c *condition) matchIP(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func cmp3(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare applies an ordered comparison to the result of comparing the
// request value with the policy value.
func compare(c cmpKind, r int) bool {
	switch c {
	case cmpLT:
		return r < 0
	case cmpLE:
		return r <= 0
	case cmpGT:
		return r > 0
	case cmpGE:
		return r >= 0
	}
	return r == 0
}
