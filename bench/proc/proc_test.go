package proc

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestGroup_StopAllStopsByPID(t *testing.T) {
	g := &Group{LogDir: t.TempDir()}
	p, err := g.Start(Spec{Name: "sleeper", Path: "/bin/sh", Args: []string{"-c", "sleep 60 & wait"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.StopAll(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("process still running after StopAll")
	}
	// The whole group is gone: the child sleep too.
	if err := syscall.Kill(-p.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d still exists: %v", p.PID, err)
	}
}

func TestProcess_WaitReadyReportsExit(t *testing.T) {
	g := &Group{LogDir: t.TempDir()}
	defer g.StopAll(time.Second)
	p, err := g.Start(Spec{Name: "quitter", Path: "/bin/sh", Args: []string{"-c", "echo bye; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitReady(context.Background(), 10*time.Second, func(context.Context) error { return errors.New("not yet") })
	if !errors.Is(err, ErrExited) {
		t.Fatalf("WaitReady = %v, want ErrExited", err)
	}
}

func TestCPUTimeAndMemory_OfSelf(t *testing.T) {
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	cpu, err := CPUTime(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("CPUTime = %v, %v", cpu, err)
	}
	if SelfCPU() <= 0 {
		t.Fatal("SelfCPU is zero after busy work")
	}
	peak, rss, err := Memory(os.Getpid())
	if err != nil || peak < rss || rss <= 0 {
		t.Fatalf("Memory = %d, %d, %v", peak, rss, err)
	}
}

func TestFreeAddr(t *testing.T) {
	a, err := FreeAddr()
	if err != nil || a == "" {
		t.Fatal(a, err)
	}
}
