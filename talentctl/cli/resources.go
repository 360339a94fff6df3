package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"talentreg/talentctl/layout"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// resourceType is what the get, list, create and delete commands need to
// know about one kind of resource.
type resourceType struct {
	kind       layout.Kind
	name       string   // command name, singular
	aliases    []string // other spellings, plural first
	collection string   // name prefix, "entities"
	header     []string // table columns
	cells      func(*registryv1.Resource) []string
	get        func(ctx context.Context, c registryv1.RegistryServiceClient, name string) (*registryv1.Resource, error)
	list       func(ctx context.Context, c registryv1.RegistryServiceClient, q listQuery) ([]*registryv1.Resource, string, error)
	create     func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, id string) (*registryv1.Resource, error)
	delete     func(ctx context.Context, c registryv1.RegistryServiceClient, name, etag string, force bool) error
	update     func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, mask *fieldmaskpb.FieldMask) (*registryv1.Resource, error)
}

// listQuery is one page request.
type listQuery struct {
	parent, filter, token string
	size                  int32
}

func wrapProgram(p *registryv1.Program) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Program{Program: p}}
}
func wrapEntity(e *registryv1.Entity) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: e}}
}
func wrapGroup(g *registryv1.Group) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Group{Group: g}}
}
func wrapMembership(m *registryv1.Membership) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: m}}
}
func wrapTalentRecord(t *registryv1.TalentRecord) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_TalentRecord{TalentRecord: t}}
}

func wrapPolicy(p *registryv1.Policy) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Policy{Policy: p}}
}
func wrapTarget(t *registryv1.Target) *registryv1.Resource {
	return &registryv1.Resource{Resource: &registryv1.Resource_Target{Target: t}}
}

// timeCell shows a time as a date (the table is for people; -o json has
// the instant).
func timeCell(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().Format(time.DateOnly)
}

// statusCell shows a lifecycle: "active", or "withdrawn 2024-06-30".
func statusCell(s registryv1.LifecycleStatus, end *timestamppb.Timestamp) string {
	if s == registryv1.LifecycleStatus_LIFECYCLE_STATUS_UNSPECIFIED {
		s = registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE
	}
	return strings.TrimSpace(enumName(s.String(), "LIFECYCLE_STATUS_") + " " + timeCell(end))
}

func wrapAll[T any](items []T, wrap func(T) *registryv1.Resource) []*registryv1.Resource {
	out := make([]*registryv1.Resource, len(items))
	for i, x := range items {
		out[i] = wrap(x)
	}
	return out
}

// id returns the last segment of a resource name.
func id(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }

// enumName returns an enum value's name without its prefix, lower case.
func enumName(s, prefix string) string { return strings.ToLower(strings.TrimPrefix(s, prefix)) }

