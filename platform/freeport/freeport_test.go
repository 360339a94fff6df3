package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Addr gives a bindable loopback port below the ephemeral range, and a
// different one while the first is held.
func TestAddr_BelowTheEphemeralRangeAndFree(t *testing.T) {
	addr, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	defer bindPicked(t, addr).Close()
	for range 20 {
		other, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		if other == addr {
			t.Fatalf("%s handed out while it is held", addr)
		}
	}
}

// Addrs gives n distinct free ports, all below the ephemeral range.
func TestAddrs_Distinct(t *testing.T) {
	addrs, err := Addrs(40)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("%s handed out twice in %v", a, addrs)
		}
		seen[a] = true
		bindPicked(t, a).Close()
	}
}

// bindPicked checks that addr's port is below the ephemeral range and
// binds it.
func bindPicked(t *testing.T, addr string) net.Listener {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	if p, _ := strconv.Atoi(port); p < lowest || p >= ephemeralLow() {
		t.Fatalf("port %d, want in [%d, %d)", p, lowest, ephemeralLow())
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the picked %s is not free: %v", addr, err)
	}
	return l
}
