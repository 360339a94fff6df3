package etcdkv

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"talentreg/services/registry/kv"
)

var _ kv.Pinger = (*Store)(nil)

// Ping implements kv.Pinger with a linearizable read of one key under the
// prefix (a count, so nothing comes back): etcd answers it only through a
// leader whose lease a quorum confirms (ReadIndex), which is what a write
// needs too. A member without a leader refuses it at once
// (WithRequireLeader) rather than letting it wait; with every endpoint
// unreachable it waits for a connection until ctx ends.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.open(); err != nil {
		return err
	}
	_, err := s.c.Get(clientv3.WithRequireLeader(ctx), s.prefix+"\x00health-probe", clientv3.WithCountOnly())
	return err
}
