//go:build race

package e2e

// Under `go test -race` the server binary is built with the race detector
// too, so the end-to-end tests check the server's concurrency.
func init() { raceBuild = true }
