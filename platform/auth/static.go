package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// staticToken is one line of the static token file.
type staticToken struct {
	name  string
	roles []string
	grant grant // roles with the config's bindings, resolved at load
}

// loadStaticTokens reads a static token file: one token a line,
// "sha256:<hex>,<principal>,<role>[;<role>…]". Only hashes are stored, so
// the file grants nothing to whoever reads it.
func loadStaticTokens(path string, roles roleTable) (map[[32]byte]staticToken, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("static tokens: %w", err)
	}
	out := map[[32]byte]staticToken{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		at := fmt.Sprintf("static tokens %s:%d", path, line)
		parts := strings.Split(text, ",")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s: want sha256:<hex>,<principal>,<roles>, got %d fields", at, len(parts))
		}
		hexHash, ok := strings.CutPrefix(strings.TrimSpace(parts[0]), "sha256:")
		raw, err := hex.DecodeString(hexHash)
		if !ok || err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("%s: the first field must be sha256: and 64 hex digits (the token's SHA-256, never the token)", at)
		}
		name := strings.TrimSpace(parts[1])
		if name == "" {
			return nil, fmt.Errorf("%s: the principal is empty", at)
		}
		var rs []string
		for _, r := range strings.Split(parts[2], ";") {
			if r = strings.TrimSpace(r); r != "" {
				if _, ok := roles[r]; !ok {
					return nil, fmt.Errorf("%s: unknown role %q", at, r)
				}
				rs = append(rs, r)
			}
		}
		var key [32]byte
		copy(key[:], raw)
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%s: the same token is listed twice", at)
		}
		out[key] = staticToken{name: name, roles: rs}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("static tokens %s: %w", path, err)
	}
	return out, nil
}

// NewToken returns a new random bearer token: 32 random bytes, base64url,
// prefixed "trt_" so that secret scanners can recognise it.
func NewToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return "trt_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// TokenLine returns the static token file line for token.
func TokenLine(token, principal string, roles []string) string {
	h := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(h[:]) + "," + principal + "," + strings.Join(roles, ";")
}
