package registry

import (
	"fmt"
	"unicode/utf8"
)

// creditCodeChars is the GB 32100-2015 alphabet: digits and upper-case
// letters without I, O, S, V and Z; a character's value is its index.
const creditCodeChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// creditCodeWeights are 3^i mod 31 for the first 17 positions.
var creditCodeWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

var creditCodeValue = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(creditCodeChars); i++ {
		v[creditCodeChars[i]] = int8(i)
	}
	return v
}()

// CheckCreditCode validates an 18-character unified social credit code
// (GB 32100-2015): its alphabet, the six-digit administrative division code
// in positions 3-8, and the check character in position 18.
func CheckCreditCode(code string) error {
	if len(code) != CreditCodeLen {
		if n := utf8.RuneCountInString(code); n == 18 {
			return fmt.Errorf("must be 18 characters of %s, got 18 characters of which some are not ASCII", creditCodeChars)
		}
		return fmt.Errorf("must be 18 characters, got %d", utf8.RuneCountInString(code))
	}
	for i := 0; i < 18; i++ {
		v := creditCodeValue[code[i]]
		if v < 0 {
			return fmt.Errorf("character %d (%q) is not one of %s", i+1, code[i], creditCodeChars)
		}
		if i >= 2 && i < 8 && v > 9 {
			return fmt.Errorf("characters 3-8 (administrative division code) must be digits")
		}
	}
	if want := CreditCodeCheckChar(code[:17]); code[17] != want {
		return fmt.Errorf("check character is %q, want %q (GB 32100-2015)", code[17], want)
	}
	return nil
}

// CreditCodeCheckChar returns the check character for the first 17
// characters of a credit code, which must be in the code's alphabet.
func CreditCodeCheckChar(first17 string) byte {
	sum := 0
	for i := 0; i < 17 && i < len(first17); i++ {
		sum += int(creditCodeValue[first17[i]]) * creditCodeWeights[i]
	}
	return creditCodeChars[(31-sum%31)%31]
}
