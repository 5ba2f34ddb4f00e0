package boltstore

// Waiting is how many Updates wait for the next batch (tests).
func (s *Store) Waiting() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue)
}
