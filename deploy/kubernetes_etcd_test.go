package deploy

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The registry's defaults for the largest transaction it sends
// (etcdkv.DefaultLimits, services/registry/cmd/registry: --etcd-max-txn-ops,
// --etcd-max-request-bytes: 45,056 operations, 15 MiB); etcd must accept at
// least these, and 1 MiB more bytes (the registry checks both at start).
const (
	registryTxnOps       = 45056
	registryRequestBytes = 15728640
)

// TestKubernetes_RegistryOnEtcd: in every overlay whose registry runs on
// etcd (production-ha), the pieces fit together — the etcd cluster is an
// odd number of members, one per node, started in parallel, each
// advertising the name the others list, with the limits the registry
// needs, a quota that fits its volume and memory, compaction left to the
// registry, probes on the health endpoints, its certificates mounted where
// its flags point, and a disruption budget of one; the registry runs
// several replicas without a volume, names every member in
// --etcd-endpoints, has temporary space for a backup of the whole quota
// and a disruption budget of one; metrics and the gateway name every
// registry replica in --registry; the migration jobs name the same members
// and prefix.
func TestKubernetes_RegistryOnEtcd(t *testing.T) {
	kustomize := needTool(t, "kustomize")
	onEtcd := 0
	for _, o := range overlays {
		r := renderObjects(t, kustomize, "overlays/"+o)
		reg := r.byName["StatefulSet/registry"]
		if reg == nil || containerArgs(reg, "registry")["--store"] != "etcd" {
			continue
		}
		onEtcd++
		t.Run(o, func(t *testing.T) {
			members := checkEtcdCluster(t, r)
			regArgs := containerArgs(reg, "registry")
			replicas := checkEtcdRegistry(t, r, members)
			want := strings.Join(names(replicas, "registry-%d.registry-replicas:9090"), ",")
			for _, d := range []string{"Deployment/metrics", "Deployment/gateway"} {
				name := strings.TrimPrefix(d, "Deployment/")
				if got := containerArgs(r.byName[d], name)["--registry"]; got != want {
					t.Errorf("%s --registry=%s, want every registry replica: %s", d, got, want)
				}
			}
			for _, j := range jobs {
				jr := renderObjects(t, kustomize, "jobs/"+j)
				job := jr.byName["Job/registry-"+j]
				if job == nil {
					t.Fatalf("jobs/%s has no Job/registry-%s", j, j)
				}
				migrate := containerArgs(job, "migrate")
				etcdSide := migrate["--to"]
				if j == "migrate-to-bolt" {
					etcdSide = migrate["--from"]
				}
				if etcdSide != "etcd:"+regArgs["--etcd-endpoints"] || migrate["--etcd-prefix"] != regArgs["--etcd-prefix"] {
					t.Errorf("jobs/%s copies %s prefix %s; the registry serves %s prefix %s", j, etcdSide, migrate["--etcd-prefix"],
						regArgs["--etcd-endpoints"], regArgs["--etcd-prefix"])
				}
				if claim := jobClaim(job); claim != "data-registry-0" {
					t.Errorf("jobs/%s mounts the claim %q, not the bbolt registry's data-registry-0", j, claim)
				}
			}
		})
	}
	if onEtcd == 0 {
		t.Fatal("no overlay runs the registry on etcd")
	}
}

