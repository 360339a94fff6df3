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

// overlays are the deployable kustomizations.
var overlays = []string{"production", "staging"}

// render runs `kustomize build` on an overlay (what `kubectl kustomize`
// prints) and returns the YAML.
func render(t *testing.T, kustomize, overlay string) []byte {
	t.Helper()
	cmd := exec.Command(kustomize, "build", filepath.Join("kubernetes", "overlays", overlay))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", overlay, err, stderr.String())
	}
	return out
}

// TestKubernetes_OverlaysValidate: every overlay renders and every object
// is valid, strictly (no unknown field), against the Kubernetes schemas in
// kubernetes/schemas; nothing is skipped for want of a schema.
func TestKubernetes_OverlaysValidate(t *testing.T) {
	kustomize, kubeconform := needTool(t, "kustomize"), needTool(t, "kubeconform")
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			manifests := render(t, kustomize, o)
			cmd := exec.Command(kubeconform, "-strict", "-summary",
				"-schema-location", filepath.Join("kubernetes", "schemas", "{{.ResourceKind}}{{.KindSuffix}}.json"), "-")
			cmd.Stdin = bytes.NewReader(manifests)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("kubeconform: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`(\d+) resources found.*Valid: (\d+), Invalid: 0, Errors: 0, Skipped: 0`).FindStringSubmatch(string(out))
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

// TestKubernetes_Policies: what the schemas cannot say. Every pod runs as
// non-root on a read-only root filesystem with no privilege escalation and
// no capability, asks for CPU and memory and caps memory; long-running
// containers have readiness and liveness probes; the registry is one
// replica on a volume claim; metrics replicas keep their checkpoint in an
// emptyDir; the gateway scales with an HPA; metrics and gateway have
// disruption budgets; the Secrets are mounted as files; and only the
// gateway's NetworkPolicy admits any source.
func TestKubernetes_Policies(t *testing.T) {
	kustomize := needTool(t, "kustomize")
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			objs := decodeAll(t, render(t, kustomize, o))
			byName := map[string]object{}
			for _, obj := range objs {
				byName[obj.name()] = obj
			}
			for _, want := range []string{"StatefulSet/registry", "Deployment/metrics", "Deployment/gateway",
				"HorizontalPodAutoscaler/gateway", "PodDisruptionBudget/metrics", "PodDisruptionBudget/gateway",
				"NetworkPolicy/talentreg-default-deny", "Service/gateway", "Service/registry", "Service/metrics-replicas"} {
				if byName[want] == nil {
					t.Errorf("%s missing", want)
				}
			}
			for _, obj := range objs {
				podSpec, long := podSpecOf(obj)
				if podSpec == nil {
					continue
				}
				checkPod(t, obj.name(), podSpec, long)
			}
			if sts := byName["StatefulSet/registry"]; sts != nil {
				if r := sts.get("spec", "replicas"); r != 1 {
					t.Errorf("registry replicas %v, want 1 (one bbolt writer)", r)
				}
				if vct, _ := sts.get("spec", "volumeClaimTemplates").([]any); len(vct) != 1 {
					t.Errorf("registry has %d volume claim templates, want 1", len(vct))
				}
			}
			if d := byName["Deployment/metrics"]; d != nil {
				if !hasVolume(d, "checkpoint", "emptyDir") {
					t.Error("metrics keeps no checkpoint in an emptyDir")
				}
			}
			if d := byName["Deployment/gateway"]; d != nil && d.get("spec", "replicas") != nil {
				t.Error("the gateway Deployment sets replicas: it would fight the HPA")
			}
			for _, obj := range objs {
				if obj["kind"] != "NetworkPolicy" {
					continue
				}
				rules, _ := obj.get("spec", "ingress").([]any)
				for _, r := range rules {
					if rm, _ := r.(map[string]any); rm["from"] == nil && obj.get("metadata", "name") != "gateway-from-anywhere" {
						t.Errorf("%s admits any source", obj.name())
					}
				}
			}
			for _, obj := range objs {
				if obj["kind"] == "Secret" && !strings.HasPrefix(fmt.Sprint(obj.get("metadata", "name")), "talentreg-auth-") {
					t.Errorf("%s rendered: TLS and token Secrets are made outside the repository", obj.name())
				}
			}
		})
	}
}

// podSpecOf returns the pod spec of a workload and whether it runs long
// (probes expected).
func podSpecOf(obj object) (map[string]any, bool) {
	switch obj["kind"] {
	case "Deployment", "StatefulSet":
		ps, _ := obj.get("spec", "template", "spec").(map[string]any)
		return ps, true
	case "CronJob":
		ps, _ := obj.get("spec", "jobTemplate", "spec", "template", "spec").(map[string]any)
		return ps, false
	}
	return nil, false
}

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
	for _, c := range containers {
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
		if img := fmt.Sprint(co["image"]); !regexp.MustCompile(`^talentreg/(registry|metrics|gateway):v\d+\.\d+\.\d+$`).MatchString(img) {
			t.Errorf("%s: image %q is not a pinned talentreg image", cn, img)
		}
		if long && (co["readinessProbe"] == nil || co["livenessProbe"] == nil) {
			t.Errorf("%s: no readiness or liveness probe", cn)
		}
		args := fmt.Sprint(co["args"])
		if long && !strings.Contains(args, "--tls-cert=") {
			t.Errorf("%s: serves without TLS: %s", cn, args)
		}
	}
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
