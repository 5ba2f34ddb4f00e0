package kmsseal

import "time"

// SetCallTimeout sets callTimeout for a test; the returned function
// restores it.
func SetCallTimeout(d time.Duration) func() {
	old := callTimeout
	callTimeout = d
	return func() { callTimeout = old }
}
