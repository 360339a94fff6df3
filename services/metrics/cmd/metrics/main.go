// Command metrics serves the talentreg metrics service over gRPC: exact
// aggregates of the registry, kept up to date from its change feed and
// checkpointed to one bbolt file.
//
//	metrics [flags]                   serve
//	metrics verify [--addr ADDR]      ask a running metrics service to
//	                                  recount from a registry snapshot;
//	                                  exit 1 when figures differ
//	metrics healthcheck [--addr ADDR] exit 0 if the replica on this host is
//	                                  SERVING (caught up with the registry)
//
// Every flag can also be set as TALENTREG_<FLAG> (e.g. TALENTREG_GRPC_ADDR);
// flags win.
package main

import "talentreg/platform/command"

func main() { command.Main("metrics", run) }
