package grpcapi

import (
	"context"
	"strconv"

	"google.golang.org/grpc"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/auth"
	"talentreg/services/registry"
)

// actorInterceptors put the caller, as authenticated by the auth
// interceptor before them, into a mutation's context as the registry.Actor
// its change events record.
func actorInterceptors() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			return handler(withActor(ctx, info.FullMethod), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			ctx := withActor(ss.Context(), info.FullMethod)
			if ctx == ss.Context() {
				return handler(srv, ss)
			}
			return handler(srv, &actorStream{ServerStream: ss, ctx: ctx})
		}),
	}
}

type actorStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *actorStream) Context() context.Context { return s.ctx }

func withActor(ctx context.Context, method string) context.Context {
	if rule, _ := auth.RuleFor(method); !rule.Mutates {
		return ctx
	}
	p := auth.FromContext(ctx)
	if p == nil {
		return ctx
	}
	return registry.WithActor(ctx, &registry.Actor{
		Principal: p.Name, Method: registry.AuthMethod(p.Method), RequestID: p.RequestID,
		UserAgent: p.UserAgent, Peer: p.Peer, Via: p.Via,
	})
}

func actorToProto(a *registry.Actor) *registryv1.Actor {
	if a == nil {
		return nil
	}
	return &registryv1.Actor{
		Principal: a.Principal, AuthMethod: registryv1.AuthMethod(a.Method), RequestId: a.RequestID,
		UserAgent: a.UserAgent, Peer: a.Peer, Via: a.Via,
	}
}

// changesToProto converts a page of changes; the changes of one
// transaction share one Actor message, as they share the actor.
func changesToProto(cs []registry.Change) []*registryv1.Change {
	out := make([]*registryv1.Change, len(cs))
	var last *registry.Actor
	var lastProto *registryv1.Actor
	for i := range cs {
		c := &cs[i]
		p := &registryv1.Change{
			Revision: c.Revision, CommitTime: ts(c.CommitTime), Type: registryv1.ChangeType(c.Type), Name: c.Name(),
			TransactionFirstRevision: c.TxnFirst, TransactionLastRevision: c.TxnLast,
		}
		if c.Before != nil {
			p.Before = resourceToProto(c.Before)
		}
		if c.After != nil {
			p.After = resourceToProto(c.After)
		}
		if c.Actor != nil {
			if c.Actor != last {
				last, lastProto = c.Actor, actorToProto(c.Actor)
			}
			p.Actor = lastProto
		}
		out[i] = p
	}
	return out
}

// changeQuery turns a ListChanges filter into a store query.
func changeQuery(filter string) (registry.ChangeQuery, error) {
	conds, err := changeFilter.parse(filter)
	if err != nil {
		return registry.ChangeQuery{}, err
	}
	var q registry.ChangeQuery
	for _, c := range conds {
		var dst *string
		switch c.Field {
		case "actor":
			dst = &q.Principal
		case "resource":
			dst = &q.Resource
		}
		if *dst != "" && *dst != c.Value {
			return q, filterError("%s is compared twice with different values", c.Field)
		}
		*dst = c.Value
	}
	return q, nil
}

// parseAnyName parses the name of any resource.
func parseAnyName(name string) (registry.Collection, string, bool) {
	for _, c := range registry.Collections {
		if c == registry.Memberships {
			if g, e, err := registry.ParseMembershipName("name", name); err == nil {
				return c, registry.MembershipName(g, e), true
			}
			continue
		}
		if id, err := registry.ParseName("name", c, name); err == nil {
			return c, id, true
		}
	}
	return 0, "", false
}

// ListHistory implements registryv1.RegistryServiceServer.
func (s *Server) ListHistory(ctx context.Context, req *registryv1.ListHistoryRequest) (*registryv1.ListHistoryResponse, error) {
	if _, _, ok := parseAnyName(req.GetName()); !ok {
		return nil, s.err(ctx, registry.InvalidField("name", "must be a resource name such as entities/x or groups/g/memberships/x, got %q", clipped(req.GetName())))
	}
	limit, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	scope := "history\x00" + req.GetName()
	cursor, err := s.tokens.decode(scope, req.GetPageToken())
	if err != nil {
		return nil, s.err(ctx, err)
	}
	var from int64
	if cursor != "" {
		if from, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return nil, s.err(ctx, invalidToken())
		}
	}
	// From the oldest retained change, or past a compaction that overtook
	// a paging client: history is never an error, only shorter.
	if from <= s.store.CompactedRevision() {
		from = 0
	}
	page, err := s.store.ListChangesBy(ctx, registry.ChangeQuery{Resource: req.GetName()}, from, limit)
	if registry.ErrorCode(err) == registry.CodeOutOfRange {
		page, err = s.store.ListChangesBy(ctx, registry.ChangeQuery{Resource: req.GetName()}, 0, limit)
	}
	if err != nil {
		return nil, s.err(ctx, err)
	}
	resp := &registryv1.ListHistoryResponse{
		Changes: changesToProto(page.Changes), Revision: page.Revision, CompactedRevision: s.store.CompactedRevision(),
	}
	if n := len(page.Changes); n > 0 && page.More {
		resp.NextPageToken = s.tokens.encode(scope, strconv.FormatInt(page.Changes[n-1].Revision+1, 10))
	}
	return resp, nil
}
