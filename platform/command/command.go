// Package command runs a talentreg binary's main: the run function gets a
// context cancelled on SIGTERM or SIGINT, and its error sets the exit code.
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Run is a binary's body: it gets the arguments (without the program
// name), the environment lookup and the standard streams, and returns when
// done or when ctx ends (a clean stop returns nil).
type Run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// UsageError marks a bad command line or configuration: exit code 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// ExitCode is 0 for nil and for a request for help (-h, as the flag
// package's own ExitOnError does), 2 for a UsageError, else 1.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(UsageError)):
		return 2
	}
	return 1
}

// Main runs run and exits with its code, printing the error as
// "name: error" on stderr.
func Main(name string, run Run) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) { // the usage is printed already
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	}
	os.Exit(ExitCode(err))
}