// resourceTypes are the seven kinds, in dependency order.
var resourceTypes = []*resourceType{
	{
		kind: layout.Program, name: "program", aliases: []string{"programs", "programme", "programmes"}, collection: "programs",
		header: []string{"ID", "DISPLAY NAME", "LEVEL"},
		cells: func(r *registryv1.Resource) []string {
			p := r.GetProgram()
			return []string{id(p.Name), p.DisplayName, enumName(p.Level.String(), "PROGRAM_LEVEL_")}
		},
		get: func(ctx context.Context, c registryv1.RegistryServiceClient, name string) (*registryv1.Resource, error) {
			resp, err := c.GetProgram(ctx, &registryv1.GetProgramRequest{Name: name})
			return wrapProgram(resp.GetProgram()), err
		},
		list: func(ctx context.Context, c registryv1.RegistryServiceClient, q listQuery) ([]*registryv1.Resource, string, error) {
			resp, err := c.ListPrograms(ctx, &registryv1.ListProgramsRequest{PageSize: q.size, PageToken: q.token, Filter: q.filter})
			return wrapAll(resp.GetPrograms(), wrapProgram), resp.GetNextPageToken(), err
		},
		create: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, id string) (*registryv1.Resource, error) {
			resp, err := c.CreateProgram(ctx, &registryv1.CreateProgramRequest{Program: r.GetProgram(), ProgramId: id})
			return wrapProgram(resp.GetProgram()), err
		},
		delete: func(ctx context.Context, c registryv1.RegistryServiceClient, name, etag string, force bool) error {
			_, err := c.DeleteProgram(ctx, &registryv1.DeleteProgramRequest{Name: name, Etag: etag, Force: force})
			return err
		},
		update: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, mask *fieldmaskpb.FieldMask) (*registryv1.Resource, error) {
			resp, err := c.UpdateProgram(ctx, &registryv1.UpdateProgramRequest{Program: r.GetProgram(), UpdateMask: mask})
			return wrapProgram(resp.GetProgram()), err
		},
	},
	{
		kind: layout.Entity, name: "entity", aliases: []string{"entities"}, collection: "entities",
		header: []string{"ID", "DISPLAY NAME", "KIND", "REGION", "CREDIT CODE", "INDUSTRIES", "FLAGS", "STATUS"},
		cells: func(r *registryv1.Resource) []string {
			e := r.GetEntity()
			var flags []string
			if e.LeadingEnterprise {
				flags = append(flags, "leading")
			}
			if e.FutureIndustryPlatform {
				flags = append(flags, "platform")
			}
			return []string{id(e.Name), e.DisplayName, enumName(e.Kind.String(), "ENTITY_KIND_"), e.Region, e.CreditCode, strings.Join(e.Industries, ","), strings.Join(flags, ","),
				statusCell(e.Status, e.EndTime)}
		},
		get: func(ctx context.Context, c registryv1.RegistryServiceClient, name string) (*registryv1.Resource, error) {
			resp, err := c.GetEntity(ctx, &registryv1.GetEntityRequest{Name: name})
			return wrapEntity(resp.GetEntity()), err
		},
		list: func(ctx context.Context, c registryv1.RegistryServiceClient, q listQuery) ([]*registryv1.Resource, string, error) {
			resp, err := c.ListEntities(ctx, &registryv1.ListEntitiesRequest{PageSize: q.size, PageToken: q.token, Filter: q.filter})
			return wrapAll(resp.GetEntities(), wrapEntity), resp.GetNextPageToken(), err
		},
		create: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, id string) (*registryv1.Resource, error) {
			resp, err := c.CreateEntity(ctx, &registryv1.CreateEntityRequest{Entity: r.GetEntity(), EntityId: id})
			return wrapEntity(resp.GetEntity()), err
		},
		delete: func(ctx context.Context, c registryv1.RegistryServiceClient, name, etag string, force bool) error {
			_, err := c.DeleteEntity(ctx, &registryv1.DeleteEntityRequest{Name: name, Etag: etag, Force: force})
			return err
		},
		update: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, mask *fieldmaskpb.FieldMask) (*registryv1.Resource, error) {
			resp, err := c.UpdateEntity(ctx, &registryv1.UpdateEntityRequest{Entity: r.GetEntity(), UpdateMask: mask})
			return wrapEntity(resp.GetEntity()), err
		},
	},
	{
		kind: layout.Group, name: "group", aliases: []string{"groups"}, collection: "groups",
		header: []string{"ID", "DISPLAY NAME", "KIND", "FIELD"},
		cells: func(r *registryv1.Resource) []string {
			g := r.GetGroup()
			return []string{id(g.Name), g.DisplayName, enumName(g.Kind.String(), "GROUP_KIND_"), g.Field}
		},
		get: func(ctx context.Context, c registryv1.RegistryServiceClient, name string) (*registryv1.Resource, error) {
			resp, err := c.GetGroup(ctx, &registryv1.GetGroupRequest{Name: name})
			return wrapGroup(resp.GetGroup()), err
		},
		list: func(ctx context.Context, c registryv1.RegistryServiceClient, q listQuery) ([]*registryv1.Resource, string, error) {
			resp, err := c.ListGroups(ctx, &registryv1.ListGroupsRequest{PageSize: q.size, PageToken: q.token, Filter: q.filter})
			return wrapAll(resp.GetGroups(), wrapGroup), resp.GetNextPageToken(), err
		},
		create: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, id string) (*registryv1.Resource, error) {
			resp, err := c.CreateGroup(ctx, &registryv1.CreateGroupRequest{Group: r.GetGroup(), GroupId: id})
			return wrapGroup(resp.GetGroup()), err
		},
		delete: func(ctx context.Context, c registryv1.RegistryServiceClient, name, etag string, force bool) error {
			_, err := c.DeleteGroup(ctx, &registryv1.DeleteGroupRequest{Name: name, Etag: etag, Force: force})
			return err
		},
		update: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, mask *fieldmaskpb.FieldMask) (*registryv1.Resource, error) {
			resp, err := c.UpdateGroup(ctx, &registryv1.UpdateGroupRequest{Group: r.GetGroup(), UpdateMask: mask})
			return wrapGroup(resp.GetGroup()), err
		},
	},
	{
		kind: layout.Membership, name: "membership", aliases: []string{"memberships"}, collection: "groups",
		header: []string{"GROUP", "ENTITY", "ROLE", "JOINED", "STATUS"},
		cells: func(r *registryv1.Resource) []string {
			m := r.GetMembership()
			group, _, _ := strings.Cut(m.Name, "/memberships/")
			joined := ""
			if m.JoinTime != nil {
				joined = m.JoinTime.AsTime().Format(time.DateOnly)
			}
			return []string{id(group), id(m.Entity), enumName(m.Role.String(), "MEMBERSHIP_ROLE_"), joined, statusCell(m.Status, m.EndTime)}
		},
		get: func(ctx context.Context, c registryv1.RegistryServiceClient, name string) (*registryv1.Resource, error) {
			resp, err := c.GetMembership(ctx, &registryv1.GetMembershipRequest{Name: name})
			return wrapMembership(resp.GetMembership()), err
		},
		list: func(ctx context.Context, c registryv1.RegistryServiceClient, q listQuery) ([]*registryv1.Resource, string, error) {
			resp, err := c.ListMemberships(ctx, &registryv1.ListMembershipsRequest{Parent: q.parent, PageSize: q.size, PageToken: q.token, Filter: q.filter})
			return wrapAll(resp.GetMemberships(), wrapMembership), resp.GetNextPageToken(), err
		},
		create: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, _ string) (*registryv1.Resource, error) {
			m := r.GetMembership()
			group, _, _ := strings.Cut(m.Name, "/memberships/")
			m.Name = ""
			resp, err := c.CreateMembership(ctx, &registryv1.CreateMembershipRequest{Parent: group, Membership: m})
			return wrapMembership(resp.GetMembership()), err
		},
		delete: func(ctx context.Context, c registryv1.RegistryServiceClient, name, etag string, force bool) error {
			_, err := c.DeleteMembership(ctx, &registryv1.DeleteMembershipRequest{Name: name, Etag: etag, Force: force})
			return err
		},
		update: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, mask *fieldmaskpb.FieldMask) (*registryv1.Resource, error) {
			resp, err := c.UpdateMembership(ctx, &registryv1.UpdateMembershipRequest{Membership: r.GetMembership(), UpdateMask: mask})
			return wrapMembership(resp.GetMembership()), err
		},
	},
	{
		kind: layout.TalentRecord, name: "talent-record", aliases: []string{"talent-records", "talentrecord", "talentrecords", "record", "records"}, collection: "talentRecords",
		header: []string{"ID", "SUBJECT", "CATEGORY", "COUNT", "PROGRAM", "PERIOD"},
		cells: func(r *registryv1.Resource) []string {
			t := r.GetTalentRecord()
			program := ""
			if t.Program != "" {
				program = id(t.Program)
			}
			return []string{id(t.Name), t.Subject, enumName(t.Category.String(), "TALENT_CATEGORY_"), strconv.FormatInt(t.Count, 10), program, t.Period}
		},
		get: func(ctx context.Context, c registryv1.RegistryServiceClient, name string) (*registryv1.Resource, error) {
			resp, err := c.GetTalentRecord(ctx, &registryv1.GetTalentRecordRequest{Name: name})
			return wrapTalentRecord(resp.GetTalentRecord()), err
		},
		list: func(ctx context.Context, c registryv1.RegistryServiceClient, q listQuery) ([]*registryv1.Resource, string, error) {
			resp, err := c.ListTalentRecords(ctx, &registryv1.ListTalentRecordsRequest{PageSize: q.size, PageToken: q.token, Filter: q.filter})
			return wrapAll(resp.GetTalentRecords(), wrapTalentRecord), resp.GetNextPageToken(), err
		},
		create: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, id string) (*registryv1.Resource, error) {
			resp, err := c.CreateTalentRecord(ctx, &registryv1.CreateTalentRecordRequest{TalentRecord: r.GetTalentRecord(), TalentRecordId: id})
			return wrapTalentRecord(resp.GetTalentRecord()), err
		},
		delete: func(ctx context.Context, c registryv1.RegistryServiceClient, name, etag string, force bool) error {
			_, err := c.DeleteTalentRecord(ctx, &registryv1.DeleteTalentRecordRequest{Name: name, Etag: etag, Force: force})
			return err
		},
		update: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, mask *fieldmaskpb.FieldMask) (*registryv1.Resource, error) {
			resp, err := c.UpdateTalentRecord(ctx, &registryv1.UpdateTalentRecordRequest{TalentRecord: r.GetTalentRecord(), UpdateMask: mask})
			return wrapTalentRecord(resp.GetTalentRecord()), err
		},
	},
	{
		kind: layout.Policy, name: "policy", aliases: []string{"policies"}, collection: "policies",
		header: []string{"ID", "TITLE", "ISSUER", "LEVEL", "ISSUED", "PILOT", "INDUSTRIES", "PROGRAMS"},
		cells: func(r *registryv1.Resource) []string {
			p := r.GetPolicy()
			programs := make([]string, len(p.Programs))
			for i, name := range p.Programs {
				programs[i] = id(name)
			}
			pilot := ""
			if p.Pilot {
				pilot = "pilot"
			}
			return []string{id(p.Name), p.Title, p.Issuer, enumName(p.Level.String(), "POLICY_LEVEL_"), timeCell(p.IssueTime), pilot,
				strings.Join(p.Industries, ","), strings.Join(programs, ",")}
		},
		get: func(ctx context.Context, c registryv1.RegistryServiceClient, name string) (*registryv1.Resource, error) {
			resp, err := c.GetPolicy(ctx, &registryv1.GetPolicyRequest{Name: name})
			return wrapPolicy(resp.GetPolicy()), err
		},
		list: func(ctx context.Context, c registryv1.RegistryServiceClient, q listQuery) ([]*registryv1.Resource, string, error) {
			resp, err := c.ListPolicies(ctx, &registryv1.ListPoliciesRequest{PageSize: q.size, PageToken: q.token, Filter: q.filter})
			return wrapAll(resp.GetPolicies(), wrapPolicy), resp.GetNextPageToken(), err
		},
		create: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, id string) (*registryv1.Resource, error) {
			resp, err := c.CreatePolicy(ctx, &registryv1.CreatePolicyRequest{Policy: r.GetPolicy(), PolicyId: id})
			return wrapPolicy(resp.GetPolicy()), err
		},
		delete: func(ctx context.Context, c registryv1.RegistryServiceClient, name, etag string, force bool) error {
			_, err := c.DeletePolicy(ctx, &registryv1.DeletePolicyRequest{Name: name, Etag: etag, Force: force})
			return err
		},
		update: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, mask *fieldmaskpb.FieldMask) (*registryv1.Resource, error) {
			resp, err := c.UpdatePolicy(ctx, &registryv1.UpdatePolicyRequest{Policy: r.GetPolicy(), UpdateMask: mask})
			return wrapPolicy(resp.GetPolicy()), err
		},
	},
	{
		kind: layout.Target, name: "target", aliases: []string{"targets"}, collection: "targets",
		header: []string{"ID", "DISPLAY NAME", "METRIC", "GOAL", "SCOPE", "DEADLINE"},
		cells: func(r *registryv1.Resource) []string {
			t := r.GetTarget()
			scope := "ecosystem"
			if t.Scope != "" {
				scope = t.Scope
			}
			return []string{id(t.Name), t.DisplayName, enumName(t.Metric.String(), "TARGET_METRIC_"), strconv.FormatInt(t.GoalValue, 10), scope, timeCell(t.Deadline)}
		},
		get: func(ctx context.Context, c registryv1.RegistryServiceClient, name string) (*registryv1.Resource, error) {
			resp, err := c.GetTarget(ctx, &registryv1.GetTargetRequest{Name: name})
			return wrapTarget(resp.GetTarget()), err
		},
		list: func(ctx context.Context, c registryv1.RegistryServiceClient, q listQuery) ([]*registryv1.Resource, string, error) {
			resp, err := c.ListTargets(ctx, &registryv1.ListTargetsRequest{PageSize: q.size, PageToken: q.token, Filter: q.filter})
			return wrapAll(resp.GetTargets(), wrapTarget), resp.GetNextPageToken(), err
		},
		create: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, id string) (*registryv1.Resource, error) {
			resp, err := c.CreateTarget(ctx, &registryv1.CreateTargetRequest{Target: r.GetTarget(), TargetId: id})
			return wrapTarget(resp.GetTarget()), err
		},
		delete: func(ctx context.Context, c registryv1.RegistryServiceClient, name, etag string, force bool) error {
			_, err := c.DeleteTarget(ctx, &registryv1.DeleteTargetRequest{Name: name, Etag: etag, Force: force})
			return err
		},
		update: func(ctx context.Context, c registryv1.RegistryServiceClient, r *registryv1.Resource, mask *fieldmaskpb.FieldMask) (*registryv1.Resource, error) {
			resp, err := c.UpdateTarget(ctx, &registryv1.UpdateTargetRequest{Target: r.GetTarget(), UpdateMask: mask})
			return wrapTarget(resp.GetTarget()), err
		},
	},
}

