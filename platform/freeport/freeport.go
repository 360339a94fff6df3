// Package freeport picks a loopback address for a server that a test
// starts later, or starts again after stopping it.
//
// The usual pick — listen on port 0, close, hand the port out — races with
// every other process on the machine: until the server binds it, the port
// is free in the kernel's ephemeral range, and any outgoing connection
// (or another listener on port 0) may take it meanwhile ("bind: address
// already in use", seen in `make test` with e2e running beside). Ports
// below that range are never handed out by the kernel, so only another
// explicit pick could collide.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// lowest is the first port picked (above the registered services most
// machines run).
const lowest = 10000

// Addr returns "127.0.0.1:port" for a port below the ephemeral range on
// which nothing listens now.
func Addr() (string, error) {
	addrs, err := Addrs(1)
	if err != nil {
		return "", err
	}
	return addrs[0], nil
}

// For returns Addr's pick for a test, which fails without one.
func For(tb testing.TB) string {
	tb.Helper()
	addr, err := Addr()
	if err != nil {
		tb.Fatal(err)
	}
	return addr
}

// Addrs returns n distinct such addresses (for a cluster whose members
// all start later): each is held while the next is picked.
func Addrs(n int) ([]string, error) {
	top := ephemeralLow()
	if top <= lowest {
		return nil, fmt.Errorf("freeport: the ephemeral range starts at %d, no room below it", top)
	}
	held := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	addrs := make([]string, 0, n)
	for tries := 0; len(addrs) < n; tries++ {
		if tries == 100*n {
			return nil, fmt.Errorf("freeport: no %d free ports in %d–%d", n, lowest, top-1)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", lowest+rand.IntN(top-lowest))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken: another pick
		}
		held = append(held, l)
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var hi int
		if n, _ := fmt.Sscan(string(b), &low, &hi); n != 2 {
			low = 32768
		}
	}
	return low
}
