package projection_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"talentreg/services/metrics"
	"talentreg/services/metrics/checkpoint"
	"talentreg/services/metrics/projection"

	registryv1 "talentreg/gen/talentreg/registry/v1"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// synth generates a registry-shaped data set deterministically: entities
// with kinds, regions and industries, groups of both kinds in a few fields,
// each entity in a few distinct groups, and talent records.
type synth struct {
	entities, groups, perEntity, records int
	rng                                  *rand.Rand
}

var (
	synthRegions    = []string{"Binhai", "Tianjin", "Beijing", "Hebei", "Shanghai", "Shenzhen", "Wuhan", "Xi'an"}
	synthIndustries = []string{"biomanufacturing", "cell-gene-therapy", "brain-science-intelligent-medicine",
		"information-innovation", "deep-sea", "aerospace", "advanced-energy", "new-materials",
		"biomedicine", "financial-leasing", "high-end-equipment", "digital-economy"}
	synthFields = []string{"aerospace", "financial-leasing", "biomedicine", "digital-economy", "new-materials", ""}
)

func entityName(i int) string { return "entities/e" + strconv.Itoa(i) }
func groupName(i int) string  { return "groups/g" + strconv.Itoa(i) }

func (s *synth) entity(i int, rng *rand.Rand) *registryv1.Entity {
	n := rng.IntN(3)
	inds := make([]string, 0, n)
	for j := range n {
		inds = append(inds, synthIndustries[(i+j*5)%len(synthIndustries)])
	}
	return &registryv1.Entity{
		Name: entityName(i), DisplayName: "Entity " + strconv.Itoa(i),
		Kind:   registryv1.EntityKind(rng.IntN(5) + 1),
		Region: synthRegions[rng.IntN(len(synthRegions))], Industries: inds,
		LeadingEnterprise: rng.IntN(50) == 0, FutureIndustryPlatform: rng.IntN(80) == 0,
	}
}

func (s *synth) group(i int) *registryv1.Group {
	return &registryv1.Group{Name: groupName(i), DisplayName: "Group " + strconv.Itoa(i),
		Kind: registryv1.GroupKind(i%2 + 1), Field: synthFields[i%len(synthFields)]}
}

// membershipGroups returns the distinct groups entity i is in.
func (s *synth) membershipGroups(i int) []int {
	out := make([]int, 0, s.perEntity)
	step := s.groups/s.perEntity | 1
	for j := range s.perEntity {
		out = append(out, (i*7919+j*step)%s.groups)
	}
	return out
}

func membership(g, e int) *registryv1.Membership {
	return &registryv1.Membership{Name: groupName(g) + "/memberships/e" + strconv.Itoa(e), Entity: entityName(e),
		Role: registryv1.MembershipRole_MEMBERSHIP_ROLE_MEMBER}
}

func (s *synth) record(i int, rng *rand.Rand) *registryv1.TalentRecord {
	subject := entityName(rng.IntN(s.entities))
	if i%10 == 0 {
		subject = groupName(rng.IntN(s.groups))
	}
	return &registryv1.TalentRecord{Name: "talentRecords/r" + strconv.Itoa(i), Subject: subject,
		Category: registryv1.TalentCategory(rng.IntN(3) + 1), Count: int64(rng.IntN(1000) + 1),
		Program: []string{"", "programs/haihe", "programs/kunpeng"}[rng.IntN(3)],
		Period:  []string{"2023", "2024", "2024-06"}[rng.IntN(3)]}
}

// snapshot streams the data set as registry snapshot messages of 1000
// resources, generated on the fly so that only the projection holds
// memory.
func (s *synth) snapshot(emit func(*registryv1.StreamSnapshotResponse)) {
	rng := rand.New(rand.NewPCG(1, 2))
	msg := &registryv1.StreamSnapshotResponse{Revision: 1}
	add := func(r *registryv1.Resource) {
		msg.Resources = append(msg.Resources, r)
		if len(msg.Resources) == 1000 {
			emit(msg)
			msg = &registryv1.StreamSnapshotResponse{Revision: 1}
		}
	}
	for _, p := range []string{"haihe", "kunpeng"} {
		add(&registryv1.Resource{Resource: &registryv1.Resource_Program{Program: &registryv1.Program{Name: "programs/" + p}}})
	}
	for i := range s.entities {
		add(&registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: s.entity(i, rng)}})
	}
	for i := range s.groups {
		add(&registryv1.Resource{Resource: &registryv1.Resource_Group{Group: s.group(i)}})
	}
	// Memberships come in group order from the registry; entity order is
	// as good for the projection.
	for e := range s.entities {
		for _, g := range s.membershipGroups(e) {
			add(&registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: membership(g, e)}})
		}
	}
	for i := range s.records {
		add(&registryv1.Resource{Resource: &registryv1.Resource_TalentRecord{TalentRecord: s.record(i, rng)}})
	}
	msg.Complete = true
	emit(msg)
}

