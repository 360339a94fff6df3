package etcdkv

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// OpenWithDialOptions is Open with extra gRPC dial options, for tests that
// watch the requests the store sends.
func OpenWithDialOptions(ctx context.Context, opts Options, dial ...grpc.DialOption) (*Store, error) {
	return open(ctx, opts, dial)
}

// Watched is the newest revision the store's watch has reported: what a
// relaxed read is promised to see.
func (s *Store) Watched() int64 { return s.watched.Load() }

// Head is the cluster's current revision, read linearizably.
func (s *Store) Head(ctx context.Context) (int64, error) {
	resp, err := s.c.Get(ctx, s.prefix, clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}
