package audit

import (
	"crypto/tls"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/kmserr"
)

// timeLayout is CloudTrail's eventTime: RFC 3339 in UTC, whole seconds.
const timeLayout = "2006-01-02T15:04:05Z"

// maxHeaderField bounds what a record keeps of a request header (the
// User-Agent, the Host): they come before any authentication, and a record
// of a refused request must stay small whatever the client sent.
const maxHeaderField = 1024

// maxBody bounds a record's body, so that its line (the body and its chain
// member) stays within maxLine, what verify and Open read. Only the
// parameters of a refused request come near it: a request body of up to
// 1 MiB (PutKeyPolicy), which escaping can grow.
const maxBody = maxLine - 1024

// withoutParams is e without what made its record longer than maxBody:
// the client's parameters (and the output), and its error message past
// 1 KiB.
func withoutParams(e *Event) *Event {
	c := *e
	c.Params, c.Output = nil, nil
	c.ErrorMessage = kmserr.Clip(c.ErrorMessage, maxHeaderField)
	return &c
}

// appendBody appends the record of e without its closing brace: the "body"
// that the chain hashes. eventID is the record's eventID.
func appendBody(dst []byte, e *Event, eventID string) []byte {
	dst = append(dst, `{"eventVersion":"`+EventVersion+`","userIdentity":`...)
	if e.Service != nil {
		dst = append(dst, `{"accountId":`...)
		dst = appendString(dst, e.Identity.AccountID)
		dst = append(dst, `,"invokedBy":"`+Internal+`"}`...)
	} else {
		dst = appendIdentity(dst, &e.Identity)
	}
	dst = append(dst, `,"eventTime":"`...)
	dst = appendTime(dst, e.Time)
	dst = append(dst, `","eventSource":`...)
	dst = appendString(dst, e.Source)
	dst = append(dst, `,"eventName":`...)
	dst = appendString(dst, e.Name)
	dst = append(dst, `,"awsRegion":`...)
	dst = appendString(dst, e.Region)
	dst = append(dst, `,"sourceIPAddress":`...)
	dst = appendString(dst, e.SourceIP)
	dst = append(dst, `,"userAgent":`...)
	dst = appendString(dst, kmserr.Clip(e.UserAgent, maxHeaderField))
	if e.ErrorCode != "" {
		dst = append(dst, `,"errorCode":`...)
		dst = appendString(dst, e.ErrorCode)
		dst = append(dst, `,"errorMessage":`...)
		dst = appendString(dst, e.ErrorMessage)
	}
	dst = append(dst, `,"requestParameters":`...)
	dst = appendParams(dst, e.Params)
	dst = append(dst, `,"responseElements":`...)
	readOnly := ReadOnly(e.Name)
	if e.ErrorCode == "" && !readOnly {
		dst = appendResponse(dst, e)
	} else {
		dst = append(dst, "null"...)
	}
	dst = appendAdditional(dst, e)
	if e.RequestID != "" { // a service event has none
		dst = append(dst, `,"requestID":`...)
		dst = appendString(dst, e.RequestID)
	}
	dst = append(dst, `,"eventID":"`...)
	dst = append(dst, eventID...)
	dst = append(dst, `","readOnly":`...)
	dst = strconv.AppendBool(dst, readOnly)
	dst = appendResources(dst, e)
	if e.Service != nil {
		dst = append(dst, `,"eventType":"AwsServiceEvent"`...)
	} else {
		dst = append(dst, `,"eventType":"AwsApiCall"`...)
	}
	dst = append(dst, `,"managementEvent":true,"recipientAccountId":`...)
	acct := e.Identity.AccountID
	if acct == "" {
		acct = accountOfARN(e.Keys[0])
	}
	dst = appendString(dst, acct)
	if e.Service != nil {
		dst = appendServiceDetails(dst, e.Service)
	}
	dst = append(dst, `,"eventCategory":"Management"`...)
	if e.TLS != nil {
		dst = append(dst, `,"tlsDetails":{"tlsVersion":`...)
		dst = appendString(dst, tlsVersion(e.TLS.Version))
		dst = append(dst, `,"cipherSuite":`...)
		dst = appendString(dst, cipherSuiteName(e.TLS.CipherSuite))
		dst = append(dst, `,"clientProvidedHostHeader":`...)
		dst = appendString(dst, kmserr.Clip(e.Host, maxHeaderField))
		dst = append(dst, '}')
	}
	return dst
}

