package kvstore

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"pgregory.net/rapid"

	"talentreg/services/registry"
)

// TestStore_Property runs random sequences of mutations of every kind
// against a real store and a plain in-memory model of what the API
// promises. After every step the store must equal the model (every Get,
// every List with and without filters, the revision) and Check must pass
// (every index entry ↔ a primary record); at the end the change log,
// replayed from revision 1, must rebuild exactly the stored snapshot.
//
// The model is written independently of the store: it knows the rules
// (validation of the values the generators draw, references, dependants,
// etags, request ids, revisions) but none of the storage code. Raise the
// effort with -rapid.checks=N (and -rapid.steps=N).
func TestStore_Property(t *testing.T) {
	defaultRapidChecks(t, 40)
	dir := t.TempDir()
	var n atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		path := filepath.Join(dir, fmt.Sprintf("prop-%d.db", n.Add(1)))
		// fsync adds nothing this test can observe (the SIGKILL test covers
		// durability) and ties its time to the disk.
		s, err := openFile(path, testOptions{Clock: (&testClock{}).Now, NoSync: true})
		if err != nil {
			rt.Fatal(err)
		}
		defer func() {
			if err := s.Close(); err != nil {
				rt.Errorf("close: %v", err)
			}
			os.Remove(path)
		}()
		p := &propTest{s: s, m: newModel()}
		rt.Repeat(map[string]func(*rapid.T){
			"":                   p.check,
			"createEntity":       p.createEntity,
			"updateEntity":       p.updateEntity,
			"deleteEntity":       p.deleteEntity,
			"createGroup":        p.createGroup,
			"updateGroup":        p.updateGroup,
			"deleteGroup":        p.deleteGroup,
			"createMembership":   p.createMembership,
			"updateMembership":   p.updateMembership,
			"deleteMembership":   p.deleteMembership,
			"createTalentRecord": p.createTalentRecord,
			"updateTalentRecord": p.updateTalentRecord,
			"deleteTalentRecord": p.deleteTalentRecord,
			"createProgram":      p.createProgram,
			"updateProgram":      p.updateProgram,
			"deleteProgram":      p.deleteProgram,
			"batchCreate":        p.batchCreate,
			"import":             p.importChunk,
		})
		p.replay(rt)
	})
}

// defaultRapidChecks lowers rapid's default of 100 checks (each a random
// sequence of about 30 operations) to n, so that the test takes a few
// seconds under -race, unless -rapid.checks or RAPID_CHECKS asks for more.
func defaultRapidChecks(t *testing.T, n int) {
	f := flag.Lookup("rapid.checks")
	if f == nil || os.Getenv("RAPID_CHECKS") != "" {
		return
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if set {
		return
	}
	old := f.Value.String()
	if err := f.Value.Set(strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

// The value pools the generators draw from. They are small so that
// operations collide: the same ids, credit codes and references recur.
var (
	propEntityIDs  = []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9", "e10", "e11"}
	propGroupIDs   = []string{"g0", "g1", "g2", "g3"}
	propProgramIDs = []string{"p0", "p1", "p2", "p3"}
	propRecordIDs  = []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"}
	propRequestIDs = []string{"req-0", "req-1", "req-2"}
	propRegions    = []string{"Binhai", "Tianjin", "Beijing", "Hebei", ""}
	propIndustries = []string{"aerospace", "biomedicine", "deep-sea", "new-materials", "digital-economy"}
	propFields     = []string{"aerospace", "biomedicine", ""}
	propPeriods    = []string{"", "2023", "2024", "2024-06"}
	propCodes      = func() []string {
		var cs []string
		for i := 0; i < 5; i++ {
			cs = append(cs, creditCode("91120116MA05JQ3X"+strconv.Itoa(i)))
		}
		return cs
	}()
	// propBadCode has a wrong check character.
	propBadCode = func() string {
		c := propCodes[0]
		bad := byte('0')
		if c[17] == '0' {
			bad = '1'
		}
		return c[:17] + string(bad)
	}()
	propJoinTimes = []time.Time{
		time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 15, 8, 30, 0, 0, time.UTC),
		time.Date(2024, 9, 9, 9, 9, 9, 9000, time.UTC),
	}
	// Invalid values, each with the rule it breaks.
	propBadNames = []string{"", "   ", strings.Repeat("x", registry.MaxDisplayName+1)}
)

// model is what the store should hold: resources by collection and key.
// Times the store chooses (create, update, join times) are learnt from
// the store the first time it shows them and must never change silently
// afterwards; a zero time in the model means "not yet learnt".
type model struct {
	rev      int64
	res      map[registry.Collection]map[string]registry.Resource
	requests map[string]modelRequest
}

type modelRequest struct {
	res registry.Resource
	rev int64
}

func newModel() *model {
	m := &model{res: map[registry.Collection]map[string]registry.Resource{}, requests: map[string]modelRequest{}}
	for _, c := range registry.Collections {
		m.res[c] = map[string]registry.Resource{}
	}
	return m
}

func modelKey(r registry.Resource) string {
	if x, ok := r.(*registry.Membership); ok {
		return x.GroupID + "\x00" + x.EntityID
	}
	switch x := r.(type) {
	case *registry.Entity:
		return x.ID
	case *registry.Group:
		return x.ID
	case *registry.TalentRecord:
		return x.ID
	case *registry.Program:
		return x.ID
	}
	panic(fmt.Sprintf("modelKey(%T)", r))
}

func (m *model) get(c registry.Collection, key string) registry.Resource { return m.res[c][key] }

// sorted returns a collection in key order.
func (m *model) sorted(c registry.Collection) []registry.Resource {
	keys := make([]string, 0, len(m.res[c]))
	for k := range m.res[c] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]registry.Resource, len(keys))
	for i, k := range keys {
		out[i] = m.res[c][k]
	}
	return out
}

func (m *model) exists(name string) bool {
	switch {
	case strings.HasPrefix(name, "entities/"):
		return m.get(registry.Entities, strings.TrimPrefix(name, "entities/")) != nil
	case strings.HasPrefix(name, "groups/"):
		return m.get(registry.Groups, strings.TrimPrefix(name, "groups/")) != nil
	case strings.HasPrefix(name, "programs/"):
		return m.get(registry.Programs, strings.TrimPrefix(name, "programs/")) != nil
	}
	return false
}

// codeOwner returns the id of the entity holding a credit code, or "".
func (m *model) codeOwner(code string) string {
	for id, r := range m.res[registry.Entities] {
		if r.(*registry.Entity).CreditCode == code {
			return id
		}
	}
	return ""
}

