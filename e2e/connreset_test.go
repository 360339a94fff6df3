package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestIsConnReset: a connection the server resets counts as a cut-off
// body; a refused connection (a crashed gateway) or any other error does
// not, whatever its message says.
func TestIsConnReset(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			// Read the request line, then reset the connection.
			_, _ = c.Read(make([]byte, 512))
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resetErr := send(ctx, "POST", "http://"+lis.Addr().String()+"/v1/entities", strings.Repeat("x", 4<<20))
	if resetErr == nil || !isConnReset(resetErr) {
		t.Errorf("isConnReset(%v) = false for a reset connection", resetErr)
	}

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	_, refusedErr := send(ctx, "POST", "http://"+addr+"/v1/entities", "{}")
	if refusedErr == nil || isConnReset(refusedErr) {
		t.Errorf("isConnReset(%v) = true for a refused connection", refusedErr)
	}
	for _, err := range []error{
		errors.New("read: connection reset by peer"),
		fmt.Errorf("write: broken pipe"),
		context.DeadlineExceeded,
	} {
		if isConnReset(err) {
			t.Errorf("isConnReset(%v) = true", err)
		}
	}
}
