// Command registry serves the talentreg registry over gRPC, storing it in
// one bbolt file.
//
//	registry [flags]                 serve
//	registry check --db FILE         verify a database offline
//	registry compact --db FILE --out NEW
//	                                 write a compacted copy (reclaims space)
//
// Every flag can also be set as TALENTREG_<FLAG> (e.g. TALENTREG_GRPC_ADDR);
// flags win.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks bad flags: exit code 2.
type usageError struct{ error }

func exitCode(err error) int {
	if _, ok := err.(usageError); ok {
		return 2
	}
	return 1
}
