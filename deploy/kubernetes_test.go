package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// overlays are the deployable kustomizations (kubernetes/overlays/…);
// jobs the one-off ones (kubernetes/jobs/…). Every one is validated and
// held to the policies below.
var (
	overlays = []string{"production", "staging", "production-ha"}
	jobs     = []string{"migrate-to-etcd", "migrate-to-bolt"}
)

// kustomizations are the paths, under kubernetes/, of every kustomization
// a user applies.
func kustomizations() []string {
	var out []string
	for _, o := range overlays {
		out = append(out, "overlays/"+o)
	}
	for _, j := range jobs {
		out = append(out, "jobs/"+j)
	}
	return out
}

// render runs `kustomize build` on a kustomization under kubernetes/
// (what `kubectl kustomize` prints) and returns the YAML.
func render(t *testing.T, kustomize, path string) []byte {
	t.Helper()
	cmd := exec.Command(kustomize, "build", filepath.Join("kubernetes", path))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", path, err, stderr.String())
	}
	return out
}

// TestKubernetes_OverlaysValidate: every overlay and job renders and every
// object is valid, strictly (no unknown field), against the Kubernetes
// schemas in kubernetes/schemas; nothing is skipped for want of a schema.
func TestKubernetes_OverlaysValidate(t *testing.T) {
	kustomize, kubeconform := needTool(t, "kustomize"), needTool(t, "kubeconform")
	for _, k := range kustomizations() {
		t.Run(k, func(t *testing.T) {
			manifests := render(t, kustomize, k)
			cmd := exec.Command(kubeconform, "-strict", "-summary",
				"-schema-location", filepath.Join("kubernetes", "schemas", "{{.ResourceKind}}{{.KindSuffix}}.json"), "-")
			cmd.Stdin = bytes.NewReader(manifests)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("kubeconform: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`(\d+) resources? found.*Valid: (\d+), Invalid: 0, Errors: 0, Skipped: 0`).FindStringSubmatch(string(out))
			if m == nil || m[1] != m[2] || m[1] == "0" {
				t.Fatalf("kubeconform summary: %s", out)
			}
		})
	}
}

// TestKubernetes_SchemasCatchMistakes: the vendored schemas are strict —
// an unknown field or a wrongly typed one is invalid — so that the check
// above proves something.
func TestKubernetes_SchemasCatchMistakes(t *testing.T) {
	kubeconform := needTool(t, "kubeconform")
	for name, doc := range map[string]string{
		"unknown field":  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}], clusterIp: None}\n",
		"wrong type":     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two, selector: {}, template: {}}\n",
		"no such schema": "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
	} {
		cmd := exec.Command(kubeconform, "-strict", "-schema-location", filepath.Join("kubernetes", "schemas", "{{.ResourceKind}}{{.KindSuffix}}.json"), "-")
		cmd.Stdin = strings.NewReader(doc)
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("%s: kubeconform accepted it: %s", name, out)
		}
	}
}

// object is a rendered Kubernetes object, as generic YAML.
type object map[string]any

func (o object) get(path ...string) any {
	var v any = map[string]any(o)
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func (o object) name() string { return fmt.Sprintf("%v/%v", o["kind"], o.get("metadata", "name")) }

func decodeAll(t *testing.T, b []byte) []object {
	t.Helper()
	var objs []object
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		// Into a plain map: yaml.v3 gives nested mappings the type of
		// their parent, and object would defeat the type assertions.
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, object(m))
	}
}

// rendered is a kustomization's objects, by kind/name.
type rendered struct {
	objs   []object
	byName map[string]object
}

func renderObjects(t *testing.T, kustomize, path string) rendered {
	t.Helper()
	r := rendered{objs: decodeAll(t, render(t, kustomize, path)), byName: map[string]object{}}
	for _, obj := range r.objs {
		r.byName[obj.name()] = obj
	}
	return r
}

