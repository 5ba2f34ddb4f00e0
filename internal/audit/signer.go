package audit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/trent-kms/trent/internal/storage"
)

// signerPath is where the audit signing key lives in storage (sealed by the
// barrier like every record).
const signerPath = "audit/key/signing"

type signerRecord struct {
	PKCS8   []byte    `json:"pkcs8"`   // the ECDSA P-256 private key
	Created time.Time `json:"created"` // when the log began: GetKeyLastUsage's tracking start
}

// LoadOrCreateSigner returns the audit signing key and the time it was
// created (the log's tracking start), generating both on first use.
func LoadOrCreateSigner(ctx context.Context, st storage.Store, now time.Time) (*ecdsa.PrivateKey, time.Time, error) {
	var (
		key     *ecdsa.PrivateKey
		created time.Time
	)
	err := st.Update(ctx, func(tx storage.Tx) error {
		b, err := tx.Get(signerPath)
		if errors.Is(err, storage.ErrNotFound) {
			if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
				return err
			}
			der, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				return err
			}
			defer clear(der)
			created = now.UTC().Truncate(time.Second)
			rec, err := json.Marshal(signerRecord{PKCS8: der, Created: created})
			if err != nil {
				return err
			}
			defer clear(rec)
			return tx.Create(signerPath, rec)
		}
		if err != nil {
			return err
		}
		defer clear(b)
		var rec signerRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return err
		}
		defer clear(rec.PKCS8)
		k, err := x509.ParsePKCS8PrivateKey(rec.PKCS8)
		if err != nil {
			return err
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return errors.New("not an ECDSA key")
		}
		if ek.Curve != elliptic.P256() {
			return errors.New("not a P-256 key")
		}
		key, created = ek, rec.Created
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("audit: signing key: %w", err)
	}
	return key, created, nil
}
