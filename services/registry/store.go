package registry

import "context"

// Page limits for List calls (AIP-158).
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// Condition is one equality test of a list filter: the resource's Field
// (an indexed field, see the List methods) has Value.
type Condition struct {
	Field string
	Value string
}

// ListQuery selects one page of a collection in primary-key order.
type ListQuery struct {
	// Conditions, all of which must hold. Each is answered from an index.
	Conditions []Condition
	// After is the cursor of the previous page's last item; empty for the
	// first page. Cursors are opaque to callers.
	After string
	// Limit is the page size, 1 to MaxPageSize.
	Limit int
}

// ChangePage is one page of the change log.
type ChangePage struct {
	Changes []Change
	// Revision is the registry revision when the page was read.
	Revision int64
	// More is true when changes after the last one had committed.
	More bool
}

// ChangeQuery selects changes by who made them and what they changed;
// empty fields select everything.
type ChangeQuery struct {
	// Principal is the actor's principal.
	Principal string
	// Resource is a resource name, e.g. "entities/x".
	Resource string
}

// ImportCounts counts the outcomes of one kind of resource in an Import.
type ImportCounts struct {
	Created, Updated, Unchanged, Failed int64
}

// ImportItemError reports one rejected Import item.
type ImportItemError struct {
	// Index is the item's position in the whole import, from 0.
	Index int64
	Name  string
	Field string
	Err   error
}

// ImportItem is one resource to upsert by name.
type ImportItem struct {
	// Resource names the item and, without Merge, is the whole of its new
	// state.
	Resource Resource
	// Merge, when set, makes the item partial: called in the transaction
	// with the stored resource (nil when there is none) it returns the
	// item's new state — the fields the item carries set, the others kept
	// (or, for a new resource, left at their defaults). It must not change
	// its argument and may be called more than once. Its result is
	// validated; the name must stay the same.
	Merge func(stored Resource) Resource
}

// WholeItems returns rs as items written whole.
func WholeItems(rs []Resource) []ImportItem {
	items := make([]ImportItem, len(rs))
	for i, r := range rs {
		items[i].Resource = r
	}
	return items
}

// ImportResult is what one Import chunk did.
type ImportResult struct {
	Counts   map[Collection]*ImportCounts
	Errors   []ImportItemError
	Revision int64
	// Processed is how many items, from the chunk's first, were dealt
	// with (committed, unchanged or rejected): all of them unless Import
	// failed; what they did is in Counts and Errors.
	Processed int
}

