// Command registry serves the talentreg registry over gRPC, storing it in
// one bbolt file.
//
//	registry [flags]                 serve
//	registry check --db FILE         verify a database offline and show its space per bucket
//	registry compact --db FILE --out NEW
//	                                 write a compacted copy (reclaims space)
//	registry backup --out FILE [--registry ADDR | --db FILE]
//	                                 write a verified backup of a running registry
//	                                 (or of a file no registry has open)
//	registry healthcheck [--addr ADDR]
//	                                 exit 0 if the registry on this host is SERVING
//
// Every flag can also be set as TALENTREG_<FLAG> (e.g. TALENTREG_GRPC_ADDR);
// flags win.
package main

import "talentreg/platform/command"

func main() { command.Main("registry", run) }
