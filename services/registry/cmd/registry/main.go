// Command registry serves the talentreg registry over gRPC, storing it in
// one bbolt file.
//
//	registry [flags]                 serve
//	registry check --db FILE         verify a database offline and show its space per bucket
//	registry compact --db FILE --out NEW
//	                                 write a compacted copy (reclaims space)
//
// Every flag can also be set as TALENTREG_<FLAG> (e.g. TALENTREG_GRPC_ADDR);
// flags win.
package main

import "talentreg/platform/command"

func main() { command.Main("registry", run) }
