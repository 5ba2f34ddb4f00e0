// Package softhsmtest gives tests a SoftHSM2 token (Debian's softhsm2
// package, which .ci/run installs). The token directory and its
// configuration live in a temporary directory made once per test process
// (SOFTHSM2_CONF is process-wide); each call initialises a fresh token in
// it. Without SoftHSM2 the test is skipped with a loud message, except
// under CI=true, where it fails.
package softhsmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keyring/pkcs11"
)

// PIN is the user PIN of every test token.
const PIN = "1234-test-pin"

var libs = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

var (
	once   sync.Once
	lib    string
	setup  error
	n      atomic.Int64
	initMu sync.Mutex
)

func prepare() {
	for _, l := range libs {
		if _, err := os.Stat(l); err == nil {
			lib = l
			break
		}
	}
	if lib == "" {
		setup = fmt.Errorf("the SoftHSM2 module is not installed (looked in %s)", strings.Join(libs, ", "))
		return
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		setup = fmt.Errorf("softhsm2-util is not on PATH")
		return
	}
	if !pkcs11.Supported {
		setup = fmt.Errorf("this build has no PKCS#11 support (cgo off or the nopkcs11 tag)")
		return
	}
	dir, err := os.MkdirTemp("", "trent-softhsm-")
	if err != nil {
		setup = err
		return
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		setup = err
		return
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		setup = err
		return
	}
	os.Setenv("SOFTHSM2_CONF", conf)
}

// Token initialises a fresh token and returns the seal configuration of a
// key labelled "trent-seal" in it (generated on first Open with create).
// SoftHSM2 lists the tokens that existed when the module was initialised,
// and the module stays initialised in the process while it has a user (a
// Keyring, a Token, or this package's own calls, which hold it only while
// they run): make every token a test needs before opening a keyring on any
// of them.
func Token(t testing.TB) pkcs11.Config {
	t.Helper()
	once.Do(prepare)
	if setup != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("SoftHSM2 is required under CI=true: %v (.ci/run installs the softhsm2 package)", setup)
		}
		t.Skipf("SKIPPING SoftHSM2 TEST: %v; install the Debian package softhsm2 (CI fails here)", setup)
	}
	label := fmt.Sprintf("trent-%d-%d", os.Getpid(), n.Add(1))
	initMu.Lock()
	defer initMu.Unlock()
	for attempt := 1; ; attempt++ {
		out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "5678-test-so-pin").CombinedOutput()
		if err == nil {
			break
		}
		// --free reads every token to find a free slot, and a token that a
		// server of a parallel test is writing at that moment cannot be
		// read ("Could not get info about the token in slot N"): nothing
		// was made, so try again, unless the token was made after all.
		if attempt == 5 || !bytes.Contains(out, []byte("Could not get info about the token")) {
			t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
		}
		if hasToken(label) {
			break
		}
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
	}
	return pkcs11.Config{Lib: lib, TokenLabel: label, KeyLabel: "trent-seal", PIN: PIN}
}

// hasToken reports whether softhsm2-util lists a token labelled label.
func hasToken(label string) bool {
	out, _ := exec.Command("softhsm2-util", "--show-slots").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "Label:" && f[1] == label {
			return true
		}
	}
	return false
}
