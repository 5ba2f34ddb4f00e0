package kms

// Facts is what an operation used, reported to the caller (the wire layer
// hands it to the audit log) so that nothing re-parses the request. Pass a
// pointer in Caller.Facts; a nil pointer records nothing.
type Facts struct {
	// Keys are the ARNs of the keys the operation resolved, in order,
	// without repeats (at most two: ReEncrypt's source and destination).
	Keys [2]string
	// Encrypted and Decrypted are the key and key material that encrypted
	// and decrypted (ReEncrypt has both).
	Encrypted, Decrypted KeyUse
}

// KeyUse is a key and the key material that did the work.
type KeyUse struct {
	KeyARN     string
	MaterialID string
}

func (f *Facts) addKey(arn string) {
	if f == nil {
		return
	}
	for i, k := range f.Keys {
		if k == arn {
			return
		}
		if k == "" {
			f.Keys[i] = arn
			return
		}
	}
}

// resolveKey is findKey, reporting the key found.
func (s *Service) resolveKey(c Caller, sc scope, op, id string, aliasOK bool) (*key, error) {
	k, err := s.findKey(c, sc, op, id, aliasOK)
	if err == nil {
		c.Facts.addKey(k.arn)
	}
	return k, err
}
