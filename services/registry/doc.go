// Package registry is the domain of the talentreg registry: the resources
// it stores (entities, groups, memberships, talent records, programmes), the
// rules they obey, the changes it records, and the Store contract that a
// storage backend fulfils. It knows nothing of gRPC or bbolt: the grpcapi
// package adapts it to the wire, the bolt package stores it.
package registry
