// Command talentctl is the talentreg command-line client. See
// talentreg/talentctl/cli, or run talentctl --help.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"talentreg/talentctl/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
