package grpcapi

import (
	"cmp"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"

	"go.einride.tech/aip/fieldmask"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry"
)

const (
	// importChunk is how many items one import transaction takes. Bigger
	// chunks share more pages per commit (measured at store level: 78k
	// items/s at 2,000, 104k at 10,000); the price is that an interactive
	// write queued behind a chunk waits for it (~0.1 s).
	importChunk = 10000
	// maxImportErrors bounds the error list of one response; the failed
	// counts stay exact.
	maxImportErrors = 10000
)

// importChunkItems is a contiguous run of the stream, items start to end-1:
// the items to commit, and those that failed conversion.
type importChunkItems struct {
	items []registry.ImportItem
	// indexes are the items' positions in the whole import: items that
	// failed conversion are not in the chunk, so positions can skip.
	indexes    []int64
	failed     []convFailure
	start, end int64
}

// convFailure is an item that failed conversion; err is nil once the
// response's error list is full.
type convFailure struct {
	index int64
	name  string
	coll  registry.Collection // 0: unknown
	err   *registry.ImportItemError
}

// maxDetailErrors bounds the error list of the response sent as a status
// detail when an import fails midway: status details travel in trailers.
const maxDetailErrors = 1000

// Import implements registryv1.RegistryServiceServer. One goroutine
// receives and converts while this one commits, so decoding the next chunk
// overlaps the fsync of the previous one; chunks are re-cut to importChunk
// items whatever the client's message sizes. When it fails midway, the
// status carries an ImportResponse detail saying what was committed.
func (s *Server) Import(stream grpc.ClientStreamingServer[registryv1.ImportRequest, registryv1.ImportResponse]) error {
	ctx := stream.Context()
	chunks := make(chan importChunkItems, 2)
	recvErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		var index int64
		listed := 0 // conversion errors kept for the response
		cur := importChunkItems{}
		flush := func() bool {
			if len(cur.items) == 0 && len(cur.failed) == 0 {
				return true
			}
			cur.end = index
			select {
			case chunks <- cur:
			case <-ctx.Done():
				return false
			}
			cur = importChunkItems{start: index, end: index}
			return true
		}
		for {
			req, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				flush()
				recvErr <- nil
				return
			}
			if err != nil {
				recvErr <- err
				return
			}
			masks := req.GetUpdateMasks()
			for i, p := range req.GetItems() {
				item, err := importItem(index, p, masks, i, len(req.GetItems()))
				if err != nil {
					f := convFailure{index: index, name: clipped(nameOf(p))}
					if item.Resource != nil {
						f.coll = item.Resource.Collection()
					}
					if listed < maxImportErrors {
						listed++
						f.err = &registry.ImportItemError{Index: index, Name: f.name, Field: fieldOf(err), Err: err}
					}
					cur.failed = append(cur.failed, f)
				} else {
					cur.items = append(cur.items, item)
					cur.indexes = append(cur.indexes, index)
				}
				index++
				if len(cur.items)+len(cur.failed) >= importChunk && !flush() {
					recvErr <- ctx.Err()
					return
				}
			}
		}
	}()

	counts := map[registry.Collection]*registryv1.ImportCounts{
		registry.Entities: {}, registry.Groups: {}, registry.Memberships: {}, registry.TalentRecords: {}, registry.Programs: {},
		registry.Targets: {}, registry.Policies: {},
	}
	var itemErrs []registry.ImportItemError
	var commitErr error
	var committed int64 // items dealt with, from the stream's start
	var lastName string // the name of the last of them
	for chunk := range chunks {
		if commitErr != nil {
			continue // drain so the receiver can finish
		}
		res := registry.ImportResult{Counts: map[registry.Collection]*registry.ImportCounts{}}
		var err error
		if len(chunk.items) > 0 {
			res, err = s.store.Import(ctx, chunk.items, 0)
		}
		pos := chunk.end
		if err != nil {
			commitErr = err
			pos = chunk.start
			if res.Processed > 0 {
				pos = chunk.indexes[res.Processed-1] + 1
			}
		}
		if res.Processed > 0 {
			lastName = chunk.items[res.Processed-1].Resource.Name()
		}
		for _, f := range chunk.failed {
			if f.index >= pos {
				break
			}
			if f.coll != 0 {
				counts[f.coll].Failed++
			}
			if f.err != nil {
				itemErrs = append(itemErrs, *f.err)
			}
			if res.Processed == 0 || f.index > chunk.indexes[res.Processed-1] {
				lastName = f.name
			}
		}
		for i := range res.Errors {
			res.Errors[i].Index = chunk.indexes[res.Errors[i].Index]
		}
		for c, n := range res.Counts {
			counts[c].Created += n.Created
			counts[c].Updated += n.Updated
			counts[c].Unchanged += n.Unchanged
			counts[c].Failed += n.Failed
		}
		// Only the first maxImportErrors are reported, so only they are
		// kept: a stream of millions of bad items must not grow memory.
		itemErrs = append(itemErrs, res.Errors[:min(len(res.Errors), max(0, maxImportErrors-len(itemErrs)))]...)
		committed = pos
	}

	resp := &registryv1.ImportResponse{CommittedItems: committed, LastCommittedItem: lastName}
	slices.SortFunc(itemErrs, func(a, b registry.ImportItemError) int { return cmp.Compare(a.Index, b.Index) })
	for _, e := range itemErrs {
		if len(resp.Errors) == maxImportErrors {
			break
		}
		field, msg := itemField(e.Index, e.Field), e.Err.Error()
		if rest, ok := strings.CutPrefix(msg, e.Field+":"); ok && e.Field != "" {
			msg = field + ":" + rest
		}
		resp.Errors = append(resp.Errors, &registryv1.ImportError{Index: e.Index, Name: e.Name, Field: field, Message: msg})
	}
	resp.Entities, resp.Groups, resp.Memberships = counts[registry.Entities], counts[registry.Groups], counts[registry.Memberships]
	resp.TalentRecords, resp.Programs = counts[registry.TalentRecords], counts[registry.Programs]
	resp.Targets, resp.Policies = counts[registry.Targets], counts[registry.Policies]
	resp.Revision = s.store.Revision()
	setRevision(ctx, resp.Revision)
	if err := cmp.Or(<-recvErr, commitErr); err != nil {
		return withImportProgress(s.err(ctx, err), resp)
	}
	return stream.SendAndClose(resp)
}

