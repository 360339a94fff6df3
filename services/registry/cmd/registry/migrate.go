package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"talentreg/platform/command"
	"talentreg/platform/flagenv"
	"talentreg/services/registry/bolt"
	"talentreg/services/registry/etcdkv"
	"talentreg/services/registry/kv"
	"talentreg/services/registry/kvstore"
	"talentreg/services/registry/storage"
)

// migrate copies a stopped registry from one engine to another, key for
// key: the same id, revisions, change log and audit trail, so metrics
// replicas follow the copy without a rebuild.
//
//	registry migrate --from bolt:data/registry.db --to etcd:https://a:2379,https://b:2379 [--etcd-… flags]
//	registry migrate --from etcd:https://a:2379 --to bolt:registry.db
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the registry to copy: bolt:FILE or etcd:URL[,URL…] (no registry may serve it meanwhile)")
	to := fs.String("to", "", "where to copy it: bolt:FILE (new or empty) or etcd:URL[,URL…] (an empty --etcd-prefix)")
	walDir := fs.String("wal-dir", "", "write-ahead log folder of a bolt --from file (default: its name followed by .wal); a log not yet applied is applied first")
	etcd := DefaultConfig().Etcd
	etcd.CompactEvery = 0
	etcd.AddFlags(fs)
	if err := flagenv.Parse(fs, args, getenv); err != nil {
		return command.UsageError{Err: err}
	}
	src, err := parseEngine("--from", *from, etcd)
	if err != nil {
		return command.UsageError{Err: err}
	}
	src.walDir = *walDir
	dst, err := parseEngine("--to", *to, etcd)
	if err != nil {
		return command.UsageError{Err: err}
	}
	if src.kind == "etcd" && dst.kind == "etcd" {
		return command.UsageError{Err: errors.New("--from and --to are both etcd: the etcd flags describe one cluster; copy through a bbolt file")}
	}
	if src.kind == "bolt" && dst.kind == "bolt" && src.path == dst.path {
		return command.UsageError{Err: errors.New("--from and --to are the same file")}
	}

	// Opening the source refuses a missing or damaged file (and bbolt's
	// lock one a registry serves); Copy refuses a foreign or old one.
	source, err := src.open(ctx, false)
	if err != nil {
		return fmt.Errorf("--from %s: %w", *from, err)
	}
	defer source.Close()
	dest, err := dst.open(ctx, true)
	if err != nil {
		return fmt.Errorf("--to %s: %w", *to, err)
	}
	rep, err := kvstore.Copy(ctx, source, dest)
	if err != nil {
		dest.Close()
		return fmt.Errorf("migrate %s → %s: %w", *from, *to, err)
	}
	fmt.Fprintf(stdout, "copied registry %s at revision %d: %d keys, %.1f MiB, digest %s\n",
		rep.RegistryID, rep.Revision, rep.Keys, float64(rep.Bytes)/(1<<20), hex.EncodeToString(rep.Digest[:8]))
	// Check the copy as the registry will serve it: every record decoded,
	// every index matched.
	copyStore, err := kvstore.Open(ctx, dest, kvstore.Options{ReadOnly: true})
	if err != nil {
		dest.Close()
		return fmt.Errorf("--to %s: %w", *to, err)
	}
	defer copyStore.Close() // closes dest
	if err := copyStore.Check(); err != nil {
		return fmt.Errorf("--to %s: the copy is inconsistent:\n%w", *to, err)
	}
	fmt.Fprintf(stdout, "%s: consistent at revision %d; serve it with %s\n", *to, copyStore.Revision(), dst.serveFlags(etcd))
	return nil
}

// engineSpec is one side of a migration.
type engineSpec struct {
	kind   string // bolt or etcd
	path   string // bolt
	walDir string // bolt: its write-ahead log, applied at open (default beside path)
	etcd   EtcdConfig
}

func parseEngine(flagName, spec string, etcd EtcdConfig) (engineSpec, error) {
	kind, rest, ok := strings.Cut(spec, ":")
	switch {
	case spec == "":
		return engineSpec{}, fmt.Errorf("%s is required (bolt:FILE or etcd:URL[,URL…])", flagName)
	case !ok || rest == "":
		return engineSpec{}, fmt.Errorf("%s %q: want bolt:FILE or etcd:URL[,URL…]", flagName, spec)
	case kind == "bolt":
		return engineSpec{kind: kind, path: rest}, nil
	case kind == "etcd":
		etcd.Endpoints = rest
		if err := etcd.Validate(); err != nil {
			return engineSpec{}, fmt.Errorf("%s: %w", flagName, err)
		}
		return engineSpec{kind: kind, etcd: etcd}, nil
	}
	return engineSpec{}, fmt.Errorf("%s %q: the engine must be bolt or etcd", flagName, spec)
}

// open opens the engine; create allows a new bbolt file.
func (e engineSpec) open(ctx context.Context, create bool) (kv.Store, error) {
	if e.kind == "bolt" {
		return bolt.Open(e.path, bolt.Options{Buckets: kvstore.Buckets(), MustExist: !create, WALDir: e.walDir})
	}
	eo, err := e.etcd.options()
	if err != nil {
		return nil, err
	}
	return etcdkv.Open(ctx, eo)
}

func (e engineSpec) serveFlags(etcd EtcdConfig) string {
	if e.kind == "bolt" {
		return "--store bolt --db " + e.path
	}
	return fmt.Sprintf("--store etcd --etcd-endpoints %s --etcd-prefix %s", e.etcd.Endpoints, etcd.Prefix)
}

// openExisting opens an existing registry for the offline checks.
func (e engineSpec) openExisting(ctx context.Context) (*kvstore.Store, error) {
	if e.kind == "bolt" {
		return storage.OpenBolt(e.path, storage.Options{Existing: true, Bolt: bolt.Options{MustExist: true, WALDir: e.walDir}})
	}
	eo, err := e.etcd.options()
	if err != nil {
		return nil, err
	}
	return storage.OpenEtcd(ctx, eo, storage.Options{Existing: true})
}