// invalid returns the fields r breaks, in the order the API reports them,
// using only the rules of API.md for the values the generators draw.
func invalid(r registry.Resource) []string {
	var bad []string
	name := func(field, s string) {
		if n := utf8.RuneCountInString(s); n < 1 || n > registry.MaxDisplayName || strings.TrimSpace(s) == "" {
			bad = append(bad, field)
		}
	}
	switch x := r.(type) {
	case *registry.Entity:
		name("entity.display_name", x.DisplayName)
		if x.Kind < 1 || x.Kind > 5 {
			bad = append(bad, "entity.kind")
		}
		if x.CreditCode != "" && !slices.Contains(propCodes, x.CreditCode) {
			bad = append(bad, "entity.credit_code")
		}
		seen := map[string]bool{}
		for i, ind := range x.Industries {
			if !slices.Contains(propIndustries, ind) || seen[ind] {
				bad = append(bad, fmt.Sprintf("entity.industries[%d]", i))
			}
			seen[ind] = true
		}
	case *registry.Group:
		name("group.display_name", x.DisplayName)
		if x.Kind < 1 || x.Kind > 2 {
			bad = append(bad, "group.kind")
		}
		if !slices.Contains(propFields, x.Field) {
			bad = append(bad, "group.field")
		}
	case *registry.Membership:
		if x.Role < 1 || x.Role > 2 {
			bad = append(bad, "membership.role")
		}
	case *registry.TalentRecord:
		if !strings.HasPrefix(x.Subject, "entities/") && !strings.HasPrefix(x.Subject, "groups/") {
			bad = append(bad, "talent_record.subject")
		}
		if x.Category < 1 || x.Category > 3 {
			bad = append(bad, "talent_record.category")
		}
		if x.Count < 1 || x.Count > registry.MaxCount {
			bad = append(bad, "talent_record.count")
		}
		if x.Program != "" && !strings.HasPrefix(x.Program, "programs/") {
			bad = append(bad, "talent_record.program")
		}
		if !slices.Contains(propPeriods, x.Period) {
			bad = append(bad, "talent_record.period")
		}
	case *registry.Program:
		name("program.display_name", x.DisplayName)
		if x.Level < 1 || x.Level > 2 {
			bad = append(bad, "program.level")
		}
	}
	return bad
}

// refs checks the references of after (before is the stored version, nil
// on create) and returns the error code and the field it names.
func (m *model) refs(before, after registry.Resource) (registry.Code, string) {
	switch x := after.(type) {
	case *registry.Entity:
		b, _ := before.(*registry.Entity)
		if x.CreditCode != "" && (b == nil || b.CreditCode != x.CreditCode) {
			if owner := m.codeOwner(x.CreditCode); owner != "" && owner != x.ID {
				return registry.CodeAlreadyExists, "entity.credit_code"
			}
		}
	case *registry.Membership:
		if before != nil {
			return 0, ""
		}
		if !m.exists(registry.GroupName(x.GroupID)) {
			return registry.CodeNotFound, "parent"
		}
		if !m.exists(registry.EntityName(x.EntityID)) {
			return registry.CodeNotFound, "membership.entity"
		}
	case *registry.TalentRecord:
		b, _ := before.(*registry.TalentRecord)
		if (b == nil || b.Subject != x.Subject) && !m.exists(x.Subject) {
			return registry.CodeNotFound, "talent_record.subject"
		}
		if x.Program != "" && (b == nil || b.Program != x.Program) && !m.exists(x.Program) {
			return registry.CodeNotFound, "talent_record.program"
		}
	}
	return 0, ""
}

// dependants returns the keys (by collection) that deleting r cascades to.
func (m *model) dependants(r registry.Resource) map[registry.Collection][]string {
	deps := map[registry.Collection][]string{}
	name := r.Name()
	for k, x := range m.res[registry.Memberships] {
		ms := x.(*registry.Membership)
		if registry.EntityName(ms.EntityID) == name || registry.GroupName(ms.GroupID) == name {
			deps[registry.Memberships] = append(deps[registry.Memberships], k)
		}
	}
	for k, x := range m.res[registry.TalentRecords] {
		tr := x.(*registry.TalentRecord)
		if tr.Subject == name || tr.Program == name {
			deps[registry.TalentRecords] = append(deps[registry.TalentRecords], k)
		}
	}
	return deps
}

// commit records r (a copy) as written at the next revision. A created
// resource has unknown times; an updated one keeps its create time.
func (m *model) commit(r registry.Resource, created bool) registry.Resource {
	m.rev++
	r = clone(r)
	meta := r.Metadata()
	if created {
		*meta = registry.Meta{}
	} else {
		old := m.get(r.Collection(), modelKey(r)).Metadata()
		*meta = registry.Meta{CreateTime: old.CreateTime}
	}
	meta.Revision = m.rev
	m.res[r.Collection()][modelKey(r)] = r
	return r
}

// create applies a create (or a request-id replay) to the model and
// returns the expected code and, on success, the expected result.
func (m *model) create(r registry.Resource, requestID string) (registry.Code, registry.Resource, int64) {
	if len(invalid(r)) > 0 {
		return registry.CodeInvalidArgument, nil, 0
	}
	rk := strconv.Itoa(int(r.Collection())) + "/" + requestID
	if prior, ok := m.requests[rk]; ok && requestID != "" {
		return 0, prior.res, prior.rev
	}
	if m.get(r.Collection(), modelKey(r)) != nil {
		return registry.CodeAlreadyExists, nil, 0
	}
	if code, _ := m.refs(nil, r); code != 0 {
		return code, nil, 0
	}
	out := m.commit(r, true)
	if requestID != "" {
		m.requests[rk] = modelRequest{res: out, rev: m.rev} // times filled in by learn
	}
	return 0, out, m.rev
}

// update applies an update through apply with the given etag.
func (m *model) update(c registry.Collection, key, etag string, apply func(registry.Resource)) (registry.Code, registry.Resource, int64) {
	old := m.get(c, key)
	if old == nil {
		return registry.CodeNotFound, nil, 0
	}
	if etag != "" && etag != strconv.FormatInt(old.Metadata().Revision, 10) {
		return registry.CodeAborted, nil, 0
	}
	cur := clone(old)
	apply(cur)
	if modelKey(cur) != key || len(invalid(cur)) > 0 {
		return registry.CodeInvalidArgument, nil, 0
	}
	if clientFields(cur) == clientFields(old) {
		return 0, old, m.rev
	}
	if code, _ := m.refs(old, cur); code != 0 {
		return code, nil, 0
	}
	return 0, m.commit(cur, false), m.rev
}

