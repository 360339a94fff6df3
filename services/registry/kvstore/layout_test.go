package kvstore

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"talentreg/services/registry"
	"talentreg/services/registry/kv"
)

// TestFormat4_MembershipLayoutStaysCompact holds the format-4 layout of an
// imported membership to its size: a record without the group and entity
// ids its key holds, an entity index entry that names the entity once,
// and a change entry that names the record. A change that lets an id back
// into any of them (or grows them otherwise) fails here.
func TestFormat4_MembershipLayoutStaysCompact(t *testing.T) {
	s := openTest(t, testOptions{})
	const entities, groupID = 300, "g0001"
	items := []registry.ImportItem{{Resource: group(groupID, registry.GroupKindAlliance)}}
	for i := range entities {
		items = append(items, registry.ImportItem{Resource: entity(fmt.Sprintf("e%07d", i))})
	}
	for i := range entities {
		items = append(items, registry.ImportItem{Resource: &registry.Membership{GroupID: groupID, EntityID: fmt.Sprintf("e%07d", i), Role: registry.MembershipRole(1 + i%2)}})
	}
	if _, err := s.Import(ctx, items, 0); err != nil {
		t.Fatal(err)
	}
	f := membershipSchema.field("entity")
	var records, index, changes int
	err := s.kv.View(ctx, func(r kv.Reader) error {
		if err := forEach(r, membershipSchema.primary, func(k, v []byte) error {
			_, ent, _ := bytes.Cut(k, []byte{sep})
			if bytes.Contains(v, ent) || bytes.Contains(v, []byte(groupID)) {
				return fmt.Errorf("membership %q: record %x holds an id its key holds", k, v)
			}
			records += len(v)
			v2 := encodeResource(nil, must(decodeRecord(registry.Memberships, k, v)))
			if len(v) != len(v2)-len(groupID)-len(ent)-2 {
				return fmt.Errorf("membership %q: record of %d bytes, %d as a whole record", k, len(v), len(v2))
			}
			return nil
		}); err != nil {
			return err
		}
		if err := forEach(r, membershipSchema.index, func(k, _ []byte) error {
			if k[0] == f.id {
				index += len(k)
			}
			return nil
		}); err != nil {
			return err
		}
		return forEach(r, bucketChanges, func(k, v []byte) error {
			if rc, err := splitChange(revFromKey(k), v); err == nil && rc.afterColl == registry.Memberships {
				changes += len(v)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	perRecord, perIndex := float64(records)/entities, float64(index)/entities
	perChange := float64(changes) / entities
	t.Logf("bytes per membership: record %.1f, entity index key %.1f, change entry %.1f", perRecord, perIndex, perChange)
	// Version, role, create time (9), update and join offsets, revision.
	if perRecord > 15 {
		t.Errorf("a membership record takes %.1f bytes, want at most 15", perRecord)
	}
	// Field id, entity, \x00, group: 1 + 8 + 1 + 5.
	if want := float64(2 + len("e0000000") + len(groupID)); perIndex != want {
		t.Errorf("a membership's entity index key takes %.1f bytes, want %.0f", perIndex, want)
	}
	if engine != "etcd" && perChange > 24 {
		// A v5 entry: version, type, transaction offsets, the two
		// collection bytes and the record's key; no commit time.
		t.Errorf("an imported membership's change entry takes %.1f bytes, want at most 24", perChange)
	}
}

// TestStore_CommitTimesSurviveNamedEntries: a change whose entry names its
// record (v5, no commit time of its own) reports the record's update
// time as its commit time, and keeps it once superseded (materialised as
// a v4 entry).
func TestStore_CommitTimesSurviveNamedEntries(t *testing.T) {
	clk := &testClock{}
	s := openTest(t, testOptions{Clock: clk.Now})
	e := mustCreate(t, s, entity("e1"))
	mustCreate(t, s, &registry.Group{ID: "g1", DisplayName: "G", Kind: registry.GroupKindAlliance, Field: "f"})
	m := mustCreate(t, s, &registry.Membership{GroupID: "g1", EntityID: "e1", Role: 1})
	commits := func() []string {
		t.Helper()
		page, err := s.ListChanges(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ch := range page.Changes {
			out = append(out, ch.CommitTime.Format(time.RFC3339Nano))
		}
		return out
	}
	before := commits()
	if want := []string{e.UpdateTime.Format(time.RFC3339Nano), "", m.UpdateTime.Format(time.RFC3339Nano)}; before[0] != want[0] || before[2] != want[2] || before[0] == before[2] {
		t.Fatalf("commit times %v, want the records' update times %v", before, want)
	}
	if _, _, err := s.UpdateEntity(ctx, "e1", "", func(e *registry.Entity) { e.Region = "R" }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.UpdateMembership(ctx, "g1", "e1", "", func(m *registry.Membership) { m.Role = 2 }); err != nil {
		t.Fatal(err)
	}
	after := commits()
	if len(after) != 5 || after[0] != before[0] || after[1] != before[1] || after[2] != before[2] || after[3] == after[0] || after[4] == after[3] {
		t.Fatalf("commit times %v after two updates, were %v", after, before)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
