// Package grpcapi adapts the registry domain to gRPC: it implements
// registryv1.RegistryServiceServer over a registry.Store, converting
// messages, parsing names, filters, masks and page tokens, and mapping
// domain errors to gRPC statuses with details.
package grpcapi

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/streams"
	"talentreg/services/registry"
)

// RevisionHeader is the response header carrying the last revision a
// mutation committed.
const RevisionHeader = "x-revision"

// Options configure a Server.
type Options struct {
	// TokenKey signs page tokens; keep it stable across restarts.
	TokenKey []byte
	// ProgressInterval is how often a quiet WatchChanges stream gets a
	// progress message (default 5 s).
	ProgressInterval time.Duration
	Logger           *slog.Logger
	// Limits bound watch and snapshot streams (zero fields: defaults).
	Limits StreamLimits
	// ClientKey names the client of a call for the per-client stream
	// limit; nil means ClientOf (the principal, else the address).
	ClientKey func(ctx context.Context) string
}

// Server implements registryv1.RegistryServiceServer.
type Server struct {
	registryv1.UnimplementedRegistryServiceServer
	store    registry.Store
	tokens   pageTokens
	progress time.Duration
	log      *slog.Logger

	limits    StreamLimits
	streams   streamLimiter
	clientKey func(ctx context.Context) string

	stopOnce sync.Once
	stop     chan struct{}
	avail    availability
}

var _ registryv1.RegistryServiceServer = (*Server)(nil)

// New returns a Server over store.
func New(store registry.Store, opts Options) *Server {
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ClientKey == nil {
		opts.ClientKey = ClientOf
	}
	limits := opts.Limits.withDefaults()
	return &Server{
		store: store, tokens: pageTokens{key: opts.TokenKey}, progress: opts.ProgressInterval,
		log: opts.Logger, stop: make(chan struct{}),
		limits: limits, streams: streamLimiter{Limiter: streams.New("the registry", "watch and snapshot streams", limits.MaxStreams, limits.MaxStreamsPerClient, limits.StallTimeout)}, clientKey: opts.ClientKey,
	}
}

// Shutdown ends every open stream (watches, snapshots) so that a graceful
// stop does not wait for clients that never hang up.
func (s *Server) Shutdown() { s.stopOnce.Do(func() { close(s.stop) }) }

func (s *Server) err(ctx context.Context, err error) error { return toStatus(ctx, s.log, err) }

// setRevision sends the x-revision header. It cannot fail in a way the
// client should see: the write has committed.
func setRevision(ctx context.Context, rev int64) {
	_ = grpc.SetHeader(ctx, metadata.Pairs(RevisionHeader, strconv.FormatInt(rev, 10)))
}

// newID returns the client's id if valid, a generated one if empty.
func newID(field, id string) (string, error) {
	if id == "" {
		return registry.NewID(), nil
	}
	if !registry.ValidID(id) {
		return "", registry.InvalidField(field, "must match ^[a-z][a-z0-9-]{0,62}$, got %q", clipped(id))
	}
	return id, nil
}

func required(field string) error { return registry.InvalidField(field, "is required") }

// listQuery checks a list request's paging and filter. scope names the
// list (and its parent) so that a token cannot move between lists.
func (s *Server) listQuery(size int32, token, scope string, spec filterSpec, filter string) (registry.ListQuery, error) {
	limit, err := pageSize(size)
	if err != nil {
		return registry.ListQuery{}, err
	}
	conds, err := spec.parse(filter)
	if err != nil {
		return registry.ListQuery{}, err
	}
	after, err := s.tokens.decode(scope+"\x00"+filter, token)
	if err != nil {
		return registry.ListQuery{}, err
	}
	return registry.ListQuery{Conditions: conds, After: after, Limit: limit}, nil
}

// nextToken signs the cursor for the page after this one.
func (s *Server) nextToken(scope, filter, cursor string) string {
	return s.tokens.encode(scope+"\x00"+filter, cursor)
}

func itoa(i int) string { return strconv.Itoa(i) }
