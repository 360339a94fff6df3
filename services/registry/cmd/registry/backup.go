package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/command"
	"talentreg/platform/flagenv"
	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
	"talentreg/services/registry/grpcapi"
)

// backup writes a verified backup file: from a running registry through
// RegistryAdminService.Backup, or from a database file no registry has
// open (--db). The copy is written beside --out, checked as `registry
// check` does, marked as a backup (bolt.MarkBackup) and only then renamed
// to --out, so --out is never a partial file.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("registry", DefaultConfig().GRPCAddr, "gRPC address of the running registry to back up")
	db := fs.String("db", "", "back up this database file instead, offline (no registry may have it open)")
	out := fs.String("out", "", "backup file to write (must not exist)")
	timeout := fs.Duration("timeout", time.Hour, "how long the backup may take")
	verify := fs.Bool("verify", true, "check the copy's consistency (as `registry check`) before keeping it")
	if err := flagenv.Parse(fs, args, getenv); err != nil {
		return command.UsageError{Err: err}
	}
	switch {
	case fs.NArg() > 0:
		return command.UsageError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case *out == "":
		return command.UsageError{Err: errors.New("--out is required")}
	case *timeout <= 0:
		return command.UsageError{Err: fmt.Errorf("--timeout must be positive, got %s", *timeout)}
	}
	if _, err := os.Stat(*out); err == nil {
		return command.UsageError{Err: fmt.Errorf("--out %s already exists", *out)}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".partial-*")
	if err != nil {
		return err
	}
	kept := false
	defer func() {
		if !kept {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var info registry.BackupInfo
	var sum []byte
	if *db != "" {
		info, sum, err = copyFile(ctx, *db, tmp)
	} else {
		info, sum, err = download(ctx, *addr, tmp)
	}
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if *verify {
		if err := verifyCopy(tmp.Name(), info); err != nil {
			return fmt.Errorf("the copy failed its check, nothing kept: %w", err)
		}
	}
	mark, err := bolt.MarkBackup(tmp.Name(), time.Now())
	if err != nil {
		return err
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("--out %s appeared while the backup ran; the copy is not kept", *out)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	kept = true
	if err := syncDir(filepath.Dir(*out)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup of %s: %s (%d bytes, sha256 %s as sent)\n", mark, *out, info.Size, hex.EncodeToString(sum))
	return nil
}

// download receives a Backup stream into f and returns what it holds and
// its SHA-256, after checking the length and checksum the registry sent.
func download(ctx context.Context, addr string, f io.Writer) (registry.BackupInfo, []byte, error) {
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(grpcapi.BackupChunk+64<<10)))
	if err != nil {
		return registry.BackupInfo{}, nil, fmt.Errorf("--registry %s: %w", addr, err)
	}
	defer conn.Close()
	stream, err := registryv1.NewRegistryAdminServiceClient(conn).Backup(ctx, &registryv1.BackupRequest{})
	if err != nil {
		return registry.BackupInfo{}, nil, err
	}
	var info registry.BackupInfo
	h := sha256.New()
	var n int64
	var sent []byte
	for first := true; ; first = false {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return info, nil, fmt.Errorf("backup stream after %d bytes: %w", n, err)
		}
		if sent != nil {
			return info, nil, errors.New("backup stream: data after the checksum")
		}
		if first {
			info = registry.BackupInfo{Revision: msg.GetRevision(), RegistryID: msg.GetRegistryId(), Size: msg.GetSizeBytes()}
		}
		if err := writeHashed(f, h, msg.GetData()); err != nil {
			return info, nil, err
		}
		n += int64(len(msg.GetData()))
		sent = msg.GetSha256()
	}
	sum := h.Sum(nil)
	switch {
	case sent == nil:
		return info, nil, fmt.Errorf("backup stream ended after %d bytes without its checksum", n)
	case n != info.Size:
		return info, nil, fmt.Errorf("backup stream: received %d bytes, the registry announced %d", n, info.Size)
	case !bytes.Equal(sum, sent):
		return info, nil, fmt.Errorf("backup stream: SHA-256 %x of the bytes received differs from the registry's %x", sum, sent)
	}
	return info, sum, nil
}

// copyFile copies the database file at path, which no registry may have
// open, into f.
func copyFile(ctx context.Context, path string, f io.Writer) (registry.BackupInfo, []byte, error) {
	if _, err := os.Stat(path); err != nil {
		return registry.BackupInfo{}, nil, fmt.Errorf("--db: %w", err)
	}
	store, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		return registry.BackupInfo{}, nil, err
	}
	defer store.Close()
	var info registry.BackupInfo
	h := sha256.New()
	err = store.WriteBackup(ctx, func(i registry.BackupInfo) error { info = i; return nil },
		writerFunc(func(p []byte) (int, error) { return len(p), writeHashed(f, h, p) }))
	return info, h.Sum(nil), err
}

func writeHashed(w io.Writer, h hash.Hash, p []byte) error {
	h.Write(p)
	_, err := w.Write(p)
	return err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// verifyCopy opens the copy, checks its consistency and that it holds what
// the source announced.
func verifyCopy(path string, info registry.BackupInfo) error {
	store, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	if store.ID() != info.RegistryID || store.Revision() != info.Revision {
		return fmt.Errorf("the copy holds registry %s at revision %d, the source announced %s at %d",
			store.ID(), store.Revision(), info.RegistryID, info.Revision)
	}
	return store.Check()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
