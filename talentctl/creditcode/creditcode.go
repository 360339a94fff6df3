// Package creditcode makes unified social credit codes (GB 32100-2015), the
// 18-character identifiers of Chinese organisations, for generated data.
// Checking them is the registry domain's job (registry.CheckCreditCode).
//
// A code is laid out as: registration authority (1 character), organisation
// type (1), administrative division (6 digits), organisation code (9, itself
// ending in a GB 11714 check character) and the check character (1).
package creditcode

import (
	"fmt"

	"talentreg/services/registry"
)

// Length is the length of a code.
const Length = 18

// OrgCodeCheck returns the GB 11714 check character of an 8-digit
// organisation code body, the 9th character of an organisation code.
func OrgCodeCheck(body string) (byte, error) {
	w := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	if len(body) != 8 {
		return 0, fmt.Errorf("organisation code body %q: must be 8 characters", body)
	}
	sum := 0
	for i := 0; i < 8; i++ {
		c := body[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		default:
			return 0, fmt.Errorf("organisation code body %q: may only hold 0-9 and A-Z", body)
		}
		sum += v * w[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X', nil
	case 11:
		return '0', nil
	default:
		return byte('0' + c), nil
	}
}

// Make builds a complete code from a 2-character registration prefix
// (authority and organisation type, e.g. "91" for an enterprise, "12" for a
// public institution), a 6-digit administrative division code and an
// 8-digit organisation code body, adding both check characters.
func Make(prefix, division, body string) (string, error) {
	if len(prefix) != 2 || len(division) != 6 {
		return "", fmt.Errorf("prefix %q and division %q: must be 2 and 6 characters", prefix, division)
	}
	oc, err := OrgCodeCheck(body)
	if err != nil {
		return "", err
	}
	first := prefix + division + body + string(oc)
	code := first + string(registry.CreditCodeCheckChar(first))
	// The registry's own check: the generator can only produce what the
	// registry accepts.
	if err := registry.CheckCreditCode(code); err != nil {
		return "", fmt.Errorf("prefix %q, division %q, body %q: %w", prefix, division, body, err)
	}
	return code, nil
}