// TestKubernetes_Policies: what the schemas cannot say, for every overlay
// and job. Every pod runs as non-root on a read-only root filesystem with
// no privilege escalation and no capability, asks for CPU and memory and
// caps memory, and carries the part-of label the default-deny policy
// selects; long-running containers have readiness and liveness probes and
// serve TLS; images are pinned; every object of a kustomization is in one
// namespace; Services that Prometheus discovers keep not-ready pods; the
// Secrets are mounted as files, never rendered (but the auth config); and
// only the gateway's NetworkPolicy admits any source. In the overlays:
// metrics replicas keep their checkpoint in an emptyDir, the gateway
// scales with an HPA, metrics and gateway have disruption budgets, and the
// registry is one replica on a volume claim (bbolt) or several without one
// (etcd: TestKubernetes_RegistryOnEtcd).
func TestKubernetes_Policies(t *testing.T) {
	kustomize := needTool(t, "kustomize")
	for _, k := range kustomizations() {
		t.Run(k, func(t *testing.T) {
			r := renderObjects(t, kustomize, k)
			namespaces := map[string]bool{}
			for _, obj := range r.objs {
				namespaces[fmt.Sprint(obj.get("metadata", "namespace"))] = true
				podSpec, long := podSpecOf(obj)
				if podSpec == nil {
					continue
				}
				checkPod(t, obj.name(), podSpec, long)
				if labels, _ := podTemplateLabels(obj)["app.kubernetes.io/part-of"].(string); labels != "talentreg" {
					t.Errorf("%s: pods without app.kubernetes.io/part-of=talentreg escape the default-deny NetworkPolicy", obj.name())
				}
			}
			if len(namespaces) != 1 {
				t.Errorf("objects in %d namespaces %v, want one", len(namespaces), namespaces)
			}
			for _, obj := range r.objs {
				name := fmt.Sprint(obj.get("metadata", "name"))
				if obj["kind"] == "Service" && (strings.HasSuffix(name, "-admin") || name == "etcd") && obj.get("spec", "publishNotReadyAddresses") != true {
					t.Errorf("%s: Prometheus discovers it, but a not-ready pod would vanish from it (publishNotReadyAddresses)", obj.name())
				}
				if obj["kind"] == "NetworkPolicy" {
					rules, _ := obj.get("spec", "ingress").([]any)
					for _, rule := range rules {
						if rm, _ := rule.(map[string]any); rm["from"] == nil && name != "gateway-from-anywhere" {
							t.Errorf("%s admits any source", obj.name())
						}
					}
				}
				if obj["kind"] == "Secret" && !strings.HasPrefix(name, "talentreg-auth-") {
					t.Errorf("%s rendered: TLS and token Secrets are made outside the repository", obj.name())
				}
			}
			if strings.HasPrefix(k, "overlays/") {
				checkOverlay(t, r)
			}
		})
	}
}

// checkOverlay holds what every deployable overlay must have.
func checkOverlay(t *testing.T, r rendered) {
	t.Helper()
	for _, want := range []string{"StatefulSet/registry", "Deployment/metrics", "Deployment/gateway",
		"HorizontalPodAutoscaler/gateway", "PodDisruptionBudget/metrics", "PodDisruptionBudget/gateway",
		"NetworkPolicy/talentreg-default-deny", "Service/gateway", "Service/registry", "Service/metrics-replicas"} {
		if r.byName[want] == nil {
			t.Errorf("%s missing", want)
		}
	}
	if sts := r.byName["StatefulSet/registry"]; sts != nil {
		args := containerArgs(sts, "registry")
		vct, _ := sts.get("spec", "volumeClaimTemplates").([]any)
		if args["--store"] == "etcd" {
			if r.byName["StatefulSet/etcd"] == nil {
				t.Error("the registry runs on etcd, but the overlay has no etcd")
			}
		} else {
			if rep := sts.get("spec", "replicas"); rep != 1 {
				t.Errorf("registry replicas %v, want 1 (one bbolt writer)", rep)
			}
			if len(vct) != 1 || args["--db"] == "" {
				t.Errorf("registry on bbolt with %d volume claim templates and --db %q, want its file on one", len(vct), args["--db"])
			}
		}
	}
	if d := r.byName["Deployment/metrics"]; d != nil {
		if !hasVolume(d, "checkpoint", "emptyDir") {
			t.Error("metrics keeps no checkpoint in an emptyDir")
		}
	}
	if d := r.byName["Deployment/gateway"]; d != nil && d.get("spec", "replicas") != nil {
		t.Error("the gateway Deployment sets replicas: it would fight the HPA")
	}
}