// nameOf returns the resource name args denote: an id or a full name;
// for a membership, GROUP ENTITY or its full name.
func (rt *resourceType) nameOf(args []string) (string, error) {
	if rt.kind == layout.Membership {
		switch {
		case len(args) == 1 && strings.Contains(args[0], "/memberships/"):
			return args[0], nil
		case len(args) == 2:
			return "groups/" + strings.TrimPrefix(args[0], "groups/") + "/memberships/" + strings.TrimPrefix(args[1], "entities/"), nil
		}
		return "", usageError{fmt.Errorf("want GROUP ENTITY or groups/{group}/memberships/{entity}, got %q", strings.Join(args, " "))}
	}
	if len(args) != 1 {
		return "", usageError{fmt.Errorf("want one %s id or name", rt.name)}
	}
	if strings.HasPrefix(args[0], rt.collection+"/") {
		return args[0], nil
	}
	if strings.Contains(args[0], "/") {
		return "", usageError{fmt.Errorf("%q is not a %s id or %s/{id} name", args[0], rt.name, rt.collection)}
	}
	return rt.collection + "/" + args[0], nil
}

// nameArity is the number of arguments naming one resource.
func (rt *resourceType) nameArity() int {
	if rt.kind == layout.Membership {
		return 2
	}
	return 1
}

