package kmsseal

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
)

// FuzzReadCredentials: readCredentials reads a shared-credentials file the
// way the AWS SDK does: whenever it returns the [default] profile's access
// key id, secret and session token, the SDK's own loader reads the same
// three values; it never panics, even where the SDK's parser does.
func FuzzReadCredentials(f *testing.F) {
	for _, s := range []string{
		"[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s3cr3t\n",
		"[other]\naws_access_key_id=A\naws_secret_access_key=B\n[default]\naws_access_key_id=C\naws_secret_access_key=D\n",
		"# comment\n[ default ]\n aws_access_key_id\t=\tA \n\taws_secret_access_key = B ; note\n",
		"[default]\naws_access_key_id = A # note\naws_secret_access_key = B=C\n",
		"[default]\nAWS_ACCESS_KEY_ID = A\naws_secret_access_key = B\naws_access_key_id = E\n",
		"[profile default]\naws_access_key_id = A\naws_secret_access_key = B\n",
		"[default]\naws_access_key_id = \"A\"\naws_secret_access_key = 'B'\n",
		"[default]\r\naws_access_key_id = A\r\naws_secret_access_key = B\r\n",
		"[default]\naws_access_key_id = ASIAEXAMPLE\naws_secret_access_key = s3cr3t\naws_session_token = IQoJb3JpZ2luX2VjE/==\n",
		"=\"", // the SDK's parser panics on it
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "credentials")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cred, err := readCredentials(context.Background(), path)
		if err != nil {
			return
		}
		sc, err := config.LoadSharedConfigProfile(context.Background(), "default", func(o *config.LoadSharedConfigOptions) {
			o.CredentialsFiles = []string{path}
			o.ConfigFiles = []string{}
		})
		if err != nil {
			t.Fatalf("readCredentials gives %q, %q, %q; the SDK: %v", cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken, err)
		}
		if sc.Credentials.AccessKeyID != cred.AccessKeyID || sc.Credentials.SecretAccessKey != cred.SecretAccessKey ||
			sc.Credentials.SessionToken != cred.SessionToken {
			t.Fatalf("readCredentials gives %q, %q, %q; the SDK %q, %q, %q", cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken,
				sc.Credentials.AccessKeyID, sc.Credentials.SecretAccessKey, sc.Credentials.SessionToken)
		}
	})
}