// appendResponse writes the responseElements of a call that changed state:
// its output (by appendMembers' rules), or, for the KMS operations whose
// output is empty but whose CloudTrail records name the key they changed,
// {"keyId": the key's ARN} ("CloudTrail log entries for this operation
// recorded on or after December 2022 include the key ARN of the affected KMS
// key in the responseElements.keyId value, even though this operation does
// not return the key ARN", AWS KMS developer guide: EnableKey, DisableKey,
// EnableKeyRotation, UpdateAlias).
func appendResponse(dst []byte, e *Event) []byte {
	if e.Source == SourceKMS && e.Keys[0] != "" {
		switch e.Name {
		case "EnableKey", "DisableKey", "EnableKeyRotation", "UpdateAlias":
			dst = append(dst, `{"keyId":`...)
			dst = appendString(dst, e.Keys[0])
			return append(dst, '}')
		}
	}
	return appendMembers(dst, e.Output)
}

// appendServiceDetails writes a service event's serviceEventDetails: the
// key id, and for RotateKey the rotation type, the key's origin and the key
// material before and after, as AWS KMS's records carry them.
func appendServiceDetails(dst []byte, se *kms.ServiceEvent) []byte {
	dst = append(dst, `,"serviceEventDetails":`...)
	o := members{b: dst, start: len(dst)}
	o.str("rotationType", se.RotationType)
	o.str("keyOrigin", se.KeyOrigin)
	o.str("previousKeyMaterialId", se.PreviousMaterialID)
	o.str("currentKeyMaterialId", se.CurrentMaterialID)
	o.str("keyId", se.KeyID)
	return o.end()
}

// appendTime appends t in timeLayout, as t.UTC().AppendFormat does, a few
// times faster (every record has one).
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, timeLayout)
	}
	hour, minute, sec := t.Clock()
	dst = append(dst,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), 'Z')
	return dst
}

func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1"
	}
	return tls.VersionName(v)
}

// cipherSuiteName is a cipher suite as CloudTrail's tlsDetails name it:
// by OpenSSL's name for TLS 1.2 ("ECDHE-RSA-AES256-GCM-SHA384" in AWS KMS's
// records), by the RFC's for TLS 1.3 ("TLS_AES_256_GCM_SHA384", Go's name
// too).
func cipherSuiteName(id uint16) string {
	if n, ok := openSSLSuites[id]; ok {
		return n
	}
	return tls.CipherSuiteName(id)
}

// openSSLSuites are OpenSSL's names of the TLS 1.2 cipher suites Go
// implements.
var openSSLSuites = map[uint16]string{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       "ECDHE-ECDSA-AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         "ECDHE-RSA-AES128-SHA256",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               "AES256-GCM-SHA384",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  "AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256:               "AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:           "ECDHE-RSA-DES-CBC3-SHA",
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:                 "DES-CBC3-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:              "ECDHE-ECDSA-RC4-SHA",
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:                "ECDHE-RSA-RC4-SHA",
	tls.TLS_RSA_WITH_RC4_128_SHA:                      "RC4-SHA",
}

