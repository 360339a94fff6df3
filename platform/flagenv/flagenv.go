// Package flagenv parses command-line flags, taking each flag not given on
// the command line from the environment as PREFIX + the flag name in upper
// snake case (--grpc-addr → TALENTREG_GRPC_ADDR). Flags win.
package flagenv

import (
	"flag"
	"fmt"
	"strings"
)

// Prefix is the environment prefix shared by every talentreg binary.
const Prefix = "TALENTREG_"

// EnvName returns the environment variable that sets flag name.
func EnvName(name string) string {
	return Prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args into fs, then fills every flag absent from args from
// getenv. An environment value that does not parse is an error naming the
// variable.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		env := EnvName(f.Name)
		if v := getenv(env); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, serr)
			}
		}
	})
	return err
}
