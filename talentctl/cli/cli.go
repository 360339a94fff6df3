// Package cli is the talentctl command line: cobra commands over the
// registry and metrics gRPC APIs, file import and the demo data set.
//
// Run is the whole program; cmd/talentctl only calls it. Exit codes: 0
// success, 1 a server or other error, 2 bad input or usage (unknown
// command or flag, unreadable or rejected rows, a request the server
// refused as INVALID_ARGUMENT).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"talentreg/platform/flagenv"
	"talentreg/platform/security"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// Exit codes of Run.
const (
	// ExitOK means success.
	ExitOK = 0
	// ExitError means a server, network or other error.
	ExitError = 1
	// ExitInput means bad input or usage.
	ExitInput = 2
)

// envFlags are the global flags that may also come from the environment,
// as TALENTREG_ + the flag name in upper snake case (flags win).
var envFlags = []string{"registry", "metrics", "output", "timeout", "token", "token-file", "ca", "cert", "key", "server-name"}

// app is one run of the program: its I/O, global flags and connections.
type app struct {
	ctx            context.Context
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer

	registryAddr string
	metricsAddr  string
	output       string
	timeout      time.Duration
	// client is the TLS and bearer-token configuration of every call.
	client security.Client

	conns []*grpc.ClientConn
	reg   registryv1.RegistryServiceClient
	met   metricsv1.MetricsServiceClient
}

