// Package bench is the talentreg benchmark harness (issue 6): it proves, on
// one machine in one run, how talentreg compares with the floor that gRPC
// itself sets and with etcd, the peer users would otherwise put the same
// records in, and (issue 13) how the registry on its etcd backend, on 1-
// and 3-member clusters, compares with the registry on bbolt.
//
// Run it with
//
//	make bench                           # full run (~35 min), writes BENCHMARKS.md
//	go run ./bench/cmd/harness -smoke    # a few seconds: proves the harness works
//	go run ./bench/cmd/harness -only 'grpc-get' -rounds 1 -profile-dir /tmp/prof
//
// The pieces, each its own package:
//
//   - cmd/harness: flags → harness.Run → markdown report (stdout, -out file).
//   - cmd/floor: the floors, as processes: a bare grpc-go server answering
//     GetEntity and GetSummary from memory (-mode grpc), and stock
//     grpc-gateway in front of it (-mode gateway).
//   - harness: starts the floors, etcd and the talentreg binaries on loopback
//     ports, loads the same data into each, runs every case for several
//     rounds alternating A/B order, and evaluates the targets within rounds.
//     The registry also runs on etcd (--store etcd) on a 1- and a 3-member
//     cluster: its GetEntity and CreateEntity cases sit next to the bbolt
//     ones, with ratios computed within rounds but no targets ("Side by
//     side"), and CreateEntity also runs with one client for its latency.
//     Next to the auth-off talentreg stack it runs an auth-on one (issue
//     11: the dev auth config, TLS, a JWT and a client certificate) on the
//     same data, measured against it in the same rounds. Issue 14: name
//     search runs at the bulk data set's size (1M) on the metrics whose
//     bootstrap the import step has just measured, with a mix of query
//     shapes and one client, per shape; GetSummary and GetBreakdown as of
//     times across the read stack's history (its metrics follows the read
//     data set's import transaction by transaction) run next to the same
//     reads now.
//   - load: the closed-loop (or paced) load generator, its histogram and a
//     light HTTP/1.1 connection (plaintext or TLS).
//   - h2grpc: a light unary gRPC client on raw HTTP/2 frames (h2c or TLS,
//     with per-connection metadata such as a bearer token), so that the
//     load generator leaves the CPUs to the servers; rawgrpc: pre-encoded
//     messages over grpc-go, used to validate every case and for streams.
//   - etcd: starts etcd members and clusters (the etcdmember command:
//     etcd 3.7's server module, embedded) and speaks etcd's KV API without
//     its client module.
//   - proc: processes in their own groups, stopped by PID on every exit
//     path; CPU time and peak RSS from /proc.
//   - dataset: the deterministic ~300-byte entities, groups and memberships.
//   - report: figures, medians, min–max, ratios per round, PASS/FAIL, and
//     the same ratios without a target, side by side.
//
// etcd is built from the Go module (talentreg/etcdmember, `go build`, as
// the floor is): nothing to install, and the smoke test runs every etcd
// case too, briefly, so that none can rot.
package bench
