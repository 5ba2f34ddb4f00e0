package kms

// Wipe forgets every key, wipes the key material held in memory and logs
// out of the tokens of CloudHSM key stores (the server seals): later
// operations find no key. Best effort: the AES-GCM instances and HMACs keep
// their own expanded keys until collected, and an operation already running
// finishes with what it holds.
func (s *Service) Wipe() {
	h := s.locks.all()
	defer h.release()
	s.wiped.Store(true)
	s.hsm.closeAll() // log out of the CloudHSM key stores' tokens
	s.mu.Lock()
	spaces := s.spaces
	s.spaces = make(map[scope]*space)
	s.mu.Unlock()
	for _, sp := range spaces {
		for _, k := range sp.keys {
			for _, v := range k.versions {
				v.Wipe()
			}
		}
	}
}
