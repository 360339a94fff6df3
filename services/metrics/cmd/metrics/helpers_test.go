package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"talentreg/services/metrics"
	"talentreg/services/metrics/internal/oracle"
	"talentreg/services/metrics/internal/registrytest"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"talentreg/platform/freeport"
)

var registryBin string

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgsEnv); args != "" {
		os.Exit(runChild(args)) // a child of TestRun_PermissionDeniedIsNotCorrupt
	}
	// The property test runs real processes: fewer cases than rapid's
	// default 100 keep the package within its time budget. -rapid.checks
	// on the command line still wins.
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rapid.checks" })
	if !given {
		_ = flag.Set("rapid.checks", "25")
	}
	registrytest.Main(m, &registryBin)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// service is a metrics service started with run on free loopback ports.
type service struct {
	t         testing.TB
	addr      string
	adminAddr string
	db        string
	client    metricsv1.MetricsServiceClient
	health    healthpb.HealthClient
	stderr    *syncBuffer
	cancel    context.CancelFunc
	done      chan error
	stopped   bool
}

// startService runs the metrics service following registry with its
// checkpoint at db; waitReady waits for health SERVING.
func startService(t testing.TB, registry, db string, waitReady bool, extra ...string) *service {
	t.Helper()
	s := &service{t: t, addr: freeport.For(t), adminAddr: freeport.For(t), db: db,
		stderr: &syncBuffer{}, done: make(chan error, 1)}
	args := append([]string{
		"--grpc-addr", s.addr, "--registry", registry, "--db", db, "--admin-addr", s.adminAddr,
		"--checkpoint-interval", "50ms", "--checkpoint-every", "25", "--reconnect-max", "200ms",
		"--log-level", "info",
	}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- run(ctx, args, func(string) string { return "" }, io.Discard, s.stderr) }()
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	s.client = metricsv1.NewMetricsServiceClient(conn)
	s.health = healthpb.NewHealthClient(conn)
	t.Cleanup(func() {
		if !s.stopped {
			s.stop()
		}
	})
	want := healthpb.HealthCheckResponse_NOT_SERVING
	if waitReady {
		want = healthpb.HealthCheckResponse_SERVING
	}
	s.waitHealth(want)
	return s
}

// waitHealth polls the health service until it reports want (or, for
// NOT_SERVING, anything: the server is up), failing after 30 s. If run
// has returned, the service counts as stopped (cleanup does not wait for
// it again).
func (s *service) waitHealth(want healthpb.HealthCheckResponse_ServingStatus) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.stopped = true
			s.t.Fatalf("metrics service exited: %v\n%s", err, s.stderr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && (resp.GetStatus() == want || want == healthpb.HealthCheckResponse_NOT_SERVING) {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	s.t.Fatalf("metrics service not %s within 30 s\n%s", want, s.stderr)
}

// stop cancels run (as SIGTERM does) and requires a clean return.
func (s *service) stop() {
	s.t.Helper()
	s.stopped = true
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("run returned %v\n%s", err, s.stderr)
		}
	case <-time.After(30 * time.Second):
		s.t.Errorf("run did not return within 30 s of cancel\n%s", s.stderr)
	}
}

// scrape returns the value of an unlabelled metric from /metrics.
func (s *service) scrape(name string) float64 {
	s.t.Helper()
	resp, err := http.Get("http://" + s.adminAddr + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				s.t.Fatal(err)
			}
			return f
		}
	}
	s.t.Fatalf("no metric %s", name)
	return 0
}

