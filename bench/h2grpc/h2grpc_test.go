package h2grpc

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

type server struct {
	registryv1.UnimplementedRegistryServiceServer
	arrived chan struct{} // receives when a slow call has arrived, if set
}

func (s server) GetEntity(ctx context.Context, req *registryv1.GetEntityRequest) (*registryv1.GetEntityResponse, error) {
	switch req.GetName() {
	case "entities/missing":
		return nil, status.Error(codes.NotFound, "entities/missing not found")
	case "entities/slow":
		if s.arrived != nil {
			s.arrived <- struct{}{}
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-revision", "42"))
	return &registryv1.GetEntityResponse{Entity: &registryv1.Entity{Name: req.GetName(), DisplayName: strings.Repeat("x", 300)}}, nil
}

func (server) ListEntities(_ context.Context, req *registryv1.ListEntitiesRequest) (*registryv1.ListEntitiesResponse, error) {
	// A response far beyond one frame and the default windows.
	var out registryv1.ListEntitiesResponse
	for range int(req.GetPageSize()) {
		out.Entities = append(out.Entities, &registryv1.Entity{DisplayName: strings.Repeat("y", 1000)})
	}
	return &out, nil
}

func start(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	registryv1.RegisterRegistryServiceServer(s, server{})
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

func TestConn_UnaryCallsConcurrently(t *testing.T) {
	addr := start(t)
	c, err := Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := c.Method(registryv1.RegistryService_GetEntity_FullMethodName)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call := &Call{Want: "x-revision"}
			for i := range 200 {
				name := "entities/e-" + string(rune('a'+w)) + string(rune('a'+i%26))
				req, _ := proto.Marshal(&registryv1.GetEntityRequest{Name: name})
				if err := c.Invoke(context.Background(), m, req, call); err != nil {
					errs <- err
					return
				}
				var resp registryv1.GetEntityResponse
				if err := proto.Unmarshal(call.Response, &resp); err != nil || resp.GetEntity().GetName() != name || call.Header != "42" {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestConn_StatusAndLargeResponses(t *testing.T) {
	c, err := Dial(start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := &Call{}
	req, _ := proto.Marshal(&registryv1.GetEntityRequest{Name: "entities/missing"})
	err = c.Invoke(context.Background(), c.Method(registryv1.RegistryService_GetEntity_FullMethodName), req, call)
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing: %v", err)
	}
	list := c.Method(registryv1.RegistryService_ListEntities_FullMethodName)
	for range 5 { // 5 × ~1 MB: past the default connection window
		req, _ := proto.Marshal(&registryv1.ListEntitiesRequest{PageSize: 1000})
		if err := c.Invoke(context.Background(), list, req, call); err != nil {
			t.Fatal(err)
		}
		var resp registryv1.ListEntitiesResponse
		if err := proto.Unmarshal(call.Response, &resp); err != nil || len(resp.GetEntities()) != 1000 {
			t.Fatalf("%d entities, %v", len(resp.GetEntities()), err)
		}
	}
	// A request larger than one frame.
	big, _ := proto.Marshal(&registryv1.GetEntityRequest{Name: "entities/" + strings.Repeat("z", 40000)})
	if err := c.Invoke(context.Background(), c.Method(registryv1.RegistryService_GetEntity_FullMethodName), big, call); err != nil {
		t.Fatal(err)
	}
}

func TestConn_ContextCancelResetsTheStream(t *testing.T) {
	c, err := Dial(start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := c.Method(registryv1.RegistryService_GetEntity_FullMethodName)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := proto.Marshal(&registryv1.GetEntityRequest{Name: "entities/slow"})
	if err := c.Invoke(ctx, m, req, &Call{}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("slow: %v", err)
	}
	// The connection still works.
	req, _ = proto.Marshal(&registryv1.GetEntityRequest{Name: "entities/ok"})
	if err := c.Invoke(context.Background(), m, req, &Call{}); err != nil {
		t.Fatal(err)
	}
}

func TestConn_FailsPendingCallsWhenTheServerGoes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	arrived := make(chan struct{}, 1)
	registryv1.RegisterRegistryServiceServer(s, server{arrived: arrived})
	go s.Serve(l)
	c, err := Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := c.Method(registryv1.RegistryService_GetEntity_FullMethodName)
	req, _ := proto.Marshal(&registryv1.GetEntityRequest{Name: "entities/slow"})
	errc := make(chan error, 1)
	go func() { errc <- c.Invoke(context.Background(), m, req, &Call{}) }()
	<-arrived
	s.Stop()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("call succeeded after the server stopped")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pending call not failed")
	}
}