// withImportProgress adds resp, what the import committed before err, to
// err's status as a detail (its error list cut to maxDetailErrors).
func withImportProgress(err error, resp *registryv1.ImportResponse) error {
	st := status.Convert(err).Proto()
	detail := proto.CloneOf(resp)
	detail.Errors = detail.Errors[:min(len(detail.Errors), maxDetailErrors)]
	a, aerr := anypb.New(detail)
	if aerr != nil {
		return err
	}
	st.Details = append(st.Details, a)
	return status.ErrorProto(st)
}

// importItem converts item i of a request (index in the whole stream)
// with its update mask, if the request has masks.
func importItem(index int64, p *registryv1.Resource, masks []*fieldmaskpb.FieldMask, i, n int) (registry.ImportItem, error) {
	field := "items[" + itoa(int(index)) + "]"
	r, err := resourceFromProto(field, p)
	item := registry.ImportItem{Resource: r}
	if err != nil || len(masks) == 0 {
		return item, err
	}
	if len(masks) != n {
		return item, registry.InvalidField("update_masks", "has %d masks for %d items: give one per item, or none", len(masks), n)
	}
	msg, ignored := itemMessage(p)
	mask, err := normalizeMask(masks[i], msg, ignored...)
	if err != nil {
		var de *registry.Error
		if errors.As(err, &de) && len(de.Violations) > 0 {
			err = registry.InvalidField("update_masks["+itoa(i)+"]", "%s", de.Violations[0].Description)
		}
		return item, err
	}
	if !fieldmask.IsFullReplacement(mask) {
		item.Merge = partialMerge(p, mask)
	}
	return item, nil
}

