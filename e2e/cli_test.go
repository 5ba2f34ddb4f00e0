package e2e

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// awsCLI returns the AWS CLI the script will use ("" if none).
func awsCLI() string {
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		return "/usr/bin/aws"
	}
	p, _ := exec.LookPath("aws")
	return p
}

var summaryRE = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed$`)

// TestCLIAndBoto3 runs e2e/cli_test.sh (AWS CLI and boto3 against a dev
// server). Without the tools it skips, loudly, unless CI is set: under CI a
// missing tool is a failure.
func TestCLIAndBoto3(t *testing.T) {
	t.Parallel()
	var missing []string
	if awsCLI() == "" {
		missing = append(missing, "the aws CLI (apt-get install awscli)")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import boto3").Run(); err != nil {
		missing = append(missing, "/usr/bin/python3 with boto3 (apt-get install python3-boto3)")
	}
	if len(missing) > 0 {
		msg := "e2e: SKIPPING the AWS CLI / boto3 end-to-end test: missing " + strings.Join(missing, " and ") +
			". Install them (see .ci/run) to run it."
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " CI is set, so this is a failure.")
		}
		t.Skip("\n\n!!!!!!!! " + msg + " !!!!!!!!\n")
	}

	c, cancel := context.WithTimeout(context.Background(), 8*time.Minute) // ~2 min on an idle machine; much more under load
	defer cancel()
	cmd := exec.CommandContext(c, "bash", "cli_test.sh")
	// When the deadline kills bash, its children (aws, python) may hold the
	// output pipe: stop waiting for them after a while.
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(serverEnv(), "TRENT_BIN="+trentBin, "AWS_CLI="+awsCLI(), "PYTHON=/usr/bin/python3")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("cli_test.sh (%v):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("cli_test.sh failed: %v", err)
	}
	m := summaryRE.FindAllStringSubmatch(string(out), -1)
	if len(m) == 0 || m[len(m)-1][2] != "0" || m[len(m)-1][1] == "0" {
		t.Fatal("cli_test.sh printed no `N passed, 0 failed` summary")
	}
}