// Store is the registry's storage contract. Every mutation is atomic and
// durable before it returns, and returns the last revision it committed.
// Errors are *Error values or, for storage failures, other errors
// (ErrStoreClosed once closing). By method:
//
//   - Create: CodeInvalidArgument (a field breaks its rule), CodeAlreadyExists
//     (the id, the membership, or an entity's credit code is taken),
//     CodeNotFound (a referenced entity, group or programme is missing: a
//     record's subject or programme, a policy's programmes, a target's
//     scope). Entities and memberships are stored with their lifecycle
//     settled (Lifecycle.Settle at the commit time).
//     A request id seen before returns the first result instead.
//   - Get: CodeNotFound.
//   - List: CodeInvalidArgument for a field that cannot be filtered on.
//   - Update: CodeNotFound, CodeAborted (stale etag), CodeInvalidArgument
//     (the result breaks a rule, or apply changed the identity),
//     CodeAlreadyExists / CodeNotFound as for Create. Update methods take
//     the current etag ("" skips the check) and an apply function that
//     edits a copy of the stored resource; a change that alters nothing
//     commits nothing.
//   - Delete: CodeNotFound, CodeAborted, CodeFailedPrecondition (dependants
//     exist and force is false; force deletes them in the same transaction).
//     Dependants: an entity's memberships and talent records; a group's
//     memberships, talent records and the targets scoped to it; a
//     programme's talent records and the policies naming it.
type Store interface {
	CreateEntity(ctx context.Context, e *Entity, requestID string) (*Entity, int64, error)
	BatchCreateEntities(ctx context.Context, es []*Entity) ([]*Entity, int64, error)
	GetEntity(ctx context.Context, id string) (*Entity, error)
	// ListEntities filters on kind, region, industries,
	// leading_enterprise, future_industry_platform and status.
	ListEntities(ctx context.Context, q ListQuery) ([]*Entity, string, error)
	// VisitEntities calls fn with each entity of the page ListEntities
	// returns for q, in order, and returns the same cursor and errors,
	// without building the page: for callers that only encode it. The
	// entity fn gets, with its strings and slices, is valid only until fn
	// returns (it may be reused, and its strings may be the store's own
	// memory): fn must not modify it and must copy what it keeps.
	VisitEntities(ctx context.Context, q ListQuery, fn func(*Entity)) (string, error)
	UpdateEntity(ctx context.Context, id, etag string, apply func(*Entity)) (*Entity, int64, error)
	DeleteEntity(ctx context.Context, id, etag string, force bool) (int64, error)

	CreateGroup(ctx context.Context, g *Group, requestID string) (*Group, int64, error)
	GetGroup(ctx context.Context, id string) (*Group, error)
	// ListGroups filters on kind and field.
	ListGroups(ctx context.Context, q ListQuery) ([]*Group, string, error)
	UpdateGroup(ctx context.Context, id, etag string, apply func(*Group)) (*Group, int64, error)
	DeleteGroup(ctx context.Context, id, etag string, force bool) (int64, error)

	CreateMembership(ctx context.Context, m *Membership, requestID string) (*Membership, int64, error)
	GetMembership(ctx context.Context, groupID, entityID string) (*Membership, error)
	// ListMemberships lists one group's memberships, or every group's when
	// groupID is "-"; it filters on entity (a full entity name) and
	// status.
	ListMemberships(ctx context.Context, groupID string, q ListQuery) ([]*Membership, string, error)
	UpdateMembership(ctx context.Context, groupID, entityID, etag string, apply func(*Membership)) (*Membership, int64, error)
	DeleteMembership(ctx context.Context, groupID, entityID, etag string) (int64, error)

	CreateTalentRecord(ctx context.Context, r *TalentRecord, requestID string) (*TalentRecord, int64, error)
	GetTalentRecord(ctx context.Context, id string) (*TalentRecord, error)
	// ListTalentRecords filters on subject, category, program and period.
	ListTalentRecords(ctx context.Context, q ListQuery) ([]*TalentRecord, string, error)
	UpdateTalentRecord(ctx context.Context, id, etag string, apply func(*TalentRecord)) (*TalentRecord, int64, error)
	DeleteTalentRecord(ctx context.Context, id, etag string) (int64, error)

	CreateProgram(ctx context.Context, p *Program, requestID string) (*Program, int64, error)
	GetProgram(ctx context.Context, id string) (*Program, error)
	// ListPrograms filters on level.
	ListPrograms(ctx context.Context, q ListQuery) ([]*Program, string, error)
	UpdateProgram(ctx context.Context, id, etag string, apply func(*Program)) (*Program, int64, error)
	DeleteProgram(ctx context.Context, id, etag string, force bool) (int64, error)

	CreateTarget(ctx context.Context, t *Target, requestID string) (*Target, int64, error)
	GetTarget(ctx context.Context, id string) (*Target, error)
	// ListTargets filters on metric and scope.
	ListTargets(ctx context.Context, q ListQuery) ([]*Target, string, error)
	UpdateTarget(ctx context.Context, id, etag string, apply func(*Target)) (*Target, int64, error)
	DeleteTarget(ctx context.Context, id, etag string) (int64, error)

	CreatePolicy(ctx context.Context, p *Policy, requestID string) (*Policy, int64, error)
	GetPolicy(ctx context.Context, id string) (*Policy, error)
	// ListPolicies filters on level, pilot, industries and programs.
	ListPolicies(ctx context.Context, q ListQuery) ([]*Policy, string, error)
	UpdatePolicy(ctx context.Context, id, etag string, apply func(*Policy)) (*Policy, int64, error)
	DeletePolicy(ctx context.Context, id, etag string) (int64, error)

	// ListChanges returns up to limit changes from revision from on.
	// Errors: CodeOutOfRange when from is compacted.
	ListChanges(ctx context.Context, from int64, limit int) (ChangePage, error)
	// ListChangesBy returns up to limit changes from revision from on
	// that match q (by actor, by resource, or both), read from indexes.
	// Errors: CodeOutOfRange when from is compacted.
	ListChangesBy(ctx context.Context, q ChangeQuery, from int64, limit int) (ChangePage, error)
	// Revision returns the last committed revision.
	Revision() int64
	// ID identifies the database; revisions of different ids are
	// unrelated.
	ID() string
	// CompactedRevision returns the highest revision no longer in the log.
	CompactedRevision() int64
	// Committed returns a channel closed at the next commit.
	Committed() <-chan struct{}
	// Snapshot calls fn for every resource as of one revision, read in one
	// transaction, in Collections order, after calling begin with that
	// revision.
	Snapshot(ctx context.Context, begin func(revision int64) error, fn func(Resource) error) error
	// Import upserts resources by name, skipping (and reporting) bad ones;
	// base is the index of items[0] in the whole import. On an error, the
	// result says what the items before ImportResult.Processed did: those
	// were committed in earlier transactions.
	Import(ctx context.Context, items []ImportItem, base int64) (ImportResult, error)
}

type tailingKey struct{}

// Tailing marks ctx for the reads that follow the change feed's tail after
// Committed fired: a store replicated over several machines may serve them
// from a nearby replica that has applied every commit signalled so far,
// without asking a quorum whether a newer one exists. Reads that must see
// every write acknowledged before they started go without it.
func Tailing(ctx context.Context) context.Context {
	return context.WithValue(ctx, tailingKey{}, true)
}

// IsTailing reports whether ctx was marked by Tailing.
func IsTailing(ctx context.Context) bool {
	v, _ := ctx.Value(tailingKey{}).(bool)
	return v
}