// load loads the data set and returns the projection and the time spent
// in the projection (generating the messages excluded).
func (s *synth) load() (*projection.Projection, time.Duration) {
	l := projection.NewLoader()
	var rev int64
	var spent time.Duration
	s.snapshot(func(m *registryv1.StreamSnapshotResponse) {
		start := time.Now()
		for _, r := range m.GetResources() {
			l.Add(r)
		}
		rev = m.GetRevision()
		spent += time.Since(start)
	})
	start := time.Now()
	p := l.Finish(rev)
	return p, spent + time.Since(start)
}

// peakRSS returns the process's peak resident set (VmHWM) in MiB; reset
// clears it first (Linux /proc/self/clear_refs).
func peakRSS(reset bool) float64 {
	if reset {
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		return 0
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkBootstrap loads a snapshot of 1,000,000 entities and 3,000,000
// memberships (plus 1,000 groups and 100,000 talent records) into a fresh
// projection, as the follower does: snapshot messages in, figures counted.
// It reports the time per load and the process's peak RSS. Run it alone:
//
//	go test -run '^$' -bench Bootstrap -benchtime 1x talentreg/services/metrics/projection
func BenchmarkBootstrap(b *testing.B) {
	s := &synth{entities: 1_000_000, groups: 1000, perEntity: 3, records: 100_000}
	runtime.GC()
	peakRSS(true)
	b.ResetTimer()
	var p *projection.Projection
	var inProjection time.Duration
	for range b.N {
		p = nil
		var spent time.Duration
		p, spent = s.load()
		inProjection += spent
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/load")
	b.ReportMetric(inProjection.Seconds()/float64(b.N), "s-in-projection/load")
	b.ReportMetric(peakRSS(false), "peak-RSS-MiB")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MiB")
	// The first checkpoint after a load writes everything: its Delta and
	// bbolt transaction are part of the peak.
	store, err := checkpoint.Open(filepath.Join(b.TempDir(), "metrics.db"), checkpoint.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	start := time.Now()
	if err := store.Save(p.Delta()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "s-full-checkpoint")
	b.ReportMetric(peakRSS(false), "peak-RSS-with-checkpoint-MiB")
	sum := p.Summary()
	if sum.Entities != 1_000_000 || sum.ConsortiumMemberships+sum.AllianceMemberships != 3_000_000 {
		b.Fatalf("loaded %d entities, %d memberships", sum.Entities, sum.ConsortiumMemberships+sum.AllianceMemberships)
	}
}

// changeStream generates a steady mix of changes on top of a loaded data
// set: entity updates that move kind, region and industries; membership
// churn (join, leave); talent records created, updated and deleted.
type changeStream struct {
	s        *synth
	rng      *rand.Rand
	rev      int64
	entities []*registryv1.Entity
	joined   [][2]int // (group, entity) added by the stream, to leave again
	records  []*registryv1.TalentRecord
	next     int
}

func newChangeStream(s *synth, rev int64) *changeStream {
	rng := rand.New(rand.NewPCG(3, 4))
	cs := &changeStream{s: s, rng: rng, rev: rev, entities: make([]*registryv1.Entity, s.entities)}
	erng := rand.New(rand.NewPCG(1, 2))
	for i := range s.entities {
		cs.entities[i] = s.entity(i, erng) // the same images the snapshot held
	}
	return cs
}

func res(m any) *registryv1.Resource {
	switch m := m.(type) {
	case *registryv1.Entity:
		return &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: m}}
	case *registryv1.Membership:
		return &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: m}}
	case *registryv1.TalentRecord:
		return &registryv1.Resource{Resource: &registryv1.Resource_TalentRecord{TalentRecord: m}}
	}
	return nil
}

