package load

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// HTTPConn is one keep-alive HTTP/1.1 client connection that sends
// pre-encoded requests and parses responses itself, without allocating:
// status line, Content-Length or chunked bodies, Connection: close, and one
// response header the caller asks for; over TLS when asked. It costs far
// less CPU per request than net/http's Client, whose transport hands every
// request between goroutines and builds a header map. It is not safe for
// concurrent use; give each worker its own.
type HTTPConn struct {
	// Addr is the server's host:port.
	Addr string
	// TLS, when set, makes the connection speak HTTP/1.1 over TLS with
	// this config (its NextProtos replaced by http/1.1); nil is plaintext.
	TLS *tls.Config
	// Timeout bounds each request, dial included; zero means 10 s.
	Timeout time.Duration
	// Want names a response header (any case) whose value Do stores in
	// Header, e.g. "X-Revision".
	Want string
	// Header is the value of the Want header in the last response, or "".
	Header string

	c  net.Conn
	br *bufio.Reader
}

// ErrProtocol is returned for a response the parser does not understand.
var ErrProtocol = errors.New("load: malformed HTTP response")

// Header is one request header.
type Header struct {
	Name, Value string
}

// NewRequest encodes an HTTP/1.1 request for host (host:port) with the
// given extra headers (e.g. Authorization). A non-nil body is sent with
// contentType.
func NewRequest(method, host, path, contentType string, body []byte, header ...Header) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	for _, h := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", h.Name, h.Value)
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Type: %s\r\nContent-Length: %s\r\n", contentType, strconv.Itoa(len(body)))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// Do sends req and reads the response. A status other than 200 is an error
// naming the status and the start of the body. When body is not nil the
// response body is stored in it (reusing its capacity); otherwise it is
// discarded.
func (h *HTTPConn) Do(req []byte, body *[]byte) error {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if h.c == nil {
		c, err := h.dial(timeout)
		if err != nil {
			return err
		}
		h.c, h.br = c, bufio.NewReaderSize(c, 16<<10)
	}
	if err := h.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		h.Close()
		return err
	}
	if _, err := h.c.Write(req); err != nil {
		h.Close()
		return err
	}
	code, keep, err := h.read(body)
	if err != nil || !keep {
		h.Close()
	}
	if err != nil {
		return err
	}
	if code != 200 {
		var snippet []byte
		if body != nil {
			snippet = bytes.TrimSpace(*body)
			if len(snippet) > 200 {
				snippet = snippet[:200]
			}
		}
		return fmt.Errorf("HTTP %d: %s", code, snippet)
	}
	return nil
}

// dial connects, and over TLS completes the handshake, within timeout.
func (h *HTTPConn) dial(timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if h.TLS == nil {
		return d.Dial("tcp", h.Addr)
	}
	cfg := h.TLS.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	return tls.DialWithDialer(d, "tcp", h.Addr, cfg)
}

var (
	hContentLength    = []byte("content-length")
	hTransferEncoding = []byte("transfer-encoding")
	hConnection       = []byte("connection")
)

// read parses one response; body, when not nil, receives the body (for a
// non-200 status the body is always kept in it, if given).
func (h *HTTPConn) read(body *[]byte) (code int, keep bool, err error) {
	line, err := h.line()
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("%w: status line %q", ErrProtocol, line)
	}
	code = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	keep = line[7] == '1'
	length, chunked := -1, false
	h.Header = ""
	for {
		line, err := h.line()
		if err != nil {
			return 0, false, err
		}
		if len(line) == 0 {
			break
		}
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			return 0, false, fmt.Errorf("%w: header %q", ErrProtocol, line)
		}
		name, value := line[:i], bytes.TrimSpace(line[i+1:])
		switch {
		case bytes.EqualFold(name, hContentLength):
			n, err := strconv.Atoi(string(value)) // no allocation: the compiler avoids the copy
			if err != nil || n < 0 {
				return 0, false, fmt.Errorf("%w: Content-Length %q", ErrProtocol, value)
			}
			length = n
		case bytes.EqualFold(name, hTransferEncoding):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, hConnection):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keep = true
			}
		case h.Want != "" && bytes.EqualFold(name, []byte(h.Want)):
			h.Header = string(value)
		}
	}
	var sink *[]byte
	if body != nil {
		*body = (*body)[:0]
		sink = body
	}
	switch {
	case chunked:
		err = h.chunked(sink)
	case length >= 0:
		err = h.fixed(sink, length)
	default:
		return 0, false, fmt.Errorf("%w: neither Content-Length nor chunked", ErrProtocol)
	}
	return code, keep, err
}

// line returns the next line without its CRLF, valid until the next read.
func (h *HTTPConn) line() ([]byte, error) {
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, h.br.Size())
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func (h *HTTPConn) fixed(sink *[]byte, n int) error {
	if sink == nil {
		_, err := h.br.Discard(n)
		return err
	}
	start := len(*sink)
	*sink = append(*sink, make([]byte, n)...)
	_, err := io.ReadFull(h.br, (*sink)[start:])
	return err
}

func (h *HTTPConn) chunked(sink *[]byte) error {
	for {
		line, err := h.line()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 31)
		if err != nil {
			return fmt.Errorf("%w: chunk size %q", ErrProtocol, line)
		}
		if n == 0 {
			for { // trailers, then the empty line
				line, err := h.line()
				if err != nil {
					return err
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		if err := h.fixed(sink, int(n)); err != nil {
			return err
		}
		if line, err := h.line(); err != nil || len(line) != 0 {
			return fmt.Errorf("%w: no CRLF after chunk", ErrProtocol)
		}
	}
}

// Close closes the connection; the next Do dials again.
func (h *HTTPConn) Close() {
	if h.c != nil {
		h.c.Close()
		h.c, h.br = nil, nil
	}
}
