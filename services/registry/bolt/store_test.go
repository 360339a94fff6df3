package bolt

import (
	"testing"

	"talentreg/services/registry"
)

func TestStore_CreateGetEntity(t *testing.T) {
	s := openTest(t, Options{})
	e := entity("acme")
	e.CreditCode = creditCode("91120116MA05JQ3X0")
	e.Industries = []string{"aerospace", "new-materials"}
	got, rev, err := s.CreateEntity(ctx, e, "")
	if err != nil {
		t.Fatal(err)
	}
	if rev != 1 || got.Revision != 1 || got.Etag() != "1" {
		t.Fatalf("rev = %d, resource revision = %d, etag %q; want 1", rev, got.Revision, got.Etag())
	}
	if got.CreateTime.IsZero() || !got.CreateTime.Equal(got.UpdateTime) {
		t.Fatalf("times = %v / %v", got.CreateTime, got.UpdateTime)
	}
	read, err := s.GetEntity(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if read.DisplayName != e.DisplayName || read.CreditCode != e.CreditCode || len(read.Industries) != 2 || !read.CreateTime.Equal(got.CreateTime) {
		t.Fatalf("read back %+v, want %+v", read, got)
	}
	_, err = s.GetEntity(ctx, "missing")
	wantCode(t, err, registry.CodeNotFound)
}
