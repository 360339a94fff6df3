package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/services/registry"
)

func TestToStatus_CodeTable(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"invalid", registry.InvalidField("entity.kind", "is required"), codes.InvalidArgument},
		{"not found", registry.NotFound("entities/x"), codes.NotFound},
		{"exists", registry.AlreadyExists("entities/x"), codes.AlreadyExists},
		{"etag", registry.EtagMismatch("entities/x", "1", "2"), codes.Aborted},
		{"dependants", registry.HasDependants("entities/x", "2 memberships"), codes.FailedPrecondition},
		{"compacted", registry.RevisionCompacted(3, 10), codes.OutOfRange},
		{"canceled", context.Canceled, codes.Canceled},
		{"deadline", fmt.Errorf("wrapped: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{"closed", registry.ErrStoreClosed, codes.Unavailable},
		{"unknown", errors.New("disk on fire"), codes.Internal},
		{"status passes", status.Error(codes.ResourceExhausted, "x"), codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(toStatus(ctx, log, tt.err))
			if st.Code() != tt.want {
				t.Fatalf("code = %v, want %v", st.Code(), tt.want)
			}
			if tt.want == codes.Internal && strings.Contains(st.Message(), "fire") {
				t.Fatalf("internal detail leaked: %q", st.Message())
			}
		})
	}
	if toStatus(ctx, log, nil) != nil {
		t.Fatal("nil error must stay nil")
	}
}

func TestToStatus_Details(t *testing.T) {
	st := status.Convert(toStatus(context.Background(), slog.New(slog.DiscardHandler),
		registry.InvalidField("entity.display_name", "must be 1-200 characters, got 0")))
	var info *errdetails.ErrorInfo
	var br *errdetails.BadRequest
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			br = d
		}
	}
	if info == nil || info.Domain != Domain || info.Reason != registry.ReasonInvalidField {
		t.Fatalf("ErrorInfo = %v", info)
	}
	if br == nil || len(br.FieldViolations) != 1 || br.FieldViolations[0].Field != "entity.display_name" {
		t.Fatalf("BadRequest = %v", br)
	}
	if st.Message() != "entity.display_name: must be 1-200 characters, got 0" {
		t.Fatalf("message = %q", st.Message())
	}
}

func TestFilterSpec_Parse(t *testing.T) {
	tests := []struct {
		filter string
		want   string // conditions as field=value joined by ";", or "error: substring"
	}{
		{``, ``},
		{`kind = ENTITY_KIND_UNIVERSITY AND region = "Beijing"`, `kind=ENTITY_KIND_UNIVERSITY;region=Beijing`},
		{`industries:"biomedicine"`, `industries=biomedicine`},
		{`leadingEnterprise = true`, `leading_enterprise=true`},
		{`future_industry_platform = false AND kind = ENTITY_KIND_ENTERPRISE`, `future_industry_platform=false;kind=ENTITY_KIND_ENTERPRISE`},
		{`kind = ENTITY_KIND_UNIVERSITY OR region = "Beijing"`, `error: operator OR`},
		{`NOT region = "Beijing"`, `error: operator NOT`},
		{`region != "Beijing"`, `error: operator !=`},
		{`colour = "red"`, `error: filter:`},
		{`kind = GROUP_KIND_ALLIANCE`, `error: filter:`},
		{`industries = "x"`, `error: filter:`},
		{`region:"Bei"`, `error: ':' applies to lists`},
		{`kind = `, `error: filter:`},
		{`region = "` + strings.Repeat("x", 5000) + `"`, `error: at most 1024 bytes`},
		{strings.Repeat("(", 17) + `region = "x"` + strings.Repeat(")", 17), `error: more than 16 deep`},
		{strings.Repeat("(", 600), `error: more than 16 deep`},
		{strings.Repeat("a.", 40) + "a = 1", `error: more than 16 member selections`},
		{`region = "((((((((((((((((((((((((."`, `region=((((((((((((((((((((((((.`},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			conds, err := entityFilter.parse(tt.filter)
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want one containing %q", err, want)
				}
				if registry.ErrorCode(err) != registry.CodeInvalidArgument {
					t.Fatalf("code = %d, want invalid argument", registry.ErrorCode(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range conds {
				got = append(got, c.Field+"="+c.Value)
			}
			if strings.Join(got, ";") != tt.want {
				t.Fatalf("conditions = %q, want %q", strings.Join(got, ";"), tt.want)
			}
		})
	}
}

