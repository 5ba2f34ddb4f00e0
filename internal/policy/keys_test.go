package policy

import "testing"

// TestRecipientPCR: kms:RecipientAttestation:PCR<n> names PCR n only for n
// in canonical decimal, 0 to 31; the e2e test TestRecipientPCRKeyNames
// holds the service's policies to it.
func TestRecipientPCR(t *testing.T) {
	t.Parallel()
	for suffix, want := range map[string]int{"0": 0, "1": 1, "9": 9, "10": 10, "31": 31} {
		if n, ok := RecipientPCR(KeyRecipientPCR + suffix); !ok || n != want {
			t.Errorf("RecipientPCR(PCR%s) = %d, %v, want %d, true", suffix, n, ok, want)
		}
	}
	for _, name := range []string{KeyRecipientPCR, KeyRecipientPCR + "01", KeyRecipientPCR + "00", KeyRecipientPCR + "+1",
		KeyRecipientPCR + "-0", KeyRecipientPCR + " 1", KeyRecipientPCR + "1 ", KeyRecipientPCR + "32", KeyRecipientPCR + "100",
		KeyRecipientPCR + "0x1", KeyRecipientPCR + "1_0", KeyRecipientPCR + "٣", KeyRecipientImageSha384, "kms:RecipientAttestation:pcr1"} {
		if n, ok := RecipientPCR(name); ok {
			t.Errorf("RecipientPCR(%q) = %d, true, want false", name, n)
		}
	}
}
