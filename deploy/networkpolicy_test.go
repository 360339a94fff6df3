package deploy

import (
	"fmt"
	"testing"
)

// peer is a pod that opens a connection: its namespace's labels and its
// own.
type peer struct {
	name      string
	namespace map[string]any // labels of its namespace; nil: the deployment's own
	labels    map[string]any
}

// Sources of connections in the reachability table.
var (
	fromPod = func(name string) peer {
		return peer{name: name, labels: map[string]any{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "talentreg"}}
	}
	fromOutside    = peer{name: "outside", namespace: map[string]any{"kubernetes.io/metadata.name": "elsewhere"}, labels: map[string]any{"app": "x"}}
	fromMonitoring = peer{name: "monitoring", namespace: map[string]any{"kubernetes.io/metadata.name": "monitoring"}, labels: map[string]any{"app": "prometheus"}}
	// A pod of the deployment's namespace that is not talentreg's.
	fromNeighbour = peer{name: "neighbour", labels: map[string]any{"app": "other"}}
)

// allowed reports whether the rendered NetworkPolicies let src open a TCP
// connection to port (a number, or a container port's name) of the pods of
// workload dst, as a Kubernetes network plugin enforces them: a pod
// selected by no ingress policy takes anything; one selected by some takes
// what one of their rules admits (from: a pod selector in the policy's
// namespace, a namespace selector, or anything when absent; ports: by
// number or by the destination container's port name, or any when
// absent). Selectors are matchLabels only, as in these manifests.
func allowed(t *testing.T, r rendered, src peer, dst object, port string) bool {
	t.Helper()
	labels := podTemplateLabels(dst)
	// A port is a number; a name stands for the destination's container
	// port of that name.
	numbers := map[string]string{}
	for _, c := range containersOf(dst) {
		ports, _ := c["ports"].([]any)
		for _, p := range ports {
			pm := p.(map[string]any)
			numbers[fmt.Sprint(pm["name"])] = fmt.Sprint(pm["containerPort"])
		}
	}
	number := func(p string) string {
		if n, ok := numbers[p]; ok {
			return n
		}
		return p
	}
	selected := false
	for _, np := range r.objs {
		if np["kind"] != "NetworkPolicy" {
			continue
		}
		if sel, _ := np.get("spec", "podSelector", "matchLabels").(map[string]any); !subset(sel, labels) {
			continue
		}
		if exprs := np.get("spec", "podSelector", "matchExpressions"); exprs != nil {
			t.Fatalf("%s: matchExpressions are not modelled here", np.name())
		}
		selected = true
		rules, _ := np.get("spec", "ingress").([]any)
		for _, rule := range rules {
			rm := object(rule.(map[string]any))
			if admitsPeer(t, np, rm, src) && admitsPort(rm, number(port), number) {
				return true
			}
		}
	}
	return !selected
}

func admitsPeer(t *testing.T, np, rule object, src peer) bool {
	from, ok := rule["from"].([]any)
	if !ok {
		return true
	}
	for _, f := range from {
		fm := object(f.(map[string]any))
		if fm["ipBlock"] != nil || fm.get("podSelector", "matchExpressions") != nil || fm.get("namespaceSelector", "matchExpressions") != nil {
			t.Fatalf("%s: ipBlock and matchExpressions are not modelled here", np.name())
		}
		podSel, hasPod := fm["podSelector"].(map[string]any)
		nsSel, hasNS := fm["namespaceSelector"].(map[string]any)
		var nsOK bool
		if hasNS {
			want, _ := nsSel["matchLabels"].(map[string]any)
			nsOK = src.namespace != nil && subset(want, src.namespace) || src.namespace == nil && len(want) == 0
		} else {
			nsOK = src.namespace == nil // a pod selector alone: the policy's namespace
		}
		podOK := true
		if hasPod {
			want, _ := podSel["matchLabels"].(map[string]any)
			podOK = subset(want, src.labels)
		}
		if nsOK && podOK {
			return true
		}
	}
	return false
}

func admitsPort(rule object, port string, number func(string) string) bool {
	ports, ok := rule["ports"].([]any)
	if !ok {
		return true
	}
	for _, p := range ports {
		pm := p.(map[string]any)
		if proto, ok := pm["protocol"]; ok && proto != "TCP" {
			continue
		}
		if number(fmt.Sprint(pm["port"])) == port {
			return true
		}
	}
	return false
}

func containersOf(obj object) []map[string]any {
	ps, _ := podSpecOf(obj)
	cs, _ := ps["containers"].([]any)
	out := make([]map[string]any, len(cs))
	for i, c := range cs {
		out[i] = c.(map[string]any)
	}
	return out
}

