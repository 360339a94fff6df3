// Package platform holds the operational plumbing every talentreg binary
// shares: flags from the environment, JSON logs, the admin HTTP server and
// the gRPC server with its interceptors, health and reflection. It holds no
// domain logic.
package platform
