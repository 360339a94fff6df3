// Command k8sschemas writes the JSON schemas kubeconform validates the
// Kubernetes manifests against, for the kinds they use only, from the
// OpenAPI document of a Kubernetes release (api/openapi-spec/swagger.json
// of the k8s.io/kubernetes module, fetched through the Go module proxy):
//
//	go run ./deploy/cmd/k8sschemas -out deploy/kubernetes/schemas
//
// It writes _definitions.json, every definition those kinds reach, and one
// file per kind named as kubeconform looks for it ({{.ResourceKind}}
// {{.KindSuffix}}.json: deployment-apps-v1.json, service-v1.json) that
// refers to it. The schemas are strict as kubeconform's own -strict ones
// are: an object accepts no property its definition lacks. Descriptions
// are dropped to keep the files small. IntOrString accepts a string or an
// integer, Quantity a string or a number, as the API server does.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// kinds are the group/version/kind the manifests use.
var kinds = []string{
	"/v1/Secret", "/v1/Service", "/v1/ServiceAccount", "/v1/PersistentVolumeClaim", "/v1/ConfigMap",
	"apps/v1/Deployment", "apps/v1/StatefulSet",
	"autoscaling/v2/HorizontalPodAutoscaler",
	"batch/v1/CronJob", "batch/v1/Job",
	"networking.k8s.io/v1/NetworkPolicy",
	"policy/v1/PodDisruptionBudget",
}

func main() {
	version := flag.String("kubernetes", "v1.34.3", "k8s.io/kubernetes module version whose OpenAPI document to use")
	swagger := flag.String("swagger", "", "swagger.json to read instead of downloading the module")
	out := flag.String("out", "deploy/kubernetes/schemas", "folder to write")
	flag.Parse()
	if err := run(*version, *swagger, *out); err != nil {
		fmt.Fprintln(os.Stderr, "k8sschemas:", err)
		os.Exit(1)
	}
}

func run(version, swagger, out string) error {
	if swagger == "" {
		dir, err := moduleDir("k8s.io/kubernetes@" + version)
		if err != nil {
			return err
		}
		swagger = filepath.Join(dir, "api", "openapi-spec", "swagger.json")
	}
	b, err := os.ReadFile(swagger)
	if err != nil {
		return err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", swagger, err)
	}
	byGVK := map[string]string{}
	for name, def := range doc.Definitions {
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			m, _ := g.(map[string]any)
			byGVK[fmt.Sprintf("%v/%v/%v", m["group"], m["version"], m["kind"])] = name
		}
	}
	reached := map[string]bool{}
	var reach func(name string)
	reach = func(name string) {
		if reached[name] {
			return
		}
		def, ok := doc.Definitions[name]
		if !ok {
			panic("no definition " + name)
		}
		reached[name] = true
		for _, ref := range refs(def) {
			reach(ref)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, k := range kinds {
		name, ok := byGVK[k]
		if !ok {
			return fmt.Errorf("%s: no definition in %s", k, swagger)
		}
		reach(name)
		parts := strings.Split(k, "/") // group, version, kind
		suffix := "-" + parts[1]
		if parts[0] != "" {
			suffix = "-" + strings.Split(parts[0], ".")[0] + "-" + parts[1]
		}
		file := strings.ToLower(parts[2]) + suffix + ".json"
		schema := map[string]any{"$ref": "_definitions.json#/definitions/" + name}
		if err := writeJSON(filepath.Join(out, file), schema); err != nil {
			return err
		}
	}
	defs := map[string]any{}
	for name := range reached {
		defs[name] = strict(name, doc.Definitions[name])
	}
	return writeJSON(filepath.Join(out, "_definitions.json"), map[string]any{"definitions": defs})
}

// moduleDir downloads a module through the Go module proxy and returns its
// folder in the module cache.
func moduleDir(mod string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = os.TempDir() // outside any module
	b, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("go mod download %s: %w", mod, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(b, &info); err != nil {
		return "", err
	}
	if info.Error != "" {
		return "", errors.New(info.Error)
	}
	return info.Dir, nil
}

// refs returns the definition names v refers to.
func refs(v any) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && k == "$ref" {
				out = append(out, strings.TrimPrefix(s, "#/definitions/"))
			} else {
				out = append(out, refs(x)...)
			}
		}
	case []any:
		for _, x := range t {
			out = append(out, refs(x)...)
		}
	}
	return out
}

// strict returns the definition without descriptions or vendor
// extensions, closed to unknown properties, with the API server's lenient
// forms of IntOrString and Quantity.
func strict(name string, def map[string]any) any {
	switch name {
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	}
	return clean(def)
}

func clean(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, x := range t {
			if k == "description" || strings.HasPrefix(k, "x-") {
				continue
			}
			if k == "properties" {
				props := map[string]any{}
				for p, s := range x.(map[string]any) {
					props[p] = clean(s)
				}
				m[k] = props
				continue
			}
			m[k] = clean(x)
		}
		if _, ok := m["properties"]; ok && t["x-kubernetes-preserve-unknown-fields"] != true {
			if _, set := m["additionalProperties"]; !set {
				m["additionalProperties"] = false
			}
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = clean(x)
		}
		return out
	}
	return v
}

// writeJSON writes v with sorted keys (encoding/json sorts map keys), one
// definition a line for small diffs.
func writeJSON(path string, v any) error {
	m, ok := v.(map[string]any)
	var b []byte
	var err error
	if defs, isDefs := m["definitions"].(map[string]any); ok && isDefs {
		names := make([]string, 0, len(defs))
		for n := range defs {
			names = append(names, n)
		}
		sort.Strings(names)
		var sb strings.Builder
		sb.WriteString("{\"definitions\": {\n")
		for i, n := range names {
			d, err := json.Marshal(defs[n])
			if err != nil {
				return err
			}
			fmt.Fprintf(&sb, "%q: %s", n, d)
			if i < len(names)-1 {
				sb.WriteString(",")
			}
			sb.WriteString("\n")
		}
		sb.WriteString("}}\n")
		b = []byte(sb.String())
	} else {
		b, err = json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		b = append(b, '\n')
	}
	return os.WriteFile(path, b, 0o644)
}