// figures reads every figure from the service at exactly revision: every
// answer must say it reflects that revision.
func (s *service) figures(ctx context.Context, revision int64, groups []string) (metrics.Figures, error) {
	f := metrics.Figures{Revision: revision, Breakdowns: map[metrics.Dimension][]metrics.Row{},
		Groups: map[string]metrics.GroupStats{}}
	check := func(what string, got int64) error {
		if got != revision {
			return fmt.Errorf("%s answered at revision %d, want %d", what, got, revision)
		}
		return nil
	}
	sum, err := s.client.GetSummary(ctx, &metricsv1.GetSummaryRequest{MinRevision: revision})
	if err != nil {
		return f, err
	}
	if err := check("GetSummary", sum.GetRevision()); err != nil {
		return f, err
	}
	f.Summary = metrics.Summary{
		Revision: sum.GetRevision(), Entities: sum.GetEntities(), EntitiesByKind: sum.GetEntitiesByKind(),
		Consortia: sum.GetConsortia(), Alliances: sum.GetAlliances(),
		ConsortiumMembers: sum.GetConsortiumMembers(), AllianceMembers: sum.GetAllianceMembers(),
		ConsortiumMemberships: sum.GetConsortiumMemberships(), AllianceMemberships: sum.GetAllianceMemberships(),
		TalentsGathered: sum.GetTalentsGathered(), TalentsCultivated: sum.GetTalentsCultivated(),
		TalentsAssessed: sum.GetTalentsAssessed(), AssessingEntities: sum.GetAssessingEntities(),
		LeadingEnterprises: sum.GetLeadingEnterprises(), FutureIndustryPlatforms: sum.GetFutureIndustryPlatforms(),
		PlatformsOrLeadingEnterprises: sum.GetPlatformsOrLeadingEnterprises(),
		TalentRecords:                 sum.GetTalentRecords(), Programs: sum.GetPrograms(),
		Policies: sum.GetPolicies(), PilotPolicies: sum.GetPilotPolicies(),
		JingjinjiOrganisations: sum.GetJingjinjiOrganisations(), Targets: sum.GetTargets(),
	}
	for _, d := range metrics.Dimensions {
		b, err := s.client.GetBreakdown(ctx, &metricsv1.GetBreakdownRequest{Dimension: string(d), MinRevision: revision})
		if err != nil {
			return f, err
		}
		if err := check("GetBreakdown", b.GetRevision()); err != nil {
			return f, err
		}
		rows := []metrics.Row{}
		for _, r := range b.GetRows() {
			rows = append(rows, metrics.Row{Key: r.GetKey(), Entities: r.GetEntities(), Groups: r.GetGroups(),
				ConsortiumMembers: r.GetConsortiumMembers(), AllianceMembers: r.GetAllianceMembers(),
				TalentsGathered: r.GetTalentsGathered(), TalentsCultivated: r.GetTalentsCultivated(),
				TalentsAssessed: r.GetTalentsAssessed(), TalentRecords: r.GetTalentRecords()})
		}
		f.Breakdowns[d] = rows
	}
	for _, g := range groups {
		st, err := s.client.GetGroupStats(ctx, &metricsv1.GetGroupStatsRequest{Name: g, MinRevision: revision})
		if err != nil {
			return f, fmt.Errorf("GetGroupStats(%s): %w", g, err)
		}
		if err := check("GetGroupStats", st.GetRevision()); err != nil {
			return f, err
		}
		f.Groups[g] = metrics.GroupStats{Revision: st.GetRevision(), Name: st.GetName(), Kind: st.GetKind(),
			Field: st.GetField(), Members: st.GetMembers(), MembersByKind: st.GetMembersByKind(),
			TalentsByCategory: st.GetTalentsByCategory(), MemberTalentsByCategory: st.GetMemberTalentsByCategory()}
	}
	return f, nil
}

// recount snapshots the registry and counts its figures by brute force;
// it also returns the group names.
func recount(ctx context.Context, w registrytest.Writer) (metrics.Figures, []string, error) {
	rev, resources, err := w.Snapshot(ctx)
	if err != nil {
		return metrics.Figures{}, nil, err
	}
	var groups []string
	for _, r := range resources {
		if g := r.GetGroup(); g != nil {
			groups = append(groups, g.GetName())
		}
	}
	return oracle.Figures(rev, resources), groups, nil
}

