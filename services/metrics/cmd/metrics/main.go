// Command metrics serves the talentreg metrics service over gRPC: exact
// aggregates of the registry, kept up to date from its change feed and
// checkpointed to one bbolt file.
//
//	metrics [flags]                   serve
//	metrics verify [--addr ADDR]      ask a running metrics service to
//	                                  recount from a registry snapshot;
//	                                  exit 1 when figures differ
//
// Every flag can also be set as TALENTREG_<FLAG> (e.g. TALENTREG_GRPC_ADDR);
// flags win.
package main

import (
	"context"
	"errors"
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
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks bad flags: exit code 2.
type usageError struct{ error }

func exitCode(err error) int {
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}
