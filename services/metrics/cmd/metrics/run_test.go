package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"talentreg/platform/command"
	"talentreg/platform/freeport"
	"testing"
	"time"

	"talentreg/services/metrics"
	"talentreg/services/metrics/checkpoint"
	"talentreg/services/metrics/internal/registrytest"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"pgregory.net/rapid"
)

// state lists the names of the registry's resources, from a snapshot.
type state struct {
	entities, groups, memberships, records, programs []string
}

func readState(ctx context.Context, w registrytest.Writer) (state, error) {
	_, resources, err := w.Snapshot(ctx)
	var s state
	for _, r := range resources {
		switch {
		case r.GetEntity() != nil:
			s.entities = append(s.entities, r.GetEntity().GetName())
		case r.GetGroup() != nil:
			s.groups = append(s.groups, r.GetGroup().GetName())
		case r.GetMembership() != nil:
			s.memberships = append(s.memberships, r.GetMembership().GetName())
		case r.GetTalentRecord() != nil:
			s.records = append(s.records, r.GetTalentRecord().GetName())
		case r.GetProgram() != nil:
			s.programs = append(s.programs, r.GetProgram().GetName())
		}
	}
	return s, err
}

// operate draws one operation the registry must accept in state s and
// makes it.
func operate(t *rapid.T, ctx context.Context, w registrytest.Writer, s state) error {
	id := func(prefix string, n int, taken []string, collection string) (string, bool) {
		for range 5 {
			id := fmt.Sprintf("%s%d", prefix, rapid.IntRange(0, n-1).Draw(t, prefix))
			if !slices.Contains(taken, collection+id) {
				return id, true
			}
		}
		return "", false
	}
	trim := func(name, prefix string) string { return strings.TrimPrefix(name, prefix) }
	entity := func(id string) registrytest.Entity {
		return registrytest.Entity{
			ID:         id,
			Kind:       rapid.SampledFrom(kinds).Draw(t, "kind"),
			Region:     rapid.SampledFrom([]string{"", "Binhai", "Tianjin", "Beijing", "Hebei"}).Draw(t, "region"),
			Industries: rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"aerospace", "deep-sea", "biomedicine", "new-materials"}), 0, 3, rapid.ID[string]).Draw(t, "industries"),
			Leading:    rapid.Bool().Draw(t, "leading"),
			Platform:   rapid.Bool().Draw(t, "platform"),
		}
	}
	groupKind := func() registryv1.GroupKind {
		return registryv1.GroupKind(rapid.IntRange(1, 2).Draw(t, "groupKind"))
	}
	field := func() string {
		return rapid.SampledFrom([]string{"", "aerospace", "financial-leasing", "digital-economy"}).Draw(t, "field")
	}
	record := func(id string) registrytest.Record {
		program := ""
		if len(s.programs) > 0 && rapid.Bool().Draw(t, "withProgram") {
			program = rapid.SampledFrom(s.programs).Draw(t, "program")
		}
		return registrytest.Record{
			ID:       id,
			Subject:  rapid.SampledFrom(append(slices.Clone(s.entities), s.groups...)).Draw(t, "subject"),
			Category: registryv1.TalentCategory(rapid.IntRange(1, 3).Draw(t, "category")),
			Count:    rapid.Int64Range(1, 5000).Draw(t, "count"),
			Program:  program,
			Period:   rapid.SampledFrom([]string{"", "2023", "2024", "2024-06"}).Draw(t, "period"),
		}
	}

	ops := []string{"createEntity", "createGroup", "createProgram"}
	if len(s.entities) > 0 {
		ops = append(ops, "updateEntity", "updateEntity", "deleteEntity")
	}
	if len(s.groups) > 0 {
		ops = append(ops, "updateGroup", "deleteGroup")
	}
	if len(s.entities) > 0 && len(s.groups) > 0 {
		ops = append(ops, "createMembership", "createMembership", "createMembership")
	}
	if len(s.memberships) > 0 {
		ops = append(ops, "deleteMembership", "deleteMembership", "updateMembership")
	}
	if len(s.entities)+len(s.groups) > 0 {
		ops = append(ops, "createRecord", "createRecord")
	}
	if len(s.records) > 0 {
		ops = append(ops, "updateRecord", "deleteRecord")
	}
	if len(s.programs) > 0 {
		ops = append(ops, "deleteProgram")
	}
	var err error
	switch op := rapid.SampledFrom(ops).Draw(t, "op"); op {
	case "createEntity":
		if id, ok := id("e", 16, s.entities, "entities/"); ok {
			_, err = w.CreateEntity(ctx, entity(id))
		}
	case "updateEntity":
		_, err = w.UpdateEntity(ctx, entity(trim(rapid.SampledFrom(s.entities).Draw(t, "entity"), "entities/")))
	case "deleteEntity":
		_, err = w.Delete(ctx, rapid.SampledFrom(s.entities).Draw(t, "entity"))
	case "createGroup":
		if id, ok := id("g", 6, s.groups, "groups/"); ok {
			_, err = w.PutGroup(ctx, id, groupKind(), field(), true)
		}
	case "updateGroup":
		_, err = w.PutGroup(ctx, trim(rapid.SampledFrom(s.groups).Draw(t, "group"), "groups/"), groupKind(), field(), false)
	case "deleteGroup":
		_, err = w.Delete(ctx, rapid.SampledFrom(s.groups).Draw(t, "group"))
	case "createProgram":
		if id, ok := id("p", 4, s.programs, "programs/"); ok {
			_, err = w.CreateProgram(ctx, id)
		}
	case "deleteProgram":
		_, err = w.Delete(ctx, rapid.SampledFrom(s.programs).Draw(t, "program"))
	case "createMembership":
		g := trim(rapid.SampledFrom(s.groups).Draw(t, "group"), "groups/")
		e := trim(rapid.SampledFrom(s.entities).Draw(t, "entity"), "entities/")
		if !slices.Contains(s.memberships, "groups/"+g+"/memberships/"+e) {
			_, err = w.CreateMembership(ctx, g, e, registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER)
		}
	case "updateMembership":
		_, err = w.UpdateMembershipRole(ctx, rapid.SampledFrom(s.memberships).Draw(t, "membership"),
			registryv1.MembershipRole(rapid.IntRange(1, 2).Draw(t, "role")))
	case "deleteMembership":
		_, err = w.Delete(ctx, rapid.SampledFrom(s.memberships).Draw(t, "membership"))
	case "createRecord":
		if id, ok := id("r", 16, s.records, "talentRecords/"); ok {
			_, err = w.PutRecord(ctx, record(id), true)
		}
	case "updateRecord":
		_, err = w.PutRecord(ctx, record(trim(rapid.SampledFrom(s.records).Draw(t, "record"), "talentRecords/")), false)
	case "deleteRecord":
		_, err = w.Delete(ctx, rapid.SampledFrom(s.records).Draw(t, "record"))
	}
	return err
}

