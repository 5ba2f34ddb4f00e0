package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestEnvelopeCLISpecialOutput runs `trent encrypt` and `trent decrypt` with
// -o naming a FIFO: they must write into it, not rename a temporary file over
// it (with -o /dev/null as root, that replaces the system's /dev/null).
func TestEnvelopeCLISpecialOutput(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	key := aws.ToString(newKey(t, s.dev(), "envelope cli").KeyId)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	must(t, os.WriteFile(in, []byte("to a fifo"), 0o600))
	env := append(serverEnv(), "AWS_ACCESS_KEY_ID="+devAccessKey, "AWS_SECRET_ACCESS_KEY="+devSecretKey,
		"AWS_REGION="+devRegion, "AWS_CONFIG_FILE="+filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"))

	// toFIFO runs trent args... -o FIFO and returns what came out of the FIFO.
	toFIFO := func(name string, args ...string) []byte {
		fifo := filepath.Join(dir, name)
		must(t, syscall.Mkfifo(fifo, 0o600))
		r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		must(t, err)
		defer r.Close()
		got := make(chan []byte, 1)
		stop := make(chan struct{})
		go func() {
			var buf bytes.Buffer
			b := make([]byte, 4096)
			for {
				n, err := r.Read(b)
				buf.Write(b[:n])
				if err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, io.EOF) {
					break
				}
				select {
				case <-stop:
					// drain what is left
					for {
						n, _ := r.Read(b)
						if n <= 0 {
							break
						}
						buf.Write(b[:n])
					}
					got <- buf.Bytes()
					return
				default:
				}
				if n == 0 {
					time.Sleep(5 * time.Millisecond)
				}
			}
			got <- buf.Bytes()
		}()
		// Flags must precede the input file: trent SUBCOMMAND -o FIFO args[1:]...
		cmd := exec.Command(trentBin, append([]string{args[0], "-o", fifo}, args[1:]...)...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err = cmd.Run()
		close(stop)
		out := <-got
		fi, serr := os.Lstat(fifo)
		if serr != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Fatalf("trent %s -o FIFO replaced the FIFO (now %v, %v); stderr: %s", args[0], fi.Mode(), serr, stderr.String())
		}
		if err != nil {
			t.Fatalf("trent %s -o FIFO: %v\n%s", args[0], err, stderr.String())
		}
		return out
	}

	msg := toFIFO("enc.fifo", "encrypt", "--endpoint-url", s.URL, "--key", key, in)
	if len(msg) == 0 {
		t.Fatal("trent encrypt wrote nothing into the FIFO")
	}
	encFile := filepath.Join(dir, "msg.enc")
	must(t, os.WriteFile(encFile, msg, 0o600))
	if got := toFIFO("dec.fifo", "decrypt", "--endpoint-url", s.URL, encFile); string(got) != "to a fifo" {
		t.Errorf("trent decrypt into a FIFO gave %q", got)
	}

	// A message that fails, decrypted into something written as it comes
	// (here /dev/stdout, a pipe): what was written is not authenticated,
	// and trent says so.
	cut := filepath.Join(dir, "cut.enc")
	must(t, os.WriteFile(cut, msg[:len(msg)-1], 0o600))
	cmd := exec.Command(trentBin, "decrypt", "-o", "/dev/stdout", "--endpoint-url", s.URL, cut)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !bytes.Contains(stderr.Bytes(), []byte("not authenticated: discard it")) {
		t.Errorf("trent decrypt -o /dev/stdout of a cut message: %v, stderr %q", err, stderr.String())
	}
}
