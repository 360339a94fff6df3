package rawgrpc

import (
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

func TestCodec_FrameRoundTrip(t *testing.T) {
	var c Codec
	want := AppendString(nil, 1, "entities/e-0000001")
	data, err := c.Marshal(&Frame{B: want})
	if err != nil {
		t.Fatal(err)
	}
	var got registryv1.GetEntityRequest
	if err := c.Unmarshal(data, &got); err != nil || got.GetName() != "entities/e-0000001" {
		t.Fatalf("decoded %v, %v", &got, err)
	}
	b, _ := proto.Marshal(&registryv1.ListEntitiesResponse{
		Entities:      []*registryv1.Entity{{Name: "a"}, {Name: "b"}},
		NextPageToken: "tok",
	})
	f := &Frame{}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b[:3]), mem.SliceBuffer(b[3:])}, f); err != nil {
		t.Fatal(err)
	}
	tok, _, err := BytesField(f.B, 2)
	_, n, _ := BytesField(f.B, 1)
	if err != nil || string(tok) != "tok" || n != 2 {
		t.Fatalf("token %q, %d entities, %v", tok, n, err)
	}
}

func TestVarintField(t *testing.T) {
	b, _ := proto.Marshal(&registryv1.ImportResponse{Revision: 4242})
	if v, err := VarintField(b, 7); err != nil || v != 4242 {
		t.Fatalf("revision %d, %v", v, err)
	}
}