// Run runs talentctl with args (without the program name) and returns its
// exit code. getenv supplies TALENTREG_* settings; ctx cancels any call in
// flight (e.g. on Ctrl-C).
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{ctx: ctx, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	fmt.Fprintf(stderr, "talentctl: %v\n", err)
	if code == ExitInput && isUsage(err) {
		fmt.Fprintln(stderr, "Run 'talentctl --help' for usage.")
	}
	return code
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "talentctl",
		Short: "talentctl manages a talentreg registry and reads its metrics",
		Long: `talentctl talks gRPC to the talentreg registry (resources) and metrics
(figures) services.

Global flags may also be set in the environment as TALENTREG_ + the flag
name in upper snake case (--registry → TALENTREG_REGISTRY); flags win.

Exit codes: 0 ok, 1 server or other error, 2 bad input or usage.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.applyEnv(cmd.Flags())
		},
	}
	parent(root)
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.registryAddr, "registry", "127.0.0.1:9090", "registry gRPC address")
	pf.StringVar(&a.metricsAddr, "metrics", "127.0.0.1:9190", "metrics gRPC address (of a comma-separated list, the first)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "deadline of each request (imports are not bounded)")
	pf.StringVar(&a.client.Token, "token", "", "bearer token sent with every call (prefer TALENTREG_TOKEN or --token-file: a flag shows in ps)")
	pf.StringVar(&a.client.TokenFile, "token-file", "", "file holding the bearer token")
	pf.StringVar(&a.client.TLS.CAFile, "ca", "", "PEM CA bundle to verify the services (turns TLS on)")
	pf.StringVar(&a.client.TLS.CertFile, "cert", "", "PEM client certificate (mutual TLS)")
	pf.StringVar(&a.client.TLS.KeyFile, "key", "", "PEM key of --cert")
	pf.StringVar(&a.client.TLS.ServerName, "server-name", "", "name expected in the services' certificates (default: the host dialled)")
	for _, verb := range []func() *cobra.Command{a.getCommand, a.listCommand, a.createCommand, a.updateCommand, a.deleteCommand, a.exportCommand} {
		root.AddCommand(verb())
	}
	root.AddCommand(a.summaryCommand(), a.breakdownCommand(), a.statsCommand(), a.importCommand(), a.demoCommand(),
		a.historyCommand(), a.authCommand(), a.searchCommand(), a.trendCommand(), a.targetsCommand())
	return root
}

// applyEnv fills global flags not given on the command line from the
// environment, then checks them.
func (a *app) applyEnv(fs *pflag.FlagSet) error {
	for _, name := range envFlags {
		f := fs.Lookup(name)
		if f == nil || f.Changed {
			continue
		}
		env := flagenv.EnvName(name)
		if v := a.getenv(env); v != "" {
			if err := fs.Set(name, v); err != nil {
				return usageError{fmt.Errorf("%s=%q: %w", env, v, err)}
			}
		}
	}
	if a.output != "table" && a.output != "json" {
		return usageError{fmt.Errorf("--output %q: want table or json", a.output)}
	}
	a.metricsAddr, _, _ = strings.Cut(a.metricsAddr, ",")
	if err := a.client.Validate(); err != nil {
		return usageError{fmt.Errorf("--token/--token-file/--cert/--key: %w", err)}
	}
	return nil
}

// registry returns the registry client, connecting on first use.
func (a *app) registry() (registryv1.RegistryServiceClient, error) {
	if a.reg == nil {
		conn, err := a.dial(a.registryAddr)
		if err != nil {
			return nil, err
		}
		a.reg = registryv1.NewRegistryServiceClient(conn)
	}
	return a.reg, nil
}

// metrics returns the metrics client, connecting on first use.
func (a *app) metrics() (metricsv1.MetricsServiceClient, error) {
	if a.met == nil {
		conn, err := a.dial(a.metricsAddr)
		if err != nil {
			return nil, err
		}
		a.met = metricsv1.NewMetricsServiceClient(conn)
	}
	return a.met, nil
}

func (a *app) dial(addr string) (*grpc.ClientConn, error) {
	creds, err := a.client.DialOptions(addr)
	if err != nil {
		return nil, usageError{err}
	}
	conn, err := grpc.NewClient(addr, append(creds,
		grpc.WithUserAgent("talentctl"),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))...)
	if err != nil {
		return nil, usageError{fmt.Errorf("address %q: %w", addr, err)}
	}
	a.conns = append(a.conns, conn)
	return conn, nil
}

func (a *app) close() {
	for _, c := range a.conns {
		c.Close()
	}
}

// call returns a context for one request, bounded by --timeout.
func (a *app) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(a.ctx, a.timeout)
}

// serverError explains an error from a call to the service at addr.
func serverError(service, addr string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable:
		return rpcError{st.Code(), fmt.Errorf("cannot reach the %s at %s: %s", service, addr, st.Message())}
	case codes.Unimplemented:
		return rpcError{st.Code(), fmt.Errorf("the %s at %s does not implement this call: %s", service, addr, st.Message())}
	case codes.DeadlineExceeded:
		return rpcError{st.Code(), fmt.Errorf("%s at %s: deadline exceeded (--timeout): %s", service, addr, st.Message())}
	case codes.Unauthenticated:
		return rpcError{st.Code(), fmt.Errorf("the %s at %s refused the credentials: %s (give a token with TALENTREG_TOKEN, --token-file or --token)", service, addr, st.Message())}
	case codes.PermissionDenied:
		return rpcError{st.Code(), fmt.Errorf("PERMISSION_DENIED: %s", st.Message())}
	}
	return rpcError{st.Code(), fmt.Errorf("%s: %s", strings.ToUpper(snake(st.Code().String())), st.Message())}
}

func (a *app) registryError(err error) error { return serverError("registry", a.registryAddr, err) }
func (a *app) metricsError(err error) error {
	return serverError("metrics service", a.metricsAddr, err)
}

// snake turns "InvalidArgument" into "invalid_argument".
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}

// usageError marks bad usage or bad input: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// inputError marks input the program read and refused (bad files, rejected
// rows): exit code 2, no usage hint.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// rpcError is an error status from a server.
type rpcError struct {
	code codes.Code
	err  error
}

func (e rpcError) Error() string { return e.err.Error() }
func (e rpcError) Unwrap() error { return e.err }

// exitCode maps an error to the exit code.
func exitCode(err error) int {
	var (
		in  inputError
		rpc rpcError
	)
	switch {
	case errors.As(err, &in), isUsage(err):
		return ExitInput
	case errors.As(err, &rpc):
		if rpc.code == codes.InvalidArgument || rpc.code == codes.OutOfRange {
			return ExitInput
		}
		return ExitError
	}
	return ExitError
}

// isUsage reports a usage error.
func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

// argsBetween returns a cobra argument check accepting min to max
// positional arguments (max < 0: any number), named by what in errors.
func argsBetween(min, max int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return usageError{fmt.Errorf("%smissing %s", cmdPath(cmd), what)}
		case max >= 0 && len(args) > max:
			return usageError{fmt.Errorf("%sunexpected argument %q (want %s)", cmdPath(cmd), args[max], what)}
		}
		return nil
	}
}

// parent makes cmd a command that only groups subcommands: run without
// one (or with an unknown one) it fails with a usage error rather than
// cobra's default of printing help and succeeding.
func parent(cmd *cobra.Command) *cobra.Command {
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError{fmt.Errorf("%sunknown command %q (want one of: %s)", cmdPath(c), args[0], subcommands(c))}
		}
		return nil
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		return usageError{fmt.Errorf("%smissing command (want one of: %s)", cmdPath(c), subcommands(c))}
	}
	return cmd
}

// cmdPath is the command's path without the program name, followed by
// ": " ("get entity: "); empty for the root command.
func cmdPath(c *cobra.Command) string {
	_, p, _ := strings.Cut(c.CommandPath(), " ")
	if p == "" {
		return ""
	}
	return p + ": "
}

func subcommands(c *cobra.Command) string {
	var names []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			names = append(names, s.Name())
		}
	}
	return strings.Join(names, ", ")
}
