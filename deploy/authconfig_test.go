package deploy

import (
	"os"
	"testing"

	"talentreg/platform/auth"
)

// TestAuthConfigIsValid: the auth config the manifests mount is one the
// services accept (they refuse unknown keys and roles at start).
func TestAuthConfigIsValid(t *testing.T) {
	b, err := os.ReadFile("kubernetes/components/auth/auth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := auth.ParseConfig(b, "")
	if err != nil {
		t.Fatalf("kubernetes/components/auth/auth.yaml: %v", err)
	}
	proxies := 0
	for _, cc := range c.Certificates {
		if cc.Proxy {
			proxies++
		}
	}
	if proxies != 1 {
		t.Errorf("%d proxy certificates, want the gateway's", proxies)
	}
}
