package harness

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"talentreg/bench/h2grpc"
	"talentreg/bench/rawgrpc"
)

// Load-generator gRPC clients.
const (
	// ClientH2 is the bench's own HTTP/2 unary client (package h2grpc).
	ClientH2 = "h2"
	// ClientGRPCGo is grpc-go's client, with pre-encoded messages.
	ClientGRPCGo = "grpc-go"
)

// unaryFunc performs one call with an encoded request and returns the
// encoded response (valid until the next call) and the value of the
// response header the pool was asked to capture.
type unaryFunc func(ctx context.Context, req []byte) (resp []byte, header string, err error)

// unaryPool spreads workers over GRPCConns connections to one server.
type unaryPool struct {
	h2    []*h2grpc.Conn
	h2m   []*h2grpc.Method
	gc    []*grpc.ClientConn
	path  string
	want  string
	close func()
}

// newUnaryPool dials ep for calls of method, capturing response header
// want (may be empty), with the configured client.
func (e *env) newUnaryPool(ep endpoint, method, want string) (*unaryPool, error) {
	p := &unaryPool{path: method, want: want}
	switch e.cfg.GRPCClient {
	case ClientH2, "":
		for range e.cfg.GRPCConns {
			c, err := h2grpc.DialWith(ep.addr, ep.h2Options())
			if err != nil {
				p.Close()
				return nil, err
			}
			p.h2 = append(p.h2, c)
			p.h2m = append(p.h2m, c.Method(method))
		}
	case ClientGRPCGo:
		conns, err := e.dialN(ep)
		if err != nil {
			return nil, err
		}
		p.gc = conns
	default:
		return nil, fmt.Errorf("unknown gRPC client %q", e.cfg.GRPCClient)
	}
	return p, nil
}

// Close closes the pool's connections.
func (p *unaryPool) Close() {
	for _, c := range p.h2 {
		c.Close()
	}
	closeAll(p.gc)
}

// worker returns the call function of worker id.
func (p *unaryPool) worker(id int) unaryFunc {
	if len(p.h2) > 0 {
		c, m := p.h2[id%len(p.h2)], p.h2m[id%len(p.h2)]
		call := &h2grpc.Call{Want: p.want}
		return func(ctx context.Context, req []byte) ([]byte, string, error) {
			err := c.Invoke(ctx, m, req, call)
			return call.Response, call.Header, err
		}
	}
	cc := p.gc[id%len(p.gc)]
	var resp rawgrpc.Frame
	var md metadata.MD
	var opts []grpc.CallOption
	if p.want != "" {
		opts = append(opts, grpc.Header(&md))
	}
	return func(ctx context.Context, req []byte) ([]byte, string, error) {
		md = nil
		if err := rawgrpc.Invoke(ctx, cc, p.path, req, &resp, opts...); err != nil {
			return nil, "", err
		}
		var h string
		if v := md.Get(p.want); len(v) > 0 {
			h = v[0]
		}
		return resp.B, h, nil
	}
}
