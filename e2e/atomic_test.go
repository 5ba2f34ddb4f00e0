package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// parallel runs f(i) for i in [0,n) at the same time and returns how many
// returned nil.
func parallel(n int, f func(i int) error) int64 {
	var ok atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if f(i) == nil {
				ok.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	return ok.Load()
}

// TestConcurrentLimits checks that uniqueness and quotas hold under
// concurrent requests: one alias name, 25 on-demand rotations, 50 tags.
func TestConcurrentLimits(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	var keys []string
	for i := range 8 {
		keys = append(keys, aws.ToString(newKey(t, c, fmt.Sprint("race ", i)).KeyId))
	}

	won := parallel(8, func(i int) error {
		_, err := c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/contended"), TargetKeyId: aws.String(keys[i])})
		return err
	})
	if won != 1 {
		t.Errorf("%d concurrent CreateAlias of one name succeeded, want 1", won)
	}

	rotated := parallel(30, func(int) error {
		_, err := c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(keys[0])})
		return err
	})
	if rotated != 25 {
		t.Errorf("%d of 30 concurrent RotateKeyOnDemand succeeded, want 25", rotated)
	}
	lr, err := c.ListKeyRotations(ctx(t), &kms.ListKeyRotationsInput{KeyId: aws.String(keys[0])})
	must(t, err)
	if len(lr.Rotations) != 25 {
		t.Errorf("ListKeyRotations: %d, want 25", len(lr.Rotations))
	}

	tagged := parallel(2, func(i int) error {
		var tags []types.Tag
		for j := range 30 {
			tags = append(tags, types.Tag{TagKey: aws.String(fmt.Sprintf("g%d-%d", i, j)), TagValue: aws.String("v")})
		}
		_, err := c.TagResource(ctx(t), &kms.TagResourceInput{KeyId: aws.String(keys[1]), Tags: tags})
		return err
	})
	if n := len(listTags(t, c, keys[1])); tagged != 1 || n != 30 {
		t.Errorf("two concurrent TagResource of 30 tags each: %d succeeded, %d tags, want 1 and 30 (limit 50)", tagged, n)
	}
}

// TestCrashUnderLoad kills the server (SIGKILL) while keys are being
// created: every key whose CreateKey was acknowledged exists after restart.
func TestCrashUnderLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startEmbedded(t, dir)
	creds := readCredentials(t, dir)
	c := s.client(devRegion, creds.AccessKey, creds.Secret)
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				out, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{Description: aws.String(fmt.Sprintf("w%d-%d", w, i))})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, aws.ToString(out.KeyMetadata.KeyId))
				mu.Unlock()
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)
	s.kill()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no CreateKey acknowledged before the kill")
	}

	s2 := startEmbedded(t, dir)
	c = s2.client(devRegion, creds.AccessKey, creds.Secret)
	all := map[string]bool{}
	p := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(1000)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		must(t, err)
		for _, k := range out.Keys {
			all[aws.ToString(k.KeyId)] = true
		}
	}
	lost := 0
	for _, id := range acked {
		if !all[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged keys lost in the crash", lost, len(acked))
	}
	t.Logf("%d keys acknowledged before SIGKILL, %d listed after restart", len(acked), len(all))
	roundTrip(t, c, acked[len(acked)-1], []byte("after crash"), nil)
}

// TestMACWhileMaterialDeleted: GenerateMac requests under an HMAC key with
// imported material while its material is deleted and imported again. A
// request that resolved the key before the deletion computed its MAC with
// material the deletion wiped meanwhile (an empty key: a MAC anyone can
// compute); every MAC answered must be the material's.
func TestMACWhileMaterialDeleted(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	k, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256,
		KeyUsage: types.KeyUsageTypeGenerateVerifyMac, Origin: types.OriginTypeExternal})
	must(t, err)
	id := aws.ToString(k.KeyMetadata.KeyId)
	material := randomBytes(t, 32)
	must(t, importMaterial(t, c, id, material, kms.ImportKeyMaterialInput{}))

	msg := []byte("message")
	h := hmac.New(sha256.New, material)
	h.Write(msg)
	want := h.Sum(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var answered, wrong atomic.Int64
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
				out, err := c.GenerateMac(ctx(t), &kms.GenerateMacInput{KeyId: aws.String(id), Message: msg,
					MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
				if err != nil {
					continue // the material is deleted
				}
				answered.Add(1)
				if !hmac.Equal(out.Mac, want) {
					wrong.Add(1)
				}
			}
		}()
	}
	for range 20 {
		_, err := c.DeleteImportedKeyMaterial(ctx(t), &kms.DeleteImportedKeyMaterialInput{KeyId: aws.String(id)})
		must(t, err)
		must(t, importMaterial(t, c, id, material, kms.ImportKeyMaterialInput{}))
	}
	close(stop)
	wg.Wait()
	if wrong.Load() > 0 || answered.Load() == 0 {
		t.Errorf("%d of %d MACs answered were not the key material's", wrong.Load(), answered.Load())
	}
}
