package registry

import (
	"context"
	"time"
)

// Resource is any registry resource: *Entity, *Group, *Membership,
// *TalentRecord, *Program, *Target or *Policy.
type Resource interface {
	// Name returns the resource name, e.g. "entities/x".
	Name() string
	// Collection returns the kind of resource.
	Collection() Collection
	// Metadata returns the resource's times and revision.
	Metadata() *Meta
	// Validate checks every client-set field, naming fields under prefix.
	Validate(prefix string) error
}

// Name returns "entities/{id}".
func (e *Entity) Name() string { return EntityName(e.ID) }

// Name returns "groups/{id}".
func (g *Group) Name() string { return GroupName(g.ID) }

// Name returns "groups/{group}/memberships/{entity}".
func (m *Membership) Name() string { return MembershipName(m.GroupID, m.EntityID) }

// Name returns "talentRecords/{id}".
func (r *TalentRecord) Name() string { return TalentRecordName(r.ID) }

// Name returns "programs/{id}".
func (p *Program) Name() string { return ProgramName(p.ID) }

// Name returns "targets/{id}".
func (t *Target) Name() string { return TargetName(t.ID) }

// Name returns "policies/{id}".
func (p *Policy) Name() string { return PolicyName(p.ID) }

// Collection returns Entities.
func (*Entity) Collection() Collection { return Entities }

// Collection returns Groups.
func (*Group) Collection() Collection { return Groups }

// Collection returns Memberships.
func (*Membership) Collection() Collection { return Memberships }

// Collection returns TalentRecords.
func (*TalentRecord) Collection() Collection { return TalentRecords }

// Collection returns Programs.
func (*Program) Collection() Collection { return Programs }

// Collection returns Targets.
func (*Target) Collection() Collection { return Targets }

// Collection returns Policies.
func (*Policy) Collection() Collection { return Policies }

// Metadata returns the entity's metadata.
func (e *Entity) Metadata() *Meta { return &e.Meta }

// Metadata returns the group's metadata.
func (g *Group) Metadata() *Meta { return &g.Meta }

// Metadata returns the membership's metadata.
func (m *Membership) Metadata() *Meta { return &m.Meta }

// Metadata returns the record's metadata.
func (r *TalentRecord) Metadata() *Meta { return &r.Meta }

// Metadata returns the programme's metadata.
func (p *Program) Metadata() *Meta { return &p.Meta }

// Metadata returns the target's metadata.
func (t *Target) Metadata() *Meta { return &t.Meta }

// Metadata returns the policy's metadata.
func (p *Policy) Metadata() *Meta { return &p.Meta }

// ChangeType says what a change did.
type ChangeType uint8

// Change types; the numbers match the API's enum numbers.
const (
	ChangeCreated ChangeType = iota + 1
	ChangeUpdated
	ChangeDeleted
)

// Change is one committed change to one resource.
type Change struct {
	// Revision is the registry revision of this change: strictly
	// increasing, without gaps or reuse.
	Revision int64
	// CommitTime is when the transaction holding the change committed.
	CommitTime time.Time
	Type       ChangeType
	// Before is the resource before the change; nil for ChangeCreated.
	Before Resource
	// After is the resource after the change; nil for ChangeDeleted.
	After Resource
	// Actor is who made the change; nil for changes committed before the
	// registry recorded actors. The changes of one transaction share it.
	Actor *Actor
	// TxnFirst and TxnLast are the first and last revisions of the
	// transaction holding the change: one client request (a mutation with
	// its cascade, a batch, one import transaction), committed all or
	// none. Requests group-committed together remain transactions of their
	// own: each is atomic, and the state after each is one the registry
	// had in a serial order of them. A state reached at a change whose
	// Revision is TxnLast is consistent; one inside a transaction is not.
	// A change written before transactions were recorded is its own.
	TxnFirst, TxnLast int64
}

// AuthMethod says how an actor was authenticated; the numbers match the
// API's AuthMethod enum and auth.Method.
type AuthMethod uint8

// Authentication methods.
const (
	AuthNone AuthMethod = iota + 1
	AuthJWT
	AuthStaticToken
	AuthMTLS
	AuthAnonymous
)

// Actor is who made a change and how they reached the registry: the audit
// trail, stored with the change in its transaction.
type Actor struct {
	// Principal is the authenticated caller; "" when authentication is
	// off.
	Principal string
	Method    AuthMethod
	// RequestID is the call's correlation id (x-request-id).
	RequestID string
	UserAgent string
	// Peer is the client's address (the original client's, through a
	// trusted proxy).
	Peer string
	// Via is the trusted proxy the call came through, if any.
	Via string
}

type actorKey struct{}

// WithActor returns ctx carrying the actor of the mutations made with it.
func WithActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, or nil.
func ActorFrom(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey{}).(*Actor)
	return a
}

// Name returns the name of the changed resource.
func (c *Change) Name() string {
	if c.After != nil {
		return c.After.Name()
	}
	return c.Before.Name()
}