// appendAdditional writes additionalEventData: the key material ids, as
// KMS's CloudTrail records carry them, and the recipient of a request with
// an attestation document: its module id, image digest (PCR0) and PCRs 1,
// 2, 3, 4 and 8, as CloudTrail records Nitro Enclaves requests (never the
// secret, which is not in the event).
func appendAdditional(dst []byte, e *Event) []byte {
	enc, dec := e.Encrypted.MaterialID, e.Decrypted.MaterialID
	if enc == "" && dec == "" && e.Recipient == nil {
		return dst
	}
	dst = append(dst, `,"additionalEventData":{`...)
	switch {
	case enc != "" && dec != "":
		dst = append(dst, `"sourceKeyMaterialId":`...)
		dst = appendString(dst, dec)
		dst = append(dst, `,"destinationKeyMaterialId":`...)
		dst = appendString(dst, enc)
	case enc != "" || dec != "":
		dst = append(dst, `"keyMaterialId":`...)
		dst = appendString(dst, enc+dec)
	}
	if r := e.Recipient; r != nil {
		if enc != "" || dec != "" {
			dst = append(dst, ',')
		}
		dst = append(dst, `"recipient":{"attestationDocumentModuleId":`...)
		dst = appendString(dst, r.ModuleID)
		for _, i := range [...]int{0, 1, 2, 3, 4, 8} {
			if v := r.PCRHex(i); v != "" {
				name := "attestationDocumentEnclaveImageDigest"
				if i > 0 {
					name = "attestationDocumentEnclavePCR" + strconv.Itoa(i)
				}
				dst = append(append(append(dst, `,"`...), name...), `":`...)
				dst = appendString(dst, v)
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// resources lists the keys of e in CloudTrail's order (ReEncrypt: source,
// destination), without repeats.
func resources(e *Event) (out [4]string, n int) {
	for _, arn := range [...]string{e.Decrypted.KeyARN, e.Encrypted.KeyARN, e.Keys[0], e.Keys[1]} {
		if arn != "" && !slices.Contains(out[:n], arn) {
			out[n] = arn
			n++
		}
	}
	return out, n
}

// appendResources writes resources: the alias of an alias operation, then
// the keys. CloudTrail gives an alias the type AWS::KMS::Key too.
func appendResources(dst []byte, e *Event) []byte {
	rs, n := resources(e)
	if n == 0 && e.Alias == "" {
		return dst
	}
	dst = append(dst, `,"resources":[`...)
	if e.Alias != "" {
		dst = appendResource(dst, e.Alias)
	}
	for i, arn := range rs[:n] {
		if i > 0 || e.Alias != "" {
			dst = append(dst, ',')
		}
		dst = appendResource(dst, arn)
	}
	return append(dst, ']')
}

func appendResource(dst []byte, arn string) []byte {
	dst = append(dst, `{"accountId":`...)
	dst = appendString(dst, accountOfARN(arn))
	dst = append(dst, `,"type":"AWS::KMS::Key","ARN":`...)
	dst = appendString(dst, arn)
	return append(dst, '}')
}

// arnFields splits arn:partition:service:region:account:resource without
// allocating; ok is false when s has fewer than six fields.
func arnFields(s string) (f [6]string, ok bool) {
	for i := range 5 {
		j := strings.IndexByte(s, ':')
		if j < 0 {
			return f, false
		}
		f[i], s = s[:j], s[j+1:]
	}
	f[5] = s
	return f, true
}

// accountOfARN returns the account field of an ARN.
func accountOfARN(arn string) string {
	f, _ := arnFields(arn)
	return f[4]
}

// identityType derives the CloudTrail userIdentity type from an ARN.
func identityType(arn string) string {
	f, ok := arnFields(arn)
	if !ok {
		return "Unknown"
	}
	res := f[5]
	switch {
	case f[2] == "iam" && res == "root":
		return "Root"
	case f[2] == "iam" && strings.HasPrefix(res, "user/"):
		return "IAMUser"
	case f[2] == "iam" && strings.HasPrefix(res, "role/"):
		return "Role"
	case f[2] == "sts" && strings.HasPrefix(res, "assumed-role/"):
		return "AssumedRole"
	case f[2] == "sts" && strings.HasPrefix(res, "federated-user/"):
		return "FederatedUser"
	}
	return "Unknown"
}

func appendIdentity(dst []byte, id *Identity) []byte {
	typ := id.Type
	if typ == "" {
		typ = identityType(id.ARN)
	}
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, typ)
	pid := id.PrincipalID
	if pid == "" && typ == "Root" {
		pid = id.AccountID
	}
	if pid != "" {
		dst = append(dst, `,"principalId":`...)
		dst = appendString(dst, pid)
	}
	if id.ARN != "" {
		dst = append(dst, `,"arn":`...)
		dst = appendString(dst, id.ARN)
	}
	if id.AccountID != "" {
		dst = append(dst, `,"accountId":`...)
		dst = appendString(dst, id.AccountID)
	}
	if id.AccessKeyID != "" {
		dst = append(dst, `,"accessKeyId":`...)
		dst = appendString(dst, id.AccessKeyID)
	}
	user := id.UserName
	if user == "" && typ == "IAMUser" {
		user = id.ARN[strings.LastIndexByte(id.ARN, '/')+1:]
	}
	if user != "" {
		dst = append(dst, `,"userName":`...)
		dst = appendString(dst, user)
	}
	issuer := id.SessionIssuerARN
	if issuer == "" && typ == "AssumedRole" {
		// arn:aws:sts::ACCT:assumed-role/ROLE/SESSION -> arn:aws:iam::ACCT:role/ROLE
		f, _ := arnFields(id.ARN)
		role, _, _ := strings.Cut(strings.TrimPrefix(f[5], "assumed-role/"), "/")
		issuer = f[0] + ":" + f[1] + ":iam::" + f[4] + ":role/" + role
	}
	if issuer != "" || typ == "AssumedRole" || typ == "FederatedUser" {
		dst = append(dst, `,"sessionContext":{`...)
		if issuer != "" {
			dst = append(dst, `"sessionIssuer":{"type":"Role",`...)
			if id.SessionIssuerID != "" {
				dst = append(dst, `"principalId":`...)
				dst = appendString(dst, id.SessionIssuerID)
				dst = append(dst, ',')
			}
			dst = append(dst, `"arn":`...)
			dst = appendString(dst, issuer)
			dst = append(dst, `,"accountId":`...)
			dst = appendString(dst, accountOfARN(issuer))
			dst = append(dst, `,"userName":`...)
			dst = appendString(dst, issuer[strings.LastIndexByte(issuer, '/')+1:])
			dst = append(dst, "},"...)
		}
		dst = append(dst, `"attributes":{`...)
		if !id.SessionCreated.IsZero() {
			dst = append(dst, `"creationDate":"`...)
			dst = appendTime(dst, id.SessionCreated)
			dst = append(dst, `",`...)
		}
		dst = append(dst, `"mfaAuthenticated":"`...)
		dst = strconv.AppendBool(dst, id.MFA)
		dst = append(dst, `"}}`...)
	}
	return append(dst, '}')
}

// sensitive names members that are never recorded, whatever their type.
// Every []byte member (plaintexts, ciphertext blobs, key material, import
// tokens, attestation documents, MACs, signatures, messages) is left out
// as well.
var sensitive = map[string]bool{
	"GrantTokens": true, "GrantToken": true, "Plaintext": true, "CiphertextBlob": true,
	"KeyStorePassword": true, "RawSecretAccessKey": true, "SecretAccessKey": true,
	"SessionToken": true, "Password": true, "NewPassword": true, "OldPassword": true,
	"PrivateKey": true, "PrivateKeyPlaintext": true, "SecretKey": true,
}

type field struct {
	index []int
	name  string // as CloudTrail spells it: lowerCamelCase
}

var fieldCache sync.Map // reflect.Type -> []field

var (
	bytesType     = reflect.TypeFor[[]byte]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
)

func fieldsOf(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	var fs []field
	for _, sf := range reflect.VisibleFields(t) {
		if !sf.IsExported() || sf.Anonymous || sensitive[sf.Name] || isBytes(sf.Type) {
			continue
		}
		name := sf.Name
		if tag, ok := sf.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		if sensitive[name] {
			continue
		}
		fs = append(fs, field{index: sf.Index, name: lowerFirst(name)})
	}
	fieldCache.Store(t, fs)
	return fs
}

func isBytes(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.ConvertibleTo(bytesType) && t.Kind() == reflect.Slice
}

// lowerFirst turns an AWS member name into CloudTrail's spelling: KeyId ->
// keyId; names that start with an acronym (AWSAccountId) stay.
func lowerFirst(s string) string {
	if len(s) == 0 || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	if len(s) > 1 && s[1] >= 'A' && s[1] <= 'Z' {
		return s
	}
	return string(s[0]+('a'-'A')) + s[1:]
}

// appendMembers encodes v (an input or output struct) as CloudTrail's
// requestParameters/responseElements: members by their JSON names in
// lowerCamelCase, zero members left out, []byte and sensitive members never
// written; null for nil or an object with no member left.
func appendMembers(dst []byte, v any) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	n := len(dst)
	dst = appendValue(dst, reflect.ValueOf(v), 0)
	if string(dst[n:]) == "{}" || len(dst) == n {
		return append(dst[:n], "null"...)
	}
	return dst
}

const maxDepth = 8

func appendValue(dst []byte, v reflect.Value, depth int) []byte {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return append(dst, "null"...)
		}
		v = v.Elem()
	}
	if depth > maxDepth {
		return append(dst, "null"...)
	}
	if v.Type().Implements(marshalerType) {
		b, err := v.Interface().(json.Marshaler).MarshalJSON()
		if err != nil || !json.Valid(b) {
			return append(dst, "null"...)
		}
		return append(dst, b...)
	}
	switch v.Kind() {
	case reflect.String:
		return appendString(dst, v.String())
	case reflect.Bool:
		return strconv.AppendBool(dst, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(dst, v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(dst, v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.AppendFloat(dst, v.Float(), 'g', -1, 64)
	case reflect.Slice, reflect.Array:
		if isBytes(v.Type()) {
			return append(dst, "null"...)
		}
		dst = append(dst, '[')
		for i := range v.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, v.Index(i), depth+1)
		}
		return append(dst, ']')
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return append(dst, "null"...)
		}
		if m, ok := v.Interface().(map[string]string); ok {
			return appendStringMap(dst, m)
		}
		keys := make([]string, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			keys = append(keys, it.Key().String())
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendValue(dst, v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())), depth+1)
		}
		return append(dst, '}')
	case reflect.Struct: // time.Time is a json.Marshaler: above
		dst = append(dst, '{')
		first := true
		for _, f := range fieldsOf(v.Type()) {
			fv := v.FieldByIndex(f.index)
			if fv.IsZero() {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendString(dst, f.name)
			dst = append(dst, ':')
			dst = appendValue(dst, fv, depth+1)
		}
		return append(dst, '}')
	}
	return append(dst, "null"...)
}

// appendStringMap writes m with its keys sorted (an encryption context).
func appendStringMap(dst []byte, m map[string]string) []byte {
	var small [8]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, m[k])
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// plain marks the bytes appendString copies as they are: printable ASCII
// but the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainWord reports whether the 8 bytes of w (little-endian) are all plain:
// none is a control character, a quote, a backslash or past ASCII. Each
// test sets a byte's top bit where the byte is not plain (exactly so for
// the first such byte, enough to know there is one).
func plainWord(w uint64) bool {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	q, b := w^(ones*'"'), w^(ones*'\\')
	bad := w | (w-ones*0x20)&^w | (q-ones)&^q | (b-ones)&^b
	return bad&tops == 0
}

// load64 reads the 8 bytes of s little-endian (one load).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// control characters, quotes and backslashes are escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Most of a record's strings (ARNs, ids, names) are plain: skip
		// them 8 bytes at a time.
		for i+8 <= len(s) && plainWord(load64(s[i:i+8])) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
