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
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

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

// IncompleteError is an import that stopped midway. Committed is what
// the registry had done by then: its counts and errors cover the first
// Committed.CommittedItems items sent (the rest were not imported). It is
// nil when the registry could not say (the connection was lost): running
// the import again is then the way to be sure, unchanged items being
// counted as such.
type IncompleteError struct {
	Err       error
	Committed *registryv1.ImportResponse
}

// Error returns the reason the import stopped.
func (e *IncompleteError) Error() string { return e.Err.Error() }

// Unwrap returns the reason the import stopped.
func (e *IncompleteError) Unwrap() error { return e.Err }

// Stream runs one Import call. produce is called once with add, which
// queues one item with the fields to write (nil: all of them; see
// ImportRequest.update_masks) and sends a request whenever a chunk is
// full; produce returns when it has added every item. Stream returns the
// registry's response. When produce (or add) fails, the items sent so far
// are committed and Stream returns an *IncompleteError with the registry's
// account of them; so it does, when it can, when the registry ends the
// call with an error. Items the registry has committed stay committed:
// each chunk is its own transaction.
func Stream(ctx context.Context, c Client, opts Options, produce func(add func(*registryv1.Resource, *fieldmaskpb.FieldMask) error) error) (*registryv1.ImportResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Import(ctx)
	if err != nil {
		return nil, err
	}
	size := opts.chunkSize()
	chunk := make([]*registryv1.Resource, 0, size)
	masks := make([]*fieldmaskpb.FieldMask, 0, size)
	partial := false // some item of the chunk has a mask
	req := &registryv1.ImportRequest{}
	done := 0
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		req.Items, req.UpdateMasks = chunk, nil
		if partial {
			for i, m := range masks {
				if m == nil {
					masks[i] = wholeItem
				}
			}
			req.UpdateMasks = masks
		}
		err := stream.Send(req)
		if errors.Is(err, io.EOF) {
			// The server ended the call; its status says why.
			_, err = stream.CloseAndRecv()
		}
		done += len(chunk)
		chunk, masks, partial = chunk[:0], masks[:0], false // Send has marshalled the request: safe to reuse
		if err == nil && opts.Progress != nil {
			opts.Progress(done)
		}
		return err
	}
	add := func(r *registryv1.Resource, mask *fieldmaskpb.FieldMask) error {
		chunk, masks = append(chunk, r), append(masks, mask)
		partial = partial || mask != nil
		if len(chunk) < size {
			return nil
		}
		return flush()
	}
	err = produce(add)
	if err == nil {
		err = flush()
	}
	if err != nil {
		if _, isStatus := status.FromError(err); !isStatus {
			// A local failure: end the call cleanly to learn what the
			// registry made of the items sent.
			resp, rerr := stream.CloseAndRecv()
			if rerr == nil {
				return nil, &IncompleteError{Err: err, Committed: resp}
			}
			return nil, incomplete(err, rerr)
		}
		return nil, incomplete(err, err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, incomplete(err, err)
	}
	return resp, nil
}

// wholeItem is the mask of an item written whole among partial ones.
var wholeItem = &fieldmaskpb.FieldMask{Paths: []string{"*"}}

// incomplete returns err as an *IncompleteError when the registry's status
// st says what it committed, else err as it is.
func incomplete(err, st error) error {
	s, ok := status.FromError(st)
	if !ok {
		return err
	}
	for _, d := range s.Details() {
		if r, ok := d.(*registryv1.ImportResponse); ok {
			return &IncompleteError{Err: err, Committed: r}
		}
	}
	return err
}
