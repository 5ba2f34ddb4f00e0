// Package pgtest gives tests a real PostgreSQL server. A test package calls
// Main from its TestMain; its tests then call URL for a new, empty database
// of their own (dropped when the test ends) on one server started for the
// whole package on first use: initdb in a temporary directory (once per
// package, about a second), a free loopback port, the unix socket in the
// same directory. Tests that stop and start the server get a server of
// their own with Start.
//
// The binaries are found in /usr/lib/postgresql/<version>/bin (Debian's
// postgresql package, the newest version) or on PATH. PostgreSQL refuses to
// run as root: as root, the server runs as the unprivileged user "postgres"
// (created by Debian's package) or, failing that, "nobody".
//
// KMS_TEST_POSTGRES_URL (postgres://user:pass@host:port/db) points the tests
// at an existing server instead; its user must be allowed to create
// databases. Tests that need a server of their own still start one.
//
// Without PostgreSQL the tests skip, loudly; under CI (CI=true) they fail.
package pgtest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the environment variable of an existing server to use.
const EnvURL = "KMS_TEST_POSTGRES_URL"

var (
	shared     *Instance // the package's server, started by the first URL call
	sharedErr  error
	sharedOnce sync.Once

	external     *pgxpool.Pool // admin pool of the KMS_TEST_POSTGRES_URL server
	externalURL  *url.URL
	externalErr  error
	externalOnce sync.Once

	tmpl     string // initdb'd data directory that instances copy
	tmplErr  error
	tmplOnce sync.Once

	cleanupMu sync.Mutex
	cleanups  []func()
)

// Main runs the package's tests, then stops the servers this package
// started and removes their directories. Use it as TestMain's body:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	cleanupMu.Lock()
	fns := slices.Clone(cleanups)
	cleanups = nil
	cleanupMu.Unlock()
	for _, fn := range slices.Backward(fns) {
		fn()
	}
	return code
}

func atExit(fn func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, fn)
}

// URL returns the URL of a new, empty database for t on the package's
// server (or on KMS_TEST_POSTGRES_URL's), dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	if os.Getenv(EnvURL) != "" {
		externalOnce.Do(openExternal)
		if externalErr != nil {
			t.Fatalf("pgtest: %s: %v", EnvURL, externalErr)
		}
		return newDatabase(t, external, externalURL)
	}
	sharedOnce.Do(func() {
		shared, sharedErr = start()
		if shared != nil {
			atExit(shared.stop)
		}
	})
	if sharedErr != nil {
		unavailable(t, sharedErr)
	}
	return shared.URL(t)
}

// Instance is a PostgreSQL server of the test's own.
type Instance struct {
	dir  string // owned by the server's user: data/, the socket, the log
	bin  string // directory of initdb and postgres
	cred *syscall.Credential
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *lockedBuffer
	admin  *pgxpool.Pool
}

// Start starts a server of the test's own (a copy of a fresh cluster; the
// first one in a package runs initdb), stopped and removed when t ends.
func Start(t testing.TB) *Instance {
	t.Helper()
	in, err := start()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(in.stop)
	return in
}

// errNotInstalled marks a missing PostgreSQL installation.
var errNotInstalled = errors.New("PostgreSQL is not installed")

func unavailable(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, errNotInstalled) {
		t.Fatalf("pgtest: %v", err)
	}
	msg := fmt.Sprintf("pgtest: %v: install Debian's postgresql package (.ci/run does) or set %s", err, EnvURL)
	if ci := os.Getenv("CI"); ci != "" && ci != "0" && ci != "false" {
		t.Fatalf("%s (CI=%s: PostgreSQL tests must run)", msg, ci)
	}
	loudOnce.Do(func() { fmt.Fprintf(os.Stderr, "\n*** SKIPPING PostgreSQL tests: %s ***\n\n", msg) })
	t.Skip(msg)
}

var loudOnce sync.Once

