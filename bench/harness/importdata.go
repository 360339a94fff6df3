package harness

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"talentreg/bench/dataset"
	"talentreg/bench/rawgrpc"
	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// importBatch is how many items one ImportRequest carries.
const importBatch = 1000

// importData is a data set encoded as ImportRequest messages, ready to
// stream with no encoding cost during the measurement.
type importData struct {
	batches [][]byte
	// items counts the items; raw is the sum of their encoded sizes (each
	// item as a Resource), the payload the database is compared with.
	items int
	raw   int64
}

// buildImport encodes groups, then entities, then perEntity memberships of
// every entity, in dependency order.
func buildImport(entities, groups, perEntity int) *importData {
	type part struct {
		n   int
		res func(i int) *registryv1.Resource
	}
	parts := []part{
		{groups, func(g int) *registryv1.Resource {
			return &registryv1.Resource{Resource: &registryv1.Resource_Group{Group: dataset.Group(g)}}
		}},
		{entities, func(i int) *registryv1.Resource {
			e := dataset.NewEntity(i)
			e.Name = dataset.EntityName(i)
			return &registryv1.Resource{Resource: &registryv1.Resource_Entity{Entity: e}}
		}},
		{entities * perEntity, func(k int) *registryv1.Resource {
			i := k / perEntity
			g := dataset.MembershipGroups(i, perEntity, groups)[k%perEntity]
			return &registryv1.Resource{Resource: &registryv1.Resource_Membership{Membership: dataset.Membership(i, g)}}
		}},
	}
	d := &importData{}
	type job struct {
		p     part
		start int
		out   *[]byte
		raw   *int64
	}
	var jobs []job
	for _, p := range parts {
		for start := 0; start < p.n; start += importBatch {
			var b []byte
			var raw int64
			jobs = append(jobs, job{p, start, &b, &raw})
			d.batches = append(d.batches, nil)
		}
		d.items += p.n
	}
	// Encode in parallel: a million entities take seconds on one core.
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				jb := jobs[j]
				var b []byte
				for i := jb.start; i < min(jb.start+importBatch, jb.p.n); i++ {
					item, err := proto.Marshal(jb.p.res(i))
					if err != nil {
						panic(err) // generated messages always marshal
					}
					*jb.raw += int64(len(item))
					b = rawgrpc.AppendBytes(b, 1, item) // ImportRequest.items
				}
				*jb.out = b
			}
		}()
	}
	for j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	for j, jb := range jobs {
		d.batches[j] = *jb.out
		d.raw += *jb.raw
	}
	return d
}

// importResult is what one Import call reported.
type importResult struct {
	elapsed    time.Duration
	revision   int64
	failed     int64
	firstError string
}

// runImport streams d into the registry at ep.
func runImport(ctx context.Context, ep endpoint, d *importData) (importResult, error) {
	cc, err := rawgrpc.Dial(ep.addr, ep.dialOptions()...)
	if err != nil {
		return importResult{}, err
	}
	defer cc.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	st, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, methodImport)
	if err != nil {
		return importResult{}, err
	}
	for _, b := range d.batches {
		if err := st.SendMsg(&rawgrpc.Frame{B: b}); err != nil {
			// The server ended the stream; its status says why.
			var resp registryv1.ImportResponse
			if rerr := st.RecvMsg(&resp); rerr != nil {
				return importResult{}, fmt.Errorf("import: %w", rerr)
			}
			return importResult{}, fmt.Errorf("import: send: %w", err)
		}
	}
	if err := st.CloseSend(); err != nil {
		return importResult{}, err
	}
	var resp registryv1.ImportResponse
	if err := st.RecvMsg(&resp); err != nil {
		return importResult{}, fmt.Errorf("import: %w", err)
	}
	res := importResult{elapsed: time.Since(start), revision: resp.GetRevision()}
	for _, c := range []*registryv1.ImportCounts{resp.GetEntities(), resp.GetGroups(), resp.GetMemberships(), resp.GetTalentRecords(), resp.GetPrograms()} {
		res.failed += c.GetFailed()
	}
	if errs := resp.GetErrors(); len(errs) > 0 {
		res.firstError = fmt.Sprintf("item %d %s %s: %s", errs[0].GetIndex(), errs[0].GetName(), errs[0].GetField(), errs[0].GetMessage())
	}
	return res, nil
}
