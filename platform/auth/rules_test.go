package auth

import (
	"strings"
	"testing"
)

// TestEveryRPCDeclaresAPermission is the default-deny guard: an RPC added
// without an access rule fails here (and is refused at run time).
func TestEveryRPCDeclaresAPermission(t *testing.T) {
	services := Services()
	if len(services) < 2 {
		t.Fatalf("found %d talentreg services; the registry and metrics protos should be linked in", len(services))
	}
	n := 0
	for _, sd := range services {
		for i := 0; i < sd.Methods().Len(); i++ {
			m := sd.Methods().Get(i)
			n++
			r, ok := RuleOf(m)
			if !ok {
				t.Errorf("%s declares no (talentreg.auth.v1.access) permission", m.FullName())
				continue
			}
			if !strings.HasPrefix(r.Permission, "talentreg.") || strings.Count(r.Permission, ".") != 2 {
				t.Errorf("%s: permission %q is not talentreg.{collection}.{verb}", m.FullName(), r.Permission)
			}
			if (m.IsStreamingClient() || m.IsStreamingServer()) && len(r.FlagPermissions) > 0 {
				t.Errorf("%s streams, but flag permissions are only checked on unary requests", m.FullName())
			}
			for field := range r.FlagPermissions {
				fd := m.Input().Fields().ByName(field)
				if fd == nil || fd.Kind().String() != "bool" {
					t.Errorf("%s: flag permission on %q, which is not a bool field of %s", m.FullName(), field, m.Input().FullName())
				}
			}
			if _, ok := RuleFor(r.Method); !ok {
				t.Errorf("%s is missing from the catalogue", r.Method)
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d RPCs found", n)
	}
}
