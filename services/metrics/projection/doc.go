// Package projection maintains every figure of the metrics service
// incrementally from the registry's change feed.
//
// A Projection holds a compact copy of what the figures depend on — each
// entity's kind, region, industries, flags, group memberships and talent
// sums; each group's kind and field — and the figures themselves as
// counters. A change is applied by withdrawing the contribution of every
// entity or group it touches, changing their state, and adding the
// contribution back. Distinct-member counts follow from per-entity
// membership counts by group kind: an entity counts as an alliance member
// while it has at least one alliance membership, so a kind or region change,
// a cascade delete or a membership removal moves exactly the right
// counters, in whatever order the changes of one transaction arrive.
//
// Reads cost O(1) (Summary) or O(rows) (breakdowns): nothing is scanned at
// query time. Changes are applied idempotently by revision.
//
// Live wraps a Projection for concurrent readers and one writer (the
// follower), with read-your-writes waits on a minimum revision.
//
// The input model is the registry's wire messages (registryv1.Change and
// registryv1.Resource), an exception to "the proto is the wire, not the
// model": the feed's own messages are applied directly because at millions
// of changes a conversion of each into a domain type would cost about as
// much as applying it, and would allocate a second copy of every change.
// What is kept of them is the compact state above, never the messages. The
// domain types are the figures of the root metrics package (Summary,
// GroupStats, Breakdown, Figures), which this package produces and which
// know nothing of the wire.
package projection
