package dataset

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestEntity_WireSizeIsAbout300Bytes(t *testing.T) {
	for _, i := range []int{0, 1, 42, 99999, 999999} {
		n := len(EntityBytes(i))
		if n < 270 || n > 330 {
			t.Errorf("Entity(%d) is %d bytes, want about 300", i, n)
		}
	}
}

func TestEntity_IsDeterministic(t *testing.T) {
	if !proto.Equal(Entity(7), Entity(7)) {
		t.Fatal("Entity(7) differs between calls")
	}
}

func TestCreditCode_ValidAndDistinct(t *testing.T) {
	// 91350100M000100Y43 is a published valid code.
	if !ValidCreditCode("91350100M000100Y43") {
		t.Fatal("known valid code rejected")
	}
	seen := map[string]bool{}
	for i := range 20000 {
		c := CreditCode(i)
		if !ValidCreditCode(c) {
			t.Fatalf("CreditCode(%d) = %s is invalid", i, c)
		}
		if seen[c] {
			t.Fatalf("CreditCode(%d) = %s repeats", i, c)
		}
		seen[c] = true
	}
}

func TestMembershipGroups_Distinct(t *testing.T) {
	for i := range 5000 {
		gs := MembershipGroups(i, 3, 20)
		if len(gs) != 3 || gs[0] == gs[1] || gs[0] == gs[2] || gs[1] == gs[2] {
			t.Fatalf("MembershipGroups(%d) = %v", i, gs)
		}
	}
}