// nameArgs is the argument synopsis for one resource.
func (rt *resourceType) nameArgs() string {
	if rt.kind == layout.Membership {
		return "GROUP ENTITY"
	}
	return "ID"
}

func (a *app) getCommand() *cobra.Command {
	cmd := parent(&cobra.Command{Use: "get TYPE NAME", Short: "Show one resource"})
	for _, rt := range resourceTypes {
		cmd.AddCommand(&cobra.Command{
			Use:     rt.name + " " + rt.nameArgs(),
			Aliases: rt.aliases,
			Short:   "Show one " + rt.name,
			Args:    argsBetween(1, rt.nameArity(), rt.nameArgs()),
			RunE: func(cmd *cobra.Command, args []string) error {
				name, err := rt.nameOf(args)
				if err != nil {
					return err
				}
				c, err := a.registry()
				if err != nil {
					return err
				}
				ctx, cancel := a.call()
				defer cancel()
				r, err := rt.get(ctx, c, name)
				if err != nil {
					return a.registryError(err)
				}
				return a.printResources(rt, []*registryv1.Resource{r}, true)
			},
		})
	}
	return cmd
}

func (a *app) listCommand() *cobra.Command {
	cmd := parent(&cobra.Command{Use: "list TYPE", Short: "List resources, page by page"})
	for _, rt := range resourceTypes {
		var (
			filter, entity string
			pageSize       int32
			limit          int
		)
		use := rt.aliases[0]
		if rt.kind == layout.Membership {
			use += " [GROUP]"
		}
		sub := &cobra.Command{
			Use:     use,
			Aliases: append([]string{rt.name}, rt.aliases[1:]...),
			Short:   "List " + rt.aliases[0],
			Args:    argsBetween(0, map[bool]int{true: 1, false: 0}[rt.kind == layout.Membership], "GROUP"),
			RunE: func(cmd *cobra.Command, args []string) error {
				q := listQuery{filter: filter, size: pageSize}
				if rt.kind == layout.Membership {
					q.parent = "groups/-"
					if len(args) == 1 {
						q.parent = "groups/" + strings.TrimPrefix(args[0], "groups/")
					}
					if entity != "" {
						f := fmt.Sprintf("entity = %q", "entities/"+strings.TrimPrefix(entity, "entities/"))
						q.filter = strings.Join(nonEmpty(f, q.filter), " AND ")
					}
				}
				return a.list(rt, q, limit)
			},
		}
		sub.Flags().StringVar(&filter, "filter", "", `AIP-160 filter, e.g. 'region = "Beijing"' or 'industries:"aerospace"'`)
		sub.Flags().Int32Var(&pageSize, "page-size", 500, "results per request (the server caps it at 1000)")
		sub.Flags().IntVar(&limit, "limit", 0, "stop after this many results (0: all)")
		if rt.kind == layout.Membership {
			sub.Flags().StringVar(&entity, "entity", "", "only the memberships of this entity (all its groups unless GROUP is given)")
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// list prints every page of a listing, up to limit results (0: all).
func (a *app) list(rt *resourceType, q listQuery, limit int) error {
	c, err := a.registry()
	if err != nil {
		return err
	}
	out := a.newResourceWriter(rt)
	n := 0
	for {
		ctx, cancel := a.call()
		page, next, err := rt.list(ctx, c, q)
		cancel()
		if err != nil {
			return a.registryError(err)
		}
		if limit > 0 && n+len(page) > limit {
			page = page[:limit-n]
		}
		n += len(page)
		if err := out.write(page); err != nil {
			return err
		}
		if next == "" || limit > 0 && n >= limit {
			return out.close()
		}
		q.token = next
	}
}

func (a *app) createCommand() *cobra.Command {
	cmd := parent(&cobra.Command{Use: "create TYPE", Short: "Create a resource from flags"})
	for _, rt := range resourceTypes {
		sub := &cobra.Command{
			Use:     rt.name,
			Aliases: rt.aliases,
			Short:   "Create a " + rt.name,
		}
		get := columnFlags(sub.Flags(), rt.kind)
		if rt.kind == layout.Membership {
			sub.Args = argsBetween(0, 0, "no arguments: use --group and --entity")
		} else {
			sub.Use += " [ID]"
			sub.Long = "Create a " + rt.name + ". Without ID the registry makes one."
			sub.Args = argsBetween(0, 1, "ID")
		}
		sub.RunE = func(cmd *cobra.Command, args []string) error {
			resourceID := ""
			if len(args) == 1 {
				resourceID = strings.TrimPrefix(args[0], rt.collection+"/")
			}
			r, err := layout.Resource(func(col string) (string, bool) {
				switch col {
				case "type":
					return rt.kind.String(), true
				case "id":
					return resourceID, true
				}
				return get(col)
			})
			if err != nil {
				return usageError{flagError(err)}
			}
			c, err := a.registry()
			if err != nil {
				return err
			}
			clearName(r)
			ctx, cancel := a.call()
			defer cancel()
			created, err := rt.create(ctx, c, r, resourceID)
			if err != nil {
				return a.registryError(err)
			}
			return a.printResources(rt, []*registryv1.Resource{created}, true)
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

// columnFlags adds a flag for every column of kind but id (the argument)
// and returns a getter of the columns the user set.
func columnFlags(fs *pflag.FlagSet, kind layout.Kind) func(col string) (string, bool) {
	strs := map[string]*string{}
	bools := map[string]*bool{}
	lists := map[string]*[]string{}
	flagName := func(col string) string { return strings.ReplaceAll(col, "_", "-") }
	for _, col := range layout.ColumnsOf(kind) {
		name := flagName(col)
		switch col {
		case "id":
		case "leading_enterprise", "future_industry_platform", "pilot":
			bools[col] = fs.Bool(name, false, strings.ReplaceAll(col, "_", " "))
		case "industries":
			lists[col] = fs.StringSlice(name, nil, "industry ids, comma-separated or repeated")
		case "programs":
			lists[col] = fs.StringSlice(name, nil, "programme ids, comma-separated or repeated")
		default:
			strs[col] = fs.String(name, "", columnHelp[col])
		}
	}
	return func(col string) (string, bool) {
		if f := fs.Lookup(flagName(col)); f == nil || !f.Changed {
			return "", false
		}
		switch {
		case strs[col] != nil:
			return *strs[col], true
		case bools[col] != nil:
			return strconv.FormatBool(*bools[col]), true
		case lists[col] != nil:
			return strings.Join(*lists[col], ";"), true
		}
		return "", false
	}
}

var columnHelp = map[string]string{
	"display_name": "human-readable name (required)",
	"kind":         "entity: enterprise, university, research-institute, incubator, other; group: consortium, alliance",
	"credit_code":  "18-character unified social credit code",
	"region":       "e.g. Binhai, Tianjin, Beijing, Hebei",
	"group":        "the group's id",
	"entity":       "the entity's id",
	"role":         "lead or member",
	"join_time":    "YYYY-MM-DD or RFC 3339 time",
	"subject":      "entities/{id} or groups/{id}",
	"category":     "gathered, cultivated or assessed",
	"count":        "number of talents, > 0",
	"program":      "the programme's id (optional)",
	"period":       `"YYYY" or "YYYY-MM"`,
	"level":        "program: municipal or district; policy: national, municipal or district",
	"field":        "the group's field, a slug such as aerospace",
	"status":       "active, inactive or withdrawn",
	"end_time":     "when it stopped being active, YYYY-MM-DD or RFC 3339 (default with inactive/withdrawn: now)",
	"title":        "the policy's title (required)",
	"issuer":       "who issued the policy",
	"issue_time":   "when the policy was issued, YYYY-MM-DD or RFC 3339",
	"metric":       "platforms-or-leading-enterprises, entities, pilot-policies, policies, talents-cultivated, talents-gathered, group-members",
	"goal_value":   "the value to reach, > 0",
	"scope":        "a group id (default: the whole ecosystem)",
	"deadline":     "when the goal should be reached, YYYY-MM-DD or RFC 3339",
}

// flagError rewrites a layout error about a column as one about its flag.
func flagError(err error) error {
	if fe, ok := err.(*layout.FieldError); ok {
		if fe.Column == "id" {
			return fmt.Errorf("ID: %s", fe.Message)
		}
		return fmt.Errorf("--%s: %s", strings.ReplaceAll(fe.Column, "_", "-"), fe.Message)
	}
	return err
}

// clearName empties the name of r: it is output only on create.
func clearName(r *registryv1.Resource) {
	switch x := r.GetResource().(type) {
	case *registryv1.Resource_Program:
		x.Program.Name = ""
	case *registryv1.Resource_Entity:
		x.Entity.Name = ""
	case *registryv1.Resource_Group:
		x.Group.Name = ""
	case *registryv1.Resource_TalentRecord:
		x.TalentRecord.Name = ""
	case *registryv1.Resource_Policy:
		x.Policy.Name = ""
	case *registryv1.Resource_Target:
		x.Target.Name = ""
	}
}

func (a *app) deleteCommand() *cobra.Command {
	cmd := parent(&cobra.Command{Use: "delete TYPE NAME", Short: "Delete a resource"})
	for _, rt := range resourceTypes {
		var (
			etag  string
			force bool
		)
		sub := &cobra.Command{
			Use:     rt.name + " " + rt.nameArgs(),
			Aliases: rt.aliases,
			Short:   "Delete a " + rt.name,
			Args:    argsBetween(1, rt.nameArity(), rt.nameArgs()),
			RunE: func(cmd *cobra.Command, args []string) error {
				name, err := rt.nameOf(args)
				if err != nil {
					return err
				}
				c, err := a.registry()
				if err != nil {
					return err
				}
				ctx, cancel := a.call()
				defer cancel()
				if err := rt.delete(ctx, c, name, etag, force); err != nil {
					return a.registryError(err)
				}
				if a.output == "json" {
					fmt.Fprintf(a.stdout, "{\"deleted\": %q}\n", name)
				} else {
					fmt.Fprintf(a.stdout, "deleted %s\n", name)
				}
				return nil
			},
		}
		sub.Flags().StringVar(&etag, "etag", "", "delete only if the stored etag is this one")
		switch rt.kind {
		case layout.Entity:
			sub.Flags().BoolVar(&force, "force", false, "also delete its memberships and talent records")
		case layout.Group:
			sub.Flags().BoolVar(&force, "force", false, "also delete its memberships, talent records and the targets scoped to it")
		case layout.Program:
			sub.Flags().BoolVar(&force, "force", false, "also delete its talent records and the policies naming it")
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

func (a *app) updateCommand() *cobra.Command {
	cmd := parent(&cobra.Command{Use: "update TYPE NAME", Short: "Change fields of a resource: only the flags given"})
	for _, rt := range resourceTypes {
		var etag string
		sub := &cobra.Command{
			Use:     rt.name + " " + rt.nameArgs(),
			Aliases: rt.aliases,
			Short:   "Change fields of a " + rt.name + " (the flags given, nothing else)",
			Args:    argsBetween(1, rt.nameArity(), rt.nameArgs()),
		}
		if rt.kind == layout.Entity || rt.kind == layout.Membership {
			sub.Long = sub.Short + ".\n\nEnd it without deleting it with --status inactive or --status withdrawn\n" +
				"(and --end-time, else now): it stays in the figures for the time it was active.\n" +
				"--status active reactivates it and drops the end time."
		}
		get := columnFlags(sub.Flags(), rt.kind)
		sub.Flags().StringVar(&etag, "etag", "", "update only if the stored etag is this one")
		sub.RunE = func(cmd *cobra.Command, args []string) error {
			name, err := rt.nameOf(args)
			if err != nil {
				return err
			}
			identity := map[string]string{"type": rt.kind.String(), "id": id(name)}
			if rt.kind == layout.Membership {
				group, entity, _ := strings.Cut(name, "/memberships/")
				identity = map[string]string{"type": rt.kind.String(), "group": id(group), "entity": entity}
			}
			var paths []string
			r, _, err := layout.Item(func(col string) (string, bool) {
				if v, ok := identity[col]; ok {
					return v, true
				}
				v, ok := get(col)
				if ok {
					paths = append(paths, col) // columns are named after the proto fields
				}
				return v, ok
			})
			if err != nil {
				return usageError{flagError(err)}
			}
			slices.Sort(paths)
			paths = slices.Compact(paths)
			if len(paths) == 0 {
				return usageError{fmt.Errorf("nothing to change: give the flags of the fields to set (see --help)")}
			}
			setEtag(r, etag)
			c, err := a.registry()
			if err != nil {
				return err
			}
			ctx, cancel := a.call()
			defer cancel()
			updated, err := rt.update(ctx, c, r, &fieldmaskpb.FieldMask{Paths: paths})
			if err != nil {
				return a.registryError(err)
			}
			return a.printResources(rt, []*registryv1.Resource{updated}, true)
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

// setEtag sets the etag of r, for a conditional update.
func setEtag(r *registryv1.Resource, etag string) {
	switch x := r.GetResource().(type) {
	case *registryv1.Resource_Program:
		x.Program.Etag = etag
	case *registryv1.Resource_Entity:
		x.Entity.Etag = etag
	case *registryv1.Resource_Group:
		x.Group.Etag = etag
	case *registryv1.Resource_Membership:
		x.Membership.Etag = etag
	case *registryv1.Resource_TalentRecord:
		x.TalentRecord.Etag = etag
	case *registryv1.Resource_Policy:
		x.Policy.Etag = etag
	case *registryv1.Resource_Target:
		x.Target.Etag = etag
	}
}
