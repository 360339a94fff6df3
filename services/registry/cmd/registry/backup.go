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
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/command"
	"talentreg/platform/flagenv"
	"talentreg/platform/security"
	"talentreg/services/registry"
	"talentreg/services/registry/bolt"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/kvstore"
	"talentreg/services/registry/storage"
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
	db := fs.String("db", "", "back up this database file instead, offline (no registry may have it open); its write-ahead log, if not yet applied, is applied first")
	walDir := walDirFlag(fs)
	out := fs.String("out", "", "backup file to write (must not exist), or a folder (ending in /) to write registry-<time>-<id>-r<revision>.db in")
	keep := fs.Int("keep", 0, "with a folder --out: keep only the newest N backups there (0 keeps all)")
	timeout := fs.Duration("timeout", time.Hour, "how long the backup may take")
	verify := fs.Bool("verify", true, "check the copy's consistency (as registry check does) before keeping it")
	var client security.Client
	fs.StringVar(&client.TLS.CAFile, "registry-ca", "", "PEM CA bundle to verify the registry (turns TLS on)")
	fs.StringVar(&client.TLS.ServerName, "registry-server-name", "", "name expected in the registry's certificate")
	fs.StringVar(&client.TLS.CertFile, "client-cert", "", "PEM client certificate (mutual TLS); its principal needs the admin role")
	fs.StringVar(&client.TLS.KeyFile, "client-key", "", "PEM key of --client-cert")
	fs.StringVar(&client.TokenFile, "token-file", "", "file holding a bearer token with the admin role (talentreg.backups.create)")
	fs.StringVar(&client.Token, "token", "", "bearer token (prefer --token-file or TALENTREG_TOKEN)")
	if err := flagenv.Parse(fs, args, getenv); err != nil {
		return command.UsageError{Err: err}
	}
	if err := client.Validate(); err != nil {
		return command.UsageError{Err: err}
	}
	switch {
	case fs.NArg() > 0:
		return command.UsageError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case *out == "":
		return command.UsageError{Err: errors.New("--out is required")}
	case *timeout <= 0:
		return command.UsageError{Err: fmt.Errorf("--timeout must be positive, got %s", *timeout)}
	case *keep < 0:
		return command.UsageError{Err: fmt.Errorf("--keep must not be negative, got %d", *keep)}
	}
	dir, intoDir := *out, strings.HasSuffix(*out, "/")
	if fi, err := os.Stat(*out); err == nil && fi.IsDir() {
		intoDir = true
	} else if err == nil {
		return command.UsageError{Err: fmt.Errorf("--out %s already exists", *out)}
	}
	if !intoDir {
		dir = filepath.Dir(*out)
		if *keep > 0 {
			return command.UsageError{Err: errors.New("--keep needs a folder --out")}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	tmp, err := os.CreateTemp(dir, ".registry-backup.partial-*")
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
		info, sum, err = copyFile(ctx, *db, *walDir, tmp)
	} else {
		info, sum, err = download(ctx, *addr, client, tmp)
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
	mark, err := markBackup(ctx, tmp.Name(), time.Now())
	if err != nil {
		return err
	}
	path := *out
	if intoDir {
		path = filepath.Join(dir, backupName(mark))
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s appeared while the backup ran; the copy is not kept", path)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	kept = true
	if err := syncDir(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup of %s: %s (%d bytes, sha256 %s as sent)\n", mark, path, info.Size, hex.EncodeToString(sum))
	if *keep > 0 {
		return prune(dir, *keep, stdout)
	}
	return nil
}

// backupName names a backup in a folder so that names sort by time.
func backupName(m kvstore.BackupMark) string {
	id := m.RegistryID
	if len(id) > 8 {
		id = id[:8]
	}
	return fmt.Sprintf("registry-%s-%s-r%d.db", m.TakenAt.UTC().Format("20060102T150405.000Z"), id, m.Revision)
}

// prune removes all but the newest keep backups named by backupName in dir.
func prune(dir string, keep int, stdout io.Writer) error {
	names, err := filepath.Glob(filepath.Join(dir, "registry-*Z-*-r*.db"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	for len(names) > keep {
		if err := os.Remove(names[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed the older backup %s\n", names[0])
		names = names[1:]
	}
	return syncDir(dir)
}

// download receives a Backup stream into f and returns what it holds and
// its SHA-256, after checking the length and checksum the registry sent.
func download(ctx context.Context, addr string, client security.Client, f io.Writer) (registry.BackupInfo, []byte, error) {
	creds, err := client.DialOptions(addr)
	if err != nil {
		return registry.BackupInfo{}, nil, command.UsageError{Err: err}
	}
	conn, err := grpc.NewClient(addr, append(creds,
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(grpcapi.BackupChunk+64<<10)))...)
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
func copyFile(ctx context.Context, path, walDir string, f io.Writer) (registry.BackupInfo, []byte, error) {
	if _, err := os.Stat(path); err != nil {
		return registry.BackupInfo{}, nil, fmt.Errorf("--db: %w", err)
	}
	store, err := storage.OpenBolt(path, storage.Options{Bolt: bolt.Options{MustExist: true, WALDir: walDir}})
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
	// A copy: the write-ahead log of the file it was copied from is not
	// its own (everything the copy holds is in it).
	store, err := storage.OpenBolt(path, storage.Options{Bolt: bolt.Options{MustExist: true, Copy: true}})
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

// markBackup marks the registry file at path, which no registry serves,
// as a backup taken at takenAt.
func markBackup(ctx context.Context, path string, takenAt time.Time) (kvstore.BackupMark, error) {
	db, err := bolt.Open(path, bolt.Options{Buckets: kvstore.Buckets(), MustExist: true, Copy: true})
	if err != nil {
		return kvstore.BackupMark{}, err
	}
	mark, err := kvstore.MarkBackup(ctx, db, takenAt)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return kvstore.BackupMark{}, fmt.Errorf("%s: %w", path, err)
	}
	return mark, nil
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
