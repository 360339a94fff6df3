// Package h2grpc is a minimal gRPC client for unary calls, written directly
// on HTTP/2 frames: pre-encoded request headers, pre-encoded messages, one
// reader goroutine per connection handing each response to its caller. It
// exists because the load generator shares the CPUs with the servers it
// measures, and grpc-go's client costs about as much CPU per call as a bare
// grpc-go server does; this one costs a fraction of that.
//
// It speaks HTTP/2 in plaintext (h2c, as gRPC does without TLS) or over
// TLS (ALPN h2, with a client certificate when the config holds one),
// answers SETTINGS and PING, honours the server's connection send window,
// and grants the server generous receive windows. A connection can carry
// metadata on every call (e.g. authorization: Bearer …), indexed in HPACK
// after the first call as grpc-go's client does. It supports no
// compression and no streaming: the harness uses grpc-go for everything
// else.
package h2grpc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrClosed is returned by calls on a connection that has failed or been
// closed.
var ErrClosed = errors.New("h2grpc: connection closed")

const (
	maxFrame     = 16384   // the HTTP/2 default SETTINGS_MAX_FRAME_SIZE
	streamWindow = 1 << 24 // what we let the server send per stream
	connWindow   = 1 << 30 // and per connection
)

// indexedMetadataMax bounds the HPACK size (RFC 7541 §4.1: name, value
// and 32 bytes each) of the metadata a connection indexes: the dynamic
// table size every HTTP/2 peer starts with, which grpc-go's and Go's
// servers keep. Larger metadata is sent as literals on every call.
const indexedMetadataMax = 4096

// Options configure a connection.
type Options struct {
	// TLS, when set, makes the connection speak TLS with this config (its
	// NextProtos replaced by h2); its Certificates, if any, authenticate
	// the client (mutual TLS). Nil speaks plaintext HTTP/2.
	TLS *tls.Config
	// Metadata are request headers sent with every call, as name, value
	// pairs (names are lower-cased), e.g. {"authorization", "Bearer …"}.
	// The first call adds them to the server's HPACK table and later calls
	// send a one-byte index each, as grpc-go's client does, so the server
	// decodes a long token once per connection, not once per call.
	Metadata [][2]string
}

// Conn is one HTTP/2 connection carrying concurrent unary calls. It is safe
// for concurrent use.
type Conn struct {
	addr   string
	scheme string // "http" or "https"
	nc     net.Conn
	// mdFirst and mdAgain are the metadata's header block fragments: the
	// first call's (literals that the server adds to its HPACK table) and
	// every later call's (indexes into that table); mdIndexed is the room
	// they take in that table, 0 when they are not indexed.
	mdFirst, mdAgain []byte
	mdIndexed        int

	wmu        sync.Mutex // guards the framer's writes, pend, nextID, sendWindow and mdSent
	mdSent     bool       // a call has carried mdFirst
	pend       []byte     // frames written, not yet sent by the flusher
	kick       chan struct{}
	fr         *http2.Framer
	nextID     uint32
	sendWindow int64
	windowCond *sync.Cond

	mu      sync.Mutex // guards streams and err
	streams map[uint32]*Call
	err     error

	recvUnacked uint32 // touched by the reader only
	done        chan struct{}
}

// Dial connects to addr (host:port) in plaintext and starts the reader.
func Dial(addr string) (*Conn, error) { return DialWith(addr, Options{}) }