// checkEtcdCluster checks the etcd StatefulSet and what goes with it and
// returns its member count.
func checkEtcdCluster(t *testing.T, r rendered) int {
	t.Helper()
	sts := r.byName["StatefulSet/etcd"]
	if sts == nil {
		t.Fatal("no StatefulSet/etcd")
	}
	n, _ := sts.get("spec", "replicas").(int)
	if n < 3 || n%2 == 0 {
		t.Errorf("etcd has %d members: want an odd number, at least 3 (a majority must survive a loss)", n)
	}
	if p := sts.get("spec", "podManagementPolicy"); p != "Parallel" {
		t.Errorf("etcd podManagementPolicy %v: an ordered start never forms the cluster (a member waits for a majority)", p)
	}
	if sn := sts.get("spec", "serviceName"); sn != "etcd" {
		t.Errorf("etcd serviceName %v: the member names etcd-N.etcd come from the Service etcd", sn)
	}
	if svc := r.byName["Service/etcd"]; svc == nil || svc.get("spec", "clusterIP") != "None" || svc.get("spec", "publishNotReadyAddresses") != true {
		t.Error("Service/etcd must be headless and publish not-ready members (they resolve each other before a quorum exists)")
	}
	checkSpreadRequired(t, sts)
	checkDisruptionBudget(t, r, "etcd")

	args := containerArgs(sts, "etcd")
	wantFlags := map[string]string{
		"--name":                        "$(POD_NAME)",
		"--initial-cluster":             strings.Join(names(n, "etcd-%[1]d=https://etcd-%[1]d.etcd:2380"), ","),
		"--initial-advertise-peer-urls": "https://$(POD_NAME).etcd:2380",
		"--advertise-client-urls":       "https://$(POD_NAME).etcd:2379",
		"--listen-metrics-urls":         "http://0.0.0.0:2381",
	}
	for f, want := range wantFlags {
		if args[f] != want {
			t.Errorf("etcd %s=%s, want %s", f, args[f], want)
		}
	}
	if ops := atoi(t, args["--max-txn-ops"]); ops < registryTxnOps {
		t.Errorf("etcd --max-txn-ops=%d: the registry sends up to %d operations in one transaction", ops, registryTxnOps)
	}
	if b := atoi(t, args["--max-request-bytes"]); b < registryRequestBytes+1<<20 {
		t.Errorf("etcd --max-request-bytes=%d: the registry needs %d", b, registryRequestBytes+1<<20)
	}
	quota := atoi(t, args["--quota-backend-bytes"])
	volume := claimSize(t, sts, "data")
	memory := quantity(t, fmt.Sprint(containerOf(sts, "etcd").get("resources", "limits", "memory")))
	if quota <= 0 || 2*quota > volume || quota >= memory {
		t.Errorf("etcd --quota-backend-bytes=%d: want it set, at most half the volume (%d) and below the memory limit (%d)", quota, volume, memory)
	}
	regArgs := containerArgs(r.byName["StatefulSet/registry"], "registry")
	registryCompacts := regArgs["--etcd-compact-every"] != "0" && regArgs["--etcd-compact-every"] != "0s"
	if etcdCompacts := args["--auto-compaction-retention"] != "" && args["--auto-compaction-retention"] != "0"; registryCompacts == etcdCompacts {
		t.Errorf("the registry compacts etcd (%v, --etcd-compact-every=%s) and so does etcd (%v): want exactly one", registryCompacts, regArgs["--etcd-compact-every"], etcdCompacts)
	}

	c := containerOf(sts, "etcd")
	env := map[string]object{}
	envs, _ := c["env"].([]any)
	for _, e := range envs {
		em := object(e.(map[string]any))
		env[fmt.Sprint(em["name"])] = em
	}
	if env["POD_NAME"].get("valueFrom", "fieldRef", "fieldPath") != "metadata.name" {
		t.Error("etcd: POD_NAME is not the pod's name")
	}
	cm := env["ETCD_INITIAL_CLUSTER_STATE"].get("valueFrom", "configMapKeyRef")
	ref, _ := cm.(map[string]any)
	state := r.byName[fmt.Sprintf("ConfigMap/%v", ref["name"])].get("data", fmt.Sprint(ref["key"]))
	if state != "new" && state != "existing" {
		t.Errorf("etcd ETCD_INITIAL_CLUSTER_STATE from %v is %v, want new or existing", ref, state)
	}
	for probe, path := range map[string]string{"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"} {
		if got := c.get(probe, "httpGet", "path"); got != path || c.get(probe, "httpGet", "port") != "metrics" {
			t.Errorf("etcd %s on %v port %v, want %s on the metrics port", probe, got, c.get(probe, "httpGet", "port"), path)
		}
	}
	if !underMount(sts, "etcd", args["--data-dir"], "data") {
		t.Errorf("etcd --data-dir=%s is not on its volume", args["--data-dir"])
	}
	for _, f := range []string{"--trusted-ca-file", "--cert-file", "--key-file", "--peer-trusted-ca-file", "--peer-cert-file", "--peer-key-file"} {
		if !underSecret(sts, "etcd", args[f]) {
			t.Errorf("etcd %s=%s is not in a mounted Secret", f, args[f])
		}
	}
	return n
}

