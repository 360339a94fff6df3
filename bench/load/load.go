// Package load is the harness's load generator: a fixed number of workers
// in a closed loop (or paced to a fixed total rate), a warm-up whose requests
// are not counted, then a measured window of fixed duration. It reports
// QPS, latency quantiles from a log-linear histogram, errors, and the CPU
// time that the server processes and the generator itself used during the
// window, per request.
//
// It is in-process and deliberately light: callers give it operations that
// reuse pre-encoded requests and skip decoding responses, and HTTP goes
// through HTTPConn, a bare keep-alive connection, not net/http's client.
package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"talentreg/bench/proc"
)

// Op performs one request. It returns the latency to record for it, or 0 to
// record its wall-clock time. An Op belongs to one worker and is never
// called concurrently with itself.
type Op func(ctx context.Context) (time.Duration, error)

// Config describes one load run.
type Config struct {
	// Concurrency is the number of workers, each with its own Op.
	Concurrency int
	// Warmup runs before the measured window; its requests are not counted.
	Warmup time.Duration
	// Duration is the measured window.
	Duration time.Duration
	// Rate, when above zero, paces the workers to this many operations per
	// second in total; zero means each worker starts its next operation as
	// soon as the last one ends.
	Rate float64
	// NewWorker returns the Op of worker id (0 ≤ id < Concurrency).
	NewWorker func(id int) (Op, error)
	// ServerPIDs are the processes whose CPU time counts as server CPU.
	ServerPIDs []int
	// Observe, when set, is called by worker id with the latency of each
	// operation the run counts (succeeded, started and ended inside the
	// window), right after that operation returned: a caller can keep its
	// own breakdown, e.g. by the kind of request the worker's Op last sent.
	// It is called on the worker's goroutine, never concurrently for one
	// worker.
	Observe func(id int, lat time.Duration)
}

// Result is what a run measured in its window.
type Result struct {
	// Requests counts successful operations that started and ended inside
	// the window.
	Requests uint64
	// Errors counts failed operations that started inside the window.
	Errors uint64
	// FirstError is the message of the first error, if any.
	FirstError string
	// Window is the measured duration.
	Window time.Duration
	// QPS is Requests per second of Window.
	QPS float64
	// P50, P90, P99, Max and Mean describe the latency of the successful
	// operations.
	P50, P90, P99, Max, Mean time.Duration
	// ServerCPU is the CPU time of the ServerPIDs during the window (10 ms
	// resolution).
	ServerCPU time.Duration
	// LoadCPU is the CPU time of the calling process during the window.
	LoadCPU time.Duration
}

// ServerCPUPerRequest returns ServerCPU divided by Requests, in microseconds.
func (r Result) ServerCPUPerRequest() float64 { return perRequest(r.ServerCPU, r.Requests) }

// LoadCPUPerRequest returns LoadCPU divided by Requests, in microseconds.
func (r Result) LoadCPUPerRequest() float64 { return perRequest(r.LoadCPU, r.Requests) }

func perRequest(d time.Duration, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

// String summarises r on one line.
func (r Result) String() string {
	s := fmt.Sprintf("%.0f QPS, p50 %v, p99 %v, %d errors, server %.1f µs/req, load %.1f µs/req",
		r.QPS, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors,
		r.ServerCPUPerRequest(), r.LoadCPUPerRequest())
	if r.FirstError != "" {
		s += " (first error: " + r.FirstError + ")"
	}
	return s
}

type worker struct {
	hist     Histogram
	errs     uint64
	firstErr string
	firstAt  time.Time
}

// Run runs cfg and returns what it measured. It returns early with ctx's
// error when ctx ends. Every operation gets a context that ends with the
// window, so a run lasts at most Warmup + Duration plus the time the
// operations take to notice.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Concurrency <= 0 || cfg.Duration <= 0 || cfg.NewWorker == nil {
		return Result{}, errors.New("load: Concurrency, Duration and NewWorker are required")
	}
	ops := make([]Op, cfg.Concurrency)
	for i := range ops {
		op, err := cfg.NewWorker(i)
		if err != nil {
			return Result{}, fmt.Errorf("load: worker %d: %w", i, err)
		}
		ops[i] = op
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	t0 := time.Now()
	ws := t0.Add(cfg.Warmup)
	we := ws.Add(cfg.Duration)
	stopTimer := time.AfterFunc(time.Until(we), cancel)
	defer stopTimer.Stop()

	workers := make([]*worker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(runCtx, ops[i], i, cfg, t0, ws, we)
		}()
	}

	var res Result
	var cpu0, self0 time.Duration
	var cpuErr error
	if !sleepUntil(runCtx, ws) {
		wg.Wait()
		return Result{}, ctx.Err()
	}
	cpu0, cpuErr = proc.CPUTimes(cfg.ServerPIDs)
	self0 = proc.SelfCPU()
	sleepUntil(runCtx, we)
	cpu1, err := proc.CPUTimes(cfg.ServerPIDs)
	self1 := proc.SelfCPU()
	cancel()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if err := errors.Join(cpuErr, err); err != nil {
		return Result{}, fmt.Errorf("load: server CPU: %w", err)
	}

	var all Histogram
	var firstAt time.Time
	for _, w := range workers {
		all.Merge(&w.hist)
		res.Errors += w.errs
		if w.firstErr != "" && (firstAt.IsZero() || w.firstAt.Before(firstAt)) {
			firstAt, res.FirstError = w.firstAt, w.firstErr
		}
	}
	res.Requests = all.Count()
	res.Window = cfg.Duration
	res.QPS = float64(res.Requests) / cfg.Duration.Seconds()
	res.P50, res.P90, res.P99 = all.Quantile(0.5), all.Quantile(0.9), all.Quantile(0.99)
	res.Max, res.Mean = all.Max(), all.Mean()
	res.ServerCPU = cpu1 - cpu0
	res.LoadCPU = self1 - self0
	return res, nil
}

func (w *worker) loop(ctx context.Context, op Op, id int, cfg Config, t0, ws, we time.Time) {
	var k int
	for ctx.Err() == nil {
		if cfg.Rate > 0 {
			// Worker id owns slots id, id+C, id+2C, … of the global schedule.
			at := t0.Add(time.Duration(float64(id+k*cfg.Concurrency) / cfg.Rate * float64(time.Second)))
			k++
			if !at.Before(we) || !sleepUntil(ctx, at) {
				return
			}
		}
		start := time.Now()
		lat, err := op(ctx)
		end := time.Now()
		if start.Before(ws) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return // cut off by the end of the window
			}
			w.errs++
			if w.firstErr == "" {
				w.firstErr, w.firstAt = err.Error(), start
			}
			continue
		}
		if end.After(we) {
			return
		}
		if lat == 0 {
			lat = end.Sub(start)
		}
		w.hist.Record(lat)
		if cfg.Observe != nil {
			cfg.Observe(id, lat)
		}
	}
}

// sleepUntil waits until t or until ctx ends; it reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
