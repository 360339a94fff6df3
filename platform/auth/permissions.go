package auth

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authv1 "talentreg/gen/talentreg/auth/v1"
	// Every talentreg service must be linked in, so that the permission
	// catalogue is the same in every binary and a role naming another
	// service's permission is not refused as unknown.
	_ "talentreg/gen/talentreg/metrics/v1"
	_ "talentreg/gen/talentreg/registry/v1"
)

// Rule is the access rule of one RPC, read from its descriptor.
type Rule struct {
	// Method is the full gRPC method name, /pkg.Service/Method.
	Method     string
	Permission string
	// FlagPermissions maps a request's bool field to the permission it
	// needs when true.
	FlagPermissions map[protoreflect.Name]string
	Mutates         bool
}

// RuleOf returns the access rule declared on m, or false when it has none.
func RuleOf(m protoreflect.MethodDescriptor) (Rule, bool) {
	opts := m.Options()
	if opts == nil || !proto.HasExtension(opts, authv1.E_Access) {
		return Rule{}, false
	}
	a := proto.GetExtension(opts, authv1.E_Access).(*authv1.AccessRule)
	if a.GetPermission() == "" {
		return Rule{}, false
	}
	r := Rule{
		Method:     "/" + string(m.Parent().FullName()) + "/" + string(m.Name()),
		Permission: a.GetPermission(),
		Mutates:    a.GetMutates(),
	}
	for _, f := range a.GetFlagPermissions() {
		if r.FlagPermissions == nil {
			r.FlagPermissions = map[protoreflect.Name]string{}
		}
		r.FlagPermissions[protoreflect.Name(f.GetField())] = f.GetPermission()
	}
	return r, true
}

// Services returns every talentreg service linked into the binary.
func Services() []protoreflect.ServiceDescriptor {
	var out []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), "talentreg.") {
			return true
		}
		for i := 0; i < fd.Services().Len(); i++ {
			out = append(out, fd.Services().Get(i))
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].FullName() < out[j].FullName() })
	return out
}

// permCatalogue numbers every permission some talentreg RPC declares.
type permCatalogue struct {
	names []string
	index map[string]int
	rules map[string]Rule // by full method name
}

// catalogue is built once from the linked descriptors.
var catalogue = func() *permCatalogue {
	c := &permCatalogue{index: map[string]int{}, rules: map[string]Rule{}}
	add := func(p string) {
		if _, ok := c.index[p]; !ok {
			c.index[p] = len(c.names)
			c.names = append(c.names, p)
		}
	}
	for _, sd := range Services() {
		for i := 0; i < sd.Methods().Len(); i++ {
			r, ok := RuleOf(sd.Methods().Get(i))
			if !ok {
				continue
			}
			c.rules[r.Method] = r
			add(r.Permission)
			for _, p := range r.FlagPermissions {
				add(p)
			}
		}
	}
	if len(c.names) > permBits {
		panic(fmt.Sprintf("auth: %d permissions exceed the permission set's %d bits", len(c.names), permBits))
	}
	return c
}()

// Permissions returns every permission declared by a talentreg RPC, sorted.
func Permissions() []string {
	out := slices.Clone(catalogue.names)
	sort.Strings(out)
	return out
}

// RuleFor returns the access rule of a full method name.
func RuleFor(fullMethod string) (Rule, bool) {
	r, ok := catalogue.rules[fullMethod]
	return r, ok
}

const permBits = 256

// permSet is a set of catalogue permissions.
type permSet [permBits / 64]uint64

func (s *permSet) add(i int)     { s[i/64] |= 1 << (i % 64) }
func (s permSet) has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }
func (s *permSet) union(o permSet) {
	for i := range s {
		s[i] |= o[i]
	}
}