// TestRun_Property: random registry operations — entity kind, region and
// industry updates, group kind and field updates, cascade deletes of
// entities, groups and programmes, membership churn, records moving
// between subjects — against a real registry; at random points the
// service's figures equal a brute-force recount of a snapshot at the same
// revision (and its own VerifyProjection agrees); they do again after the
// service restarts from its checkpoint, which it resumes from rather than
// reloading a snapshot.
func TestRun_Property(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	db := filepath.Join(t.TempDir(), "metrics.db")
	svc := startService(t, reg.Addr, db, true)
	restarts := 0
	rapid.Check(t, func(rt *rapid.T) {
		ctx := testCtx(t)
		for range rapid.IntRange(1, 30).Draw(rt, "steps") {
			s, err := readState(ctx, w)
			if err != nil {
				rt.Fatal(err)
			}
			if err := operate(rt, ctx, w, s); err != nil {
				rt.Fatalf("registry refused a valid operation: %v", err)
			}
			if rapid.IntRange(0, 9).Draw(rt, "check") == 0 {
				if err := svc.agrees(ctx, w); err != nil {
					rt.Fatal(err)
				}
			}
		}
		if err := svc.agrees(ctx, w); err != nil {
			rt.Fatal(err)
		}
		if rapid.IntRange(0, 2).Draw(rt, "restart") == 0 {
			svc.stop()
			svc = startService(t, reg.Addr, db, true)
			restarts++
			if n := svc.scrape("talentreg_metrics_snapshot_loads_total"); n != 0 {
				rt.Fatalf("restarted service loaded %v snapshots; it should resume from its checkpoint", n)
			}
			if err := svc.agrees(ctx, w); err != nil {
				rt.Fatalf("after restart: %v", err)
			}
		}
	})
	t.Logf("%d restarts from the checkpoint", restarts)
}

