package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/xks"
)

const xksCredentialUsage = `Usage: trent xks-credential [--profile NAME]

Prints, as JSON, the credential an external key store needs to call Trent's
XKS proxy API with the access key of the AWS configuration (the environment,
the shared credentials file or --profile): the access key id and its proxy
secret, derived from the access key's secret (docs/xks.md). Give it to
CreateCustomKeyStore or UpdateCustomKeyStore of AWS KMS or of another Trent:

  aws kms create-custom-key-store ... \
    --xks-proxy-authentication-credential "$(trent xks-credential)"

Nothing is sent anywhere. Temporary credentials (with a session token) are
refused: a KMS signs its proxy calls with a long-term access key.

Flags:
`

func init() {
	commands["xks-credential"] = command{summary: "print the XKS proxy credential of an access key", run: runXKSCredential,
		usage: xksCredentialUsage, flags: func() *flag.FlagSet { return xksCredentialFlags(new(string)) }}
}

func xksCredentialFlags(profile *string) *flag.FlagSet {
	fs := flag.NewFlagSet("trent xks-credential", flag.ContinueOnError)
	fs.StringVar(profile, "profile", "", "shared config `profile` (default: AWS_PROFILE, or default)")
	return fs
}

func runXKSCredential(args []string) int {
	var profile string
	pos, code, ok := parseFlags("xks-credential", xksCredentialFlags(&profile), xksCredentialUsage, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		errorf("xks-credential: unexpected argument %q", pos[0])
		hintf("run 'trent xks-credential -h' for the flags")
		return 2
	}
	ctx := context.Background()
	// The instance metadata service would only give temporary credentials,
	// which are refused below: it is not asked (nothing is sent anywhere).
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled)}
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		fail(fmt.Errorf("xks-credential: loading AWS configuration: %w", err))
		return 1
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil || !creds.HasKeys() {
		fail(&server.HintError{Err: errors.New("xks-credential: no AWS access key in the environment, the shared credentials file or the profile"),
			Advice: "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the IAM user the proxy calls are to act as"})
		return 1
	}
	if creds.SessionToken != "" {
		fail(&server.HintError{Err: errors.New("xks-credential: temporary credentials (with a session token) cannot call the XKS proxy"),
			Advice: "use a long-term access key of an IAM user (aws iam create-access-key)"})
		return 1
	}
	out, _ := json.Marshal(map[string]string{"AccessKeyId": creds.AccessKeyID, "RawSecretAccessKey": xks.ProxySecret(creds.SecretAccessKey)})
	fmt.Fprintln(os.Stdout, string(out))
	return 0
}