func TestNormalizeMask(t *testing.T) {
	tests := []struct {
		paths []string
		want  string
	}{
		{nil, ""},
		{[]string{"display_name", "leadingEnterprise"}, "display_name,leading_enterprise"},
		{[]string{"name", "etag", "createTime", "region"}, "region"},
		{[]string{"*"}, "*"},
		{[]string{"*", "region"}, "error"},
		{[]string{"colour"}, "error"},
		{[]string{"display_name.x"}, "error"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.paths, ","), func(t *testing.T) {
			m, err := normalizeMask(&fieldmaskpb.FieldMask{Paths: tt.paths}, &registryv1.Entity{})
			if tt.want == "error" {
				if registry.ErrorCode(err) != registry.CodeInvalidArgument || !strings.HasPrefix(err.Error(), "update_mask: ") {
					t.Fatalf("err = %v, want an update_mask INVALID_ARGUMENT", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(m.GetPaths(), ","); got != tt.want {
				t.Fatalf("paths = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPageTokens(t *testing.T) {
	p := pageTokens{key: []byte("0123456789abcdef0123456789abcdef")}
	tok := p.encode("entities\x00kind = X", "acme")
	if got, err := p.decode("entities\x00kind = X", tok); err != nil || got != "acme" {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	if _, err := p.decode("entities\x00kind = Y", tok); registry.ErrorCode(err) != registry.CodeInvalidArgument {
		t.Fatalf("foreign scope accepted: %v", err)
	}
	b := []byte(tok)
	b[3] ^= 1
	for _, bad := range []string{string(b), tok[:len(tok)-2], "!!!", "AAAA"} {
		if _, err := p.decode("entities\x00kind = X", bad); registry.ErrorCode(err) != registry.CodeInvalidArgument {
			t.Fatalf("tampered token %q accepted: %v", bad, err)
		}
	}
	other := pageTokens{key: []byte("another key, another database..")}
	if _, err := other.decode("entities\x00kind = X", tok); err == nil {
		t.Fatal("token from another database accepted")
	}
	if p.encode("x", "") != "" {
		t.Fatal("no cursor must give no token")
	}
}

func TestFilterSpec_ReferenceValuesAreChecked(t *testing.T) {
	for _, tt := range []struct {
		spec   filterSpec
		filter string
		ok     bool
	}{
		{membershipFilter, `entity = "entities/acme"`, true},
		{membershipFilter, `entity = "acme"`, false},
		{membershipFilter, `entity = "groups/acme"`, false},
		{talentRecordFilter, `subject = "groups/g1"`, true},
		{talentRecordFilter, `subject = "programs/p"`, false},
		{talentRecordFilter, `program = ""`, true},
		{talentRecordFilter, `program = "haihe"`, false},
	} {
		_, err := tt.spec.parse(tt.filter)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.filter, err, tt.ok)
		}
		if err != nil && (registry.ErrorCode(err) != registry.CodeInvalidArgument || !strings.HasPrefix(err.Error(), "filter: ")) {
			t.Errorf("%s: err = %v, want a filter INVALID_ARGUMENT", tt.filter, err)
		}
	}
}

// Parser errors reach the client as one short line, whatever the input.
func TestFilterSpec_ErrorsStayShort(t *testing.T) {
	for _, f := range []string{strings.Repeat("(", 16), `kind = = =`, strings.Repeat("x ", 500) + "="} {
		_, err := entityFilter.parse(f)
		if err == nil {
			t.Fatalf("%q accepted", f)
		}
		if msg := err.Error(); len(msg) > 600 || strings.Contains(msg, "\n") {
			t.Fatalf("%q: error of %d bytes: %.200q", f, len(msg), msg)
		}
	}
}

// Syntax errors say what went wrong and where, not just that something did.
func TestFilterSpec_SyntaxErrorsSayWhere(t *testing.T) {
	for f, want := range map[string]string{
		`kind = ENTITY_KIND_UNIVERSITY AND`: "syntax error: unexpected trailing token",
		`kind = `:                           "syntax error: parse token (1:7)",
		`(kind = ENTITY_KIND_UNIVERSITY`:    "syntax error: expected ) (1:",
		`kind = ENTITY_KIND_UNIVERSITY OR`:  "syntax error: unexpected token OR",
	} {
		_, err := entityFilter.parse(f)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error containing %q", f, err, want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := registry.Clip("ab天津", 4); got != "ab…" {
		t.Fatalf("Clip cut a character: %q", got)
	}
	if got := registry.Clip("short", 10); got != "short" {
		t.Fatalf("Clip changed a short string: %q", got)
	}
}
