package grpcapi

import (
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"log/slog"

	"google.golang.org/grpc"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry"
)

// BackupChunk is the most file bytes one BackupResponse carries.
const BackupChunk = 1 << 20

// Backuper writes consistent copies of the registry's database;
// *bolt.Store implements it.
type Backuper interface {
	// WriteBackup writes a copy of the whole database file as of one
	// revision to w, calling begin first with what it holds. An error from
	// begin or w, or the end of ctx, stops the copy and is returned.
	WriteBackup(ctx context.Context, begin func(registry.BackupInfo) error, w io.Writer) error
}

// Admin implements registryv1.RegistryAdminServiceServer.
type Admin struct {
	registryv1.UnimplementedRegistryAdminServiceServer
	backups Backuper
	log     *slog.Logger
}

var _ registryv1.RegistryAdminServiceServer = (*Admin)(nil)

// NewAdmin returns the admin service over backups, logging to log (nil:
// discard).
func NewAdmin(backups Backuper, log *slog.Logger) *Admin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Admin{backups: backups, log: log}
}

// RegisterAdmin registers a on srv.
func RegisterAdmin(srv grpc.ServiceRegistrar, a *Admin) {
	registryv1.RegisterRegistryAdminServiceServer(srv, a)
}

// Backup implements registryv1.RegistryAdminServiceServer: the copy in
// BackupChunk pieces, the first message with its revision, id and size,
// the last with its SHA-256.
func (a *Admin) Backup(_ *registryv1.BackupRequest, stream grpc.ServerStreamingServer[registryv1.BackupResponse]) error {
	ctx := stream.Context()
	w := &chunkWriter{stream: stream, hash: sha256.New(), next: &registryv1.BackupResponse{}}
	var info registry.BackupInfo
	err := a.backups.WriteBackup(ctx, func(i registry.BackupInfo) error {
		info = i
		w.next.Revision, w.next.RegistryId, w.next.SizeBytes = i.Revision, i.RegistryID, i.Size
		return nil
	}, w)
	if err == nil {
		err = w.finish()
	}
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err() // the client went away: not the registry's failure
		}
		return toStatus(ctx, a.log, err)
	}
	a.log.InfoContext(ctx, "backup sent", "revision", info.Revision, "bytes", info.Size)
	return nil
}

// chunkWriter sends what is written to it in BackupChunk messages.
type chunkWriter struct {
	stream grpc.ServerStreamingServer[registryv1.BackupResponse]
	hash   hash.Hash
	// next is the message being filled; the first carries the metadata
	// set by begin.
	next *registryv1.BackupResponse
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := BackupChunk - len(w.next.Data)
		if room == 0 {
			if err := w.send(); err != nil {
				return n - len(p), err
			}
			continue
		}
		take := min(room, len(p))
		if w.next.Data == nil {
			w.next.Data = make([]byte, 0, BackupChunk)
		}
		w.next.Data = append(w.next.Data, p[:take]...)
		w.hash.Write(p[:take])
		p = p[take:]
	}
	return n, nil
}

// send sends the message being filled and starts the next one.
func (w *chunkWriter) send() error {
	err := w.stream.Send(w.next)
	w.next = &registryv1.BackupResponse{Data: w.next.Data[:0]} // Send has marshalled it
	return err
}

// finish sends the rest, with the SHA-256 of everything.
func (w *chunkWriter) finish() error {
	w.next.Sha256 = w.hash.Sum(nil)
	return w.stream.Send(w.next)
}
