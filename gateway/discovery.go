package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"google.golang.org/grpc/resolver"
)

// lookupHost resolves a host name; tests replace it.
var lookupHost = net.DefaultResolver.LookupHost

// resolveAll returns the addresses to balance over: each host:port whose
// host is a name becomes one address per IP the name resolves to — a
// Kubernetes headless Service resolves to one per ready replica — keeping
// the name as the TLS server name; IP addresses stay as they are. The
// result is sorted, so that equal sets compare equal.
func resolveAll(ctx context.Context, addrs []string) ([]resolver.Address, error) {
	var out []resolver.Address
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || net.ParseIP(host) != nil {
			out = append(out, staticAddresses([]string{a})...)
			continue
		}
		ips, err := lookupHost(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", host, err)
		}
		for _, ip := range ips {
			out = append(out, resolver.Address{Addr: net.JoinHostPort(ip, port), ServerName: host})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%v resolve to no address", addrs)
	}
	slices.SortFunc(out, func(a, b resolver.Address) int {
		if a.Addr < b.Addr {
			return -1
		} else if a.Addr > b.Addr {
			return 1
		}
		return 0
	})
	return out, nil
}

// initialAddresses resolves addrs once; when that fails the names stay as
// they are (the dialer resolves them at each connection) until a later
// resolution succeeds.
func initialAddresses(ctx context.Context, addrs []string, log *slog.Logger) []resolver.Address {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resolved, err := resolveAll(ctx, addrs)
	if err == nil {
		return resolved
	}
	log.Warn("backend addresses not resolved; retrying", "addrs", addrs, "err", err)
	return staticAddresses(addrs)
}

// keepResolved re-resolves addrs every interval until ctx ends and calls
// update with the new set whenever it changed, so that replicas added or
// removed behind a name are read from within an interval. A failed
// resolution keeps the last set: a DNS outage must not empty the set.
func keepResolved(ctx context.Context, name string, addrs []string, current []resolver.Address, interval time.Duration, log *slog.Logger, update func([]resolver.Address)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, interval)
		next, err := resolveAll(lctx, addrs)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("re-resolving backend addresses failed; keeping the last ones", "backend", name, "err", err)
			}
			continue
		}
		if slices.EqualFunc(next, current, func(a, b resolver.Address) bool { return a.Addr == b.Addr && a.ServerName == b.ServerName }) {
			continue
		}
		log.Info("backend addresses changed", "backend", name, "from", len(current), "to", len(next))
		update(next)
		current = next
	}
}