// TestRun_ReplicasAgree: two replicas fed by one registry report identical
// figures at the same revision.
func TestRun_ReplicasAgree(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	ctx := testCtx(t)
	a := startService(t, reg.Addr, filepath.Join(t.TempDir(), "a.db"), true)
	populate(t, w, "x")
	b := startService(t, reg.Addr, filepath.Join(t.TempDir(), "b.db"), true) // bootstraps later than a
	populate(t, w, "y")
	want, groups, err := recount(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	fa, err := a.figures(ctx, want.Revision, groups)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := b.figures(ctx, want.Revision, groups)
	if err != nil {
		t.Fatal(err)
	}
	if d := metrics.Diff(fa, fb); len(d) > 0 {
		t.Fatalf("replicas differ at revision %d: %v", want.Revision, d)
	}
	if d := metrics.Diff(fa, want); len(d) > 0 {
		t.Fatalf("replicas differ from the recount: %v", d)
	}
}

// TestRun_NotReadyUntilCaughtUp: with no registry to follow the service
// serves health NOT_SERVING and answers UNAVAILABLE; once the registry is
// up it catches up, turns SERVING and answers with the registry's
// revision.
func TestRun_NotReadyUntilCaughtUp(t *testing.T) {
	addr := freeport.For(t)
	svc := startService(t, addr, filepath.Join(t.TempDir(), "metrics.db"), false)
	ctx := testCtx(t)
	resp, err := svc.health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health without a registry: %v %v, want NOT_SERVING", resp, err)
	}
	if v := svc.scrape("talentreg_metrics_ready"); v != 0 {
		t.Errorf("talentreg_metrics_ready %v while NOT_SERVING, want 0", v)
	}
	if _, err := svc.client.GetSummary(ctx, &metricsv1.GetSummaryRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("GetSummary without a registry: %v, want UNAVAILABLE", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := svc.client.GetSummary(short, &metricsv1.GetSummaryRequest{MinRevision: 1}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("GetSummary(min 1) without a registry: %v, want DEADLINE_EXCEEDED", err)
	}

	reg := registrytest.Start(t, registryBin, registrytest.Options{Addr: addr})
	w := registrytest.Writer{C: reg.Client()}
	last := populate(t, w, "x")
	svc.waitHealth(healthpb.HealthCheckResponse_SERVING)
	if v := svc.scrape("talentreg_metrics_ready"); v != 1 {
		t.Errorf("talentreg_metrics_ready %v while SERVING, want 1", v)
	}
	if v := svc.scrape("talentreg_metrics_checkpoint_size_bytes"); v <= 0 {
		t.Errorf("talentreg_metrics_checkpoint_size_bytes %v", v)
	}
	sum, err := svc.client.GetSummary(ctx, &metricsv1.GetSummaryRequest{MinRevision: last})
	if err != nil || sum.GetRevision() != last {
		t.Fatalf("GetSummary(min %d) = %v, %v", last, sum, err)
	}
	if err := svc.agrees(ctx, w); err != nil {
		t.Fatal(err)
	}
}

// TestRun_CompactionPastConsumer: the registry compacts its change log past
// the service's checkpoint while the service is down; on restart the
// service loads a snapshot and converges exactly.
func TestRun_CompactionPastConsumer(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{RetainChanges: 3})
	w := registrytest.Writer{C: reg.Client()}
	ctx := testCtx(t)
	db := filepath.Join(t.TempDir(), "metrics.db")
	svc := startService(t, reg.Addr, db, true)
	populate(t, w, "x")
	if err := svc.agrees(ctx, w); err != nil {
		t.Fatal(err)
	}
	svc.stop()
	populate(t, w, "y")
	svc = startService(t, reg.Addr, db, true)
	if err := svc.agrees(ctx, w); err != nil {
		t.Fatal(err)
	}
	if n := svc.scrape("talentreg_metrics_snapshot_loads_total"); n != 1 {
		t.Fatalf("%v snapshot loads after compaction, want 1", n)
	}
}

// TestRun_RegistryKilled: the registry is killed and restarted under a
// running service, which reconnects unaided and converges.
func TestRun_RegistryKilled(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	ctx := testCtx(t)
	svc := startService(t, reg.Addr, filepath.Join(t.TempDir(), "metrics.db"), true)
	populate(t, w, "x")
	if err := svc.agrees(ctx, w); err != nil {
		t.Fatal(err)
	}
	reg.Kill()
	reg.Restart()
	populate(t, w, "y")
	if err := svc.agrees(ctx, w); err != nil {
		t.Fatal(err)
	}
	if n := svc.scrape("talentreg_metrics_reconnects_total"); n < 1 {
		t.Fatalf("%v reconnects, want at least 1", n)
	}
}

// TestRun_RegistryReplaced: the service checkpoints at revision 5 of one
// registry (5 universities) and stops; the registry's database is deleted
// and a fresh registry starts on the same address, where 10 enterprises
// are written. The restarted service must not resume at revision 6 of
// another database: it sees the registry id change and reloads from a
// snapshot, so its figures are a recount's — 10 enterprises, no university
// — and its VerifyProjection agrees.
func TestRun_RegistryReplaced(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	ctx := testCtx(t)
	db := filepath.Join(t.TempDir(), "metrics.db")
	for i := range 5 {
		if _, err := w.CreateEntity(ctx, registrytest.Entity{ID: fmt.Sprint("u", i), Kind: registryv1.EntityKind_ENTITY_KIND_UNIVERSITY}); err != nil {
			t.Fatal(err)
		}
	}
	svc := startService(t, reg.Addr, db, true)
	if err := svc.agrees(ctx, w); err != nil {
		t.Fatal(err)
	}
	svc.stop()
	store, err := checkpoint.Open(db, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, ok, err := store.Load()
	_ = store.Close()
	if err != nil || !ok || p.Revision() != 5 || p.RegistryID() == "" {
		t.Fatalf("checkpoint: ok=%v err=%v, want revision 5 of a registry id", ok, err)
	}

	reg.Stop()
	if err := os.Remove(reg.DB); err != nil {
		t.Fatal(err)
	}
	reg.Restart()
	var last int64
	for i := range 10 {
		if last, err = w.CreateEntity(ctx, registrytest.Entity{ID: fmt.Sprint("e", i), Kind: registryv1.EntityKind_ENTITY_KIND_ENTERPRISE}); err != nil {
			t.Fatal(err)
		}
	}
	if last != 10 {
		t.Fatalf("the fresh registry is at revision %d, want 10", last)
	}

	svc = startService(t, reg.Addr, db, true)
	if err := svc.agrees(ctx, w); err != nil {
		t.Fatal(err)
	}
	sum, err := svc.client.GetSummary(ctx, &metricsv1.GetSummaryRequest{MinRevision: last})
	if err != nil {
		t.Fatal(err)
	}
	if sum.GetEntities() != 10 || sum.GetEntitiesByKind()["ENTITY_KIND_ENTERPRISE"] != 10 ||
		sum.GetEntitiesByKind()["ENTITY_KIND_UNIVERSITY"] != 0 {
		t.Fatalf("summary after the registry was replaced: %v", sum)
	}
	if n := svc.scrape("talentreg_metrics_snapshot_loads_total"); n != 1 {
		t.Fatalf("%v snapshot loads, want 1", n)
	}
	if !strings.Contains(svc.stderr.String(), "database was replaced") {
		t.Errorf("the replacement was not logged:\n%s", svc.stderr)
	}
}

// TestRun_CheckpointLocked: a second service on the same checkpoint file
// fails at once with a clear error.
func TestRun_CheckpointLocked(t *testing.T) {
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	db := filepath.Join(t.TempDir(), "metrics.db")
	startService(t, reg.Addr, db, true)
	err := run(testCtx(t), []string{"--grpc-addr", freeport.For(t), "--registry", reg.Addr, "--db", db,
		"--admin-addr", ""}, func(string) string { return "" }, io.Discard, io.Discard)
	if !errors.Is(err, checkpoint.ErrLocked) {
		t.Fatalf("second service on one checkpoint: %v, want ErrLocked", err)
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"TALENTREG_DB": "/env/metrics.db", "TALENTREG_GRPC_ADDR": "127.0.0.1:1"}
	cfg, err := parseConfig([]string{"--grpc-addr", "127.0.0.1:2", "--checkpoint-every", "7"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GRPCAddr != "127.0.0.1:2" || cfg.DB != "/env/metrics.db" || cfg.CheckpointEvery != 7 ||
		cfg.Registry != "127.0.0.1:9090" || cfg.AdminAddr != "127.0.0.1:9191" {
		t.Fatalf("config %+v: want flags over environment over defaults", cfg)
	}
	for _, args := range [][]string{
		{"--nope"}, {"--checkpoint-every", "0"}, {"--db", ""}, {"--max-wait", "0s"}, {"--stale-after", "-1s"}, {"--history-exact-for", "-1h"}, {"extra"},
	} {
		if _, err := parseConfig(args, func(string) string { return "" }, io.Discard); !errors.As(err, new(command.UsageError)) {
			t.Errorf("parseConfig(%q) = %v, want a usage error", args, err)
		}
	}
	if err := run(context.Background(), []string{"--log-level", "loud"}, func(string) string { return "" }, io.Discard, io.Discard); command.ExitCode(err) != 2 {
		t.Errorf("bad log level: %v, want exit code 2", err)
	}
}

// TestBinary_SIGTERM runs the real binary: SIGTERM saves the checkpoint at
// the applied revision and exits 0; `metrics verify` reports consistency.
func TestBinary_SIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "metrics")
	if out, err := exec.Command("go", "build", "-o", bin, "talentreg/services/metrics/cmd/metrics").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	reg := registrytest.Start(t, registryBin, registrytest.Options{})
	w := registrytest.Writer{C: reg.Client()}
	db := filepath.Join(t.TempDir(), "data", "metrics.db") // the folder is created
	addr := freeport.For(t)
	cmd := exec.Command(bin, "--grpc-addr", addr, "--admin-addr", "", "--log-level", "warn")
	cmd.Env = []string{"TALENTREG_REGISTRY=" + reg.Addr, "TALENTREG_DB=" + db}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	last := populate(t, w, "x")
	svc := &service{t: t, addr: addr, stderr: stderr, done: make(chan error), stopped: true}
	conn := dial(t, addr)
	svc.client, svc.health = metricsv1.NewMetricsServiceClient(conn), healthpb.NewHealthClient(conn)
	svc.waitHealth(healthpb.HealthCheckResponse_SERVING)
	if _, err := svc.client.GetSummary(testCtx(t), &metricsv1.GetSummaryRequest{MinRevision: last}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "verify", "--addr", addr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("consistent at revision %d", last)) {
		t.Fatalf("metrics verify: %v\n%s", err, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within 30 s of SIGTERM\n%s", stderr)
	}
	store, err := checkpoint.Open(db, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if rev, ok, err := store.Revision(); err != nil || !ok || rev != last {
		t.Fatalf("checkpoint after SIGTERM at %d (%v, %v), want %d", rev, ok, err, last)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatal(err)
	}
}
