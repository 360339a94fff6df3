package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"talentreg/talentctl/internal/stack"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// TestImport_FailedCountsRowsRejectedBeforeSending: the FAILED column (and
// the JSON counts) include the rows talentctl refused before sending, not
// only those the registry refused.
func TestImport_FailedCountsRowsRejectedBeforeSending(t *testing.T) {
	t.Parallel()
	reg := stack.Registry(t)
	env := map[string]string{"TALENTREG_REGISTRY": reg.Addr}
	path := writeFile(t, "entities.csv", []byte(strings.Join([]string{
		"type,id,display_name,kind,credit_code",
		"entity,acme,Acme Co.,enterprise,",
		"entity,bad-code,Bad Code Co.,enterprise,91350100M000100Y44", // the registry refuses it
		"entity,bad-kind,Bad Kind Co.,company,",                      // talentctl refuses it
		"kitten,k,K,,",                                               // no type to count it under
	}, "\n")+"\n"))
	r := run(t, env, "import", path)
	r.want(t, ExitInput, "3 of 4 rows rejected")
	for _, line := range []string{"entity         1        0        0          2", "(no type)      0        0        0          1"} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("counts table lacks %q:\n%s", line, r.stdout)
		}
	}
	r = run(t, env, "import", path, "-o", "json")
	var rep struct {
		Counts    map[string]struct{ Failed int64 }
		Committed int64
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("-o json output %q: %v", r.stdout, err)
	}
	if rep.Counts["entity"].Failed != 2 || rep.Counts["(no type)"].Failed != 1 || rep.Committed != 2 {
		t.Errorf("-o json counts %+v, committed %d; want entity failed 2, (no type) 1, 2 committed", rep.Counts, rep.Committed)
	}
}

// failingRegistry is a registry whose Import commits the items of the
// first messages, then fails as a registry that loses its disk would,
// saying what it committed.
type failingRegistry struct {
	registryv1.UnimplementedRegistryServiceServer
	messages int
}

func (f *failingRegistry) Import(stream grpc.ClientStreamingServer[registryv1.ImportRequest, registryv1.ImportResponse]) error {
	var names []string
	for range f.messages {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		for _, it := range req.GetItems() {
			names = append(names, it.GetEntity().GetName())
		}
	}
	resp := &registryv1.ImportResponse{
		Entities:       &registryv1.ImportCounts{Created: int64(len(names))},
		CommittedItems: int64(len(names)), LastCommittedItem: names[len(names)-1], Revision: int64(len(names)),
	}
	st, err := status.New(codes.Internal, "internal error").WithDetails(resp)
	if err != nil {
		return err
	}
	return st.Err()
}

// TestImport_StoppedMidwaySaysWhatWasCommitted: when the registry fails an
// import midway, talentctl prints the counts of what it committed and the
// last committed row by file and line, says how to finish, and exits 1.
func TestImport_StoppedMidwaySaysWhatWasCommitted(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	registryv1.RegisterRegistryServiceServer(srv, &failingRegistry{messages: 2})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	var b strings.Builder
	b.WriteString("type,id,display_name,kind\n")
	for i := range 50 {
		fmt.Fprintf(&b, "entity,e%02d,E,other\n", i)
	}
	path := writeFile(t, "entities.csv", []byte(b.String()))
	r := run(t, map[string]string{"TALENTREG_REGISTRY": lis.Addr().String()}, "import", path, "--chunk-size", "10")
	r.want(t, ExitError, "INTERNAL: internal error",
		"the registry committed the first 20 rows sent, the last "+path+":21 (entities/e19)",
		"importing the same files again completes the import")
	if !strings.Contains(r.stdout, "entity         20       0") {
		t.Errorf("the counts of what was committed are missing:\n%s", r.stdout)
	}
}
