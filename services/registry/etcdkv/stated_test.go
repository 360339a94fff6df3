package etcdkv_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"talentreg/services/registry/etcdkv"
)

// TestDefaultLimits_StatedEverywhere: every file that states the etcd
// limits the registry needs — the docs, the manifests, the test clusters,
// the benchmark's clusters, etcdmember's help — states DefaultLimits
// (--max-txn-ops) and ServerFlags (--max-request-bytes), so that a change
// of the derivation cannot leave one of them behind.
func TestDefaultLimits_StatedEverywhere(t *testing.T) {
	ops, reqBytes := etcdkv.ServerFlags(etcdkv.DefaultLimits)
	flags := []stated{{`--max-txn-ops=(\d+)`, []int{ops}}, {`--max-request-bytes=(\d+)`, []int{reqBytes}}}
	files := map[string][]stated{
		"README.md":        append(flags, stated{"`--etcd-max-txn-ops`, `--etcd-max-request-bytes` \\| (\\d+), (\\d+) MiB", []int{etcdkv.DefaultLimits.Ops, etcdkv.DefaultLimits.Bytes >> 20}}),
		"docs/runbooks.md": flags,
		"deploy/kubernetes/components/etcd/etcd.yaml":     flags,
		"deploy/kubernetes_etcd_test.go":                  {{`registryTxnOps\s*=\s*(\d+)`, []int{etcdkv.DefaultLimits.Ops}}, {`registryRequestBytes\s*=\s*(\d+)`, []int{etcdkv.DefaultLimits.Bytes}}},
		"e2e/etcd_test.go":                                {{`"--max-txn-ops", "(\d+)"`, []int{ops}}, {`"--max-request-bytes", "(\d+)"`, []int{reqBytes}}},
		"bench/etcd/etcd.go":                              {{`RegistryLimits = Limits\{TxnOps: (\d+), RequestBytes: (\d+)\}`, []int{ops, reqBytes}}},
		"etcdmember/main.go":                              flags,
		"services/registry/internal/etcdtest/etcdtest.go": {{`ServerFlags\(etcdkv.DefaultLimits\):\s*// (\d+) and (\d+)\)`, []int{ops, reqBytes}}},
		"services/registry/etcdkv/limits.go":              flags,
	}
	for file, want := range files {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			ms := regexp.MustCompile(w.pattern).FindAllSubmatch(b, -1)
			if len(ms) == 0 {
				t.Errorf("%s: nothing matches %s: state the limits there (want %v)", file, w.pattern, w.values)
			}
			for _, m := range ms {
				for i, v := range w.values {
					if got, _ := strconv.Atoi(string(m[i+1])); got != v {
						t.Errorf("%s: %q states %d, want %d (etcdkv.DefaultLimits %+v)", file, m[0], got, v, etcdkv.DefaultLimits)
					}
				}
			}
		}
	}
}

// stated is a pattern whose submatches must be values.
type stated struct {
	pattern string
	values  []int
}