// match returns the permissions matching pattern: an exact permission, or
// a path.Match glob over the dotted name ("talentreg.entities.*", "*").
// A pattern matching nothing is an error, so a typo never grants silently
// nothing.
func match(pattern string) (permSet, error) {
	var s permSet
	if pattern == "*" {
		for i := range catalogue.names {
			s.add(i)
		}
		return s, nil
	}
	// path.Match's * stops at '/': dots become slashes so * is one segment.
	glob := strings.ReplaceAll(pattern, ".", "/")
	n := 0
	for i, p := range catalogue.names {
		ok, err := path.Match(glob, strings.ReplaceAll(p, ".", "/"))
		if err != nil {
			return s, fmt.Errorf("permission pattern %q: %w", pattern, err)
		}
		if ok {
			s.add(i)
			n++
		}
	}
	if n == 0 {
		return s, fmt.Errorf("permission pattern %q matches no permission (known: %s)", pattern, strings.Join(Permissions(), ", "))
	}
	return s, nil
}

// resourceCollections are the registry's resource collections, as
// permissions name them.
var resourceCollections = []string{"entities", "groups", "memberships", "talentRecords", "programs", "targets", "policies"}

func perms(verbs ...string) []string {
	var out []string
	for _, c := range resourceCollections {
		for _, v := range verbs {
			out = append(out, "talentreg."+c+"."+v)
		}
	}
	return out
}

var metricsReads = []string{
	"talentreg.summary.get", "talentreg.summary.watch", "talentreg.groupStats.get", "talentreg.breakdowns.get",
	"talentreg.entities.search", "talentreg.targetProgress.list", "talentreg.targetProgress.get",
}

// BuiltinRoles are the roles every config has. Custom roles may add to
// them but not redefine them.
var BuiltinRoles = map[string][]string{
	// viewer reads resources and figures.
	RoleViewer: append(perms("get", "list"), metricsReads...),
	// editor changes resources one at a time; it cannot force a cascading
	// delete.
	RoleEditor: append(perms("get", "list", "create", "update", "delete"), metricsReads...),
	// importer loads files and batches.
	RoleImporter: {"talentreg.resources.import", "talentreg.entities.batchCreate"},
	// feed-reader follows the change feed: the metrics service's identity.
	RoleFeedReader: {"talentreg.changes.list", "talentreg.changes.watch", "talentreg.snapshots.stream"},
	// auditor reads everything a viewer does, and who changed what.
	RoleAuditor: append(append(perms("get", "list"), metricsReads...), "talentreg.history.list", "talentreg.changes.list"),
	// admin may do everything, force deletes and projection checks
	// included.
	RoleAdmin: {"*"},
}

// Built-in role names.
const (
	RoleViewer     = "viewer"
	RoleEditor     = "editor"
	RoleImporter   = "importer"
	RoleFeedReader = "feed-reader"
	RoleAuditor    = "auditor"
	RoleAdmin      = "admin"
)

// roleTable resolves role names to permission sets.
type roleTable map[string]permSet

var builtinTable = sync.OnceValue(func() roleTable {
	t, err := newRoleTable(nil)
	if err != nil {
		panic(err) // a test checks the built-in roles
	}
	return t
})

// newRoleTable builds the built-in roles plus custom ones.
func newRoleTable(custom map[string][]string) (roleTable, error) {
	t := roleTable{}
	define := func(name string, patterns []string) error {
		var s permSet
		for _, p := range patterns {
			m, err := match(p)
			if err != nil {
				return fmt.Errorf("role %q: %w", name, err)
			}
			s.union(m)
		}
		t[name] = s
		return nil
	}
	for name, ps := range BuiltinRoles {
		if err := define(name, ps); err != nil {
			return nil, err
		}
	}
	for name, ps := range custom {
		if _, ok := BuiltinRoles[name]; ok {
			return nil, fmt.Errorf("roles: %q is a built-in role and cannot be redefined", name)
		}
		if !validRoleName(name) {
			return nil, fmt.Errorf("roles: name %q must match ^[a-z][a-z0-9-]{0,62}$", name)
		}
		if len(ps) == 0 {
			return nil, fmt.Errorf("role %q: needs at least one permission", name)
		}
		if err := define(name, ps); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// resolve returns the union of roles' permissions; unknown roles are an
// error naming them.
func (t roleTable) resolve(roles []string) (permSet, error) {
	var s permSet
	for _, r := range roles {
		p, ok := t[r]
		if !ok {
			return s, fmt.Errorf("unknown role %q", r)
		}
		s.union(p)
	}
	return s, nil
}

func validRoleName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
