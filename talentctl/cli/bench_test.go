package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"talentreg/talentctl/creditcode"
	"talentreg/talentctl/internal/stack"
	"talentreg/talentctl/layout"
	"talentreg/talentctl/rowfile"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// BenchmarkImport_MillionEntities measures `talentctl import` end to end:
// a CSV of 1,000,000 entities (each with a valid credit code) is checked,
// read again, streamed to a real registry process with a fresh database and
// committed. It reports items/s over the whole command. Run it with
//
//	go test -run '^$' -bench Import_MillionEntities -benchtime 1x ./talentctl/cli/
func BenchmarkImport_MillionEntities(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "entities.csv")
	w, err := rowfile.Create(path, layout.Columns)
	if err != nil {
		b.Fatal(err)
	}
	regions := []string{"Binhai", "Tianjin", "Beijing", "Hebei"}
	for i := range n {
		code, err := creditcode.Make("91", "120116", fmt.Sprintf("%08d", i))
		if err != nil {
			b.Fatal(err)
		}
		e := &registryv1.Entity{
			Name:        fmt.Sprintf("entities/e%07d", i),
			DisplayName: fmt.Sprintf("Tianjin Binhai Enterprise %07d Co., Ltd.", i),
			Kind:        registryv1.EntityKind_ENTITY_KIND_ENTERPRISE,
			CreditCode:  code,
			Region:      regions[i%len(regions)],
			Industries:  []string{"aerospace", "new-materials"},
		}
		if err := w.Write(layout.Values(&registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: e}})); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	var elapsed, clientCPU, registryCPU time.Duration
	for range b.N {
		b.StopTimer()
		reg := stack.Registry(b)
		env := map[string]string{"TALENTREG_REGISTRY": reg.Addr}
		regBefore, err := reg.CPU()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, selfBefore := time.Now(), selfCPU(b)
		r := runB(b, env, "import", path, "--chunk-size", "2000", "-o", "json")
		elapsed += time.Since(start)
		clientCPU += selfCPU(b) - selfBefore
		regAfter, err := reg.CPU()
		if err != nil {
			b.Fatal(err)
		}
		registryCPU += regAfter - regBefore
		if r.code != ExitOK {
			b.Fatalf("import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		// A fast import that stored nothing would be no figure at all.
		var out importJSON
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			b.Fatalf("import output: %v\n%s", err, r.stdout)
		}
		if c := out.Counts["entity"]; c.Created != n || out.Revision != n {
			b.Fatalf("import stored %+v at revision %d, want %d entities created", c, out.Revision, n)
		}
	}
	items := float64(n * b.N)
	b.ReportMetric(items/elapsed.Seconds(), "items/s")
	// Processor time per item is steadier than wall time on a shared
	// machine: the registry's and talentctl's shares of the two cores.
	b.ReportMetric(float64(registryCPU.Microseconds())/items, "registry-cpu-µs/item")
	b.ReportMetric(float64(clientCPU.Microseconds())/items, "talentctl-cpu-µs/item")
}

// selfCPU returns the processor time this process has used.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
