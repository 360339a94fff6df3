// Package proc starts and stops the benchmark's server processes and reads
// their resource use from /proc.
//
// Every process runs in its own process group and is registered with a
// Group, whose StopAll stops each one by PID (SIGTERM to the group, then
// SIGKILL after a grace period); the harness defers StopAll, so a failure or
// Ctrl-C never leaves a server behind. Children also get SIGKILL from the
// kernel if the harness itself dies (Pdeathsig).
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrExited is returned by WaitReady when the process exits before it is
// ready.
var ErrExited = errors.New("process exited")

// Spec describes a process to start.
type Spec struct {
	// Name labels the process in logs and errors, e.g. "registry".
	Name string
	// Path is the executable.
	Path string
	// Args are the arguments, without the program name.
	Args []string
	// Env is added to the harness's environment.
	Env []string
	// Dir is the working directory; empty means the harness's.
	Dir string
}

// Process is a started process.
type Process struct {
	// Name is Spec.Name.
	Name string
	// PID is the process id, also its process-group id.
	PID int
	// LogPath is the file holding its stdout and stderr.
	LogPath string

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	stopped sync.Once
	stopErr error
}

// Group starts processes and stops all of them on StopAll.
type Group struct {
	// LogDir receives one <name>.log per process.
	LogDir string

	mu    sync.Mutex
	procs []*Process
}

// Start starts s with its output in LogDir/<name>.log. The process is in its
// own process group and is killed if the harness dies.
func (g *Group) Start(s Spec) (*Process, error) {
	if err := os.MkdirAll(g.LogDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(g.LogDir, s.Name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(f, "# %s %s\n", s.Path, strings.Join(s.Args, " "))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	p := &Process{Name: s.Name, PID: cmd.Process.Pid, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// StopAll stops every process started by g that is still running, newest
// first, each within grace before it is killed.
func (g *Group) StopAll(grace time.Duration) error {
	g.mu.Lock()
	procs := append([]*Process(nil), g.procs...)
	g.procs = nil
	g.mu.Unlock()
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].Stop(grace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM to the process group, waits up to grace for the
// process and every other member of its group to exit, then sends SIGKILL
// to the group. When it returns, no process of the group runs any more
// (one that exited may still await its reaper, as a zombie). It returns an
// error only when some process survived SIGKILL; an exit status is not an
// error. Stop is safe to call more than once.
func (p *Process) Stop(grace time.Duration) error {
	p.stopped.Do(func() {
		deadline := time.Now().Add(grace)
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-p.PID, syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(grace):
			}
		}
		// The leader's exit says nothing of the rest of its group.
		if waitGroupExit(p.PID, deadline) {
			return
		}
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.stopErr = fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Name, p.PID)
			return
		}
		if !waitGroupExit(p.PID, time.Now().Add(5*time.Second)) {
			p.stopErr = fmt.Errorf("%s: process group %d still runs after SIGKILL", p.Name, p.PID)
		}
	})
	return p.stopErr
}

// waitGroupExit polls until no process of group pgid runs or deadline
// passes, and reports whether none runs.
func waitGroupExit(pgid int, deadline time.Time) bool {
	for {
		live, err := GroupRunning(pgid)
		if err == nil && !live {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// GroupRunning reports whether any process of group pgid is running, that
// is, exists and is not a zombie (one that has exited but was not yet
// reaped by its parent), from /proc/<pid>/stat.
func GroupRunning(pgid int) (bool, error) {
	running, _, err := groupMembers(pgid)
	return running > 0, err
}

// groupMembers counts the processes of group pgid: those running, and all
// of them (zombies included).
func groupMembers(pgid int) (running, all int, err error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, err
	}
	want := strconv.Itoa(pgid)
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// The command name (field 2) may hold spaces: parse after its ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			return 0, 0, fmt.Errorf("/proc/%s/stat: malformed", e.Name())
		}
		f := strings.Fields(string(b[i+1:]))
		// f[0] is field 3 (state), f[2] field 5 (pgrp).
		if len(f) < 3 || f[2] != want {
			continue
		}
		all++
		if f[0] != "Z" && f[0] != "X" {
			running++
		}
	}
	return running, all, nil
}

// ExitError returns how the process ended, once Done is closed.
func (p *Process) ExitError() error { return p.waitErr }

// LogTail returns the last n bytes of the process's log.
func (p *Process) LogTail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// WaitReady polls check every 20 ms until it returns nil, the process exits
// (ErrExited, with the tail of its log), or timeout passes.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s: %w (%v) before it was ready; log tail:\n%s", p.Name, ErrExited, p.waitErr, p.LogTail(800))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %v: %v", p.Name, timeout, last)
		case <-tick.C:
		}
	}
}

// startAttempts is how often RetryExited tries.
const startAttempts = 3

// RetryExited calls start, which starts processes on addresses from
// FreeAddr and waits until they are ready, until it succeeds, fails for
// another reason than ErrExited, or has tried startAttempts times. A port
// FreeAddr found free can be bound by another process before ours binds
// it, which happens on a machine running many tests at once; each call
// must pick fresh addresses.
func RetryExited(ctx context.Context, start func() error) error {
	var err error
	for range startAttempts {
		if err = start(); err == nil || !errors.Is(err, ErrExited) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// FreeAddr returns a loopback address "127.0.0.1:port" whose port was free a
// moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// CPUTime returns the user plus system CPU time the process pid has used,
// summed over its threads, from /proc/<pid>/stat (10 ms resolution).
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: parse after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// CPUTimes returns the summed CPU time of pids.
func CPUTimes(pids []int) (time.Duration, error) {
	var sum time.Duration
	for _, pid := range pids {
		t, err := CPUTime(pid)
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// SelfCPU returns the CPU time (user plus system) the calling process has
// used, at microsecond resolution.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Memory returns the peak resident set (VmHWM) and the current resident set
// (VmRSS) of pid, in bytes, from /proc/<pid>/status.
func Memory(pid int) (peak, rss int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			peak = kb << 10
		case "VmRSS":
			rss = kb << 10
		}
	}
	if peak == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
	}
	return peak, rss, nil
}
