package flagenv

import (
	"flag"
	"io"
	"testing"
)

func TestParse(t *testing.T) {
	env := map[string]string{
		"TALENTREG_GRPC_ADDR": "127.0.0.1:1",
		"TALENTREG_DB":        "env.db",
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("grpc-addr", "default", "")
	db := fs.String("db", "default.db", "")
	other := fs.String("other", "keep", "")
	if err := Parse(fs, []string{"--db", "flag.db"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if *addr != "127.0.0.1:1" {
		t.Errorf("grpc-addr = %q, want the environment's value", *addr)
	}
	if *db != "flag.db" {
		t.Errorf("db = %q, want the flag to win over the environment", *db)
	}
	if *other != "keep" {
		t.Errorf("other = %q, want the default", *other)
	}
}

func TestParse_BadEnvValue(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Int("n", 1, "")
	err := Parse(fs, nil, func(k string) string {
		if k == "TALENTREG_N" {
			return "x"
		}
		return ""
	})
	if err == nil {
		t.Fatal("Parse accepted TALENTREG_N=x for an int flag")
	}
}
