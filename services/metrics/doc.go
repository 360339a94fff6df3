// Package metrics is the domain of the talentreg metrics service: the
// figures it serves (Summary, group stats, breakdowns), the dimensions a
// breakdown may be asked for, the comparison of two sets of figures, the
// errors it returns and the contracts its adapters fulfil.
//
// Every "members" figure is a DISTINCT count of entities, never a sum of
// memberships: an organisation in three alliances is one alliance member.
//
// It knows nothing of gRPC, bbolt or the registry's wire format: the
// projection package maintains the figures from the registry's change feed,
// the checkpoint package stores them, the follower package feeds them, and
// the grpcapi package serves them.
package metrics
