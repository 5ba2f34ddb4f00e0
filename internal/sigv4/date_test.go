package sigv4

import (
	"testing"
	"time"
)

// checkAmzDate fails t unless parseAmzDate of s declines or agrees with
// time.Parse and formats back to s.
func checkAmzDate(t *testing.T, s string) bool {
	t.Helper()
	got, ok := parseAmzDate(s)
	if !ok {
		return false
	}
	want, err := time.Parse(amzDateFormat, s)
	if err != nil {
		t.Fatalf("parseAmzDate(%q) took what time.Parse refuses: %v", s, err)
	}
	if got != want || got.Format(amzDateFormat) != s {
		t.Fatalf("parseAmzDate(%q) = %v, time.Parse %v", s, got, want)
	}
	return true
}

func TestParseAmzDate(t *testing.T) {
	for _, s := range []string{"20261202T163000Z", "20240229T235959Z", "00010101T000000Z", "99991231T235959Z"} {
		if !checkAmzDate(t, s) {
			t.Errorf("parseAmzDate declined %q", s)
		}
	}
	for _, s := range []string{
		"20230229T000000Z", "20261302T000000Z", "20261200T000000Z", "20261202T240000Z", "20261202T006000Z",
		"20261202T000060Z", "20261202 000000Z", "20261202T000000", "2026-12-02T00:00:00Z", "2026120T000000Z0",
		"+0261202T000000Z", "20261202T00000-Z", "",
	} {
		if checkAmzDate(t, s) {
			t.Errorf("parseAmzDate took %q", s)
		}
	}
}

func FuzzParseAmzDate(f *testing.F) {
	f.Add("20261202T163000Z")
	f.Add("20230229T000000Z")
	f.Fuzz(func(t *testing.T, s string) { checkAmzDate(t, s) })
}