// DialWith connects to addr (host:port) as o says and starts the reader.
// Over TLS the handshake is complete when it returns, and a server that
// does not negotiate h2 is an error.
func DialWith(addr string, o Options) (*Conn, error) {
	const timeout = 10 * time.Second
	dialer := &net.Dialer{Timeout: timeout}
	scheme := "http"
	var nc net.Conn
	var err error
	if o.TLS != nil {
		cfg := o.TLS.Clone()
		cfg.NextProtos = []string{"h2"}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		nc, err = (&tls.Dialer{NetDialer: dialer, Config: cfg}).DialContext(ctx, "tcp", addr)
		cancel()
		if err != nil {
			return nil, err
		}
		if p := nc.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != "h2" {
			nc.Close()
			return nil, fmt.Errorf("h2grpc: %s did not negotiate h2 over TLS (ALPN %q)", addr, p)
		}
		scheme = "https"
	} else if nc, err = dialer.Dial("tcp", addr); err != nil {
		return nil, err
	}
	c := &Conn{
		addr:       addr,
		scheme:     scheme,
		nc:         nc,
		kick:       make(chan struct{}, 1),
		nextID:     1,
		sendWindow: 65535,
		streams:    map[uint32]*Call{},
		done:       make(chan struct{}),
	}
	c.mdFirst, c.mdAgain, c.mdIndexed = encodeMetadata(o.Metadata)
	c.windowCond = sync.NewCond(&c.wmu)
	c.fr = http2.NewFramer(pendWriter{c}, bufio.NewReaderSize(nc, 64<<10))
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 1 << 20
	c.pend = append(c.pend, http2.ClientPreface...)
	err = errors.Join(
		c.fr.WriteSettings(
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWindow},
			http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		),
		c.fr.WriteWindowUpdate(0, connWindow-65535),
	)
	if err != nil {
		nc.Close()
		return nil, err
	}
	go c.readLoop()
	go c.flushLoop()
	c.flush()
	return c, nil
}

// pendWriter is the framer's writer: frames accumulate in Conn.pend, under
// wmu, until the flusher sends them.
type pendWriter struct{ c *Conn }

func (w pendWriter) Write(p []byte) (int, error) {
	w.c.pend = append(w.c.pend, p...)
	return len(p), nil
}

// flush asks the flusher to send the pending frames. Calls that arrive while
// it is in a write syscall share the next one: under load, one syscall
// carries many requests.
func (c *Conn) flush() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *Conn) flushLoop() {
	var spare []byte
	for {
		select {
		case <-c.kick:
		case <-c.done:
			return
		}
		for {
			c.wmu.Lock()
			out := c.pend
			c.pend = spare[:0]
			c.wmu.Unlock()
			if len(out) == 0 {
				spare = out
				break
			}
			if _, err := c.nc.Write(out); err != nil {
				c.fail(err)
				return
			}
			spare = out
		}
	}
}

// Close closes the connection; calls in flight fail with ErrClosed.
func (c *Conn) Close() error {
	err := c.nc.Close()
	<-c.done
	return err
}

// encodeMetadata returns md's header block fragments: for the first call
// (literals with incremental indexing) and for every later one (indexes),
// both from one HPACK encoder, so the indexes are those the server's table
// holds once it has decoded the first. Metadata too large to index is sent
// as never-indexed literals every time; indexed is the table room taken
// (0 when not indexed).
func encodeMetadata(md [][2]string) (first, again []byte, indexed int) {
	if len(md) == 0 {
		return nil, nil, 0
	}
	size := 0
	for _, f := range md {
		size += len(f[0]) + len(f[1]) + 32
	}
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for i := range 2 {
		buf.Reset()
		for _, f := range md {
			_ = enc.WriteField(hpack.HeaderField{Name: strings.ToLower(f[0]), Value: f[1], Sensitive: size > indexedMetadataMax}) // writes to a bytes.Buffer cannot fail
		}
		if i == 0 {
			first = bytes.Clone(buf.Bytes())
		}
	}
	if size <= indexedMetadataMax {
		indexed = size
	}
	return first, bytes.Clone(buf.Bytes()), indexed
}

// Method is a gRPC method's request header block, encoded once.
type Method struct {
	path string
	// first is the block of the connection's first call (with its
	// metadata as indexing literals), block that of every other call.
	first, block []byte
}

