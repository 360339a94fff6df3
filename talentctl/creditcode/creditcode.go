// Package creditcode computes and checks unified social credit codes
// (GB 32100-2015), the 18-character identifiers of Chinese organisations.
//
// A code is laid out as: registration authority (1 character), organisation
// type (1), administrative division (6 digits), organisation code (9, itself
// ending in a GB 11714 check character) and the check character (1).
package creditcode

import (
	"errors"
	"fmt"
	"strings"
)

// Alphabet holds the 31 characters a code may contain, in value order: the
// value of a character is its index.
const Alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// Length is the length of a code.
const Length = 18

var weights = [Length - 1]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// Errors returned by Validate and CheckChar.
var (
	// ErrLength is returned when a code is not 18 characters long (or a
	// prefix passed to CheckChar not 17).
	ErrLength = errors.New("must be 18 characters")
	// ErrCharacter is returned when a code holds a character outside Alphabet.
	ErrCharacter = errors.New("may only hold 0-9 and A-Y without I, O, S, V, Z")
	// ErrCheck is returned when the check character does not match.
	ErrCheck = errors.New("check character does not match")
)

// CheckChar returns the check character for the first 17 characters of a
// code. It returns ErrLength or ErrCharacter for a malformed prefix.
func CheckChar(prefix string) (byte, error) {
	if len(prefix) != Length-1 {
		return 0, fmt.Errorf("prefix %q: %w", prefix, ErrLength)
	}
	sum := 0
	for i := 0; i < Length-1; i++ {
		v := strings.IndexByte(Alphabet, prefix[i])
		if v < 0 {
			return 0, fmt.Errorf("prefix %q: %w", prefix, ErrCharacter)
		}
		sum += v * weights[i]
	}
	return Alphabet[(31-sum%31)%31], nil
}

// Validate reports whether code is a well-formed code with a matching check
// character; the error wraps ErrLength, ErrCharacter or ErrCheck.
func Validate(code string) error {
	if len(code) != Length {
		return ErrLength
	}
	want, err := CheckChar(code[:Length-1])
	if err != nil {
		return ErrCharacter
	}
	if code[Length-1] != want {
		return ErrCheck
	}
	return nil
}

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
	cc, err := CheckChar(first)
	if err != nil {
		return "", err
	}
	return first + string(cc), nil
}
