package e2e

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// TestGracefulShutdown sends SIGTERM while clients are busy: the server exits
// 0 promptly and no request gets a server-side error (a request either
// completes or cannot connect).
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, "server", "--dev", "--addr", "127.0.0.1:0", "--data-dir", dir)
	c := s.dev()
	id := aws.ToString(newKey(t, c, "shutdown").KeyId)
	var ok, apiErrs atomic.Int64
	var mu sync.Mutex
	var firstAPIErr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("in flight")})
				var ae smithy.APIError
				switch {
				case err == nil:
					ok.Add(1)
				case errors.As(err, &ae):
					apiErrs.Add(1)
					mu.Lock()
					if firstAPIErr == nil {
						firstAPIErr = err
					}
					mu.Unlock()
				default:
					// transport error: the listener is closed
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	err := s.stop()
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Errorf("exit after SIGTERM under load: %v", err)
	}
	if took > 5*time.Second {
		t.Errorf("shutdown under load took %v", took)
	}
	if ok.Load() == 0 {
		t.Error("no request succeeded before the shutdown")
	}
	if apiErrs.Load() > 0 {
		t.Errorf("%d requests got an API error during shutdown, first: %v", apiErrs.Load(), firstAPIErr)
	}
}