// Method encodes the request headers of path (e.g.
// "/talentreg.registry.v1.RegistryService/GetEntity") for this connection.
// Every field but the connection's metadata is a never-indexed literal, so
// the block does not depend on HPACK state and can be sent any number of
// times.
func (c *Conn) Method(path string) *Method {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", c.scheme}, {":path", path}, {":authority", c.addr},
		{"content-type", "application/grpc"}, {"te", "trailers"}, {"user-agent", "talentreg-bench-h2grpc"},
	} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1], Sensitive: true}) // writes to a bytes.Buffer cannot fail
	}
	base := buf.Bytes()
	return &Method{
		path:  path,
		first: append(bytes.Clone(base), c.mdFirst...),
		block: append(bytes.Clone(base), c.mdAgain...),
	}
}

// Call holds the state of one call at a time; give each worker its own and
// reuse it. After Invoke returns, Response holds the response message.
type Call struct {
	// Response is the response message, valid until the next Invoke.
	Response []byte
	// Want names one response header (e.g. "x-revision") to capture in
	// Header.
	Want string
	// Header is the value of the header named by Want, if the server sent
	// it.
	Header string

	buf        []byte
	grpcStatus int
	grpcMsg    string
	sawHeaders bool
	err        error
	done       chan struct{}
}

// Invoke performs one unary call of m with the encoded request req. It
// returns the gRPC status as an error (a *status.Status error for non-OK
// codes). Cancelling ctx resets the stream.
func (c *Conn) Invoke(ctx context.Context, m *Method, req []byte, call *Call) error {
	if call.done == nil {
		call.done = make(chan struct{}, 1)
	}
	call.buf, call.Response, call.Header = call.buf[:0], nil, ""
	call.grpcStatus, call.grpcMsg, call.sawHeaders, call.err = -1, "", false, nil

	var prefix [5]byte
	binary.BigEndian.PutUint32(prefix[1:], uint32(len(req)))
	need := int64(len(req) + 5)

	c.wmu.Lock()
	for c.sendWindow < need && c.failed() == nil {
		c.windowCond.Wait()
	}
	if err := c.failed(); err != nil {
		c.wmu.Unlock()
		return err
	}
	id := c.nextID
	c.nextID += 2
	c.mu.Lock()
	c.streams[id] = call
	c.mu.Unlock()
	c.sendWindow -= need
	block := m.block
	if !c.mdSent {
		// Header blocks reach the server in the order they are written
		// here, so this one is decoded before any that indexes it.
		block, c.mdSent = m.first, true
	}
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true})
	if err == nil {
		err = c.writeData(id, prefix[:], req)
	}
	c.wmu.Unlock()
	if err != nil {
		c.fail(err)
		return err
	}
	c.flush()

	select {
	case <-call.done:
	case <-ctx.Done():
		c.mu.Lock()
		_, pending := c.streams[id]
		delete(c.streams, id)
		c.mu.Unlock()
		if pending {
			c.wmu.Lock()
			_ = c.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			c.wmu.Unlock()
			c.flush()
			return status.FromContextError(ctx.Err()).Err()
		}
		<-call.done // the reader completed it just now
	}
	if call.err != nil {
		return call.err
	}
	if call.grpcStatus != 0 {
		if call.grpcStatus < 0 {
			return status.Error(codes.Internal, "h2grpc: response without grpc-status")
		}
		return status.Error(codes.Code(call.grpcStatus), call.grpcMsg)
	}
	if len(call.buf) < 5 {
		return status.Error(codes.Internal, "h2grpc: response without a message")
	}
	if call.buf[0] != 0 {
		return status.Error(codes.Internal, "h2grpc: compressed response")
	}
	n := binary.BigEndian.Uint32(call.buf[1:5])
	if int(n) != len(call.buf)-5 {
		return status.Errorf(codes.Internal, "h2grpc: message of %d bytes, got %d", n, len(call.buf)-5)
	}
	call.Response = call.buf[5:]
	return nil
}

