package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// OperatorClient calls a server's operator endpoints (trent operator,
// trent backup, tests). Credentials sign the calls that need an
// administrator; Region is the signing region.
type OperatorClient struct {
	Endpoint    string // http(s)://HOST:PORT
	HTTP        *http.Client
	Credentials aws.CredentialsProvider
	Region      string
}

// OperatorError is a refusal by the server.
type OperatorError struct {
	Status  int
	Message string
	// Unseal is the seal state sent with an unseal refusal.
	Unseal *UnsealStatus
}

func (e *OperatorError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

func (c *OperatorClient) do(ctx context.Context, method, path string, in any, sign bool) (*http.Response, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Endpoint, "/")+operatorPrefix+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if sign {
		if c.Credentials == nil {
			return nil, errors.New("operator: this call needs an administrator's credentials")
		}
		creds, err := c.Credentials.Retrieve(ctx)
		if err != nil {
			return nil, fmt.Errorf("operator: credentials: %w", err)
		}
		sum := sha256.Sum256(body)
		region := c.Region
		if region == "" {
			region = "us-east-1"
		}
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", region, time.Now()); err != nil {
			return nil, fmt.Errorf("operator: sign: %w", err)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Error string `json:"error"`
			UnsealStatus
		}
		oe := &OperatorError{Status: resp.StatusCode, Message: strings.TrimSpace(string(b))}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			oe.Message = e.Error
			if e.Seal != "" {
				oe.Unseal = &e.UnsealStatus
			}
		}
		return nil, oe
	}
	return resp, nil
}

func (c *OperatorClient) call(ctx context.Context, method, path string, in, out any, sign bool) error {
	resp, err := c.do(ctx, method, path, in, sign)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}

// Status returns the seal state.
func (c *OperatorClient) Status(ctx context.Context) (StatusBody, error) {
	var out StatusBody
	return out, c.call(ctx, http.MethodGet, "status", nil, &out, false)
}

// Init initialises a shamir-sealed server.
func (c *OperatorClient) Init(ctx context.Context, shares, threshold int) (InitBody, error) {
	var out InitBody
	in := map[string]int{"shares": shares, "threshold": threshold}
	return out, c.call(ctx, http.MethodPost, "init", in, &out, false)
}

// Unseal submits one share (empty: retry the auto-unseal); reset first
// discards the shares submitted so far.
func (c *OperatorClient) Unseal(ctx context.Context, share string, reset bool) (UnsealStatus, error) {
	var out UnsealStatus
	in := map[string]any{}
	if share != "" {
		in["share"] = share
	}
	if reset {
		in["reset"] = true
	}
	return out, c.call(ctx, http.MethodPost, "unseal", in, &out, false)
}

// Seal seals the server (administrator).
func (c *OperatorClient) Seal(ctx context.Context) (StatusBody, error) {
	var out StatusBody
	return out, c.call(ctx, http.MethodPost, "seal", nil, &out, true)
}

// Rotate rotates the data key, and the root key first with root
// (administrator).
func (c *OperatorClient) Rotate(ctx context.Context, root bool) (StatusBody, error) {
	var out StatusBody
	return out, c.call(ctx, http.MethodPost, "rotate", map[string]bool{"root": root}, &out, true)
}

// Backup streams a backup into w (administrator).
func (c *OperatorClient) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.do(ctx, http.MethodGet, "backup", nil, true)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}
