package load

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// HTTPConn is one keep-alive HTTP/1.1 client connection that sends
// pre-encoded requests and parses responses with http.ReadResponse. It
// costs far less CPU per request than net/http's Client, whose transport
// hands every request between goroutines. It is not safe for concurrent
// use; give each worker its own.
type HTTPConn struct {
	// Addr is the server's host:port.
	Addr string
	// Timeout bounds each request, dial included; zero means 10 s.
	Timeout time.Duration

	c  net.Conn
	br *bufio.Reader
}

// NewRequest encodes an HTTP/1.1 request for host (host:port). A non-nil
// body is sent with contentType.
func NewRequest(method, host, path, contentType string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
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
// discarded. Do returns the response header.
func (h *HTTPConn) Do(req []byte, body *[]byte) (http.Header, error) {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if h.c == nil {
		c, err := net.DialTimeout("tcp", h.Addr, timeout)
		if err != nil {
			return nil, err
		}
		h.c, h.br = c, bufio.NewReaderSize(c, 16<<10)
	}
	if err := h.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		h.Close()
		return nil, err
	}
	if _, err := h.c.Write(req); err != nil {
		h.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		h.Close()
		return nil, err
	}
	var buf []byte
	if body != nil || resp.StatusCode != http.StatusOK {
		if body != nil {
			buf = (*body)[:0]
		}
		buf, err = readAll(resp.Body, buf)
		if body != nil {
			*body = buf
		}
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil || resp.Close {
		h.Close()
	}
	if err == nil && resp.StatusCode != http.StatusOK {
		snippet := bytes.TrimSpace(buf)
		if len(snippet) > 200 {
			snippet = snippet[:200]
		}
		err = fmt.Errorf("HTTP %s: %s", resp.Status, snippet)
	}
	return resp.Header, err
}

// Close closes the connection; the next Do dials again.
func (h *HTTPConn) Close() {
	if h.c != nil {
		h.c.Close()
		h.c, h.br = nil, nil
	}
}

func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
