package xks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
)

// answer is an http.RoundTripper that gives every request one fixed answer:
// what a proxy (or whatever sits at its URI) sent back.
type answer struct {
	status int
	body   []byte
}

func (a answer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: a.status,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(a.body)),
		Request:    r,
	}, nil
}

// FuzzClientAnswer feeds Client any answer a proxy can send to each of its
// four calls. An answer is never trusted: Client returns either a result
// that holds what its documentation promises, or an *Error (a valid
// errorName, a printable message of at most maxErrorMessage bytes, the
// status sent), or an error wrapping ErrInvalidResponse; it never panics.
func FuzzClientAnswer(f *testing.F) {
	plaintext, aad := []byte("twelve bytes"), []byte("project=nile")
	good := &Sealed{Ciphertext: bytes.Repeat([]byte{7}, len(plaintext)), IV: make([]byte, 12), Tag: make([]byte, TagSize), Metadata: []byte("v=1")}
	sum := cdiv(aad, good)
	enc, _ := json.Marshal(&encryptResponse{
		Ciphertext: encodeOpt(good.Ciphertext), CiphertextMetadata: encodeOpt(good.Metadata),
		InitializationVector: encodeOpt(good.IV), AuthenticationTag: encodeOpt(good.Tag),
		CiphertextDataIntegrityValue: encodeOpt(sum[:]),
	})
	dec, _ := json.Marshal(&decryptResponse{Plaintext: encodeOpt(plaintext)})
	for _, s := range []struct {
		op     uint8
		status int
		body   string
	}{
		{0, 200, `{"xksProxyFleetSize":2,"xksProxyVendor":"v","xksProxyModel":"m 1.0","ekmVendor":"e","ekmFleetDetails":[{"id":"h1","model":"x","healthStatus":"ACTIVE"},{"id":"h2","model":"x","healthStatus":"DEGRADED"}]}`},
		{0, 200, `{"xksProxyFleetSize":1,"ekmFleetDetails":[]}`},
		{1, 200, `{"keySpec":"AES_256","keyUsage":["ENCRYPT","DECRYPT"],"keyStatus":"ENABLED"}`},
		{1, 200, `{"keySpec":"AES_256\u001b[31m","keyUsage":null,"keyStatus":"DISABLED"}`},
		{2, 200, string(enc)},
		{3, 200, string(dec)},
		{3, 200, `{"plaintext":null}`},
		{2, 400, `{"errorName":"InvalidCiphertextException","errorMessage":"no"}`},
		{3, 500, `{"errorName":"InternalException","errorMessage":"\u0000\n"}`},
		{1, 404, `<html>not found</html>`},
		{0, 302, ``},
		{2, 200, `[]`},
	} {
		f.Add(s.op, s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, op uint8, status int, body []byte) {
		if status < 100 || status > 999 {
			status = 200
		}
		c := NewClient(Config{Endpoint: "http://proxy.invalid", Path: APIPath, Region: testRegion,
			AccessKeyID: testAKID, Secret: testSecret, HTTPClient: &http.Client{Transport: answer{status, body}}})
		ctx := context.Background()
		var err error
		switch op % 4 {
		case 0:
			var h *Health
			if h, err = c.Health(ctx, testMD); err == nil {
				if h.XksProxyFleetSize < 1 || len(h.EkmFleetDetails) < 1 || len(h.EkmFleetDetails) > MaxEkmFleet {
					t.Fatalf("Health accepted %+v", h)
				}
				for _, e := range h.EkmFleetDetails {
					if e.HealthStatus != HealthActive && e.HealthStatus != HealthDegraded && e.HealthStatus != HealthUnavailable {
						t.Fatalf("Health accepted healthStatus %q", e.HealthStatus)
					}
				}
			}
		case 1:
			var km *KeyMetadata
			if km, err = c.KeyMetadata(ctx, testKeyID, testMD); err == nil {
				if km.KeySpec == "" || printable(km.KeySpec, 32) != km.KeySpec || len(km.KeyUsage) > 10 ||
					km.KeyStatus != "ENABLED" && km.KeyStatus != "DISABLED" {
					t.Fatalf("KeyMetadata accepted %+v", km)
				}
				for _, u := range km.KeyUsage {
					if printable(u, 32) != u {
						t.Fatalf("KeyMetadata keeps keyUsage %q", u)
					}
				}
			}
		case 2:
			var s *Sealed
			if s, err = c.Encrypt(ctx, testKeyID, testMD, plaintext, aad); err == nil {
				if checkSealed(s) != nil || len(s.Ciphertext) != len(plaintext) {
					t.Fatalf("Encrypt accepted %+v", s)
				}
			}
		case 3:
			var pt []byte
			if pt, err = c.Decrypt(ctx, testKeyID, testMD, good, aad); err == nil && len(pt) != len(good.Ciphertext) {
				t.Fatalf("Decrypt returned %d bytes for a ciphertext of %d", len(pt), len(good.Ciphertext))
			}
		}
		if err == nil {
			if status != http.StatusOK {
				t.Fatalf("HTTP %d accepted", status)
			}
			return
		}
		var e *Error
		switch {
		case errors.As(err, &e):
			if status == http.StatusOK || e.Status != status || !validErrorName(e.Name) || printable(e.Message, maxErrorMessage) != e.Message {
				t.Fatalf("HTTP %d gave %#v", status, e)
			}
		case !errors.Is(err, ErrInvalidResponse):
			t.Fatalf("error %v is neither an *Error nor ErrInvalidResponse", err)
		}
	})
}
