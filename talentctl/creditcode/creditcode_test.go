package creditcode

import (
	"testing"

	"talentreg/services/registry"
)

func TestOrgCodeCheck_Known(t *testing.T) {
	// Organisation codes 80210043-3 and M000100Y-4 appear inside the
	// reference codes 91110000802100433B and 91350100M000100Y43; their 9th
	// character is the GB 11714 check.
	for body, want := range map[string]byte{"80210043": '3', "M000100Y": '4'} {
		got, err := OrgCodeCheck(body)
		if err != nil || got != want {
			t.Errorf("OrgCodeCheck(%s) = %q, %v; want %q", body, got, err, want)
		}
	}
}

func TestMake_Validates(t *testing.T) {
	code, err := Make("91", "120116", "12345678")
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != Length {
		t.Fatalf("len(%q) = %d", code, len(code))
	}
	if err := registry.CheckCreditCode(code); err != nil {
		t.Errorf("Validate(Make(...)) = %v", err)
	}
	if _, err := Make("9", "120116", "12345678"); err == nil {
		t.Error("Make with a 1-character prefix succeeded")
	}
}