// remove applies a delete; force cascades to dependants.
func (m *model) remove(c registry.Collection, key, etag string, force bool) registry.Code {
	old := m.get(c, key)
	if old == nil {
		return registry.CodeNotFound
	}
	if etag != "" && etag != strconv.FormatInt(old.Metadata().Revision, 10) {
		return registry.CodeAborted
	}
	deps := m.dependants(old)
	n := len(deps[registry.Memberships]) + len(deps[registry.TalentRecords])
	if n > 0 && !force {
		return registry.CodeFailedPrecondition
	}
	for dc, keys := range deps {
		for _, k := range keys {
			delete(m.res[dc], k)
		}
	}
	delete(m.res[c], key)
	m.rev += int64(n) + 1
	return 0
}

type modelImportFailure struct {
	name, field string
}

// importItems simulates one Import chunk: items are upserted in order in
// one transaction; bad ones are skipped whole.
func (m *model) importItems(items []registry.Resource) (map[registry.Collection]*registry.ImportCounts, map[int]modelImportFailure) {
	counts := map[registry.Collection]*registry.ImportCounts{}
	for _, c := range registry.Collections {
		counts[c] = &registry.ImportCounts{}
	}
	fails := map[int]modelImportFailure{}
	for i, r := range items {
		c := r.Collection()
		if bad := invalid(r); len(bad) > 0 {
			counts[c].Failed++
			fails[i] = modelImportFailure{r.Name(), bad[0]}
			continue
		}
		cur := clone(r)
		old := m.get(c, modelKey(r))
		if ms, ok := cur.(*registry.Membership); ok && ms.JoinTime.IsZero() && old != nil {
			ms.JoinTime = old.(*registry.Membership).JoinTime
		}
		switch code, field := m.refs(old, cur); {
		case old != nil && clientFields(old) == clientFields(cur):
			counts[c].Unchanged++
		case code != 0:
			counts[c].Failed++
			fails[i] = modelImportFailure{r.Name(), field}
		case old == nil:
			counts[c].Created++
			m.commit(cur, true)
		default:
			counts[c].Updated++
			m.commit(cur, false)
		}
	}
	return counts, fails
}

// clone deep-copies a resource.
func clone(r registry.Resource) registry.Resource {
	switch x := r.(type) {
	case *registry.Entity:
		c := *x
		c.Industries = slices.Clone(x.Industries)
		return &c
	case *registry.Group:
		c := *x
		return &c
	case *registry.Membership:
		c := *x
		return &c
	case *registry.TalentRecord:
		c := *x
		return &c
	case *registry.Program:
		c := *x
		return &c
	}
	panic(fmt.Sprintf("clone(%T)", r))
}

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// clientFields renders every field a client sets (nil and empty lists
// alike), independently of the store's codec.
func clientFields(r registry.Resource) string {
	switch x := r.(type) {
	case *registry.Entity:
		return fmt.Sprintf("%s name=%q kind=%d code=%q region=%q ind=%q le=%t fip=%t", x.Name(), x.DisplayName, x.Kind,
			x.CreditCode, x.Region, x.Industries, x.LeadingEnterprise, x.FutureIndustryPlatform)
	case *registry.Group:
		return fmt.Sprintf("%s name=%q kind=%d field=%q", x.Name(), x.DisplayName, x.Kind, x.Field)
	case *registry.Membership:
		return fmt.Sprintf("%s role=%d join=%d", x.Name(), x.Role, ns(x.JoinTime))
	case *registry.TalentRecord:
		return fmt.Sprintf("%s subject=%q cat=%d count=%d program=%q period=%q", x.Name(), x.Subject, x.Category, x.Count, x.Program, x.Period)
	case *registry.Program:
		return fmt.Sprintf("%s name=%q level=%d", x.Name(), x.DisplayName, x.Level)
	}
	panic(fmt.Sprintf("clientFields(%T)", r))
}

// full renders a resource with its revision and times.
func full(r registry.Resource) string {
	m := r.Metadata()
	return fmt.Sprintf("%s rev=%d ct=%d ut=%d", clientFields(r), m.Revision, ns(m.CreateTime), ns(m.UpdateTime))
}

// learn fills the model's unknown times of want from got, checks the
// known ones, and then requires got to equal want exactly.
func learn(t *rapid.T, want, got registry.Resource) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: store returned nil", want.Name())
	}
	wm, gm := want.Metadata(), got.Metadata()
	if gm.CreateTime.IsZero() || gm.UpdateTime.Before(gm.CreateTime) {
		t.Fatalf("%s: bad times create=%v update=%v", got.Name(), gm.CreateTime, gm.UpdateTime)
	}
	if wm.CreateTime.IsZero() {
		wm.CreateTime = gm.CreateTime
		if wm.UpdateTime.IsZero() && !gm.UpdateTime.Equal(gm.CreateTime) {
			t.Fatalf("%s: a new resource has update time %v != create time %v", got.Name(), gm.UpdateTime, gm.CreateTime)
		}
	}
	if wm.UpdateTime.IsZero() {
		wm.UpdateTime = gm.UpdateTime
	}
	if wms, ok := want.(*registry.Membership); ok && wms.JoinTime.IsZero() {
		gms, _ := got.(*registry.Membership)
		if gms == nil || gms.JoinTime.IsZero() {
			t.Fatalf("%s: no join time", want.Name())
		}
		wms.JoinTime = gms.JoinTime
	}
	if full(got) != full(want) {
		t.Fatalf("store has\n  %s\nmodel has\n  %s", full(got), full(want))
	}
}

// wantCodeR is wantCode for rapid.
func wantCodeR(t *rapid.T, op string, err error, code registry.Code) {
	t.Helper()
	if got := registry.ErrorCode(err); got != code || (code == 0 && err != nil) {
		t.Fatalf("%s: error = %v (code %d), want code %d", op, err, got, code)
	}
}

// propTest drives one store and its model.
type propTest struct {
	s *Store
	m *model
}

// pickKey draws a key of c: usually an existing one, sometimes any from
// the pool (which may be missing).
func (p *propTest) pickID(t *rapid.T, c registry.Collection, pool []string, label string) string {
	var existing []string
	for _, r := range p.m.sorted(c) {
		existing = append(existing, modelKey(r))
	}
	if len(existing) > 0 && rapid.IntRange(0, 4).Draw(t, label+"Existing") > 0 {
		return rapid.SampledFrom(existing).Draw(t, label)
	}
	return rapid.SampledFrom(pool).Draw(t, label)
}

// drawEtag returns "" (no check), the current etag, or a stale one.
func drawEtag(t *rapid.T, r registry.Resource) string {
	switch rapid.IntRange(0, 5).Draw(t, "etagMode") {
	case 0, 1, 2:
		return ""
	case 3, 4:
		if r != nil {
			return r.Metadata().Etag()
		}
		return "1"
	}
	if r != nil && r.Metadata().Revision > 1 {
		return strconv.FormatInt(r.Metadata().Revision-1, 10)
	}
	return "999999"
}

