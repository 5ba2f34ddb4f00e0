package boltstore

import bolt "go.etcd.io/bbolt"

// Waiting is how many Updates wait for the next batch (tests).
func (s *Store) Waiting() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue)
}

// LeafFill is the share of the leaf pages' bytes in use (tests).
func (s *Store) LeafFill() float64 {
	var st bolt.BucketStats
	_ = s.db.View(func(tx *bolt.Tx) error { st = tx.Bucket(bucketName).Stats(); return nil })
	return float64(st.LeafInuse) / float64(st.LeafAlloc)
}
