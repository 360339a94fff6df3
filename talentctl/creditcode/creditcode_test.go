package creditcode

import (
	"errors"
	"testing"
)

// Reference codes whose check characters were computed independently of
// this package (the first is the worked example used in GB 32100 guidance).
func TestValidate_KnownCodes(t *testing.T) {
	for _, code := range []string{
		"91350100M000100Y43",
		"91110000802100433B",
	} {
		if err := Validate(code); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", code, err)
		}
	}
}

func TestValidate_Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		code string
		want error
	}{
		{"short", "91350100M000100Y4", ErrLength},
		{"long", "91350100M000100Y433", ErrLength},
		{"letter I", "9135010IM000100Y43", ErrCharacter},
		{"lower case", "91350100m000100Y43", ErrCharacter},
		{"wrong check", "91350100M000100Y44", ErrCheck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Validate(tc.code); !errors.Is(err, tc.want) {
				t.Errorf("Validate(%q) = %v, want %v", tc.code, err, tc.want)
			}
		})
	}
}

func TestOrgCodeCheck_Known(t *testing.T) {
	// Organisation codes 80210043-3 and M000100Y-4 appear inside the codes
	// above; their 9th character is the GB 11714 check.
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
	if err := Validate(code); err != nil {
		t.Errorf("Validate(Make(...)) = %v", err)
	}
	if _, err := Make("9", "120116", "12345678"); err == nil {
		t.Error("Make with a 1-character prefix succeeded")
	}
}