func drawDisplayName(t *rapid.T, valid string) string {
	if rapid.IntRange(0, 19).Draw(t, "badName") == 0 {
		return rapid.SampledFrom(propBadNames).Draw(t, "displayName")
	}
	return valid
}

func drawEntityFields(t *rapid.T, e *registry.Entity) {
	e.DisplayName = drawDisplayName(t, "Entity "+rapid.SampledFrom([]string{"A", "B", "C"}).Draw(t, "nameSuffix"))
	e.Kind = registry.EntityKind(rapid.IntRange(1, 5).Draw(t, "kind"))
	if rapid.IntRange(0, 19).Draw(t, "badKind") == 0 {
		e.Kind = registry.EntityKindUnspecified
	}
	e.CreditCode = ""
	switch rapid.IntRange(0, 9).Draw(t, "codeMode") {
	case 0, 1, 2, 3:
		e.CreditCode = rapid.SampledFrom(propCodes).Draw(t, "code")
	case 4:
		if rapid.Bool().Draw(t, "badCode") {
			e.CreditCode = propBadCode
		}
	}
	e.Region = rapid.SampledFrom(propRegions).Draw(t, "region")
	e.Industries = rapid.SliceOfNDistinct(rapid.SampledFrom(propIndustries), 0, 3, rapid.ID[string]).Draw(t, "industries")
	switch rapid.IntRange(0, 24).Draw(t, "badIndustry") {
	case 0:
		e.Industries = append(e.Industries, "Not_A_Slug")
	case 1:
		if len(e.Industries) > 0 {
			e.Industries = append(e.Industries, e.Industries[0]) // duplicate
		}
	}
	e.LeadingEnterprise = rapid.Bool().Draw(t, "leading")
	e.FutureIndustryPlatform = rapid.Bool().Draw(t, "platform")
}

func drawEntity(t *rapid.T, id string) *registry.Entity {
	e := &registry.Entity{ID: id}
	drawEntityFields(t, e)
	return e
}

func drawGroup(t *rapid.T, id string) *registry.Group {
	g := &registry.Group{ID: id}
	g.DisplayName = drawDisplayName(t, "Group "+id)
	g.Kind = registry.GroupKind(rapid.IntRange(1, 2).Draw(t, "groupKind"))
	if rapid.IntRange(0, 19).Draw(t, "badGroupKind") == 0 {
		g.Kind = registry.GroupKindUnspecified
	}
	g.Field = rapid.SampledFrom(propFields).Draw(t, "field")
	if rapid.IntRange(0, 19).Draw(t, "badField") == 0 {
		g.Field = "Not A Slug"
	}
	return g
}

func drawProgram(t *rapid.T, id string) *registry.Program {
	p := &registry.Program{ID: id}
	p.DisplayName = drawDisplayName(t, "Programme "+id)
	p.Level = registry.ProgramLevel(rapid.IntRange(1, 2).Draw(t, "level"))
	if rapid.IntRange(0, 19).Draw(t, "badLevel") == 0 {
		p.Level = registry.ProgramLevelUnspecified
	}
	return p
}

func drawRole(t *rapid.T) registry.MembershipRole {
	if rapid.IntRange(0, 19).Draw(t, "badRole") == 0 {
		return registry.MembershipRoleUnspecified
	}
	return registry.MembershipRole(rapid.IntRange(1, 2).Draw(t, "role"))
}

func (p *propTest) drawSubject(t *rapid.T) string {
	switch rapid.IntRange(0, 19).Draw(t, "subjectMode") {
	case 0:
		return rapid.SampledFrom([]string{"", "bogus/x"}).Draw(t, "badSubject")
	case 1, 2, 3, 4, 5, 6:
		return registry.GroupName(p.pickID(t, registry.Groups, propGroupIDs, "subjectGroup"))
	}
	return registry.EntityName(p.pickID(t, registry.Entities, propEntityIDs, "subjectEntity"))
}

func (p *propTest) drawRecordFields(t *rapid.T, r *registry.TalentRecord) {
	r.Subject = p.drawSubject(t)
	r.Category = registry.TalentCategory(rapid.IntRange(1, 3).Draw(t, "category"))
	if rapid.IntRange(0, 19).Draw(t, "badCategory") == 0 {
		r.Category = registry.TalentCategoryUnspecified
	}
	r.Count = int64(rapid.SampledFrom([]int{1, 2, 50, 1000}).Draw(t, "count"))
	if rapid.IntRange(0, 19).Draw(t, "badCount") == 0 {
		r.Count = int64(rapid.SampledFrom([]int{0, -1}).Draw(t, "badCountValue"))
	}
	r.Program = ""
	if rapid.Bool().Draw(t, "hasProgram") {
		r.Program = registry.ProgramName(p.pickID(t, registry.Programs, propProgramIDs, "program"))
	}
	r.Period = rapid.SampledFrom(propPeriods).Draw(t, "period")
	if rapid.IntRange(0, 19).Draw(t, "badPeriod") == 0 {
		r.Period = rapid.SampledFrom([]string{"2024-13", "24", "1899"}).Draw(t, "badPeriodValue")
	}
}

func (p *propTest) drawRecord(t *rapid.T, id string) *registry.TalentRecord {
	r := &registry.TalentRecord{ID: id}
	p.drawRecordFields(t, r)
	return r
}

func (p *propTest) drawMembership(t *rapid.T) *registry.Membership {
	m := &registry.Membership{
		GroupID:  p.pickID(t, registry.Groups, propGroupIDs, "group"),
		EntityID: p.pickID(t, registry.Entities, propEntityIDs, "entity"),
		Role:     drawRole(t),
	}
	if rapid.Bool().Draw(t, "hasJoinTime") {
		m.JoinTime = rapid.SampledFrom(propJoinTimes).Draw(t, "joinTime")
	}
	return m
}

func drawRequestID(t *rapid.T) string {
	if rapid.IntRange(0, 3).Draw(t, "hasRequestID") == 0 {
		return rapid.SampledFrom(propRequestIDs).Draw(t, "requestID")
	}
	return ""
}

// Typed adapters from the store's methods to Resource-valued ones.