// agrees checks, with no write in flight, that the service's figures at
// the registry's revision equal a brute-force recount, and that its own
// VerifyProjection agrees.
func (s *service) agrees(ctx context.Context, w registrytest.Writer) error {
	want, groups, err := recount(ctx, w)
	if err != nil {
		return err
	}
	got, err := s.figures(ctx, want.Revision, groups)
	if err != nil {
		return err
	}
	if d := metrics.Diff(got, want); len(d) > 0 {
		return fmt.Errorf("service differs from recount at revision %d:\n%s", want.Revision, strings.Join(d, "\n"))
	}
	v, err := s.client.VerifyProjection(ctx, &metricsv1.VerifyProjectionRequest{})
	if err != nil {
		return err
	}
	if !v.GetConsistent() || v.GetRevision() != want.Revision {
		return fmt.Errorf("VerifyProjection at %d (want %d): consistent=%v %v", v.GetRevision(), want.Revision,
			v.GetConsistent(), v.GetDifferences())
	}
	return nil
}

var kinds = []registryv1.EntityKind{
	registryv1.EntityKind_ENTITY_KIND_ENTERPRISE, registryv1.EntityKind_ENTITY_KIND_UNIVERSITY,
	registryv1.EntityKind_ENTITY_KIND_RESEARCH_INSTITUTE, registryv1.EntityKind_ENTITY_KIND_INCUBATOR,
	registryv1.EntityKind_ENTITY_KIND_OTHER,
}

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// populate writes a small data set under prefix — alliances and a
// consortium sharing members — and returns the last revision.
func populate(t testing.TB, w registrytest.Writer, prefix string) int64 {
	t.Helper()
	ctx := testCtx(t)
	must := func(rev int64, err error) int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	must(w.CreateProgram(ctx, prefix+"haihe"))
	for i := range 8 {
		must(w.CreateEntity(ctx, registrytest.Entity{
			ID: fmt.Sprintf("%se%d", prefix, i), Kind: kinds[i%5], Region: []string{"Binhai", "Beijing", ""}[i%3],
			Industries: [][]string{nil, {"aerospace"}, {"aerospace", "deep-sea"}}[i%3], Leading: i%3 == 0, Platform: i%4 == 1,
		}))
	}
	must(w.PutGroup(ctx, prefix+"a1", registryv1.GroupKind_GROUP_KIND_ALLIANCE, "aerospace", true))
	must(w.PutGroup(ctx, prefix+"a2", registryv1.GroupKind_GROUP_KIND_ALLIANCE, "financial-leasing", true))
	must(w.PutGroup(ctx, prefix+"c1", registryv1.GroupKind_GROUP_KIND_CONSORTIUM, "aerospace", true))
	for i := range 8 {
		for _, g := range []string{"a1", "a2", "c1"}[:i%3+1] {
			must(w.CreateMembership(ctx, prefix+g, fmt.Sprintf("%se%d", prefix, i), registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER))
		}
	}
	must(w.PutRecord(ctx, registrytest.Record{ID: prefix + "r1", Subject: "entities/" + prefix + "e1",
		Category: registryv1.TalentCategory_TALENT_CATEGORY_ASSESSED, Count: 40, Program: "programs/" + prefix + "haihe", Period: "2024"}, true))
	must(w.PutRecord(ctx, registrytest.Record{ID: prefix + "r2", Subject: "groups/" + prefix + "c1",
		Category: registryv1.TalentCategory_TALENT_CATEGORY_CULTIVATED, Count: 300, Period: "2024-06"}, true))
	must(w.UpdateEntity(ctx, registrytest.Entity{ID: prefix + "e2", Kind: kinds[3], Region: "Hebei"}))
	return must(w.Delete(ctx, "entities/"+prefix+"e5"))
}