// writeData writes prefix+msg as DATA frames ending the stream; the caller
// holds wmu.
func (c *Conn) writeData(id uint32, prefix, msg []byte) error {
	if len(prefix)+len(msg) <= maxFrame {
		// One frame, written by hand to avoid joining prefix and msg.
		n := len(prefix) + len(msg)
		c.pend = append(c.pend, byte(n>>16), byte(n>>8), byte(n), byte(http2.FrameData), byte(http2.FlagDataEndStream),
			byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
		c.pend = append(append(c.pend, prefix...), msg...)
		return nil
	}
	all := append(append([]byte{}, prefix...), msg...)
	for len(all) > 0 {
		n := min(len(all), maxFrame)
		if err := c.fr.WriteData(id, n == len(all), all[:n]); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

func (c *Conn) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail marks the connection broken and fails every pending call.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: %v", ErrClosed, err)
	}
	streams := c.streams
	c.streams = map[uint32]*Call{}
	cerr := c.err
	c.mu.Unlock()
	for _, call := range streams {
		call.err = cerr
		call.done <- struct{}{}
	}
	c.nc.Close()
	c.wmu.Lock()
	c.windowCond.Broadcast()
	c.wmu.Unlock()
}

func (c *Conn) readLoop() {
	defer close(c.done)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			c.fail(err)
			return
		}
		if err := c.handle(f); err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *Conn) lookup(id uint32) *Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[id]
}

func (c *Conn) finish(id uint32, call *Call) {
	c.mu.Lock()
	_, ok := c.streams[id]
	delete(c.streams, id)
	c.mu.Unlock()
	if ok {
		call.done <- struct{}{}
	}
}

func (c *Conn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		if v, ok := f.Value(http2.SettingHeaderTableSize); ok && int(v) < c.mdIndexed {
			return fmt.Errorf("h2grpc: the server's HPACK table (%d bytes) cannot hold the connection's metadata (%d)", v, c.mdIndexed)
		}
		c.wmu.Lock()
		err := c.fr.WriteSettingsAck()
		c.wmu.Unlock()
		c.flush()
		return err
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		c.wmu.Lock()
		err := c.fr.WritePing(true, f.Data)
		c.wmu.Unlock()
		c.flush()
		return err
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			c.wmu.Lock()
			c.sendWindow += int64(f.Increment)
			c.windowCond.Broadcast()
			c.wmu.Unlock()
		}
		return nil
	case *http2.GoAwayFrame:
		return fmt.Errorf("GOAWAY %v: %s", f.ErrCode, f.DebugData())
	case *http2.RSTStreamFrame:
		if call := c.lookup(f.StreamID); call != nil {
			call.err = status.Errorf(codes.Unavailable, "h2grpc: stream reset: %v", f.ErrCode)
			c.finish(f.StreamID, call)
		}
		return nil
	case *http2.MetaHeadersFrame:
		call := c.lookup(f.StreamID)
		if call == nil {
			return nil
		}
		for _, hf := range f.Fields {
			switch hf.Name {
			case ":status":
				if hf.Value != "200" {
					call.err = status.Errorf(codes.Unknown, "h2grpc: HTTP status %s", hf.Value)
				}
			case "grpc-status":
				call.grpcStatus, _ = strconv.Atoi(hf.Value)
			case "grpc-message":
				call.grpcMsg = hf.Value
			default:
				if call.Want != "" && hf.Name == call.Want {
					call.Header = hf.Value
				}
			}
		}
		call.sawHeaders = true
		if f.StreamEnded() {
			c.finish(f.StreamID, call)
		}
		return nil
	case *http2.DataFrame:
		if n := f.Length; n > 0 {
			c.recvUnacked += n
			if c.recvUnacked >= 1<<20 {
				inc := c.recvUnacked
				c.recvUnacked = 0
				c.wmu.Lock()
				err := c.fr.WriteWindowUpdate(0, inc)
				c.wmu.Unlock()
				if err != nil {
					return err
				}
				c.flush()
			}
		}
		call := c.lookup(f.StreamID)
		if call == nil {
			return nil
		}
		call.buf = append(call.buf, f.Data()...)
		if f.StreamEnded() {
			c.finish(f.StreamID, call)
		}
		return nil
	}
	return nil
}
