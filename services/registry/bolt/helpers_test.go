package bolt

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"talentreg/services/registry"
)

// testClock is a deterministic clock: each reading is one millisecond after
// the previous.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time {
	return time.Date(2024, 6, 14, 0, 0, 0, 0, time.UTC).Add(time.Duration(c.ns.Add(int64(time.Millisecond))))
}

// openTest opens a store on a real file in t.TempDir() and, at cleanup,
// checks the file's consistency and closes it.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = (&testClock{}).Now
	}
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

var ctx = context.Background()

// A valid credit code: 17 characters plus the computed check character.
func creditCode(first17 string) string {
	return first17 + string(registry.CreditCodeCheckChar(first17))
}

func entity(id string) *registry.Entity {
	return &registry.Entity{ID: id, DisplayName: "Entity " + id, Kind: registry.EntityKindEnterprise, Region: "Binhai"}
}

func group(id string, kind registry.GroupKind) *registry.Group {
	return &registry.Group{ID: id, DisplayName: "Group " + id, Kind: kind, Field: "aerospace"}
}

func mustCreate[T registry.Resource](t testing.TB, s *Store, r T) T {
	t.Helper()
	var out registry.Resource
	var err error
	switch r := any(r).(type) {
	case *registry.Entity:
		out, _, err = s.CreateEntity(ctx, r, "")
	case *registry.Group:
		out, _, err = s.CreateGroup(ctx, r, "")
	case *registry.Membership:
		out, _, err = s.CreateMembership(ctx, r, "")
	case *registry.TalentRecord:
		out, _, err = s.CreateTalentRecord(ctx, r, "")
	case *registry.Program:
		out, _, err = s.CreateProgram(ctx, r, "")
	}
	if err != nil {
		t.Fatalf("create %s: %v", r.Name(), err)
	}
	return out.(T)
}

func wantCode(t testing.TB, err error, code registry.Code) {
	t.Helper()
	if got := registry.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %d), want code %d", err, got, code)
	}
}