func (c *changeStream) change() *registryv1.Change {
	c.rev++
	ch := &registryv1.Change{Revision: c.rev}
	switch op := c.rng.IntN(10); {
	case op < 4: // entity update
		i := c.rng.IntN(len(c.entities))
		before := c.entities[i]
		after := c.s.entity(i, c.rng)
		c.entities[i] = after
		ch.Type, ch.Name, ch.Before, ch.After = registryv1.ChangeType_CHANGE_TYPE_UPDATED, after.GetName(), res(before), res(after)
	case op < 7: // membership churn
		if len(c.joined) > 100 || (len(c.joined) > 0 && c.rng.IntN(2) == 0) {
			k := c.rng.IntN(len(c.joined))
			ge := c.joined[k]
			c.joined[k] = c.joined[len(c.joined)-1]
			c.joined = c.joined[:len(c.joined)-1]
			m := membership(ge[0], ge[1])
			ch.Type, ch.Name, ch.Before = registryv1.ChangeType_CHANGE_TYPE_DELETED, m.GetName(), res(m)
		} else {
			// Group ids past the data set's are new memberships for sure:
			// join an existing group with an id shift that never collides.
			e := c.rng.IntN(len(c.entities))
			g := (e*7919 + c.s.perEntity*(c.s.groups/c.s.perEntity|1) + c.next) % c.s.groups
			c.next++
			if inBase(c.s, g, e) || joinedAlready(c.joined, g, e) {
				return c.changeRecord(ch)
			}
			c.joined = append(c.joined, [2]int{g, e})
			m := membership(g, e)
			ch.Type, ch.Name, ch.After = registryv1.ChangeType_CHANGE_TYPE_CREATED, m.GetName(), res(m)
		}
	default:
		return c.changeRecord(ch)
	}
	return ch
}

func inBase(s *synth, g, e int) bool {
	for _, bg := range s.membershipGroups(e) {
		if bg == g {
			return true
		}
	}
	return false
}

func joinedAlready(joined [][2]int, g, e int) bool {
	for _, j := range joined {
		if j == [2]int{g, e} {
			return true
		}
	}
	return false
}

func (c *changeStream) changeRecord(ch *registryv1.Change) *registryv1.Change {
	switch {
	case len(c.records) > 50 || (len(c.records) > 0 && c.rng.IntN(3) == 0):
		k := c.rng.IntN(len(c.records))
		r := c.records[k]
		c.records[k] = c.records[len(c.records)-1]
		c.records = c.records[:len(c.records)-1]
		ch.Type, ch.Name, ch.Before = registryv1.ChangeType_CHANGE_TYPE_DELETED, r.GetName(), res(r)
	case len(c.records) > 0 && c.rng.IntN(2) == 0:
		k := c.rng.IntN(len(c.records))
		before := c.records[k]
		after := c.s.record(1_000_000_000+int(c.rev), c.rng)
		after.Name = before.GetName()
		c.records[k] = after
		ch.Type, ch.Name, ch.Before, ch.After = registryv1.ChangeType_CHANGE_TYPE_UPDATED, after.GetName(), res(before), res(after)
	default:
		r := c.s.record(1_000_000_000+int(c.rev), c.rng)
		c.records = append(c.records, r)
		ch.Type, ch.Name, ch.After = registryv1.ChangeType_CHANGE_TYPE_CREATED, r.GetName(), res(r)
	}
	return ch
}

