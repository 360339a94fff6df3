package registry

import (
	"errors"
	"strings"
	"testing"
)

// Reference codes whose check characters were computed independently of
// this package (the first is the worked example of GB 32100 guidance).
func TestCheckCreditCode(t *testing.T) {
	for _, code := range []string{"91350100M000100Y43", "91110000802100433B"} {
		if err := CheckCreditCode(code); err != nil {
			t.Errorf("CheckCreditCode(%q) = %v, want nil", code, err)
		}
		if got := CreditCodeCheckChar(code[:17]); got != code[17] {
			t.Errorf("CreditCodeCheckChar(%q) = %q, want %q", code[:17], got, code[17])
		}
	}
	for _, tc := range []struct{ code, want string }{
		{"91350100M000100Y4", "18 characters"},
		{"91350100M000100Y433", "18 characters"},
		{"9135010IM000100Y43", "is not one of"},
		{"91350100m000100Y43", "is not one of"},
		{"91A50100M000100Y43", "must be digits"},
		{"91350100M000100Y44", "check character"},
		{"九一三五零一零零M零零零一零零Y四三", "some are not ASCII"},
		{"九一三五", "got 4"},
	} {
		if err := CheckCreditCode(tc.code); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckCreditCode(%q) = %v, want an error about %q", tc.code, err, tc.want)
		}
	}
}

func TestValidate_EnumMessages(t *testing.T) {
	for _, tc := range []struct {
		kind EntityKind
		want string
	}{{0, "is required: one of"}, {7, "got the unknown value 7"}, {-1, "got the unknown value -1"}} {
		err := (&Entity{ID: "acme", DisplayName: "Acme", Kind: tc.kind}).Validate("entity.")
		var e *Error
		if !errors.As(err, &e) || len(e.Violations) != 1 || e.Violations[0].Field != "entity.kind" || !strings.Contains(e.Violations[0].Description, tc.want) {
			t.Errorf("kind %d: %v, want one violation of entity.kind saying %q", tc.kind, err, tc.want)
		}
	}
}
