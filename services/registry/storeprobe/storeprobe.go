// Package storeprobe tells whether the registry's store can serve: it
// pings an engine that can lose its storage while the process runs (a
// kv.Pinger: etcd) on a period, and reports when the answer changes. The
// registry turns that into its grpc.health.v1 status, so that a replica
// cut off from etcd is NOT_SERVING — load balancers, probes and the
// metrics service's client-side health checks go elsewhere — and serves
// again by itself once etcd is back, with no restart.
package storeprobe

import (
	"context"
	"time"

	"talentreg/services/registry/kv"
)

// Options tune the probe. Zero fields take the defaults.
type Options struct {
	// Interval is the time from one ping's start to the next (default
	// 1 s).
	Interval time.Duration
	// Timeout bounds one ping (default: Interval).
	Timeout time.Duration
	// FailAfter is how many pings in a row must fail before the store is
	// reported lost (default 3: an etcd leader election, which fails
	// pings for a second or two, does not make a replica flap).
	FailAfter int
}

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = o.Interval
	}
	if o.FailAfter <= 0 {
		o.FailAfter = 3
	}
	return o
}

// Run pings p every o.Interval until ctx ends. The store counts as
// available at the start (it has just been opened); report is called with
// false and the last ping's error once o.FailAfter pings in a row have
// failed, and with true, nil at the first ping that succeeds after that.
// With the defaults a replica reports its store lost within about
// FailAfter × Interval + Timeout (4 s) of losing it, and available again
// within an Interval of a ping going through.
func Run(ctx context.Context, p kv.Pinger, o Options, report func(available bool, err error)) {
	o = o.withDefaults()
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	available, failures := true, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, o.Timeout)
		err := p.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			failures = 0
			if !available {
				available = true
				report(true, nil)
			}
		case available:
			if failures++; failures >= o.FailAfter {
				available = false
				report(false, err)
			}
		}
	}
}
