package awsjson

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestAPICoverageDoc keeps docs/api-coverage.md true: its table lists AWS
// KMS's 56 operations, those marked supported or partial are the ones this
// package routes (and no others), and its totals add up.
func TestAPICoverageDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api-coverage.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| (\d+) \| (\w+) \| (supported|partial|missing) \|`)
	count := map[string]int{}
	listed := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		op, status := m[2], m[3]
		listed[op] = true
		count[status]++
		_, routed := operations["TrentService."+op]
		if routed != (status != "missing") {
			t.Errorf("docs/api-coverage.md says %s is %s, but the server routes it: %v", op, status, routed)
		}
	}
	if len(listed) != 56 {
		t.Errorf("docs/api-coverage.md lists %d operations, want AWS KMS's 56", len(listed))
	}
	for target := range operations {
		if op := strings.TrimPrefix(target, "TrentService."); !listed[op] {
			t.Errorf("the server routes %s, which docs/api-coverage.md does not list", op)
		}
	}
	totals := fmt.Sprintf("Totals: **%d supported**, **%d partial**, **%d missing**", count["supported"], count["partial"], count["missing"])
	if !strings.Contains(string(doc), totals) {
		t.Errorf("docs/api-coverage.md's totals are not %q", totals)
	}
}