// TestKubernetes_NetworkPolicies: who may reach whom, in every overlay, as
// a network plugin enforces the rendered policies — only the gateway's API
// from anywhere; the registry from metrics, the gateway and backups; the
// metrics replicas from the gateway; admin ports from monitoring. On etcd:
// a member's client port from the registry replicas, the migration jobs and
// the other members only — not from metrics, the gateway, the backup job,
// monitoring or outside; its peer port from the other members only; its
// metrics port from monitoring.
func TestKubernetes_NetworkPolicies(t *testing.T) {
	kustomize := needTool(t, "kustomize")
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			r := renderObjects(t, kustomize, "overlays/"+o)
			type route struct {
				from peer
				to   string // workload kind/name
				port string
				want bool
			}
			routes := []route{
				{fromOutside, "Deployment/gateway", "http", true},
				{fromOutside, "Deployment/gateway", "admin", false},
				{fromOutside, "StatefulSet/registry", "grpc", false},
				{fromOutside, "Deployment/metrics", "grpc", false},
				{fromNeighbour, "StatefulSet/registry", "grpc", false},
				{fromPod("metrics"), "StatefulSet/registry", "grpc", true},
				{fromPod("gateway"), "StatefulSet/registry", "grpc", true},
				{fromPod("registry-backup"), "StatefulSet/registry", "grpc", true},
				{fromPod("gateway"), "Deployment/metrics", "grpc", true},
				{fromPod("registry"), "Deployment/metrics", "grpc", false},
				{fromPod("metrics"), "StatefulSet/registry", "admin", false},
				{fromMonitoring, "StatefulSet/registry", "admin", true},
				{fromMonitoring, "Deployment/metrics", "admin", true},
				{fromMonitoring, "StatefulSet/registry", "grpc", false},
			}
			if r.byName["StatefulSet/etcd"] != nil {
				routes = append(routes,
					route{fromPod("registry"), "StatefulSet/etcd", "client", true},
					route{fromPod("registry-migrate"), "StatefulSet/etcd", "client", true},
					route{fromPod("etcd"), "StatefulSet/etcd", "client", true},
					route{fromPod("etcd"), "StatefulSet/etcd", "peer", true},
					route{fromPod("registry"), "StatefulSet/etcd", "peer", false},
					route{fromPod("metrics"), "StatefulSet/etcd", "client", false},
					route{fromPod("gateway"), "StatefulSet/etcd", "client", false},
					route{fromPod("registry-backup"), "StatefulSet/etcd", "client", false},
					route{fromNeighbour, "StatefulSet/etcd", "client", false},
					route{fromOutside, "StatefulSet/etcd", "client", false},
					route{fromOutside, "StatefulSet/etcd", "peer", false},
					route{fromMonitoring, "StatefulSet/etcd", "client", false},
					route{fromMonitoring, "StatefulSet/etcd", "metrics", true},
					route{fromOutside, "StatefulSet/etcd", "metrics", false},
				)
			}
			for _, rt := range routes {
				dst := r.byName[rt.to]
				if dst == nil {
					t.Fatalf("no %s", rt.to)
				}
				if got := allowed(t, r, rt.from, dst, rt.port); got != rt.want {
					t.Errorf("%s → %s port %s: allowed %v, want %v", rt.from.name, rt.to, rt.port, got, rt.want)
				}
			}
		})
	}
}

// TestAllowed_Model: the evaluator itself, on policies written here.
func TestAllowed_Model(t *testing.T) {
	pod := object{"kind": "Deployment", "metadata": map[string]any{"name": "db"}, "spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"labels": map[string]any{"app": "db"}},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "db", "ports": []any{map[string]any{"name": "sql", "containerPort": 5432}}}}},
	}}}
	policy := func(ingress ...any) object {
		return object{"kind": "NetworkPolicy", "metadata": map[string]any{"name": "p"}, "spec": map[string]any{
			"podSelector": map[string]any{"matchLabels": map[string]any{"app": "db"}}, "ingress": ingress}}
	}
	web := peer{name: "web", labels: map[string]any{"app": "web"}}
	webElsewhere := peer{name: "web elsewhere", namespace: map[string]any{"kubernetes.io/metadata.name": "x"}, labels: map[string]any{"app": "web"}}
	for _, tc := range []struct {
		name     string
		policies []object
		src      peer
		port     string
		want     bool
	}{
		{"no policy: open", nil, webElsewhere, "sql", true},
		{"selected with no rule: closed", []object{policy()}, web, "sql", false},
		{"pod selector, named port", []object{policy(map[string]any{"from": []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "web"}}}}, "ports": []any{map[string]any{"port": "sql"}}})}, web, "5432", true},
		{"pod selector is the policy's namespace only", []object{policy(map[string]any{"from": []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "web"}}}}})}, webElsewhere, "sql", false},
		{"other port", []object{policy(map[string]any{"ports": []any{map[string]any{"port": 80}}})}, web, "sql", false},
		{"namespace selector", []object{policy(map[string]any{"from": []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "x"}}}}})}, webElsewhere, "sql", true},
		{"policies add up", []object{policy(), policy(map[string]any{"from": []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "web"}}}}})}, web, "sql", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := allowed(t, rendered{objs: tc.policies}, tc.src, pod, tc.port); got != tc.want {
				t.Errorf("allowed = %v, want %v", got, tc.want)
			}
		})
	}
}
