//go:build unix

package kms

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keyring/pkcs11/softhsmtest"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// TestCloudHSMSlowClusterNoStall: while one cluster's token takes its time
// to log in (its module is a FIFO that dlopen waits on), the keys of
// another cluster encrypt, and a store is created on a third (whose check
// loads the module again), instead of waiting for it. The bound only
// detects a hang.
func TestCloudHSMSlowClusterNoStall(t *testing.T) {
	tokA, tokB, tokC := hsmToken(t, 4), hsmToken(t, 5), hsmToken(t, 6)
	const clusterB, clusterC = "cluster-bbbbbbbbbbb", "cluster-ccccccccccc"
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	st := memstore.New()
	first, storeA := newHSMService(t, st, clk.Now, tokA)
	kA, err := first.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: storeA})
	if err != nil {
		t.Fatal(err)
	}
	first.Wipe()

	fifo := filepath.Join(t.TempDir(), "slow-module.so")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(bg, Config{Store: st, Now: clk.Now, CloudHSMClusters: map[string]CloudHSMCluster{
		hsmCluster: {Module: fifo, TokenLabel: tokA.TokenLabel},
		clusterB:   {Module: tokB.Lib, TokenLabel: tokB.TokenLabel},
		clusterC:   {Module: tokC.Lib, TokenLabel: tokC.TokenLabel},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Wipe()
	storeB, err := s.CreateCustomKeyStore(bg, caller, &CreateCustomKeyStoreInput{CustomKeyStoreName: "b", CloudHsmClusterId: clusterB,
		TrustAnchorCertificate: softhsmtest.TrustAnchor(t), KeyStorePassword: softhsmtest.PIN})
	if err != nil {
		t.Fatal(err)
	}
	connectHSMStore(t, s, storeB.CustomKeyStoreId)
	kB, err := s.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: storeB.CustomKeyStoreId})
	if err != nil {
		t.Fatal(err)
	}
	encryptB := func() error {
		_, err := s.Encrypt(bg, caller, &EncryptInput{KeyId: kB.KeyMetadata.KeyId, Plaintext: []byte("b")})
		return err
	}
	if err := encryptB(); err != nil {
		t.Fatal(err)
	}

	// A key of cluster A: its token's first login waits on the FIFO.
	slow := make(chan error, 1)
	go func() {
		_, err := s.Encrypt(bg, caller, &EncryptInput{KeyId: kA.KeyMetadata.KeyId, Plaintext: []byte("a")})
		slow <- err
	}()
	// dlopen has the FIFO open once a writer may open it without waiting;
	// with the writer open, it waits on the read until the writer closes.
	var w int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if w, err = syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			break
		}
		if !errors.Is(err, syscall.ENXIO) || time.Now().After(deadline) {
			t.Fatalf("the slow cluster's module was not opened: %v", err)
		}
	}
	defer func() {
		syscall.Close(w) // dlopen reads the end of the file and fails
		select {
		case err := <-slow:
			wantErr(t, err, "KMSInvalidStateException", "*")
		case <-time.After(30 * time.Second):
			t.Error("the slow cluster's Encrypt did not end with its module")
		}
	}()

	done := make(chan error, 2)
	anchor := softhsmtest.TrustAnchor(t)
	go func() { done <- encryptB() }()
	go func() {
		_, err := s.CreateCustomKeyStore(bg, caller, &CreateCustomKeyStoreInput{CustomKeyStoreName: "c", CloudHsmClusterId: clusterC,
			TrustAnchorCertificate: anchor, KeyStorePassword: softhsmtest.PIN})
		done <- err
	}()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("another cluster's call while one logs in: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("another cluster's call waited for the slow cluster's login")
		}
	}
}