// findBin returns the directory holding initdb and postgres.
func findBin() (string, error) {
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) > 0 {
		// Newest version first: numeric order of the version directory.
		slices.SortFunc(dirs, func(a, b string) int {
			va, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(a)), 64)
			vb, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(b)), 64)
			return cmp.Compare(vb, va)
		})
		for _, d := range dirs {
			if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
				return d, nil
			}
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		p, _ = filepath.EvalSymlinks(p)
		if d := filepath.Dir(p); isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w (no initdb and postgres in /usr/lib/postgresql/*/bin or on PATH)", errNotInstalled)
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// serverUser returns the credentials to run the server with: nil when we
// are not root, else those of "postgres" or "nobody".
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("running as root and no unprivileged user (postgres or nobody) to run PostgreSQL as")
}

// mkdir makes a new temporary directory owned by the server's user.
func mkdir(cred *syscall.Credential, pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// template runs initdb once per process into a directory that instances copy.
func template() (string, error) {
	tmplOnce.Do(func() {
		bin, err := findBin()
		if err != nil {
			tmplErr = err
			return
		}
		cred, err := serverUser()
		if err != nil {
			tmplErr = err
			return
		}
		dir, err := mkdir(cred, "trent-pgtmpl-")
		if err != nil {
			tmplErr = err
			return
		}
		atExit(func() { os.RemoveAll(dir) })
		data := filepath.Join(dir, "data")
		cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
			"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			tmplErr = fmt.Errorf("initdb: %v\n%s", err, out)
			return
		}
		tmpl = data
	})
	return tmpl, tmplErr
}

func start() (*Instance, error) {
	data, err := template()
	if err != nil {
		return nil, err
	}
	bin, _ := findBin()
	cred, _ := serverUser()
	dir, err := mkdir(cred, "trent-pg-")
	if err != nil {
		return nil, err
	}
	in := &Instance{dir: dir, bin: bin, cred: cred}
	if err := copyDir(data, filepath.Join(dir, "data"), cred); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("copy the template cluster: %w", err)
	}
	var errs []error
	for range 3 { // a free port can be taken between choosing and binding it
		if in.port, err = freePort(); err != nil {
			break
		}
		if err = in.Restart(); err == nil {
			return in, nil
		}
		errs = append(errs, err)
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("start PostgreSQL: %w", errors.Join(append(errs, err)...))
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Restart starts the server again after Stop or Crash (on the same port
// and data). It returns once the server accepts connections.
func (in *Instance) Restart() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd != nil {
		return errors.New("pgtest: server already running")
	}
	cmd := exec.Command(filepath.Join(in.bin, "postgres"), "-D", filepath.Join(in.dir, "data"),
		"-p", strconv.Itoa(in.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+in.dir,
		// Tests need speed, not durability across power loss.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB", "-c", "huge_pages=off",
		"-c", "log_min_messages=warning", "-c", "log_min_error_statement=panic")
	cmd.Dir = in.dir
	// The server dies with the test binary, even if Main's cleanup never runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: in.cred, Pdeathsig: syscall.SIGQUIT}
	in.log = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = in.log, in.log
	// Backends outlive a killed postmaster for a moment and hold its output
	// pipe: Wait gives up on the pipe this long after the postmaster exits.
	cmd.WaitDelay = 5 * time.Second
	runtime.LockOSThread() // Pdeathsig follows the thread that started the process
	err := cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	in.cmd, in.exited = cmd, exited

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, in.adminURL())
		if err == nil {
			c.Close(ctx)
			return nil
		}
		select {
		case <-exited:
			in.cmd = nil
			return fmt.Errorf("pgtest: postgres exited: %s", in.log)
		case <-ctx.Done():
			in.kill(syscall.SIGKILL)
			return fmt.Errorf("pgtest: postgres did not accept connections within a minute: %v\n%s", err, in.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop shuts the server down as an operator would (fast shutdown: running
// transactions are rolled back, clients disconnected).
func (in *Instance) Stop() { in.mu.Lock(); defer in.mu.Unlock(); in.kill(syscall.SIGINT) }

// Freeze stops (SIGSTOP) the server and every backend: connections stay
// open but nothing answers, as with a hung machine or a silent network.
func (in *Instance) Freeze() { in.mu.Lock(); defer in.mu.Unlock(); in.signalAll(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (in *Instance) Thaw() { in.mu.Lock(); defer in.mu.Unlock(); in.signalAll(syscall.SIGCONT) }

// signalAll signals the postmaster and its children (each of which runs in
// a session of its own, so a process group signal would miss them). The
// caller holds mu.
func (in *Instance) signalAll(sig syscall.Signal) {
	if in.cmd == nil {
		return
	}
	pid := in.cmd.Process.Pid
	if sig == syscall.SIGSTOP {
		syscall.Kill(pid, sig) // first, so that it forks no new backend
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			syscall.Kill(child, sig)
		}
	}
	if sig != syscall.SIGSTOP {
		syscall.Kill(pid, sig)
	}
}

func (in *Instance) kill(sig syscall.Signal) {
	if in.cmd == nil {
		return
	}
	in.signalAll(syscall.SIGCONT) // in case it was frozen
	in.cmd.Process.Signal(sig)
	select {
	case <-in.exited:
	case <-time.After(30 * time.Second):
		in.cmd.Process.Kill()
		<-in.exited
	}
	in.cmd = nil
}

func (in *Instance) stop() {
	in.mu.Lock()
	if in.admin != nil {
		in.admin.Close()
		in.admin = nil
	}
	in.kill(syscall.SIGINT)
	in.mu.Unlock()
	os.RemoveAll(in.dir)
}

func (in *Instance) adminURL() string { return in.dbURL("postgres").String() }

func (in *Instance) dbURL(db string) *url.URL {
	return &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(in.port)),
		Path: "/" + db, RawQuery: "sslmode=disable"}
}

// URL returns the URL of a new, empty database for t, dropped when t ends.
func (in *Instance) URL(t testing.TB) string {
	t.Helper()
	in.mu.Lock()
	if in.admin == nil {
		var err error
		in.admin, err = pgxpool.New(context.Background(), in.adminURL()+"&pool_max_conns=4")
		if err != nil {
			in.mu.Unlock()
			t.Fatalf("pgtest: %v", err)
		}
	}
	admin := in.admin
	in.mu.Unlock()
	return newDatabase(t, admin, in.dbURL("postgres"))
}

func openExternal() {
	u, err := url.Parse(os.Getenv(EnvURL))
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		externalErr = errors.New("want a URL postgres://user:password@host:port/database")
		return
	}
	external, externalErr = pgxpool.New(context.Background(), u.String())
	if externalErr == nil {
		externalURL = u
		atExit(external.Close)
	}
}

// newDatabase creates a database named after t on admin's server and
// returns base with its path replaced by the database.
func newDatabase(t testing.TB, admin *pgxpool.Pool, base *url.URL) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "t_" + sanitize(t.Name()) + "_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	var version int
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err == nil && version >= 150000 {
		create += " STRATEGY FILE_COPY" // faster than WAL_LOG for a small template
	}
	if _, err := admin.Exec(ctx, create); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends the sessions a failed test may have left open.
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	u := *base
	u.Path = "/" + name
	return u.String()
}

// sanitize keeps a short, identifier-safe form of a test name.
func sanitize(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if b.Len() >= 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// copyDir copies the directory tree src to dst (modes kept), owned by cred.
func copyDir(src, dst string, cred *syscall.Credential) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := copyFile(p, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unexpected file type %v", p, info.Mode().Type())
		}
		if cred != nil {
			return os.Lchown(target, int(cred.Uid), int(cred.Gid))
		}
		return nil
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