// itemMessage returns the resource message an import item holds and the
// fields of it a mask may not name besides the output-only ones.
func itemMessage(p *registryv1.Resource) (proto.Message, []protoreflect.Name) {
	switch x := p.GetResource().(type) {
	case *registryv1.Resource_Entity:
		return x.Entity, nil
	case *registryv1.Resource_Group:
		return x.Group, nil
	case *registryv1.Resource_Membership:
		return x.Membership, []protoreflect.Name{"entity"} // part of the name
	case *registryv1.Resource_TalentRecord:
		return x.TalentRecord, nil
	case *registryv1.Resource_Program:
		return x.Program, nil
	case *registryv1.Resource_Target:
		return x.Target, nil
	case *registryv1.Resource_Policy:
		return x.Policy, nil
	}
	return nil, nil
}

// partialMerge returns the Merge of import item p limited to mask: the
// stored resource with the mask's fields taken from p, or, for a new
// resource, p's name with the mask's fields.
func partialMerge(p *registryv1.Resource, mask *fieldmaskpb.FieldMask) func(registry.Resource) registry.Resource {
	return func(stored registry.Resource) registry.Resource {
		var dst *registryv1.Resource
		if stored != nil {
			dst = resourceToProto(stored)
		} else {
			dst = bareResource(p)
		}
		if len(mask.GetPaths()) > 0 { // fieldmask.Update takes an empty mask for "the set fields"
			to, _ := itemMessage(dst)
			from, _ := itemMessage(p)
			fieldmask.Update(mask, to, from)
		}
		r, _ := resourceFromProto("", dst) // p's name converted before, and the mask cannot name it
		return r
	}
}

// bareResource returns a resource of p's kind with p's name alone.
func bareResource(p *registryv1.Resource) *registryv1.Resource {
	switch x := p.GetResource().(type) {
	case *registryv1.Resource_Entity:
		return &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: &registryv1.Entity{Name: x.Entity.GetName()}}}
	case *registryv1.Resource_Group:
		return &registryv1.Resource{Resource: &registryv1.Resource_Group{Group: &registryv1.Group{Name: x.Group.GetName()}}}
	case *registryv1.Resource_Membership:
		return &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: &registryv1.Membership{Name: x.Membership.GetName()}}}
	case *registryv1.Resource_TalentRecord:
		return &registryv1.Resource{Resource: &registryv1.Resource_TalentRecord{TalentRecord: &registryv1.TalentRecord{Name: x.TalentRecord.GetName()}}}
	case *registryv1.Resource_Target:
		return &registryv1.Resource{Resource: &registryv1.Resource_Target{Target: &registryv1.Target{Name: x.Target.GetName()}}}
	case *registryv1.Resource_Policy:
		return &registryv1.Resource{Resource: &registryv1.Resource_Policy{Policy: &registryv1.Policy{Name: x.Policy.GetName()}}}
	}
	return &registryv1.Resource{Resource: &registryv1.Resource_Program{Program: &registryv1.Program{Name: p.GetProgram().GetName()}}}
}

func nameOf(p *registryv1.Resource) string {
	switch x := p.GetResource().(type) {
	case *registryv1.Resource_Entity:
		return x.Entity.GetName()
	case *registryv1.Resource_Group:
		return x.Group.GetName()
	case *registryv1.Resource_Membership:
		return x.Membership.GetName()
	case *registryv1.Resource_TalentRecord:
		return x.TalentRecord.GetName()
	case *registryv1.Resource_Program:
		return x.Program.GetName()
	case *registryv1.Resource_Target:
		return x.Target.GetName()
	case *registryv1.Resource_Policy:
		return x.Policy.GetName()
	}
	return ""
}

func fieldOf(err error) string {
	var e *registry.Error
	if errors.As(err, &e) && len(e.Violations) > 0 {
		return e.Violations[0].Field
	}
	return ""
}

// itemField names field as a path into the import stream, as conversion
// errors already do ("items[7].entity.credit_code"): the store reports it
// relative to the item, and a membership's group as "parent" where in an
// import it is part of the item's name.
func itemField(index int64, field string) string {
	if field == "" || strings.HasPrefix(field, "items[") || strings.HasPrefix(field, "update_masks") {
		return field
	}
	if field == "parent" {
		field = "membership.name"
	}
	return "items[" + strconv.FormatInt(index, 10) + "]." + field
}
