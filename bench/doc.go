// Package bench is the talentreg benchmark harness (issue 6): it proves, on
// one machine in one run, how talentreg compares with the floor that gRPC
// itself sets and with etcd, the peer users would otherwise put the same
// records in.
//
// Run it with
//
//	make bench                           # full run (~30 min), writes BENCHMARKS.md
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
//     Next to the auth-off talentreg stack it runs an auth-on one (issue
//     11: the dev auth config, TLS, a JWT and a client certificate) on the
//     same data, measured against it in the same rounds.
//   - load: the closed-loop (or paced) load generator, its histogram and a
//     light HTTP/1.1 connection (plaintext or TLS).
//   - h2grpc: a light unary gRPC client on raw HTTP/2 frames (h2c or TLS,
//     with per-connection metadata such as a bearer token), so that the
//     load generator leaves the CPUs to the servers; rawgrpc: pre-encoded
//     messages over grpc-go, used to validate every case and for streams.
//   - etcd: starts etcd and speaks its KV API without its client module.
//   - proc: processes in their own groups, stopped by PID on every exit
//     path; CPU time and peak RSS from /proc.
//   - dataset: the deterministic ~300-byte entities, groups and memberships.
//   - report: figures, medians, min–max, ratios per round, PASS/FAIL.
//
// etcd comes from Debian (scripts/bench-setup.sh, run by the full run when
// etcd is missing); the smoke test never installs anything and skips the
// etcd cases when etcd is absent.
package bench
