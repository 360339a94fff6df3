package grpcapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	"talentreg/services/registry"
)

// pageTokens signs keyset page tokens (AIP-158). A token holds the cursor
// after which the next page starts, and an HMAC over the cursor and the
// request's scope (method, parent, filter): a tampered token, or one from
// another list or filter, fails with INVALID_ARGUMENT. Keyset cursors make
// every page cost the same however deep it is, unlike the offset tokens of
// go.einride.tech/aip/pagination, which need a skip of every earlier row.
type pageTokens struct{ key []byte }

const (
	tokenVersion = 1
	macSize      = 16
)

func (p pageTokens) mac(scope string, payload []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:macSize]
}

// encode returns the token for cursor in scope, or "" for no cursor.
func (p pageTokens) encode(scope, cursor string) string {
	if cursor == "" {
		return ""
	}
	payload := append([]byte{tokenVersion}, cursor...)
	return base64.RawURLEncoding.EncodeToString(append(payload, p.mac(scope, payload)...))
}

// decode returns the cursor in token, "" for an empty token.
func (p pageTokens) decode(scope, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 1+macSize+1 || raw[0] != tokenVersion {
		return "", invalidToken()
	}
	payload, mac := raw[:len(raw)-macSize], raw[len(raw)-macSize:]
	if !hmac.Equal(mac, p.mac(scope, payload)) {
		return "", invalidToken()
	}
	return string(payload[1:]), nil
}

func invalidToken() error {
	return &registry.Error{
		Code: registry.CodeInvalidArgument, Reason: registry.ReasonInvalidPageToken,
		Message:    "page_token: not a token this list returned (tampered, or from a call with another parent or filter)",
		Violations: []registry.FieldViolation{{Field: "page_token", Description: "must be a next_page_token returned by the same list call"}},
	}
}

// pageSize checks and defaults a page size.
func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, registry.InvalidField("page_size", "must not be negative, got %d", n)
	case n == 0:
		return registry.DefaultPageSize, nil
	case n > registry.MaxPageSize:
		return registry.MaxPageSize, nil
	}
	return int(n), nil
}
