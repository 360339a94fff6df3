// Package importer loads resources into the registry through its
// client-streaming Import call: from memory (Stream) or from CSV, JSON
// Lines and XLSX files (Check, then Plan.Import), mapping every rejected
// item back to the file, line and column it came from.
package importer

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// Client is the part of the registry client the importer uses;
// registryv1.RegistryServiceClient satisfies it.
type Client interface {
	Import(ctx context.Context, opts ...grpc.CallOption) (grpc.ClientStreamingClient[registryv1.ImportRequest, registryv1.ImportResponse], error)
}

// DefaultChunkSize is how many items one ImportRequest carries when
// Options.ChunkSize is zero.
const DefaultChunkSize = 1000

// Options tune an import.
type Options struct {
	// ChunkSize is the number of items per ImportRequest; 0 means
	// DefaultChunkSize.
	ChunkSize int
	// Progress, when set, is called after each request is sent with the
	// number of items (or, for files, rows) handled so far.
	Progress func(done int)
}

func (o Options) chunkSize() int {
	if o.ChunkSize > 0 {
		return o.ChunkSize
	}
	return DefaultChunkSize
}

// Stream runs one Import call. produce is called once with add, which
// queues one item and sends a request whenever a chunk is full; produce
// returns when it has added every item. An error from produce (or from
// add) cancels the call and is returned as is; otherwise Stream returns the
// registry's response. Items the registry has already committed stay
// committed: each chunk is its own transaction.
func Stream(ctx context.Context, c Client, opts Options, produce func(add func(*registryv1.Resource) error) error) (*registryv1.ImportResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Import(ctx)
	if err != nil {
		return nil, err
	}
	size := opts.chunkSize()
	chunk := make([]*registryv1.Resource, 0, size)
	req := &registryv1.ImportRequest{}
	done := 0
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		req.Items = chunk
		err := stream.Send(req)
		if errors.Is(err, io.EOF) {
			// The server ended the call; its status says why.
			_, err = stream.CloseAndRecv()
		}
		done += len(chunk)
		chunk = chunk[:0] // Send has marshalled the request: safe to reuse
		if err == nil && opts.Progress != nil {
			opts.Progress(done)
		}
		return err
	}
	add := func(r *registryv1.Resource) error {
		chunk = append(chunk, r)
		if len(chunk) < size {
			return nil
		}
		return flush()
	}
	if err := produce(add); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return stream.CloseAndRecv()
}
