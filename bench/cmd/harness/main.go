// Command harness runs the talentreg benchmark: talentreg against its floors
// (bare grpc-go, stock grpc-gateway) and against etcd, and the registry on
// bbolt against the registry on etcd, on loopback, and prints a markdown
// report, optionally writing it to a file (BENCHMARKS.md).
//
//	harness -smoke                 # a few seconds, tiny data, one round
//	harness -out BENCHMARKS.md     # the full run of issues 6, 13 and 14 (≈ 35 minutes)
//
// Every process it starts is stopped by PID when it ends, on failure and
// on Ctrl-C too.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"talentreg/bench/harness"
	"talentreg/bench/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once; children then die with us
	}()
	if err := run(ctx, os.Args, os.Stdout, os.Stderr); errors.Is(err, flag.ErrHelp) {
		return // -h: the usage was printed, nothing failed
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	smoke := len(args) > 1 && hasFlag(args[1:], "smoke")
	cfg := harness.Defaults()
	if smoke {
		cfg = harness.Smoke()
	}
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("smoke", false, "a few seconds on tiny data, one round: proves the harness works")
	out := fs.String("out", "", "also write the report to this file (e.g. BENCHMARKS.md)")
	only := fs.String("only", "", "run only the cases whose name matches this regexp")
	timeout := fs.Duration("timeout", 2*time.Hour, "bound on the whole run")
	strict := fs.Bool("strict", false, "exit 1 when a target fails")
	cpuProfile := fs.String("cpuprofile", "", "write the harness's own CPU profile (the load generator) to this file")
	fs.StringVar(&cfg.Command, "command", strings.Join(args, " "), "the command line recorded in the report")
	fs.StringVar(&cfg.Root, "root", "", "repository root (default: the directory holding go.work above the working directory)")
	fs.StringVar(&cfg.BinDir, "bin", "", "directory of the talentreg binaries (default: <root>/bin)")
	fs.StringVar(&cfg.FloorBin, "floor", "", "floor binary (default: go build talentreg/bench/cmd/floor)")
	fs.StringVar(&cfg.EtcdBin, "etcd-bin", "", "etcdmember binary that runs every etcd member (default: go build talentreg/etcdmember)")
	fs.StringVar(&cfg.WorkDir, "work", "", "directory for databases and logs (default: a temporary directory, removed)")
	fs.BoolVar(&cfg.KeepWork, "keep", false, "keep the work directory (logs, databases)")
	fs.StringVar(&cfg.ProfileDir, "profile-dir", "", "save CPU profiles of the talentreg servers over each load window here")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds")
	fs.IntVar(&cfg.Concurrency, "c", cfg.Concurrency, "closed-loop workers per load case")
	fs.IntVar(&cfg.GRPCConns, "conns", cfg.GRPCConns, "gRPC connections per case")
	fs.StringVar(&cfg.GRPCClient, "client", cfg.GRPCClient, "load generator's gRPC client: h2 (light, bench/h2grpc) or grpc-go")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "warm-up before each measured window")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured window per case")
	fs.IntVar(&cfg.Entities, "entities", cfg.Entities, "entities of the read data set")
	fs.IntVar(&cfg.ImportEntities, "import-entities", cfg.ImportEntities, "entities of the bulk (import) data set")
	fs.IntVar(&cfg.ImportGroups, "import-groups", cfg.ImportGroups, "groups of the bulk data set")
	fs.IntVar(&cfg.ImportMemberships, "import-memberships", cfg.ImportMemberships, "memberships per entity in the bulk data set")
	fs.Float64Var(&cfg.LagRate, "lag-rate", cfg.LagRate, "writes per second of the write→visible case")
	fs.BoolVar(&cfg.Etcd, "etcd", cfg.Etcd, "run the peer's cases (etcd Put and Range, one member)")
	fs.BoolVar(&cfg.EtcdBackend, "etcd-backend", cfg.EtcdBackend, "run the cases of the registry on its etcd backend (1- and 3-member clusters)")
	fs.BoolVar(&cfg.Talentreg, "talentreg", cfg.Talentreg, "run the talentreg cases")
	fs.BoolVar(&cfg.Auth, "auth", cfg.Auth, "run the auth-on cases (a second registry and gateway with the dev auth config and TLS)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg.Command = strings.TrimSpace(cfg.Command)
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		cfg.Only = re
	}
	cfg.Log = stderr
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := harness.Run(ctx, cfg)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := rep.Markdown(&b); err != nil {
		return err
	}
	if _, err := stdout.Write(b.Bytes()); err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if *strict {
		for _, ch := range rep.Checks {
			if rep.Evaluate(ch).Verdict == report.Fail {
				return fmt.Errorf("target missed: %s", ch.Target)
			}
		}
	}
	return nil
}

// hasFlag reports whether args set the boolean flag name (-name or --name,
// optionally =true).
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name || a == name+"=true" {
			return true
		}
		if a == "" {
			return false // "--" ends the flags
		}
	}
	return false
}
