package server

import (
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/keyring/pkcs11"
	"github.com/trent-kms/trent/internal/kms"
)

// TestCloudHSMClustersSetting: the entries parse into clusters; malformed
// ones, a cluster id off AWS's pattern, a cluster or a token named twice,
// and the pkcs11 seal's token are refused.
func TestCloudHSMClustersSetting(t *testing.T) {
	got, err := ParseCloudHSMClusters(" cluster-abcdefghijk=/lib/a.so:tok a , cluster-bcdefghijkl=/lib/a.so:tok:b")
	want := map[string]kms.CloudHSMCluster{
		"cluster-abcdefghijk": {Module: "/lib/a.so", TokenLabel: "tok a"},
		"cluster-bcdefghijkl": {Module: "/lib/a.so", TokenLabel: "tok:b"},
	}
	if err != nil || len(got) != len(want) || got["cluster-abcdefghijk"] != want["cluster-abcdefghijk"] || got["cluster-bcdefghijkl"] != want["cluster-bcdefghijkl"] {
		t.Errorf("ParseCloudHSMClusters = %v, %v, want %v", got, err, want)
	}
	for _, bad := range []string{
		"cluster-abcdefghijk",
		"cluster-abcdefghijk=/lib/a.so",
		"cluster-abcdefghijk=:tok",
		"cluster-1bcdefghijk=/lib/a.so:tok",
		"cluster-abcdefghijk=/lib/a.so:a,cluster-abcdefghijk=/lib/a.so:b",
		"cluster-abcdefghijk=/lib/a.so:a,cluster-bcdefghijkl=/lib/a.so:a",
	} {
		if _, err := ParseCloudHSMClusters(bad); err == nil {
			t.Errorf("ParseCloudHSMClusters(%q) err = nil", bad)
		}
	}
	cfg := testConfig()
	cfg.Seal, cfg.PKCS11 = SealPKCS11, PKCS11Config{Lib: "/lib/a.so", TokenLabel: "seal", KeyLabel: "k"}
	cfg.CloudHSMClusters = "cluster-abcdefghijk=/lib/a.so:seal"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "the pkcs11 seal's token") {
		t.Errorf("Validate(a cluster on the seal's token) = %v", err)
	}
	cfg.CloudHSMClusters = "cluster-abcdefghijk=/lib/a.so:other"
	if err := cfg.Validate(); err != nil && strings.Contains(err.Error(), "cloudhsm") && pkcs11.Supported {
		t.Errorf("Validate(a cluster on another token) = %v", err)
	}
}