func res[T registry.Resource](r T, err error) (registry.Resource, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

func resRev[T registry.Resource](r T, rev int64, err error) (registry.Resource, int64, error) {
	if err != nil {
		return nil, rev, err
	}
	return r, rev, nil
}

func resList[T registry.Resource](xs []T, next string, err error) ([]registry.Resource, string, error) {
	out := make([]registry.Resource, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out, next, err
}

func (p *propTest) storeCreate(r registry.Resource, requestID string) (registry.Resource, int64, error) {
	s := p.s
	switch x := r.(type) {
	case *registry.Entity:
		return resRev(s.CreateEntity(ctx, x, requestID))
	case *registry.Group:
		return resRev(s.CreateGroup(ctx, x, requestID))
	case *registry.Membership:
		return resRev(s.CreateMembership(ctx, x, requestID))
	case *registry.TalentRecord:
		return resRev(s.CreateTalentRecord(ctx, x, requestID))
	case *registry.Program:
		return resRev(s.CreateProgram(ctx, x, requestID))
	}
	panic("storeCreate")
}

func (p *propTest) storeGet(c registry.Collection, key string) (registry.Resource, error) {
	s := p.s
	switch c {
	case registry.Entities:
		return res(s.GetEntity(ctx, key))
	case registry.Groups:
		return res(s.GetGroup(ctx, key))
	case registry.Memberships:
		g, e, _ := strings.Cut(key, "\x00")
		return res(s.GetMembership(ctx, g, e))
	case registry.TalentRecords:
		return res(s.GetTalentRecord(ctx, key))
	case registry.Programs:
		return res(s.GetProgram(ctx, key))
	}
	panic("storeGet")
}

func (p *propTest) storeUpdate(c registry.Collection, key, etag string, apply func(registry.Resource)) (registry.Resource, int64, error) {
	s := p.s
	switch c {
	case registry.Entities:
		return resRev(s.UpdateEntity(ctx, key, etag, func(x *registry.Entity) { apply(x) }))
	case registry.Groups:
		return resRev(s.UpdateGroup(ctx, key, etag, func(x *registry.Group) { apply(x) }))
	case registry.Memberships:
		g, e, _ := strings.Cut(key, "\x00")
		return resRev(s.UpdateMembership(ctx, g, e, etag, func(x *registry.Membership) { apply(x) }))
	case registry.TalentRecords:
		return resRev(s.UpdateTalentRecord(ctx, key, etag, func(x *registry.TalentRecord) { apply(x) }))
	case registry.Programs:
		return resRev(s.UpdateProgram(ctx, key, etag, func(x *registry.Program) { apply(x) }))
	}
	panic("storeUpdate")
}

func (p *propTest) storeDelete(c registry.Collection, key, etag string, force bool) (int64, error) {
	s := p.s
	switch c {
	case registry.Entities:
		return s.DeleteEntity(ctx, key, etag, force)
	case registry.Groups:
		return s.DeleteGroup(ctx, key, etag, force)
	case registry.Memberships:
		g, e, _ := strings.Cut(key, "\x00")
		return s.DeleteMembership(ctx, g, e, etag)
	case registry.TalentRecords:
		return s.DeleteTalentRecord(ctx, key, etag)
	case registry.Programs:
		return s.DeleteProgram(ctx, key, etag, force)
	}
	panic("storeDelete")
}

func (p *propTest) storeList(c registry.Collection, parent string, q registry.ListQuery) ([]registry.Resource, string, error) {
	s := p.s
	switch c {
	case registry.Entities:
		return resList(s.ListEntities(ctx, q))
	case registry.Groups:
		return resList(s.ListGroups(ctx, q))
	case registry.Memberships:
		return resList(s.ListMemberships(ctx, parent, q))
	case registry.TalentRecords:
		return resList(s.ListTalentRecords(ctx, q))
	case registry.Programs:
		return resList(s.ListPrograms(ctx, q))
	}
	panic("storeList")
}

// Actions.

func (p *propTest) create(t *rapid.T, r registry.Resource) {
	requestID := drawRequestID(t)
	code, want, wantRev := p.m.create(clone(r), requestID)
	got, rev, err := p.storeCreate(r, requestID)
	wantCodeR(t, "create "+r.Name(), err, code)
	if code != 0 {
		return
	}
	if rev != wantRev {
		t.Fatalf("create %s: revision %d, want %d", r.Name(), rev, wantRev)
	}
	learn(t, want, got)
}

func (p *propTest) update(t *rapid.T, c registry.Collection, key string, apply func(registry.Resource)) {
	etag := drawEtag(t, p.m.get(c, key))
	code, want, wantRev := p.m.update(c, key, etag, apply)
	got, rev, err := p.storeUpdate(c, key, etag, apply)
	wantCodeR(t, fmt.Sprintf("update %s %q (etag %q)", c, key, etag), err, code)
	if code != 0 {
		return
	}
	if rev != wantRev {
		t.Fatalf("update %s %q: revision %d, want %d", c, key, rev, wantRev)
	}
	learn(t, want, got)
}

func (p *propTest) remove(t *rapid.T, c registry.Collection, key string) {
	etag := drawEtag(t, p.m.get(c, key))
	force := c != registry.Memberships && c != registry.TalentRecords && rapid.Bool().Draw(t, "force")
	code := p.m.remove(c, key, etag, force)
	rev, err := p.storeDelete(c, key, etag, force)
	wantCodeR(t, fmt.Sprintf("delete %s %q (etag %q, force %t)", c, key, etag, force), err, code)
	if code == 0 && rev != p.m.rev {
		t.Fatalf("delete %s %q: revision %d, want %d", c, key, rev, p.m.rev)
	}
}

// drawMask returns which of n fields an update changes (at least one
// usually; none makes a no-op update).
func drawMask(t *rapid.T, n int) []bool {
	mask := make([]bool, n)
	for i := range mask {
		mask[i] = rapid.IntRange(0, 2).Draw(t, "change") == 0
	}
	return mask
}

// renameRarely returns an id to rename a resource to, which the store
// must refuse (names are immutable), or "" to keep the name.
func renameRarely(t *rapid.T) string {
	if rapid.IntRange(0, 29).Draw(t, "rename") == 0 {
		return "renamed"
	}
	return ""
}

func (p *propTest) createEntity(t *rapid.T) {
	p.create(t, drawEntity(t, rapid.SampledFrom(propEntityIDs).Draw(t, "id")))
}

func (p *propTest) updateEntity(t *rapid.T) {
	id := p.pickID(t, registry.Entities, propEntityIDs, "id")
	n := drawEntity(t, id)
	mask := drawMask(t, 7)
	rename := renameRarely(t)
	p.update(t, registry.Entities, id, func(r registry.Resource) {
		e := r.(*registry.Entity)
		if mask[0] {
			e.DisplayName = n.DisplayName
		}
		if mask[1] {
			e.Kind = n.Kind
		}
		if mask[2] {
			e.CreditCode = n.CreditCode
		}
		if mask[3] {
			e.Region = n.Region
		}
		if mask[4] {
			e.Industries = slices.Clone(n.Industries)
		}
		if mask[5] {
			e.LeadingEnterprise = n.LeadingEnterprise
		}
		if mask[6] {
			e.FutureIndustryPlatform = n.FutureIndustryPlatform
		}
		if rename != "" {
			e.ID = rename
		}
	})
}

func (p *propTest) deleteEntity(t *rapid.T) {
	p.remove(t, registry.Entities, p.pickID(t, registry.Entities, propEntityIDs, "id"))
}

func (p *propTest) createGroup(t *rapid.T) {
	p.create(t, drawGroup(t, rapid.SampledFrom(propGroupIDs).Draw(t, "id")))
}

func (p *propTest) updateGroup(t *rapid.T) {
	id := p.pickID(t, registry.Groups, propGroupIDs, "id")
	n := drawGroup(t, id)
	mask := drawMask(t, 3)
	rename := renameRarely(t)
	p.update(t, registry.Groups, id, func(r registry.Resource) {
		g := r.(*registry.Group)
		if mask[0] {
			g.DisplayName = n.DisplayName
		}
		if mask[1] {
			g.Kind = n.Kind
		}
		if mask[2] {
			g.Field = n.Field
		}
		if rename != "" {
			g.ID = rename
		}
	})
}

func (p *propTest) deleteGroup(t *rapid.T) {
	p.remove(t, registry.Groups, p.pickID(t, registry.Groups, propGroupIDs, "id"))
}

func (p *propTest) createMembership(t *rapid.T) {
	p.create(t, p.drawMembership(t))
}

func (p *propTest) updateMembership(t *rapid.T) {
	key := p.pickID(t, registry.Memberships, []string{"g0\x00e0", "g1\x00e1"}, "key")
	role := drawRole(t)
	join := rapid.SampledFrom(propJoinTimes).Draw(t, "joinTime")
	mask := drawMask(t, 2)
	rename := renameRarely(t)
	p.update(t, registry.Memberships, key, func(r registry.Resource) {
		m := r.(*registry.Membership)
		if mask[0] {
			m.Role = role
		}
		if mask[1] {
			m.JoinTime = join
		}
		if rename != "" {
			m.EntityID = rename
		}
	})
}

func (p *propTest) deleteMembership(t *rapid.T) {
	p.remove(t, registry.Memberships, p.pickID(t, registry.Memberships, []string{"g0\x00e0", "g1\x00e1"}, "key"))
}

func (p *propTest) createTalentRecord(t *rapid.T) {
	p.create(t, p.drawRecord(t, rapid.SampledFrom(propRecordIDs).Draw(t, "id")))
}

func (p *propTest) updateTalentRecord(t *rapid.T) {
	id := p.pickID(t, registry.TalentRecords, propRecordIDs, "id")
	n := p.drawRecord(t, id)
	mask := drawMask(t, 5)
	p.update(t, registry.TalentRecords, id, func(r registry.Resource) {
		x := r.(*registry.TalentRecord)
		if mask[0] {
			x.Subject = n.Subject
		}
		if mask[1] {
			x.Category = n.Category
		}
		if mask[2] {
			x.Count = n.Count
		}
		if mask[3] {
			x.Program = n.Program
		}
		if mask[4] {
			x.Period = n.Period
		}
	})
}

func (p *propTest) deleteTalentRecord(t *rapid.T) {
	p.remove(t, registry.TalentRecords, p.pickID(t, registry.TalentRecords, propRecordIDs, "id"))
}

func (p *propTest) createProgram(t *rapid.T) {
	p.create(t, drawProgram(t, rapid.SampledFrom(propProgramIDs).Draw(t, "id")))
}

func (p *propTest) updateProgram(t *rapid.T) {
	id := p.pickID(t, registry.Programs, propProgramIDs, "id")
	n := drawProgram(t, id)
	mask := drawMask(t, 2)
	p.update(t, registry.Programs, id, func(r registry.Resource) {
		x := r.(*registry.Program)
		if mask[0] {
			x.DisplayName = n.DisplayName
		}
		if mask[1] {
			x.Level = n.Level
		}
	})
}

func (p *propTest) deleteProgram(t *rapid.T) {
	p.remove(t, registry.Programs, p.pickID(t, registry.Programs, propProgramIDs, "id"))
}

// batchCreate creates 1-4 entities at once; any duplicate (in the batch
// or in the store), bad entity or taken credit code must write nothing.
func (p *propTest) batchCreate(t *rapid.T) {
	n := rapid.IntRange(1, 4).Draw(t, "n")
	es := make([]*registry.Entity, n)
	for i := range es {
		es[i] = drawEntity(t, rapid.SampledFrom(propEntityIDs).Draw(t, "id"))
	}
	if n > 1 && rapid.IntRange(0, 3).Draw(t, "forceDuplicate") == 0 {
		es[n-1].ID = es[0].ID
	}
	// The model: all or nothing.
	code := registry.Code(0)
	ids, codes := map[string]bool{}, map[string]bool{}
	for _, e := range es {
		if len(invalid(e)) > 0 || ids[e.ID] || (e.CreditCode != "" && codes[e.CreditCode]) {
			code = registry.CodeInvalidArgument
		}
		ids[e.ID] = true
		if e.CreditCode != "" {
			codes[e.CreditCode] = true
		}
	}
	if code == 0 {
		for _, e := range es {
			if c, _ := p.m.refs(nil, e); p.m.get(registry.Entities, e.ID) != nil || c != 0 {
				code = registry.CodeAlreadyExists
				break
			}
		}
	}
	var want []registry.Resource
	if code == 0 {
		for _, e := range es {
			want = append(want, p.m.commit(e, true))
		}
	}
	in := make([]*registry.Entity, n)
	for i, e := range es {
		in[i] = clone(e).(*registry.Entity)
	}
	got, rev, err := p.s.BatchCreateEntities(ctx, in)
	wantCodeR(t, "batch create", err, code)
	if code != 0 {
		return
	}
	if rev != p.m.rev || len(got) != n {
		t.Fatalf("batch create: revision %d with %d entities, want %d with %d", rev, len(got), p.m.rev, n)
	}
	for i := range got {
		learn(t, want[i], got[i])
	}
}

// importChunk imports 1-6 items of any kind: new ones, exact copies of
// stored ones (unchanged), modified copies (updated), invalid ones and
// ones naming missing resources (failed, skipped whole).
func (p *propTest) importChunk(t *rapid.T) {
	n := rapid.IntRange(1, 6).Draw(t, "n")
	items := make([]registry.Resource, n)
	for i := range items {
		c := rapid.SampledFrom(propCollections).Draw(t, "collection")
		var stored registry.Resource
		var fresh registry.Resource
		switch c {
		case registry.Entities:
			id := p.pickID(t, c, propEntityIDs, "id")
			stored, fresh = p.m.get(c, id), drawEntity(t, id)
		case registry.Groups:
			id := p.pickID(t, c, propGroupIDs, "id")
			stored, fresh = p.m.get(c, id), drawGroup(t, id)
		case registry.Programs:
			id := p.pickID(t, c, propProgramIDs, "id")
			stored, fresh = p.m.get(c, id), drawProgram(t, id)
		case registry.TalentRecords:
			id := p.pickID(t, c, propRecordIDs, "id")
			stored, fresh = p.m.get(c, id), p.drawRecord(t, id)
		case registry.Memberships:
			fresh = p.drawMembership(t)
			stored = p.m.get(c, modelKey(fresh))
		}
		items[i] = fresh
		if stored != nil && rapid.Bool().Draw(t, "copyStored") {
			cp := clone(stored)
			*cp.Metadata() = registry.Meta{Revision: 12345} // ignored by import
			if ms, ok := cp.(*registry.Membership); ok && rapid.Bool().Draw(t, "zeroJoinTime") {
				ms.JoinTime = time.Time{} // keeps the stored one
			}
			items[i] = cp
		}
	}
	base := int64(rapid.SampledFrom([]int{0, 7, 1000}).Draw(t, "base"))
	in := make([]registry.Resource, n)
	for i, r := range items {
		in[i] = clone(r)
	}
	counts, fails := p.m.importItems(items)
	res, err := p.s.Import(ctx, registry.WholeItems(in), base)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	for _, c := range registry.Collections {
		if got, want := *res.Counts[c], *counts[c]; got != want {
			t.Fatalf("import %s: counts %+v, want %+v", c, got, want)
		}
	}
	if len(res.Errors) != len(fails) {
		t.Fatalf("import: %d errors %+v, want %d %+v", len(res.Errors), res.Errors, len(fails), fails)
	}
	for _, e := range res.Errors {
		f, ok := fails[int(e.Index-base)]
		if !ok || e.Name != f.name || e.Field != f.field || e.Err == nil {
			t.Fatalf("import: error %+v, want item %d to fail as %+v", e, e.Index-base, f)
		}
	}
	if res.Revision != p.m.rev {
		t.Fatalf("import: revision %d, want %d", res.Revision, p.m.rev)
	}
}

// Invariants.

// filterDomain lists, per collection, the filterable fields and the values
// the generators can give them.
var filterDomain = map[registry.Collection]map[string][]string{
	registry.Entities: {
		"kind":                     enumNames(5, func(i int) string { return registry.EntityKind(i).String() }),
		"region":                   append(slices.Clone(propRegions), "Binhai\x00e0"),
		"industries":               propIndustries,
		"leading_enterprise":       {"true", "false"},
		"future_industry_platform": {"true", "false"},
	},
	registry.Groups: {
		"kind":  enumNames(2, func(i int) string { return registry.GroupKind(i).String() }),
		"field": propFields,
	},
	registry.Memberships: {
		// A NUL can never be in a stored value; in a filter it must match
		// nothing (the index separates value and key with one).
		"entity": append(names(registry.EntityName, propEntityIDs), "entities/e0\x00g0"),
	},
	registry.TalentRecords: {
		"subject":  append(names(registry.EntityName, propEntityIDs), names(registry.GroupName, propGroupIDs)...),
		"category": enumNames(3, func(i int) string { return registry.TalentCategory(i).String() }),
		"program":  append([]string{""}, names(registry.ProgramName, propProgramIDs)...),
		"period":   propPeriods,
	},
	registry.Programs: {
		"level": enumNames(2, func(i int) string { return registry.ProgramLevel(i).String() }),
	},
}

func enumNames(n int, name func(int) string) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, name(i))
	}
	return out
}

