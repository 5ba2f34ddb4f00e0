package server

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/trent-kms/trent/internal/keyring/pkcs11"
	"github.com/trent-kms/trent/internal/kms"
)

// clusterIDRE is AWS's pattern of a CloudHSM cluster id.
var clusterIDRE = regexp.MustCompile(`^cluster-[2-7a-zA-Z]{11,16}$`)

// ParseCloudHSMClusters parses the cloudhsm-clusters setting: entries
// CLUSTER-ID=MODULE:TOKEN-LABEL separated by commas (the module path ends
// at the first colon), each cluster id once and each token once.
func ParseCloudHSMClusters(text string) (map[string]kms.CloudHSMCluster, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	out := make(map[string]kms.CloudHSMCluster)
	tokens := make(map[kms.CloudHSMCluster]string)
	for _, entry := range strings.Split(text, ",") {
		entry = strings.TrimSpace(entry)
		id, loc, ok := strings.Cut(entry, "=")
		mod, label, ok2 := strings.Cut(loc, ":")
		id, mod, label = strings.TrimSpace(id), strings.TrimSpace(mod), strings.TrimSpace(label)
		switch {
		case !ok || !ok2 || mod == "" || label == "":
			return nil, fmt.Errorf("cloudhsm-clusters entry %q: want CLUSTER-ID=MODULE:TOKEN-LABEL", entry)
		case !clusterIDRE.MatchString(id):
			return nil, fmt.Errorf("cloudhsm-clusters: cluster id %q does not match %s", id, clusterIDRE)
		}
		cl := kms.CloudHSMCluster{Module: mod, TokenLabel: label}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("cloudhsm-clusters: cluster %s is listed twice", id)
		}
		if other, dup := tokens[cl]; dup {
			return nil, fmt.Errorf("cloudhsm-clusters: clusters %s and %s name the same token %q", other, id, label)
		}
		out[id], tokens[cl] = cl, id
	}
	return out, nil
}

func checkCloudHSMClusters(text string) error {
	_, err := ParseCloudHSMClusters(text)
	return err
}

// validateClusters: the clusters' tokens need PKCS#11 support, and none may
// be the pkcs11 seal's (a token's user login is one per process: a key
// store on the seal's token would find it logged in, and its password
// unchecked, so it would never connect).
func (c *Config) validateClusters() []error {
	cls, err := ParseCloudHSMClusters(c.CloudHSMClusters)
	if err != nil {
		return []error{fmt.Errorf("server: %w", err)}
	}
	if len(cls) == 0 {
		return nil
	}
	var errs []error
	if !pkcs11.Supported {
		errs = append(errs, errors.New("server: --cloudhsm-clusters: this binary was built without cgo (or with the nopkcs11 tag)"))
	}
	for id, cl := range cls {
		if c.Seal == SealPKCS11 && cl.Module == c.PKCS11.Lib && cl.TokenLabel == c.PKCS11.TokenLabel {
			errs = append(errs, fmt.Errorf("server: --cloudhsm-clusters: cluster %s names the pkcs11 seal's token %q", id, cl.TokenLabel))
		}
	}
	return errs
}