// checkEtcdRegistry checks the registry replicas on etcd and returns how
// many there are.
func checkEtcdRegistry(t *testing.T, r rendered, members int) int {
	t.Helper()
	sts := r.byName["StatefulSet/registry"]
	args := containerArgs(sts, "registry")
	m, _ := sts.get("spec", "replicas").(int)
	if m < 2 {
		t.Errorf("registry on etcd has %d replicas, want at least 2", m)
	}
	if vct := sts.get("spec", "volumeClaimTemplates"); vct != nil {
		t.Errorf("registry on etcd keeps volume claims %v: its data is in etcd", vct)
	}
	if sts.get("spec", "podManagementPolicy") != "Parallel" || sts.get("spec", "serviceName") != "registry-replicas" {
		t.Error("registry on etcd: want Parallel pods named by the Service registry-replicas")
	}
	if svc := r.byName["Service/registry-replicas"]; svc == nil || svc.get("spec", "clusterIP") != "None" || svc.get("spec", "publishNotReadyAddresses") != true {
		t.Error("Service/registry-replicas must be headless and keep not-ready replicas resolvable")
	}
	checkDisruptionBudget(t, r, "registry")
	if want := strings.Join(names(members, "https://etcd-%d.etcd:2379"), ","); args["--etcd-endpoints"] != want {
		t.Errorf("registry --etcd-endpoints=%s, want every member: %s", args["--etcd-endpoints"], want)
	}
	if args["--db"] != "" {
		t.Errorf("registry on etcd still has --db=%s", args["--db"])
	}
	for _, f := range []string{"--etcd-ca", "--etcd-cert", "--etcd-key"} {
		if !underSecret(sts, "registry", args[f]) {
			t.Errorf("registry %s=%s is not in a mounted Secret", f, args[f])
		}
	}
	// A backup on etcd is first a bbolt file of the whole data set in
	// $TMPDIR: room for etcd's quota there.
	tmp := "/tmp"
	envs, _ := containerOf(sts, "registry")["env"].([]any)
	for _, e := range envs {
		if em, _ := e.(map[string]any); em["name"] == "TMPDIR" {
			tmp = fmt.Sprint(em["value"])
		}
	}
	vol := mountedVolume(sts, "registry", tmp)
	quota := atoi(t, containerArgs(r.byName["StatefulSet/etcd"], "etcd")["--quota-backend-bytes"])
	if vol == nil || vol.get("emptyDir") == nil || quantity(t, fmt.Sprint(vol.get("emptyDir", "sizeLimit"))) < quota {
		t.Errorf("registry $TMPDIR %s: want an emptyDir of at least etcd's quota (%d bytes) for backups, got %v", tmp, quota, vol)
	}
	return m
}

