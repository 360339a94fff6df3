package streams

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// blockedStream is a server stream whose client never takes a message:
// SendMsg blocks until released.
type blockedStream struct {
	grpc.ServerStream
	release chan struct{}
}

func (b blockedStream) SendMsg(any) error {
	<-b.release
	return nil
}

func reason(t *testing.T, err error) (codes.Code, *errdetails.ErrorInfo) {
	t.Helper()
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info
		}
	}
	t.Fatalf("%v has no ErrorInfo", err)
	return 0, nil
}

func TestLimiter_Acquire(t *testing.T) {
	l := New("the test server", "test streams", 2, 1, time.Second)
	rel, err := l.Acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Acquire("a")
	if code, info := reason(t, err); code != codes.ResourceExhausted || info.GetReason() != ReasonStreamLimit ||
		info.GetMetadata()["scope"] != "client" || !strings.Contains(status.Convert(err).Message(), "this client has 1 test streams open") {
		t.Fatalf("second stream of a: %v %v", code, info)
	}
	if _, err := l.Acquire("b"); err != nil {
		t.Fatal(err)
	}
	_, err = l.Acquire("c")
	if code, info := reason(t, err); code != codes.ResourceExhausted || info.GetMetadata()["scope"] != "server" ||
		!strings.Contains(status.Convert(err).Message(), "the test server has 2 test streams open") {
		t.Fatalf("third stream: %v %v (%v)", code, info, err)
	}
	if l.Open() != 2 || l.Refused() != 2 {
		t.Fatalf("open %d refused %d, want 2 and 2", l.Open(), l.Refused())
	}
	rel()
	rel() // a second release does nothing
	if l.Open() != 1 {
		t.Fatalf("open %d after a release, want 1", l.Open())
	}
}

func TestLimiter_Send(t *testing.T) {
	l := New("s", "streams", 1, 1, 50*time.Millisecond)
	t.Run("stalled", func(t *testing.T) {
		b := blockedStream{release: make(chan struct{})}
		defer close(b.release)
		if err := l.Send(context.Background(), b, nil, nil); !errors.Is(err, ErrStalled) {
			t.Fatalf("Send to a client that takes nothing: %v, want ErrStalled", err)
		}
		err := l.Stalled("watch again", map[string]string{"k": "v"})
		if code, info := reason(t, err); code != codes.ResourceExhausted || info.GetReason() != ReasonStreamStalled || info.GetMetadata()["k"] != "v" {
			t.Fatalf("Stalled: %v", err)
		}
		if l.StalledCount() != 1 {
			t.Fatalf("StalledCount %d, want 1", l.StalledCount())
		}
	})
	t.Run("stopped", func(t *testing.T) {
		l := New("s", "streams", 1, 1, time.Hour)
		b := blockedStream{release: make(chan struct{})}
		defer close(b.release)
		stop := make(chan struct{})
		close(stop)
		if err := l.Send(context.Background(), b, nil, stop); !errors.Is(err, ErrStopped) {
			t.Fatalf("Send after stop: %v, want ErrStopped", err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		l := New("s", "streams", 1, 1, time.Hour)
		b := blockedStream{release: make(chan struct{})}
		defer close(b.release)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := l.Send(ctx, b, nil, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("Send with a cancelled context: %v", err)
		}
	})
	t.Run("taken", func(t *testing.T) {
		// Its own limiter: with the 50 ms stall timeout above, a SendMsg
		// goroutine not scheduled within 50 ms (a loaded machine) would
		// lose to the timer, or tie with it and lose half the time.
		l := New("s", "streams", 1, 1, time.Hour)
		b := blockedStream{release: make(chan struct{})}
		close(b.release)
		if err := l.Send(context.Background(), b, nil, nil); err != nil {
			t.Fatalf("Send to a client that takes it: %v", err)
		}
	})
}