func names(name func(string) string, ids []string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, name(id))
	}
	return out
}

// fieldValues is the brute-force side of a filter: the values r has for
// an indexed field.
func fieldValues(r registry.Resource, field string) []string {
	switch x := r.(type) {
	case *registry.Entity:
		switch field {
		case "kind":
			return []string{x.Kind.String()}
		case "region":
			return []string{x.Region}
		case "industries":
			return x.Industries
		case "leading_enterprise":
			return []string{strconv.FormatBool(x.LeadingEnterprise)}
		case "future_industry_platform":
			return []string{strconv.FormatBool(x.FutureIndustryPlatform)}
		}
	case *registry.Group:
		switch field {
		case "kind":
			return []string{x.Kind.String()}
		case "field":
			return []string{x.Field}
		}
	case *registry.Membership:
		switch field {
		case "entity":
			return []string{registry.EntityName(x.EntityID)}
		}
	case *registry.TalentRecord:
		switch field {
		case "subject":
			return []string{x.Subject}
		case "category":
			return []string{x.Category.String()}
		case "program":
			return []string{x.Program}
		case "period":
			return []string{x.Period}
		}
	case *registry.Program:
		if field == "level" {
			return []string{x.Level.String()}
		}
	}
	panic(fmt.Sprintf("fieldValues(%T, %q)", r, field))
}