// checkSpreadRequired: never two pods of the workload on one node.
func checkSpreadRequired(t *testing.T, sts object) {
	t.Helper()
	terms, _ := sts.get("spec", "template", "spec", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution").([]any)
	labels := podTemplateLabels(sts)
	for _, term := range terms {
		tm := object(term.(map[string]any))
		sel, _ := tm.get("labelSelector", "matchLabels").(map[string]any)
		if tm["topologyKey"] == "kubernetes.io/hostname" && len(sel) > 0 && subset(sel, labels) {
			return
		}
	}
	t.Errorf("%s: no required anti-affinity keeping its pods on different nodes", sts.name())
}

// checkDisruptionBudget: a PodDisruptionBudget named name lets at most one
// of the workload's pods go at a time.
func checkDisruptionBudget(t *testing.T, r rendered, name string) {
	t.Helper()
	pdb := r.byName["PodDisruptionBudget/"+name]
	sts := r.byName["StatefulSet/"+name]
	if pdb == nil || sts == nil {
		t.Errorf("no PodDisruptionBudget/%s for StatefulSet/%s", name, name)
		return
	}
	sel, _ := pdb.get("spec", "selector", "matchLabels").(map[string]any)
	if pdb.get("spec", "maxUnavailable") != 1 || len(sel) == 0 || !subset(sel, podTemplateLabels(sts)) {
		t.Errorf("PodDisruptionBudget/%s: want maxUnavailable 1 over the StatefulSet's pods, got %v", name, pdb["spec"])
	}
}

// jobClaim returns the claim a Job's pod mounts.
func jobClaim(job object) string {
	vols, _ := job.get("spec", "template", "spec", "volumes").([]any)
	for _, v := range vols {
		if c := object(v.(map[string]any)).get("persistentVolumeClaim", "claimName"); c != nil {
			return fmt.Sprint(c)
		}
	}
	return ""
}

func containerOf(obj object, name string) object {
	ps, _ := podSpecOf(obj)
	cs, _ := ps["containers"].([]any)
	for _, c := range cs {
		if cm, _ := c.(map[string]any); cm["name"] == name {
			return object(cm)
		}
	}
	return object{}
}

// mountedVolume returns the pod volume the container mounts at a path
// that holds file (the longest such mount), or nil.
func mountedVolume(obj object, container, file string) object {
	mounts, _ := containerOf(obj, container)["volumeMounts"].([]any)
	best, bestPath := "", ""
	for _, m := range mounts {
		mm := object(m.(map[string]any))
		p := strings.TrimSuffix(fmt.Sprint(mm["mountPath"]), "/")
		if (file == p || strings.HasPrefix(file, p+"/")) && len(p) > len(bestPath) {
			best, bestPath = fmt.Sprint(mm["name"]), p
		}
	}
	vols, _ := obj.get("spec", "template", "spec", "volumes").([]any)
	for _, v := range vols {
		if vm := object(v.(map[string]any)); best != "" && vm["name"] == best {
			return vm
		}
	}
	return nil
}

func underSecret(obj object, container, file string) bool {
	v := mountedVolume(obj, container, file)
	return file != "" && v != nil && v.get("secret", "secretName") != nil
}

// underMount: file lies on the mount of the volume (or claim) named vol.
func underMount(obj object, container, file, vol string) bool {
	mounts, _ := containerOf(obj, container)["volumeMounts"].([]any)
	for _, m := range mounts {
		mm := object(m.(map[string]any))
		if p := fmt.Sprint(mm["mountPath"]); mm["name"] == vol && strings.HasPrefix(file, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// claimSize returns the storage a StatefulSet's volume claim template asks
// for, in bytes.
func claimSize(t *testing.T, sts object, name string) int64 {
	t.Helper()
	vcts, _ := sts.get("spec", "volumeClaimTemplates").([]any)
	for _, v := range vcts {
		if vm := object(v.(map[string]any)); vm.get("metadata", "name") == name {
			return quantity(t, fmt.Sprint(vm.get("spec", "resources", "requests", "storage")))
		}
	}
	t.Errorf("%s has no volume claim template %s", sts.name(), name)
	return 0
}

// quantity returns a Kubernetes quantity in bytes: an integer with an
// optional binary suffix (Ki, Mi, Gi, Ti), the forms the manifests use.
func quantity(t *testing.T, s string) int64 {
	t.Helper()
	for i, suffix := range []string{"Ki", "Mi", "Gi", "Ti"} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			return atoi(t, n) << (10 * (i + 1))
		}
	}
	return atoi(t, s)
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Errorf("%q: not an integer", s)
	}
	return n
}

// names formats format with 0..n-1.
func names(n int, format string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]any) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestKubernetes_ImagesInStep: every kustomization runs the same talentreg
// release (a migration job runs the registry it migrates), and the etcd
// image is the release of the etcd server module that the registry's etcd
// tests and deploy/etcd_test.go run (etcdmember/go.mod).
func TestKubernetes_ImagesInStep(t *testing.T) {
	kustomize := needTool(t, "kustomize")
	gomod, err := os.ReadFile("../etcdmember/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`go\.etcd\.io/etcd/server/v3 (v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("etcdmember/go.mod requires no go.etcd.io/etcd/server/v3")
	}
	wantEtcd := "quay.io/coreos/etcd:" + string(m[1])
	tags := map[string][]string{}
	sawEtcd := false
	for _, k := range kustomizations() {
		for _, obj := range renderObjects(t, kustomize, k).objs {
			ps, _ := podSpecOf(obj)
			cs, _ := ps["containers"].([]any)
			ics, _ := ps["initContainers"].([]any)
			for _, c := range append(cs, ics...) {
				img := fmt.Sprint(c.(map[string]any)["image"])
				if strings.HasPrefix(img, "quay.io/coreos/etcd:") {
					sawEtcd = true
					if img != wantEtcd {
						t.Errorf("%s %s runs %s; the etcd tests run %s", k, obj.name(), img, wantEtcd)
					}
					continue
				}
				_, tag, _ := strings.Cut(img, ":")
				tags[tag] = append(tags[tag], k+" "+obj.name())
			}
		}
	}
	if len(tags) != 1 {
		t.Errorf("talentreg images at several releases: %v", tags)
	}
	if !sawEtcd {
		t.Error("no kustomization runs etcd")
	}
}
