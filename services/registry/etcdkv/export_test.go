package etcdkv

import (
	"context"

	"google.golang.org/grpc"
)

// OpenWithDialOptions is Open with extra gRPC dial options, for tests that
// watch the requests the store sends.
func OpenWithDialOptions(ctx context.Context, opts Options, dial ...grpc.DialOption) (*Store, error) {
	return open(ctx, opts, dial)
}
