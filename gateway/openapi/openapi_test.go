package openapi_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"talentreg/gateway/openapi"
)

// validatorVersion pins the independent validator the test installs.
const validatorVersion = "@apidevtools/swagger-cli@4.0.4"

// TestDocument_Validates runs the embedded document through swagger-cli,
// an OpenAPI validator independent of the generator, installed from npm into
// the git-ignored openapi/.validator on first use.
func TestDocument_Validates(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not installed: cannot install the OpenAPI validator (apt-get install npm)")
	}
	dir, err := filepath.Abs(".validator")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "node_modules", ".bin", "swagger-cli")
	if _, err := os.Stat(bin); err != nil {
		cmd := exec.Command(npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, validatorVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install %s: %v\n%s", validatorVersion, err, out)
		}
	}
	doc := filepath.Join(t.TempDir(), "talentreg.swagger.json")
	if err := os.WriteFile(doc, openapi.Document, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "validate", doc).CombinedOutput()
	if err != nil {
		t.Fatalf("swagger-cli validate: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "is valid") {
		t.Errorf("swagger-cli said: %s", out)
	}
}

// TestDocument_CoversTheAPI checks the document is the merged one: Swagger
// 2.0, both services, and the routes of API.md, with resource names
// expanded into one parameter per segment so generated clients build the
// same URLs as API.md.
func TestDocument_CoversTheAPI(t *testing.T) {
	var doc struct {
		Swagger string                    `json:"swagger"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Swagger != "2.0" {
		t.Errorf("swagger = %q, want 2.0", doc.Swagger)
	}
	for path, method := range map[string]string{
		"/v1/entities":                                "post",
		"/v1/entities/{entity}":                       "get",
		"/v1/entities:batchCreate":                    "post",
		"/v1/groups/{group}/memberships":              "post",
		"/v1/groups/{group}/memberships/{membership}": "delete",
		"/v1/talentRecords":                           "get",
		"/v1/talentRecords/{talentRecord}":            "patch",
		"/v1/programs":                                "post",
		"/v1/changes":                                 "get",
		"/v1/summary":                                 "get",
		"/v1/groups/{group}/stats":                    "get",
		"/v1/breakdowns/{dimension}":                  "get",
		"/v1/groups/{group}":                          "patch",
	} {
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("document lacks %s %s", strings.ToUpper(method), path)
		}
	}
}