// podSpecOf returns the pod spec of a workload and whether it runs long
// (probes expected).
func podSpecOf(obj object) (map[string]any, bool) {
	switch obj["kind"] {
	case "Deployment", "StatefulSet":
		ps, _ := obj.get("spec", "template", "spec").(map[string]any)
		return ps, true
	case "Job":
		ps, _ := obj.get("spec", "template", "spec").(map[string]any)
		return ps, false
	case "CronJob":
		ps, _ := obj.get("spec", "jobTemplate", "spec", "template", "spec").(map[string]any)
		return ps, false
	}
	return nil, false
}

// podTemplateLabels returns the labels of a workload's pods.
func podTemplateLabels(obj object) map[string]any {
	path := []string{"spec", "template", "metadata", "labels"}
	if obj["kind"] == "CronJob" {
		path = []string{"spec", "jobTemplate", "spec", "template", "metadata", "labels"}
	}
	m, _ := obj.get(path...).(map[string]any)
	return m
}

// pinnedImages are the images a container may run, with a release tag.
var pinnedImages = regexp.MustCompile(`^(talentreg/(registry|metrics|gateway):v\d+\.\d+\.\d+|quay\.io/coreos/etcd:v3\.[67]\.\d+)$`)

func checkPod(t *testing.T, name string, ps map[string]any, long bool) {
	t.Helper()
	pod := object(ps)
	if pod.get("securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: pod not runAsNonRoot", name)
	}
	if pod.get("automountServiceAccountToken") != false {
		t.Errorf("%s: mounts a service account token", name)
	}
	containers, _ := ps["containers"].([]any)
	inits, _ := ps["initContainers"].([]any)
	for i, c := range append(append([]any{}, containers...), inits...) {
		co := object(c.(map[string]any))
		cn := name + " " + fmt.Sprint(co["name"])
		if co.get("securityContext", "readOnlyRootFilesystem") != true || co.get("securityContext", "allowPrivilegeEscalation") != false {
			t.Errorf("%s: root filesystem not read-only or privilege escalation allowed", cn)
		}
		if drop, _ := co.get("securityContext", "capabilities", "drop").([]any); len(drop) != 1 || drop[0] != "ALL" {
			t.Errorf("%s: capabilities not all dropped", cn)
		}
		if co.get("resources", "requests", "cpu") == nil || co.get("resources", "requests", "memory") == nil || co.get("resources", "limits", "memory") == nil {
			t.Errorf("%s: no CPU/memory request or memory limit", cn)
		}
		img := fmt.Sprint(co["image"])
		if !pinnedImages.MatchString(img) {
			t.Errorf("%s: image %q is not a pinned talentreg or etcd image", cn, img)
		}
		if !long || i >= len(containers) {
			continue
		}
		if co["readinessProbe"] == nil || co["livenessProbe"] == nil {
			t.Errorf("%s: no readiness or liveness probe", cn)
		}
		args := fmt.Sprint(co["args"])
		tls := []string{"--tls-cert="}
		if strings.HasPrefix(img, "quay.io/coreos/etcd:") {
			// etcd: clients and peers both by mutual TLS.
			tls = []string{"--cert-file=", "--client-cert-auth=true", "--peer-cert-file=", "--peer-client-cert-auth=true",
				"--listen-client-urls=https://", "--listen-peer-urls=https://"}
		}
		for _, flag := range tls {
			if !strings.Contains(args, flag) {
				t.Errorf("%s: serves without TLS (no %s): %s", cn, flag, args)
			}
		}
	}
}

// containerArgs returns the --flag=value arguments of a workload's
// container.
func containerArgs(obj object, container string) map[string]string {
	ps, _ := podSpecOf(obj)
	cs, _ := ps["containers"].([]any)
	ics, _ := ps["initContainers"].([]any)
	for _, c := range append(cs, ics...) {
		cm, _ := c.(map[string]any)
		if cm["name"] != container {
			continue
		}
		out := map[string]string{}
		args, _ := cm["args"].([]any)
		for _, a := range args {
			k, v, _ := strings.Cut(fmt.Sprint(a), "=")
			out[k] = v
		}
		return out
	}
	return nil
}

func hasVolume(obj object, name, kind string) bool {
	vols, _ := obj.get("spec", "template", "spec", "volumes").([]any)
	for _, v := range vols {
		if vm, _ := v.(map[string]any); vm["name"] == name && vm[kind] != nil {
			return true
		}
	}
	return false
}
