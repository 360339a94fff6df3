package etcdkv_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/internal/etcdtest"
	"talentreg/services/registry/kv"
)

const bucket kv.Bucket = "b"

var errRefused = errors.New("refused by the rules")

// increment is a registry-like write: read the counter, refuse every
// refuseEvery-th value without writing, else write counter+1 and an item
// under the new value. It reports the value it took.
func increment(s kv.Store, who string, refuse bool) (int, error) {
	var took int
	err := s.Update(context.Background(), func(tx kv.Txn) error {
		took = 0
		v, err := tx.Get(bucket, []byte("counter"))
		if err != nil {
			return err
		}
		n := 0
		if v != nil {
			n, _ = strconv.Atoi(string(v))
		}
		if refuse {
			return errRefused
		}
		n++
		if err := tx.Put(bucket, []byte("counter"), []byte(strconv.Itoa(n))); err != nil {
			return err
		}
		took = n
		return tx.Put(bucket, fmt.Appendf(nil, "item/%06d", n), []byte(who))
	})
	return took, err
}

func open(t *testing.T, endpoints []string, prefix string) *etcdkv.Store {
	t.Helper()
	s, err := etcdkv.Open(context.Background(), etcdkv.Options{Endpoints: endpoints, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestUpdate_GroupsConcurrentWriters: concurrent Updates on two replicas,
// all contending for one counter, each take a distinct value with nothing
// lost or repeated; refused ones leave nothing; and one replica's writers
// share etcd transactions (fewer commits than writes), which is what keeps
// them from retrying each other out.
func TestUpdate_GroupsConcurrentWriters(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	a := open(t, cluster.Endpoints(), "/g/")
	b := open(t, cluster.Endpoints(), "/g/")
	head := func() int64 {
		resp, err := a.Client().Get(context.Background(), "/g/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	before := head()

	const writers = 64
	var wg sync.WaitGroup
	var mu sync.Mutex
	took := map[int]string{}
	refused := 0
	for i := range writers {
		wg.Go(func() {
			s, who := kv.Store(a), fmt.Sprintf("a%d", i)
			if i%4 == 3 {
				s, who = b, fmt.Sprintf("b%d", i)
			}
			n, err := increment(s, who, i%8 == 5)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, errRefused):
				refused++
				if n != 0 {
					t.Errorf("%s was refused but reports value %d", who, n)
				}
			case err != nil:
				t.Errorf("%s: %v", who, err)
			case took[n] != "":
				t.Errorf("%s and %s both took value %d", took[n], who, n)
			default:
				took[n] = who
			}
		})
	}
	wg.Wait()
	if refused != writers/8 {
		t.Fatalf("%d writes refused, want %d", refused, writers/8)
	}
	want := writers - refused
	err := a.View(context.Background(), func(r kv.Reader) error {
		v, _ := r.Get(bucket, []byte("counter"))
		if string(v) != strconv.Itoa(want) {
			t.Errorf("counter %q, want %d", v, want)
		}
		c, items := r.Cursor(bucket), 0
		for k, v := c.Seek([]byte("item/")); k != nil; k, v = c.Next() {
			items++
			if n, _ := strconv.Atoi(string(k[len("item/"):])); took[n] != string(v) {
				t.Errorf("%s holds %q, but %q took it", k, v, took[n])
			}
		}
		if items != want {
			t.Errorf("%d items, want %d", items, want)
		}
		return c.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if commits := head() - before; commits >= int64(want) {
		t.Errorf("%d etcd commits for %d writes: concurrent writers of a replica should share transactions", commits, want)
	} else {
		t.Logf("%d writes in %d etcd commits", want, commits)
	}
}

// TestUpdate_GroupSplitsAtItsBound: writers whose values together exceed a
// group's bytes still all commit, in several groups.
func TestUpdate_GroupSplitsAtItsBound(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, 1, etcdtest.Options{})
	s := open(t, cluster.Endpoints(), "/big/")
	big := make([]byte, 400<<10)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			err := s.Update(context.Background(), func(tx kv.Txn) error {
				return tx.Put(bucket, fmt.Appendf(nil, "v%d", i), big)
			})
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	err := s.View(context.Background(), func(r kv.Reader) error {
		for i := range 6 {
			if v, _ := r.Get(bucket, fmt.Appendf(nil, "v%d", i)); len(v) != len(big) {
				t.Errorf("v%d: %d bytes, want %d", i, len(v), len(big))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
