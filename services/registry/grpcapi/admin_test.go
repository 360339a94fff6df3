package grpcapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/storage"
)

// TestGRPC_BackupStreamsAConsistentCopy: a database of several MiB comes
// in BackupChunk pieces, the first announcing revision, id and size, only
// the last carrying the SHA-256; the bytes are a database at that revision
// that passes the consistency check.
func TestGRPC_BackupStreamsAConsistentCopy(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	ctx := testCtx(t)
	// 8,000 entities: about 3.4 MB in format 3, so more than two chunks.
	for b := range 8 {
		req := &registryv1.BatchCreateEntitiesRequest{}
		for i := range 1000 {
			ent := pbEntity("")
			ent.DisplayName = strings.Repeat("Backup test entity ", 10)
			req.Requests = append(req.Requests, &registryv1.CreateEntityRequest{EntityId: fmt.Sprintf("e-%d-%d", b, i), Entity: ent})
		}
		if _, err := e.client.BatchCreateEntities(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	stream, err := e.admin.Backup(ctx, &registryv1.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*registryv1.BackupResponse
	var data bytes.Buffer
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, msg)
		data.Write(msg.GetData())
	}
	if len(msgs) < 3 {
		t.Fatalf("%d messages for %d bytes: not chunked", len(msgs), data.Len())
	}
	first, last := msgs[0], msgs[len(msgs)-1]
	if first.GetRevision() != e.store.Revision() || first.GetRegistryId() != e.store.ID() || first.GetSizeBytes() != int64(data.Len()) {
		t.Fatalf("first message: revision %d, id %q, size %d; want %d, %q, %d",
			first.GetRevision(), first.GetRegistryId(), first.GetSizeBytes(), e.store.Revision(), e.store.ID(), data.Len())
	}
	for i, m := range msgs {
		if len(m.GetData()) > grpcapi.BackupChunk {
			t.Errorf("message %d carries %d bytes, over %d", i, len(m.GetData()), grpcapi.BackupChunk)
		}
		if i > 0 && (m.GetRevision() != 0 || m.GetRegistryId() != "" || m.GetSizeBytes() != 0) {
			t.Errorf("message %d repeats the metadata", i)
		}
		if i < len(msgs)-1 && m.GetSha256() != nil {
			t.Errorf("message %d of %d carries a checksum", i, len(msgs))
		}
	}
	if sum := sha256.Sum256(data.Bytes()); !bytes.Equal(last.GetSha256(), sum[:]) {
		t.Fatalf("last message's SHA-256 %x, want %x", last.GetSha256(), sum)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, data.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := storage.OpenBolt(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if cp.Revision() != first.GetRevision() || cp.ID() != first.GetRegistryId() {
		t.Fatalf("copy of %s at %d", cp.ID(), cp.Revision())
	}
	if err := cp.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestGRPC_BackupCancelled: a client that goes away ends the copy; the
// registry goes on serving.
func TestGRPC_BackupCancelled(t *testing.T) {
	e := start(t, storage.Options{}, grpcapi.Options{})
	e.createEntity(t, "acme", pbEntity(""))
	ctx, cancel := context.WithCancel(testCtx(t))
	stream, err := e.admin.Backup(ctx, &registryv1.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for {
		_, err = stream.Recv()
		if err != nil {
			break
		}
	}
	if status.Code(err) != codes.Canceled {
		t.Fatalf("err = %v, want CANCELED", err)
	}
	e.createEntity(t, "binhai-u", pbEntity(""))
}
