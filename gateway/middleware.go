package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// recorder wraps the ResponseWriter to learn the status and the RPC that
// served the request. It keeps Flush and Unwrap so streaming routes and
// http.ResponseController work through it.
type recorder struct {
	http.ResponseWriter
	status  int
	route   string
	errored bool
}

// WriteHeader implements http.ResponseWriter.
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	// Every 401 carries its challenge (RFC 9110 §11.6.1), including those
	// grpc-gateway writes itself for a stream refused before its first
	// message.
	if code == http.StatusUnauthorized && r.Header().Get("WWW-Authenticate") == "" {
		r.Header().Set("WWW-Authenticate", `Bearer realm="talentreg"`)
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the server's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// errBodyTooLarge is what a limitedBody returns past its limit.
var errBodyTooLarge = errors.New("http: request body too large")

// limitedBody is http.MaxBytesReader that remembers it tripped, so the
// error handler can answer 413 whatever the generated handler made of the
// read error.
type limitedBody struct {
	rc       io.ReadCloser
	n        int64 // bytes still allowed
	exceeded bool
	// failed is a read error other than the end of the body: the client
	// sent less than it announced and stopped (the read timed out) or went
	// away.
	failed error
}

// Read implements io.Reader.
func (b *limitedBody) Read(p []byte) (int, error) {
	if b.exceeded {
		return 0, errBodyTooLarge
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p))-1 > b.n {
		p = p[:b.n+1]
	}
	n, err := b.rc.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && b.failed == nil {
		b.failed = err
	}
	if int64(n) <= b.n {
		b.n -= int64(n)
		return n, err
	}
	n = int(b.n)
	b.n = 0
	b.exceeded = true
	return n, errBodyTooLarge
}

// Close implements io.Closer.
func (b *limitedBody) Close() error { return b.rc.Close() }

// reqState is the per-request scratch space, pooled so the middleware makes
// no allocation of its own on the hot path.
type reqState struct {
	rec  recorder
	body limitedBody
}

var statePool = sync.Pool{New: func() any { return new(reqState) }}

// idGen makes request ids: a random per-process prefix and a counter.
type idGen struct {
	prefix string
	n      atomic.Uint64
}

func newIDGen() *idGen {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &idGen{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (g *idGen) next() string {
	var buf [48]byte
	b := append(buf[:0], g.prefix...)
	b = strconv.AppendUint(b, g.n.Add(1), 36)
	return string(b)
}

// validRequestID accepts 1-128 visible ASCII characters, the only values
// that are safe both as an HTTP header and as gRPC metadata.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// validQueryUTF8 reports whether a raw query decodes to valid UTF-8. A
// string field with invalid UTF-8 cannot be marshaled to protobuf, and the
// client would get a 500 for a malformed request; this lets the gateway
// answer 400 instead. Malformed escapes are left for the handler's own
// parser to reject.
func validQueryUTF8(raw string) bool {
	plain := true
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c == '%' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return true
	}
	var stack [512]byte
	buf := stack[:0]
	if len(raw) > len(stack) {
		buf = make([]byte, 0, len(raw))
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '&' || c == '=':
			if !utf8.Valid(buf) {
				return false
			}
			buf = buf[:0]
		case c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]):
			buf = append(buf, unhex(raw[i+1])<<4|unhex(raw[i+2]))
			i += 2
		default:
			buf = append(buf, c)
		}
	}
	return utf8.Valid(buf)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// streamingPath reports whether path is a server-streaming route, which
// must outlive the server's read and write timeouts: WatchChanges and
// WatchSummary (the snapshot stream is gRPC-only). Both share the watch
// slots (--max-watch-streams) and the stall timeout.
func streamingPath(path string) bool {
	return path == "/v1/changes:watch" || path == "/v1/summary:watch"
}