// BenchmarkApply applies the change mix one by one to a projection of
// 100,000 entities and 300,000 memberships; events/s is the apply rate.
//
//	go test -run '^$' -bench 'Apply' talentreg/services/metrics/projection
func BenchmarkApply(b *testing.B) {
	s := &synth{entities: 100_000, groups: 200, perEntity: 3, records: 10_000}
	p, _ := s.load()
	cs := newChangeStream(s, p.Revision())
	changes := make([]*registryv1.Change, b.N)
	for i := range changes {
		changes[i] = cs.change()
	}
	before := heapInUse()
	cpu := cpuTime()
	b.ResetTimer()
	for _, c := range changes {
		if err := p.Apply(c); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// What the projection holds more after the changes (the history's
	// versions, and the entities the mix created), per change.
	b.ReportMetric(float64(heapInUse()-before)/float64(b.N), "retained-B/change")
	_, _, histBytes := projection.HistoryLen(p)
	b.ReportMetric(float64(histBytes)/float64(b.N), "history-B/change")
	runtime.KeepAlive(changes)
	runtime.KeepAlive(p)
	if p.Anomalies() != 0 {
		b.Fatalf("%d anomalies", p.Anomalies())
	}
}

// BenchmarkApplyBounded is BenchmarkApply with commit times four seconds
// apart (21,600 transactions a day) and the history exact for a window of
// 7 or 30 days (--history-exact-for 168h, 720h): a window's changes are
// applied first, untimed, so that the timed b.N changes run with the
// window full and coarsen the history at each UTC day they cross.
// max-coarsening-apply-ms is the longest Apply in which the window's start
// crossed a day boundary (coarsening runs in it), -cpu-ms the most CPU
// time one of them took (its thread's: what the wall time is when the
// machine is not shared), max-other-apply-ms the longest of the others;
// coarsenings counts the former. The first two should not grow with the
// window:
//
//	go test -run '^$' -bench 'ApplyBounded' -benchtime 50000x talentreg/services/metrics/projection
func BenchmarkApplyBounded(b *testing.B) {
	for _, days := range []int{7, 30} {
		b.Run("window="+strconv.Itoa(days)+"d", func(b *testing.B) {
			window := time.Duration(days) * 24 * time.Hour
			const spacing = 4 * time.Second
			s := &synth{entities: 100_000, groups: 200, perEntity: 3, records: 10_000}
			p, _ := s.load()
			projection.SetHistoryExactFor(p, window)
			cs := newChangeStream(s, p.Revision())
			at := time.Now().Add(time.Minute)
			next := func() *registryv1.Change {
				c := cs.change()
				c.CommitTime = timestamppb.New(at)
				at = at.Add(spacing)
				return c
			}
			for range int(window / spacing) {
				if err := p.Apply(next()); err != nil {
					b.Fatal(err)
				}
			}
			changes := make([]*registryv1.Change, b.N)
			for i := range changes {
				changes[i] = next()
			}
			dayOf := func(c *registryv1.Change) int64 {
				return c.GetCommitTime().AsTime().Add(-window).Truncate(24 * time.Hour).Unix()
			}
			lastDay := dayOf(changes[0]) // the prefill coarsened up to it
			before := heapInUse()
			var coarsening, coarseningCPU, other time.Duration
			coarsenings := 0
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu := cpuTime()
			b.ResetTimer()
			for _, c := range changes {
				coarsens := dayOf(c) != lastDay
				var cpu0 time.Duration
				if coarsens {
					cpu0 = threadCPUTime()
				}
				t0 := time.Now()
				if err := p.Apply(c); err != nil {
					b.Fatal(err)
				}
				took := time.Since(t0)
				if coarsens {
					coarseningCPU = max(coarseningCPU, threadCPUTime()-cpu0)
					lastDay = dayOf(c)
					coarsening = max(coarsening, took)
					coarsenings++
				} else {
					other = max(other, took)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(heapInUse()-before)/float64(b.N), "retained-B/change")
			b.ReportMetric(float64(coarsening)/1e6, "max-coarsening-apply-ms")
			b.ReportMetric(float64(coarseningCPU)/1e6, "max-coarsening-apply-cpu-ms")
			b.ReportMetric(float64(other)/1e6, "max-other-apply-ms")
			b.ReportMetric(float64(coarsenings), "coarsenings")
			tx, _, bytes := projection.HistoryLen(p)
			b.ReportMetric(float64(tx), "history-tx")
			b.ReportMetric(float64(bytes), "history-bytes")
			runtime.KeepAlive(changes)
		})
	}
}

// cpuTime returns the CPU time the process has used (user and system, all
// threads: the garbage collector's included). On a shared machine it
// varies far less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPUTime returns the CPU time the calling thread has used
// (CLOCK_THREAD_CPUTIME_ID): with the goroutine locked to its thread, the
// cost of what ran between two calls, however long other processes held
// the CPU meanwhile.
func threadCPUTime() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// heapInUse returns the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkLiveApply applies the same mix through Live in batches of 500
// (the registry's watch batch): locking and publishing included.
func BenchmarkLiveApply(b *testing.B) {
	s := &synth{entities: 100_000, groups: 200, perEntity: 3, records: 10_000}
	live := projection.NewLive(0)
	p, _ := s.load()
	if err := live.Replace(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	cs := newChangeStream(s, p.Revision())
	changes := make([]*registryv1.Change, b.N)
	for i := range changes {
		changes[i] = cs.change()
	}
	b.ResetTimer()
	for i := 0; i < len(changes); i += 500 {
		batch := changes[i:min(i+500, len(changes))]
		if err := live.Apply(context.Background(), batch, batch[len(batch)-1].GetRevision()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkSummary reads the Summary from a Live projection of 100,000
// entities while nothing is applied (serial) and while a writer applies
// changes (parallel readers).
func BenchmarkSummary(b *testing.B) {
	s := &synth{entities: 100_000, groups: 200, perEntity: 3, records: 10_000}
	live := projection.NewLive(0)
	p, _ := s.load()
	if err := live.Replace(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("idle", func(b *testing.B) {
		for range b.N {
			if _, err := live.Summary(ctx, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	// One stream for every run of the sub-benchmark: the projection keeps
	// what earlier runs applied, and a new stream would add it again.
	cs := newChangeStream(s, live.Revision())
	b.Run("while-applying", func(b *testing.B) {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				batch := make([]*registryv1.Change, 100)
				for i := range batch {
					batch[i] = cs.change()
				}
				if err := live.Apply(ctx, batch, batch[len(batch)-1].GetRevision()); err != nil {
					panic(err)
				}
			}
		}()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := live.Summary(ctx, 0); err != nil {
					panic(err)
				}
			}
		})
		close(stop)
		<-done
	})
	b.Run("breakdown-industry", func(b *testing.B) {
		for range b.N {
			if _, err := live.Breakdown(ctx, "industry", 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLiveDelta measures what a checkpoint costs the applier: the
// time Live.Delta holds the follower (which applies nothing meanwhile)
// after 10,000 one-entity transactions — ten times the follower's default
// CheckpointEvery, ten seconds at 1,000 writes/s — on a projection of
// 100,000 entities with its search index and history. The rest of the
// encoding (Delta.Encode) runs on the checkpoint writer and is reported
// apart.
//
//	go test -run '^$' -bench LiveDelta -benchtime 5x talentreg/services/metrics/projection
func BenchmarkLiveDelta(b *testing.B) {
	s := &synth{entities: 100_000, groups: 200, perEntity: 3, records: 10_000}
	live := projection.NewLive(0)
	p, _ := s.load()
	ctx := context.Background()
	if err := live.Replace(ctx, p); err != nil {
		b.Fatal(err)
	}
	if _, err := live.Search(ctx, "entity", 0, 1, 0); err != nil { // waits for the index
		b.Fatal(err)
	}
	if _, ok := live.Delta(); !ok { // the full one after a load, as the follower's
		b.Fatal("not loaded")
	}
	rev := live.Revision()
	rng := rand.New(rand.NewPCG(5, 6))
	next := s.entities
	var applier, writer time.Duration
	var records int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for range 10_000 {
			rev++
			e := s.entity(next, rng)
			next++
			c := &registryv1.Change{Revision: rev, Type: registryv1.ChangeType_CHANGE_TYPE_CREATED, Name: e.GetName(), After: res(e),
				CommitTime: timestamppb.New(time.Unix(0, rev))}
			if err := live.Apply(ctx, []*registryv1.Change{c}, rev); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		d, _ := live.Delta()
		applier += time.Since(start)
		start = time.Now()
		d.Encode()
		writer += time.Since(start)
		records += len(d.Put)
	}
	b.StopTimer()
	b.ReportMetric(float64(applier.Microseconds())/1000/float64(b.N), "applier-ms/checkpoint")
	b.ReportMetric(float64(writer.Microseconds())/1000/float64(b.N), "writer-ms/checkpoint")
	b.ReportMetric(float64(records)/float64(b.N), "records/checkpoint")
}

// BenchmarkAsOf reads the Summary and the region breakdown as of random
// past times after 100,000 changes one second apart (the history of
// BenchmarkApply's mix): the cost of decoding versions from the keyframes.
func BenchmarkAsOf(b *testing.B) {
	s := &synth{entities: 100_000, groups: 200, perEntity: 3, records: 10_000}
	p, _ := s.load()
	cs := newChangeStream(s, p.Revision())
	start := time.Now().Add(time.Minute)
	const n = 100_000
	for i := range n {
		c := cs.change()
		c.CommitTime = timestamppb.New(start.Add(time.Duration(i) * time.Second))
		if err := p.Apply(c); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	b.Run("summary", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			if _, err := p.SummaryAsOf(start.Add(time.Duration(rng.IntN(n)) * time.Second)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("breakdown-region", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			if _, err := p.BreakdownAsOf(metrics.DimensionRegion, start.Add(time.Duration(rng.IntN(n))*time.Second)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
}