func drawConds(t *rapid.T, c registry.Collection, min, max int) []registry.Condition {
	domain := filterDomain[c]
	fields := make([]string, 0, len(domain))
	for f := range domain {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	n := rapid.IntRange(min, max).Draw(t, "conditions")
	conds := make([]registry.Condition, n)
	for i := range conds {
		f := rapid.SampledFrom(fields).Draw(t, "filterField")
		conds[i] = registry.Condition{Field: f, Value: rapid.SampledFrom(domain[f]).Draw(t, "filterValue")}
	}
	return conds
}

// checkList pages through a list and compares it with a brute-force
// filter of the model.
func (p *propTest) checkList(t *rapid.T, c registry.Collection, parent string, conds []registry.Condition, size int) {
	t.Helper()
	var want []registry.Resource
	for _, r := range p.m.sorted(c) {
		if ms, ok := r.(*registry.Membership); ok && parent != "-" && ms.GroupID != parent {
			continue
		}
		ok := true
		for _, cond := range conds {
			ok = ok && slices.Contains(fieldValues(r, cond.Field), cond.Value)
		}
		if ok {
			want = append(want, r)
		}
	}
	var got []registry.Resource
	after := ""
	for pages := 0; ; pages++ {
		page, next, err := p.storeList(c, parent, registry.ListQuery{Conditions: conds, After: after, Limit: size})
		if err != nil {
			t.Fatalf("list %s %q %v: %v", c, parent, conds, err)
		}
		if len(page) > size || (pages > 0 && len(page) == 0) || (next != "" && len(page) != size) || pages > len(want) {
			t.Fatalf("list %s %q %v: page %d has %d items (size %d), next %q", c, parent, conds, pages, len(page), size, next)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		after = next
	}
	if len(got) != len(want) {
		t.Fatalf("list %s %q %v: %d items %v, want %d %v", c, parent, conds, len(got), namesOf(got), len(want), namesOf(want))
	}
	for i := range got {
		if full(got[i]) != full(want[i]) {
			t.Fatalf("list %s %q %v: item %d is\n  %s\nwant\n  %s", c, parent, conds, i, full(got[i]), full(want[i]))
		}
	}
}

func namesOf(rs []registry.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name()
	}
	return out
}

// check runs after every action: the store equals the model and is
// internally consistent.
func (p *propTest) check(t *rapid.T) {
	if got := p.s.Revision(); got != p.m.rev {
		t.Fatalf("revision %d, want %d", got, p.m.rev)
	}
	// Get: every id of the pools (present or not) and every membership.
	pools := map[registry.Collection][]string{
		registry.Entities: propEntityIDs, registry.Groups: propGroupIDs,
		registry.TalentRecords: propRecordIDs, registry.Programs: propProgramIDs,
		registry.Memberships: {"g0\x00e0", "g3\x00e11"},
	}
	for _, c := range propCollections {
		keys := slices.Clone(pools[c])
		for k := range p.m.res[c] {
			keys = append(keys, k)
		}
		for _, k := range keys {
			got, err := p.storeGet(c, k)
			if want := p.m.get(c, k); want != nil {
				if err != nil {
					t.Fatalf("get %s %q: %v", c, k, err)
				}
				learn(t, want, got)
			} else {
				wantCodeR(t, fmt.Sprintf("get missing %s %q", c, k), err, registry.CodeNotFound)
			}
		}
	}
	// List: everything, then random filters (one to three conditions,
	// possibly contradictory), then the membership lookups.
	size := rapid.IntRange(1, 7).Draw(t, "pageSize")
	for _, c := range propCollections {
		p.checkList(t, c, "-", nil, size)
		p.checkList(t, c, "-", drawConds(t, c, 1, 3), size)
	}
	p.checkList(t, registry.Memberships, "-", []registry.Condition{{Field: "entity", Value: registry.EntityName(rapid.SampledFrom(propEntityIDs).Draw(t, "lookupEntity"))}}, size)
	p.checkList(t, registry.Memberships, rapid.SampledFrom(propGroupIDs).Draw(t, "parent"), drawConds(t, registry.Memberships, 0, 1), size)
	if err := p.s.Check(); err != nil {
		t.Fatalf("consistency check: %v", err)
	}
}

// replay rebuilds the state from the whole change log and compares it with
// a snapshot of the store: revisions run 1..N without gaps, every event's
// before image is the state it replaces, and the result is the stored
// state exactly.
func (p *propTest) replay(t *rapid.T) {
	state := map[string]registry.Resource{}
	next := int64(1)
	limit := rapid.IntRange(1, 50).Draw(t, "changePage")
	for {
		page, err := p.s.ListChanges(ctx, next, limit)
		if err != nil {
			t.Fatalf("list changes from %d: %v", next, err)
		}
		for _, ch := range page.Changes {
			if ch.Revision != next {
				t.Fatalf("change log: revision %d, want %d", ch.Revision, next)
			}
			next++
			name := ch.Name()
			prev := state[name]
			switch {
			case ch.Type == registry.ChangeCreated && prev == nil && ch.Before == nil && ch.After != nil:
			case ch.Type == registry.ChangeUpdated && prev != nil && ch.Before != nil && ch.After != nil && full(ch.Before) == full(prev):
			case ch.Type == registry.ChangeDeleted && prev != nil && ch.Before != nil && ch.After == nil && full(ch.Before) == full(prev):
			default:
				t.Fatalf("change %d (%d) of %s does not apply to %v: before %v after %v", ch.Revision, ch.Type, name, prev, ch.Before, ch.After)
			}
			if ch.After != nil {
				m := ch.After.Metadata()
				if m.Revision != ch.Revision || !m.UpdateTime.Equal(ch.CommitTime) {
					t.Fatalf("change %d: after image has revision %d, update time %v; commit time %v", ch.Revision, m.Revision, m.UpdateTime, ch.CommitTime)
				}
				state[name] = ch.After
			} else {
				delete(state, name)
			}
		}
		if !page.More {
			break
		}
		if len(page.Changes) == 0 {
			t.Fatalf("change page from %d is empty but says more follow", next)
		}
	}
	if next-1 != p.s.Revision() || next-1 != p.m.rev {
		t.Fatalf("change log ends at %d; store revision %d, model %d", next-1, p.s.Revision(), p.m.rev)
	}
	checkTailMatchesEngine(t, p.s, 1, limit)
	snap := map[string]registry.Resource{}
	var snapRev int64 = -1
	lastColl := registry.Collection(0)
	lastKey := ""
	err := p.s.Snapshot(ctx, func(rev int64) error { snapRev = rev; return nil }, func(r registry.Resource) error {
		if c, k := r.Collection(), modelKey(r); c != lastColl {
			if slices.Index(registry.Collections, c) < slices.Index(registry.Collections, lastColl) {
				return fmt.Errorf("snapshot: %s after %s", c, lastColl)
			}
			lastColl, lastKey = c, k
		} else if k <= lastKey {
			return fmt.Errorf("snapshot: %q after %q", k, lastKey)
		} else {
			lastKey = k
		}
		snap[r.Name()] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if snapRev != p.m.rev {
		t.Fatalf("snapshot at revision %d, want %d", snapRev, p.m.rev)
	}
	if len(snap) != len(state) {
		t.Fatalf("snapshot has %d resources, replay %d", len(snap), len(state))
	}
	for name, r := range snap {
		if st := state[name]; st == nil || full(st) != full(r) {
			t.Fatalf("snapshot has %s, replay has %v", full(r), st)
		}
		if want := p.m.get(r.Collection(), modelKey(r)); want == nil || full(want) != full(r) {
			t.Fatalf("snapshot has %s, model has %v", full(r), want)
		}
	}
}

// propCollections are the collections this model covers. Targets and
// policies (leaf resources referencing groups and programmes) and
// lifecycles are covered by the conformance tests in store_test.go, which
// run on both engines as this does.
var propCollections = []registry.Collection{registry.Programs, registry.Entities, registry.Groups, registry.Memberships, registry.TalentRecords}
